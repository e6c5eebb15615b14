#!/usr/bin/env python
"""llm_infra.crypto against raw primitives and peer JOSE libraries, side by side in one process.

Cases: AES-256-GCM encrypt/decrypt 1 KB and 1 MB (vs raw ``cryptography`` doing the same
nonce||ct||tag framing), SHA-256 and BLAKE3 of 1 KB (vs ``hashlib``/``blake3``), JWT HS256 and
EdDSA sign and verify-with-claim-checks (vs PyJWT, joserfc, authlib), Argon2id password hashing
(vs argon2-cffi with the same parameters).

Rounds are interleaved (A B C A B C ...) so drift in a shared machine's load hits every
implementation alike. Each sample times a batch of calls sized to ~``target`` seconds; the table
shows the per-op median with min-max over the rounds, the ratio ours/peer of the medians and,
because a loaded shared machine inflates medians at random, the ratio of the minimums.

Usage::

    .venv/bin/python bench/crypto.py           # full run (a few minutes on 2 shared cores)
    .venv/bin/python bench/crypto.py --quick   # smoke run, < 60 s
"""

from __future__ import annotations

import os
import sys

# Run directly (python bench/crypto.py), bench/ is sys.path[0], and its json.py/http.py scripts
# would shadow the standard library for every import below: drop it first.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

import argparse  # noqa: E402 - after the sys.path fix
import hashlib  # noqa: E402 - after the sys.path fix
import platform  # noqa: E402 - after the sys.path fix
import statistics  # noqa: E402 - after the sys.path fix
import time  # noqa: E402 - after the sys.path fix
import warnings  # noqa: E402 - after the sys.path fix
from collections.abc import Callable  # noqa: E402 - after the sys.path fix
from dataclasses import dataclass  # noqa: E402 - after the sys.path fix

import argon2  # noqa: E402 - after the sys.path fix
import blake3 as blake3_mod  # noqa: E402 - after the sys.path fix
import jwt as pyjwt  # noqa: E402 - after the sys.path fix
from cryptography.hazmat.primitives import serialization  # noqa: E402 - after the sys.path fix
from cryptography.hazmat.primitives.asymmetric import ed25519  # noqa: E402 - after the sys.path fix
from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: E402 - after the sys.path fix

from llm_infra.crypto import Aes256GcmCipher, JwtSigner, JwtValidator, PasswordHasher, blake3, sha256  # noqa: E402 - after the sys.path fix

ISS, AUD = "https://issuer.example", "api"
SECRET = b"bench-secret-0123456789abcdef0123"  # 33 bytes: every library accepts it


@dataclass
class Case:
    """One benchmark: a name, the target (if any) and implementations to interleave."""

    group: str
    name: str
    impls: list[tuple[str, Callable[[], object]]]
    target: str = ""


def _claims(now: int) -> dict[str, object]:
    return {
        "sub": "user-123",
        "iss": ISS,
        "aud": AUD,
        "iat": now,
        "nbf": now,
        "exp": now + 3600,
        "scope": "read",
    }


