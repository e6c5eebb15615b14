"""A canary secret pushed through every crypto path must never show up in reprs, errors or logs."""

from __future__ import annotations

import base64
import logging
import pickle
import traceback
from collections.abc import Callable

import pytest

from llm_infra.crypto import (
    Aes256GcmCipher,
    EcdsaP256Signer,
    Ed25519Signer,
    JwksCache,
    JwtKey,
    JwtSigner,
    JwtValidator,
    Keyring,
    PasswordHasher,
    derive_key,
    hmac_sha256,
    private_key_to_jwk,
)
from llm_infra.errors import InfraError
from llm_infra.secrets import Secret
from llm_infra.testing import FakeClock

CANARY = "CANARY-d41d8cd98f00b204-e9800998ecf8427e"
CANARY_B = CANARY.encode()
KEY32 = CANARY_B[:32]
FAST = {"time_cost": 5, "memory_cost": 7168, "parallelism": 1}


def _forms() -> list[str]:
    """Every spelling of the canary an accidental leak could take."""
    raw = [CANARY_B, KEY32, CANARY_B[:16]]
    out: list[str] = []
    for value in raw:
        out += [
            value.decode(),
            value.hex(),
            repr(value),
            base64.b64encode(value).decode().rstrip("="),
            base64.urlsafe_b64encode(value).decode().rstrip("="),
        ]
    return out


FORMS = _forms()


def _leaks(text: str) -> list[str]:
    return [form for form in FORMS if form in text]


def _error_texts(err: BaseException) -> str:
    parts = [str(err), repr(err), "".join(traceback.format_exception(err))]
    if isinstance(err, InfraError):
        parts += [repr(err.to_dict()), repr(err.to_problem())]
    return "\n".join(parts)


def _collect_errors(calls: list[Callable[[], object]]) -> list[BaseException]:
    errors: list[BaseException] = []
    for call in calls:
        try:
            call()
        except Exception as exc:
            errors.append(exc)
    return errors


def test_canary_never_leaks(caplog: pytest.LogCaptureFixture) -> None:
    """Objects built from the canary, and every error they raise, never reveal it; nor do logs."""
    caplog.set_level(logging.DEBUG)
    clock = FakeClock(epoch=1_800_000_000)
    cipher = Aes256GcmCipher(KEY32)
    secret_cipher = Aes256GcmCipher(Secret(KEY32))
    ring = Keyring({"k1": KEY32})
    signer = JwtSigner.hs256(CANARY_B, clock=clock, kid="k1")
    validator = JwtValidator.hs256(Secret(CANARY), clock=clock, kid="k1")
    jwt_key = JwtKey("HS256", CANARY_B)
    oct_jwk = {"kty": "oct", "k": base64.urlsafe_b64encode(CANARY_B).decode().rstrip("="), "kid": "o"}
    jwks = JwksCache({"keys": [{**Ed25519Signer.generate().public_jwk(), "kid": "e"}]})
    kdf = derive_key(CANARY, b"s" * 16, **FAST)
    hasher = PasswordHasher(**FAST)
    stored = hasher.hash(CANARY)
    ed = Ed25519Signer.from_private_bytes(KEY32)
    ec_signer = EcdsaP256Signer.generate()
    mac = hmac_sha256(Secret(CANARY_B), b"m")
    token = signer.sign({"sub": "alice"})

    objects: list[object] = [
        cipher,
        secret_cipher,
        cipher.key,
        ring,
        ring.export(),
        signer,
        validator,
        jwt_key,
        jwks,
        kdf,
        hasher,
        ed,
        ed.verifier(),
        ed.private_pem(),
        ed.private_jwk(),
        ec_signer.private_jwk(),
        private_key_to_jwk(ed.private_key),
    ]
    texts = [repr(o) for o in objects] + [str(o) for o in objects] + [f"{o}" for o in objects]
    texts += [stored, mac.hex(), token]

    wire = cipher.encrypt(CANARY_B, aad=CANARY_B)
    errors = _collect_errors(
        [
            lambda: cipher.decrypt(wire[:-1], CANARY_B),
            lambda: cipher.decrypt(wire, b"other"),
            lambda: ring.decrypt(b"\x01\x02k1" + wire, CANARY_B),
            lambda: Aes256GcmCipher(CANARY_B[:31]),
            lambda: Aes256GcmCipher(CANARY),  # type: ignore[arg-type]
            lambda: JwtSigner.hs256(CANARY_B[:31]),
            lambda: JwtValidator.hs256(b"-----BEGIN PUBLIC KEY-----" + CANARY_B),
            lambda: validator.verify(token[:-2] + "AA"),
            lambda: validator.verify(token + CANARY),
            lambda: validator.verify(CANARY),
            lambda: JwtValidator.hs256(CANARY_B, clock=FakeClock(epoch=2_000_000_000)).verify(token),
            lambda: signer.sign({"x": Secret(CANARY)}),
            lambda: hasher.hash(CANARY * 100),
            lambda: hasher.verify(CANARY, CANARY),
            lambda: derive_key(CANARY, CANARY_B[:8], **FAST),
            lambda: Ed25519Signer.from_private_bytes(CANARY_B),
            lambda: Ed25519Signer(CANARY_B),
            lambda: JwtKey.from_jwk({"kty": "oct", "k": CANARY}),
            lambda: JwksCache({"keys": [oct_jwk]}),
            lambda: pickle.dumps(cipher),
            lambda: pickle.dumps(kdf),
            lambda: pickle.dumps(signer),
            lambda: pickle.dumps(ed),
        ]
    )
    assert len(errors) == 23
    texts += [_error_texts(err) for err in errors]
    texts += [record.getMessage() for record in caplog.records]
    texts += [repr(record.__dict__) for record in caplog.records]

    leaks = [(i, _leaks(text)) for i, text in enumerate(texts) if _leaks(text)]
    assert leaks == []


def test_canary_forms_are_detectable() -> None:
    """The leak detector itself finds the canary in the forms it looks for (guards against a blind test)."""
    assert _leaks(f"key={KEY32!r}")
    assert _leaks(KEY32.hex())
    assert _leaks(base64.urlsafe_b64encode(CANARY_B).decode())
    assert not _leaks("Secret('**********')")
