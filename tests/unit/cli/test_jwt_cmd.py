"""``llm-infra jwt issue|verify``."""

from __future__ import annotations

import json
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from llm_infra.cli import _codes
from llm_infra.crypto import JwtValidator

from .conftest import Run

SECRET = "s" * 40
ENV = {"JWT_SECRET": SECRET}


def test_hs256_round_trip(run: Run) -> None:
    """A token issued with --secret-env verifies with the same secret and carries the claims."""
    issued = run(
        "jwt",
        "issue",
        "alice",
        "--secret-env",
        "JWT_SECRET",
        "--role",
        "reader",
        "--claim",
        "team=core",
        "--claim",
        "n=3",
        "--issuer",
        "me",
        "--ttl",
        "60",
        env=ENV,
    )
    assert issued.exit_code == 0, issued.stderr
    token = issued.stdout.strip()
    claims = JwtValidator.hs256(SECRET, issuer="me").verify(token)
    assert (claims["sub"], claims["roles"], claims["team"], claims["n"]) == ("alice", ["reader"], "core", 3)
    assert claims["exp"] - claims["iat"] == 60
    verified = run("jwt", "verify", token, "--secret-env", "JWT_SECRET", "--issuer", "me", env=ENV)
    assert verified.exit_code == 0, verified.stderr
    assert json.loads(verified.stdout)["sub"] == "alice"
    from_stdin = run(
        "jwt", "verify", "-", "--secret-env", "JWT_SECRET", "--issuer", "me", env=ENV, input=token
    )
    assert from_stdin.exit_code == 0


def test_tampered_token_is_refused_with_reason(run: Run) -> None:
    """A bad signature is ``auth.invalid_token``; the reason is printed for the operator."""
    token = run("jwt", "issue", "alice", "--secret-env", "JWT_SECRET", env=ENV).stdout.strip()
    result = run(
        "jwt",
        "verify",
        token[:-2] + ("AA" if not token.endswith("AA") else "BB"),
        "--secret-env",
        "JWT_SECRET",
        env=ENV,
    )
    assert result.exit_code == 1
    assert "error[auth.invalid_token]" in result.stderr
    assert "reason:" in result.stderr
    other = run("jwt", "verify", token, "--secret-env", "OTHER", env={"OTHER": "o" * 40})
    assert other.exit_code == 1
    assert "error[auth.invalid_token]" in other.stderr


def test_missing_and_weak_secrets(run: Run) -> None:
    """No key at all is ``cli.missing_secret``; a short HMAC secret is the library's code."""
    none = run("jwt", "issue", "alice")
    assert none.exit_code == 1
    assert f"error[{_codes.MISSING_SECRET}]" in none.stderr
    unset = run("jwt", "issue", "alice", "--secret-env", "NOT_SET")
    assert f"error[{_codes.MISSING_SECRET}]" in unset.stderr
    weak = run("jwt", "issue", "alice", "--secret-env", "W", env={"W": "short"})
    assert weak.exit_code == 1
    assert "error[crypto.invalid_key_size]" in weak.stderr
    bad_claim = run("jwt", "issue", "alice", "--secret-env", "JWT_SECRET", "--claim", "novalue", env=ENV)
    assert f"error[{_codes.INVALID_INPUT}]" in bad_claim.stderr


def test_secret_from_file(run: Run, workdir: Path) -> None:
    """--key-file provides the HMAC secret (one trailing newline dropped); issuer defaults from config."""
    Path("llm-infra.toml").write_text('[auth.jwt]\nissuer = "svc"\n', encoding="utf-8")
    (workdir / "secret.txt").write_text(SECRET + "\n", encoding="utf-8")
    token = run("jwt", "issue", "eve", "--key-file", "secret.txt").stdout.strip()
    assert JwtValidator.hs256(SECRET, issuer="svc").verify(token)["sub"] == "eve"
    assert run("jwt", "verify", token, "--key-file", "secret.txt").exit_code == 0


def test_es256_with_pem_files(run: Run, workdir: Path) -> None:
    """ES256: sign with a private PEM, verify with the public PEM."""
    private = ec.generate_private_key(ec.SECP256R1())
    (workdir / "key.pem").write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    (workdir / "pub.pem").write_bytes(
        private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    token = run(
        "jwt", "issue", "frank", "--alg", "ES256", "--key-file", "key.pem", "--kid", "k1"
    ).stdout.strip()
    verified = run("jwt", "verify", token, "--alg", "ES256", "--key-file", "pub.pem", "--kid", "k1")
    assert verified.exit_code == 0, verified.stderr
    assert json.loads(verified.stdout)["sub"] == "frank"


def test_jwks_from_public_keys(run: Run, workdir: Path) -> None:
    """``jwt jwks`` prints a JWKS the library's validator accepts for tokens signed with the key."""
    private = ec.generate_private_key(ec.SECP256R1())
    (workdir / "key.pem").write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    result = run("jwt", "jwks", "key.pem", "--kid", "k1")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert [k["kid"] for k in document["keys"]] == ["k1"]
    assert "d" not in document["keys"][0]  # public members only
    token = run(
        "jwt", "issue", "gus", "--alg", "ES256", "--key-file", "key.pem", "--kid", "k1"
    ).stdout.strip()
    assert JwtValidator.from_jwks(document).verify(token)["sub"] == "gus"
    thumb = json.loads(run("jwt", "jwks", "key.pem").stdout)["keys"][0]["kid"]
    assert len(thumb) == 43
    mismatch = run("jwt", "jwks", "key.pem", "--kid", "a", "--kid", "b")
    assert mismatch.exit_code == 1
    assert f"error[{_codes.INVALID_INPUT}]" in mismatch.stderr
