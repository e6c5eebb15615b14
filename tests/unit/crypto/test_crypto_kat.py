"""Known-answer tests from the ``cryptography-vectors`` package (NIST CAVP, RFC 4231, RFC 9106, RFC 8032)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cryptography_vectors import open_vector_file

from llm_infra.crypto import (
    Aes256GcmCipher,
    EcdsaP256Verifier,
    Ed25519Signer,
    Ed25519Verifier,
    Hasher,
    hmac_sha256,
    sha256,
    sha512,
)
from llm_infra.crypto._kdf import argon2id_raw
from llm_infra.errors import CryptoError

Record = dict[str, str]


def nist_records(path: str) -> Iterator[tuple[dict[str, str], Record]]:
    """Yield (section parameters, record) pairs of a NIST CAVP ``.rsp``/``.txt`` file."""
    section: dict[str, str] = {}
    record: Record = {}
    with open_vector_file(path, "r") as fh:
        for raw in fh:
            line = raw.strip()
            if line.startswith("#"):
                continue
            if not line:
                if record:
                    yield dict(section), record
                    record = {}
                continue
            if line.startswith("["):
                if record:
                    yield dict(section), record
                    record = {}
                body = line.strip("[]")
                if "=" in body:
                    name, value = (p.strip() for p in body.split("=", 1))
                    section[name] = value
                else:
                    section = {"name": body}
                continue
            if line == "FAIL":
                record["FAIL"] = "1"
                continue
            name, _, value = line.partition("=")
            record[name.strip()] = value.strip()
    if record:
        yield dict(section), record


def test_aes_256_gcm_nist_decrypt_vectors() -> None:
    """Every NIST GCM decrypt vector (96-bit IV, 128-bit tag) decrypts, or fails when marked FAIL."""
    checked = failed = 0
    for section, rec in nist_records("ciphers/AES/GCM/gcmDecrypt256.rsp"):
        if section.get("IVlen") != "96" or section.get("Taglen") != "128" or "Key" not in rec:
            continue
        cipher = Aes256GcmCipher(bytes.fromhex(rec["Key"]))
        wire = bytes.fromhex(rec["IV"]) + bytes.fromhex(rec["CT"]) + bytes.fromhex(rec["Tag"])
        aad = bytes.fromhex(rec["AAD"])
        if "FAIL" in rec:
            with pytest.raises(CryptoError) as info:
                cipher.decrypt(wire, aad)
            assert info.value.code == "crypto.decrypt_failed"
            failed += 1
        else:
            assert cipher.decrypt(wire, aad) == bytes.fromhex(rec["PT"])
        checked += 1
    assert checked == 375
    assert failed > 50


def test_aes_256_gcm_nist_encrypt_vectors() -> None:
    """Every NIST GCM encrypt vector (96-bit IV, 128-bit tag) produces the expected nonce||ct||tag."""
    checked = 0
    for section, rec in nist_records("ciphers/AES/GCM/gcmEncryptExtIV256.rsp"):
        if section.get("IVlen") != "96" or section.get("Taglen") != "128" or "Key" not in rec:
            continue
        cipher = Aes256GcmCipher(bytes.fromhex(rec["Key"]))
        nonce = bytes.fromhex(rec["IV"])
        out = cipher._encrypt_with_nonce(nonce, bytes.fromhex(rec["PT"]), bytes.fromhex(rec["AAD"]))
        assert out == nonce + bytes.fromhex(rec["CT"]) + bytes.fromhex(rec["Tag"])
        assert cipher.decrypt(out, bytes.fromhex(rec["AAD"])) == bytes.fromhex(rec["PT"])
        checked += 1
    assert checked == 375


def _sha_cases(name: str) -> Iterator[tuple[bytes, bytes]]:
    for suffix in ("ShortMsg", "LongMsg"):
        for _, rec in nist_records(f"hashes/SHA2/{name}{suffix}.rsp"):
            if "MD" not in rec:
                continue
            msg = b"" if rec["Len"] == "0" else bytes.fromhex(rec["Msg"])
            yield msg, bytes.fromhex(rec["MD"])


@pytest.mark.parametrize(
    ("name", "fn", "algorithm"),
    [("SHA256", sha256, "sha256"), ("SHA512", sha512, "sha512"), ("SHA384", None, "sha384")],
)
def test_sha2_nist_short_and_long_messages(name: str, fn: object, algorithm: str) -> None:
    """SHA-256/384/512 match every NIST ShortMsg and LongMsg vector, one-shot and streamed in odd chunks."""
    count = 0
    for msg, md in _sha_cases(name):
        if callable(fn):
            assert fn(msg) == md
        hasher = Hasher(algorithm)  # type: ignore[arg-type]
        for i in range(0, len(msg), 7):
            hasher.update(msg[i : i + 7])
        assert hasher.digest() == md
        count += 1
    assert count > 100


def test_hmac_sha256_rfc4231() -> None:
    """HMAC-SHA-256 matches the RFC 4231 test cases."""
    count = 0
    for _, rec in nist_records("HMAC/rfc-4231-sha256.txt"):
        if "MD" not in rec:
            continue
        assert hmac_sha256(bytes.fromhex(rec["Key"]), bytes.fromhex(rec["Msg"])) == bytes.fromhex(rec["MD"])
        count += 1
    assert count >= 6


def test_argon2id_rfc9106_vectors() -> None:
    """Our Argon2id matches every package argon2id vector without secret or associated data."""
    count = 0
    for _, rec in nist_records("KDF/argon2id.txt"):
        if "output" not in rec or "secret" in rec or "ad" in rec:
            continue
        out = argon2id_raw(
            bytes.fromhex(rec.get("pass", "")),
            bytes.fromhex(rec["salt"]),
            time_cost=int(rec["iter"]),
            memory_cost=int(rec["memcost"]),
            parallelism=int(rec["lanes"]),
            length=int(rec["length"]),
        )
        assert out == bytes.fromhex(rec["output"])
        count += 1
    assert count >= 4


def test_argon2id_rfc9106_section_5_3_parameters() -> None:
    """RFC 9106 §5.3 inputs minus secret/AD (argon2-cffi lacks them) give the published output."""
    out = argon2id_raw(b"\x01" * 32, b"\x02" * 16, time_cost=3, memory_cost=32, parallelism=4, length=32)
    assert out.hex() == "03aab965c12001c9d7d0d2de33192c0494b684bb148196d73c1df1acaf6d0c2e"


def test_ed25519_rfc8032_sign_input() -> None:
    """Ed25519 signatures match all 1024 vectors of the SUPERCOP/RFC 8032 ``sign.input`` file."""
    with open_vector_file("asymmetric/Ed25519/sign.input", "r") as fh:
        lines = fh.read().splitlines()
    assert len(lines) == 1024
    for line in lines:
        sk_pk, pk, msg_hex, sig_msg, _ = line.split(":")
        secret, public, msg = bytes.fromhex(sk_pk)[:32], bytes.fromhex(pk), bytes.fromhex(msg_hex)
        signature = bytes.fromhex(sig_msg)[:64]
        signer = Ed25519Signer.from_private_bytes(secret)
        assert signer.sign(msg) == signature
        verifier = Ed25519Verifier.from_public_bytes(public)
        assert verifier.public_bytes() == public
        verifier.verify(signature, msg)


def test_ecdsa_p256_sha256_nist_sigver() -> None:
    """ECDSA P-256/SHA-256 verification agrees with every NIST SigVer vector (P and F results)."""
    from cryptography.hazmat.primitives.asymmetric import ec

    passed = rejected = 0
    for section, rec in nist_records("asymmetric/ECDSA/FIPS_186-3/SigVer.rsp"):
        if section.get("name") != "P-256,SHA-256" or "Result" not in rec:
            continue
        key = ec.EllipticCurvePublicNumbers(
            int(rec["Qx"], 16), int(rec["Qy"], 16), ec.SECP256R1()
        ).public_key()
        verifier = EcdsaP256Verifier(key)
        signature = int(rec["R"], 16).to_bytes(32, "big") + int(rec["S"], 16).to_bytes(32, "big")
        ok = verifier.is_valid(signature, bytes.fromhex(rec["Msg"]))
        assert ok == rec["Result"].startswith("P")
        passed += ok
        rejected += not ok
    assert passed > 0
    assert rejected > 0


def test_parser_reads_fail_markers() -> None:
    """The vector parser keeps FAIL markers and section parameters (guards the KAT loops above)."""
    records = list(nist_records("ciphers/AES/GCM/gcmDecrypt256.rsp"))
    assert any("FAIL" in rec for _, rec in records)
    assert {"Keylen", "IVlen", "Taglen"} <= set(records[0][0])