def build_cases(quick: bool) -> list[Case]:
    cases: list[Case] = []
    key = os.urandom(32)
    ours = Aes256GcmCipher(key)
    raw = AESGCM(key)

    def raw_encrypt(data: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + raw.encrypt(nonce, data, None)

    def raw_decrypt(blob: bytes) -> bytes:
        return raw.decrypt(blob[:12], blob[12:], None)

    for label, size in (("1 KB", 1024), ("1 MB", 1 << 20)):
        data = os.urandom(size)
        blob = ours.encrypt(data)
        cases.append(
            Case(
                "aead",
                f"AES-256-GCM encrypt {label}",
                [("ours", lambda d=data: ours.encrypt(d)), ("cryptography", lambda d=data: raw_encrypt(d))],
                "ours <= 1.2x raw",
            )
        )
        cases.append(
            Case(
                "aead",
                f"AES-256-GCM decrypt {label}",
                [("ours", lambda b=blob: ours.decrypt(b)), ("cryptography", lambda b=blob: raw_decrypt(b))],
                "ours <= 1.2x raw",
            )
        )

    kb = os.urandom(1024)
    cases.append(
        Case(
            "hash",
            "SHA-256 1 KB",
            [("ours", lambda: sha256(kb)), ("hashlib", lambda: hashlib.sha256(kb).digest())],
            "< 10 us",
        )
    )
    cases.append(
        Case(
            "hash",
            "BLAKE3 1 KB",
            [("ours", lambda: blake3(kb)), ("blake3", lambda: blake3_mod.blake3(kb).digest())],
            "< 10 us",
        )
    )

    # --- JWT --------------------------------------------------------------------------------
    from authlib.deprecate import AuthlibDeprecationWarning

    # authlib.deprecate installs an "always" filter for its own warning; override it.
    warnings.filterwarnings("ignore", category=AuthlibDeprecationWarning)
    from authlib.jose import JsonWebToken, OctKey, OKPKey
    from joserfc import jwt as jose_jwt
    from joserfc.jwk import OctKey as JoseOctKey
    from joserfc.jwk import OKPKey as JoseOKPKey

    now = int(time.time())
    claims = _claims(now)
    ours_signer = JwtSigner.hs256(SECRET)
    ours_validator = JwtValidator.hs256(SECRET, issuer=ISS, audience=AUD, leeway=60)
    jose_key = JoseOctKey.import_key(SECRET)
    jose_registry = jose_jwt.JWTClaimsRegistry(
        leeway=60,
        iss={"essential": True, "value": ISS},
        aud={"essential": True, "value": AUD},
        exp={"essential": True},
    )
    authlib_jwt = JsonWebToken(["HS256", "EdDSA"])
    authlib_key = OctKey.import_key(SECRET)
    authlib_opts = {
        "iss": {"essential": True, "value": ISS},
        "aud": {"essential": True, "value": AUD},
        "exp": {"essential": True},
    }
    token = pyjwt.encode(claims, SECRET, algorithm="HS256")

    def jose_verify_hs() -> object:
        tok = jose_jwt.decode(token, jose_key, algorithms=["HS256"])
        jose_registry.validate(tok.claims)
        return tok.claims

    def authlib_verify(tok: str | bytes, key: object) -> object:
        decoded = authlib_jwt.decode(tok, key, claims_options=authlib_opts)
        decoded.validate(leeway=60)
        return decoded

    # Every implementation must accept the shared token (so all do the same work).
    assert ours_validator.verify(token)["sub"] == "user-123"
    jose_verify_hs()
    authlib_verify(token, authlib_key)

    cases.append(
        Case(
            "jwt",
            "JWT HS256 sign",
            [
                ("ours", lambda: ours_signer.sign(claims)),
                ("PyJWT", lambda: pyjwt.encode(claims, SECRET, algorithm="HS256")),
                ("joserfc", lambda: jose_jwt.encode({"alg": "HS256"}, claims, jose_key)),
                ("authlib", lambda: authlib_jwt.encode({"alg": "HS256"}, claims, authlib_key)),
            ],
            "< 1 ms",
        )
    )
    cases.append(
        Case(
            "jwt",
            "JWT HS256 verify + claims",
            [
                ("ours", lambda: ours_validator.verify(token)),
                (
                    "PyJWT",
                    lambda: pyjwt.decode(
                        token,
                        SECRET,
                        algorithms=["HS256"],
                        audience=AUD,
                        issuer=ISS,
                        leeway=60,
                        options={"require": ["exp", "iss", "aud"]},
                    ),
                ),
                ("joserfc", jose_verify_hs),
                ("authlib", lambda: authlib_verify(token, authlib_key)),
            ],
            "<= 40 us and faster than every peer",
        )
    )

    ed_key = ed25519.Ed25519PrivateKey.generate()
    ed_pem = ed_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    ed_pub_pem = ed_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    ours_ed_signer = JwtSigner.eddsa(ed_key)
    ours_ed_validator = JwtValidator.eddsa(ed_key.public_key(), issuer=ISS, audience=AUD, leeway=60)
    jose_ed = JoseOKPKey.import_key(ed_pem)
    jose_ed_pub = JoseOKPKey.import_key(ed_pub_pem)
    authlib_ed = OKPKey.import_key(ed_pem)
    authlib_ed_pub = OKPKey.import_key(ed_pub_pem)
    ed_token = pyjwt.encode(claims, ed_key, algorithm="EdDSA")

    def jose_verify_ed() -> object:
        tok = jose_jwt.decode(ed_token, jose_ed_pub, algorithms=["EdDSA"])
        jose_registry.validate(tok.claims)
        return tok.claims

    assert ours_ed_validator.verify(ed_token)["sub"] == "user-123"
    jose_verify_ed()
    authlib_verify(ed_token, authlib_ed_pub)
    cases.append(
        Case(
            "jwt",
            "JWT EdDSA sign",
            [
                ("ours", lambda: ours_ed_signer.sign(claims)),
                ("PyJWT", lambda: pyjwt.encode(claims, ed_key, algorithm="EdDSA")),
                ("joserfc", lambda: jose_jwt.encode({"alg": "EdDSA"}, claims, jose_ed, algorithms=["EdDSA"])),
                ("authlib", lambda: authlib_jwt.encode({"alg": "EdDSA"}, claims, authlib_ed)),
            ],
            "< 1 ms",
        )
    )
    cases.append(
        Case(
            "jwt",
            "JWT EdDSA verify + claims",
            [
                ("ours", lambda: ours_ed_validator.verify(ed_token)),
                (
                    "PyJWT",
                    lambda: pyjwt.decode(
                        ed_token,
                        ed_key.public_key(),
                        algorithms=["EdDSA"],
                        audience=AUD,
                        issuer=ISS,
                        leeway=60,
                        options={"require": ["exp", "iss", "aud"]},
                    ),
                ),
                ("joserfc", jose_verify_ed),
                ("authlib", lambda: authlib_verify(ed_token, authlib_ed_pub)),
            ],
        )
    )

    # --- Argon2id (same parameters on both sides) ---------------------------------------------
    params = {"time_cost": 3, "memory_cost": 65536, "parallelism": 4}
    ours_ph = PasswordHasher(**params)
    raw_ph = argon2.PasswordHasher(**params)
    cases.append(
        Case(
            "argon2",
            "Argon2id hash (t=3, m=64 MiB, p=4)",
            [
                ("ours", lambda: ours_ph.hash("correct horse battery staple")),
                ("argon2-cffi", lambda: raw_ph.hash("correct horse battery staple")),
            ],
            "ours ~ raw",
        )
    )
    return cases


def calibrate(fn: Callable[[], object], target: float) -> int:
    """The number of calls that takes about ``target`` seconds (at least 1)."""
    n = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        dt = time.perf_counter() - t0
        if dt >= target / 4 or n >= 1 << 20:
            return max(1, int(n * target / max(dt, 1e-9)))
        n *= 4


def run_case(case: Case, rounds: int, target: float) -> dict[str, list[float]]:
    counts = {name: calibrate(fn, target) for name, fn in case.impls}
    samples: dict[str, list[float]] = {name: [] for name, _ in case.impls}
    for _ in range(rounds):
        for name, fn in case.impls:
            n = counts[name]
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            samples[name].append((time.perf_counter() - t0) / n)
    return samples


def fmt(seconds: float) -> str:
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.2f} us"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="short smoke run (< 60 s)")
    ap.add_argument("--rounds", type=int, default=None, help="interleaved rounds per case")
    ap.add_argument("--only", default="", help="run only cases whose name contains this text")
    args = ap.parse_args(argv)
    # Peers warn about their own deprecations (authlib.jose; joserfc on "EdDSA", per RFC 9864).
    warnings.simplefilter("ignore")
    rounds, target = (3, 0.01) if args.quick else (21, 0.03)
    rounds = args.rounds or rounds
    print(
        f"# llm_infra.crypto bench  python {platform.python_version()}  {platform.machine()}  "
        f"cpus={os.cpu_count()}  rounds={rounds}  target/sample={target}s"
    )
    print(f"{'case':<36} {'impl':<12} {'median':>11} {'min-max':>23} {'ours/impl':>9} {'(by min)':>9}")
    for case in build_cases(args.quick):
        if args.only.lower() not in case.name.lower():
            continue
        case_rounds = max(3, rounds // 3) if case.group == "argon2" else rounds
        samples = run_case(case, case_rounds, target)
        ours, ours_min = statistics.median(samples["ours"]), min(samples["ours"])
        for name, values in samples.items():
            med = statistics.median(values)
            ratio = "" if name == "ours" else f"{ours / med:.2f}x"
            ratio_min = "" if name == "ours" else f"{ours_min / min(values):.2f}x"
            span = f"{fmt(min(values))} - {fmt(max(values))}"
            print(f"{case.name:<36} {name:<12} {fmt(med):>11} {span:>23} {ratio:>9} {ratio_min:>9}")
        if case.target:
            print(f"{'':<36} target: {case.target}")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
