"""``llm-infra jwt issue|verify`` (``llm_infra.crypto`` JWTs)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from llm_infra.cli import _codes
from llm_infra.cli._options import env_secret
from llm_infra.cli._output import die, err, print_json
from llm_infra.cli._state import state
from llm_infra.errors import InfraError
from llm_infra.secrets import Secret

app = typer.Typer(help="Issue and verify JWTs (HS256/384/512, ES256, EdDSA, RS256).", no_args_is_help=True)

_HMAC = ("HS256", "HS384", "HS512")

Alg = Annotated[str, typer.Option("--alg", help="HS256, HS384, HS512, ES256, EdDSA or RS256.")]
SecretEnv = Annotated[
    str | None, typer.Option("--secret-env", help="Environment variable holding the HMAC secret.")
]
KeyFile = Annotated[
    Path | None,
    typer.Option(
        "--key-file",
        help="PEM key file (private to issue, public or private to verify), or HMAC secret file.",
    ),
]
Issuer = Annotated[str | None, typer.Option("--issuer", help="iss (default: auth.jwt.issuer).")]
Audience = Annotated[str | None, typer.Option("--audience", help="aud (default: auth.jwt.audience).")]


def _key_material(alg: str, secret_env: str | None, key_file: Path | None) -> Any:
    if secret_env is not None:
        return env_secret(secret_env)
    if key_file is not None:
        data = key_file.read_bytes()
        if alg in _HMAC:
            return Secret(data.rstrip(b"\r\n"))
        return Secret(data)
    raise die(_codes.MISSING_SECRET, f"no key for {alg}: pass --secret-env NAME or --key-file PATH")


def _claim(text: str) -> tuple[str, object]:
    from llm_infra.json import loads

    name, sep, raw = text.partition("=")
    if not sep or not name:
        raise die(_codes.INVALID_INPUT, f"a claim is NAME=VALUE, got {text!r}")
    try:
        return name, loads(raw)
    except InfraError:  # not JSON: a plain string
        return name, raw


@app.command("issue")
def issue(
    ctx: typer.Context,
    *,
    subject: Annotated[str, typer.Argument(help="The sub claim.")],
    alg: Alg = "HS256",
    secret_env: SecretEnv = None,
    key_file: KeyFile = None,
    ttl: Annotated[float, typer.Option("--ttl", min=1, help="Lifetime in seconds.")] = 900.0,
    claim: Annotated[
        list[str] | None,
        typer.Option("--claim", help="Extra claim NAME=VALUE (VALUE may be JSON); repeatable."),
    ] = None,
    role: Annotated[
        list[str] | None, typer.Option("--role", help="Adds to the roles claim; repeatable.")
    ] = None,
    kid: Annotated[str | None, typer.Option("--kid", help="Key id written to the header.")] = None,
    issuer: Issuer = None,
    audience: Audience = None,
) -> None:
    """Sign a token for SUBJECT and print it.

    Example: llm-infra jwt issue alice --secret-env JWT_SECRET --role reader
    """
    from llm_infra.crypto import JwtSigner

    st = state(ctx)
    signer = JwtSigner(
        alg,
        _key_material(alg, secret_env, key_file),
        kid=kid,
        issuer=issuer or st.setting("auth.jwt.issuer"),
        audience=audience or st.setting("auth.jwt.audience"),
        ttl=ttl,
    )
    claims: dict[str, object] = dict(_claim(c) for c in claim or [])
    claims["sub"] = subject
    if role:
        claims["roles"] = list(role)
    sys.stdout.write(signer.sign(claims) + "\n")


@app.command("verify")
def verify(
    ctx: typer.Context,
    *,
    token: Annotated[str, typer.Argument(help="The token ('-' reads it from stdin).")],
    alg: Alg = "HS256",
    secret_env: SecretEnv = None,
    key_file: KeyFile = None,
    issuer: Issuer = None,
    audience: Audience = None,
    leeway: Annotated[float, typer.Option(min=0, max=300, help="Clock skew tolerance, seconds.")] = 60.0,
    kid: Annotated[
        str | None, typer.Option("--kid", help="The key id the token's header must carry.")
    ] = None,
) -> None:
    """Verify a token's signature and claims; print the claims (exit 1 and the reason when invalid).

    Example: llm-infra jwt verify "$TOKEN" --secret-env JWT_SECRET
    """
    from llm_infra.crypto import JwtKey, JwtValidator
    from llm_infra.errors import AuthError

    st = state(ctx)
    if token == "-":  # noqa: S105 - the stdin marker, not a credential
        token = sys.stdin.read().strip()
    material = _key_material(alg, secret_env, key_file)
    if alg not in _HMAC:
        from llm_infra.crypto import load_public_key

        material = load_public_key(material)
    validator = JwtValidator(
        JwtKey(alg, material, kid=kid),
        issuer=issuer or st.setting("auth.jwt.issuer"),
        audience=audience or st.setting("auth.jwt.audience"),
        leeway=leeway,
    )
    try:
        claims = validator.verify(token)
    except AuthError as exc:
        reason = exc.attributes.get("reason")
        if reason is not None:
            err().print(f"reason: {reason}")
        raise
    print_json(claims)


@app.command("jwks")
def jwks(
    key_file: Annotated[
        list[Path], typer.Argument(help="Public (or private) PEM key files: ES256, EdDSA or RS256.")
    ],
    kid: Annotated[
        list[str] | None,
        typer.Option("--kid", help="Key id per file, in order (default: the RFC 7638 thumbprint)."),
    ] = None,
) -> None:
    """Print a JWKS document of public keys (for the service's auth.jwt.jwks_url).

    Example: llm-infra jwt jwks signing-key.pub.pem --kid k1 > jwks.json
    """
    from llm_infra.crypto import jwk_thumbprint, load_public_key, public_key_to_jwk

    kids = list(kid or [])
    if kids and len(kids) != len(key_file):
        raise die(_codes.INVALID_INPUT, f"{len(kids)} --kid values for {len(key_file)} key files")
    keys = []
    for index, path in enumerate(key_file):
        public = load_public_key(Secret(path.read_bytes()))
        jwk: dict[str, str] = dict(public_key_to_jwk(public))
        jwk["kid"] = kids[index] if kids else jwk_thumbprint(public)
        jwk["use"] = "sig"
        keys.append(jwk)
    print_json({"keys": keys})


__all__ = ["app"]
