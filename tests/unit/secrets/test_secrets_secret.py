"""Tests of llm_infra.secrets.Secret: masking everywhere, reveal, pickling refused, constant-time eq."""

from __future__ import annotations

import copy
import dataclasses
import hmac
import logging
import pickle
from typing import Any

import pytest

from llm_infra import json
from llm_infra.errors import InfraError
from llm_infra.secrets import MASK, Secret, reveal

VALUE = "hunter2-s3cr3t"


def test_repr_str_format_and_fstrings_mask() -> None:
    """repr, str, format, %-formatting and f-strings all give the mask."""
    secret = Secret(VALUE)
    expected = f"Secret({MASK!r})"
    assert repr(secret) == expected
    assert str(secret) == expected
    assert format(secret, ">40") == expected
    assert f"{secret}" == expected
    assert f"{secret!r}" == expected
    assert f"{secret!s}" == expected
    assert "%s %r" % (secret, secret) == f"{expected} {expected}"  # noqa: UP031 - the old style must mask too
    assert "{}".format(secret) == expected  # noqa: UP032 - str.format must mask too
    assert VALUE not in repr([secret, {"k": secret}])
    assert MASK == "**********"


def test_reveal() -> None:
    """reveal() returns the wrapped value; the reveal() helper passes non-secrets through."""
    secret = Secret(VALUE)
    assert secret.reveal() == VALUE
    assert reveal(secret) == VALUE
    assert reveal("plain") == "plain"
    assert Secret(b"raw").reveal() == b"raw"


def test_logging_masks(caplog: pytest.LogCaptureFixture) -> None:
    """Logging a secret (as argument, in a message or via exception) never shows the value."""
    secret = Secret(VALUE)
    logger = logging.getLogger("test.secrets")
    with caplog.at_level(logging.INFO, logger="test.secrets"):
        logger.info("token=%s", secret)
        logger.info("token=%r", secret)
        logger.info(f"token={secret}")
        logger.info("data %s", {"token": secret})
    assert VALUE not in caplog.text
    assert caplog.text.count(MASK) == 4


def test_json_encoding_masks() -> None:
    """Our json.dumps writes the mask; the stdlib refuses instead of leaking."""
    import json as stdjson

    assert json.dumps({"token": Secret(VALUE)}) == b'{"token":"**********"}'
    with pytest.raises(TypeError):
        stdjson.dumps({"token": Secret(VALUE)})


def test_errors_never_show_secrets() -> None:
    """A secret placed in an error's context is masked in repr, to_dict and to_problem."""
    err = InfraError("failed", context={"token": Secret(VALUE)})
    dumped = json.dumps(err.to_dict()) + json.dumps(err.to_problem())
    assert VALUE.encode() not in dumped
    assert VALUE not in repr(err)


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_pickling_raises(protocol: int) -> None:
    """Pickling a secret (alone or nested) raises TypeError with any protocol."""
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(Secret(VALUE), protocol=protocol)
    with pytest.raises(TypeError):
        pickle.dumps({"nested": [Secret(VALUE)]}, protocol=protocol)


def test_copy_keeps_the_same_object() -> None:
    """copy and deepcopy return the secret itself (no duplicate of the value is made)."""
    secret = Secret(VALUE)
    assert copy.copy(secret) is secret
    assert copy.deepcopy(secret) is secret

    @dataclasses.dataclass
    class Creds:
        token: Secret[str]

    assert dataclasses.asdict(Creds(secret))["token"] is secret


def test_reduce_directly_raises() -> None:
    """__reduce__ is refused as well (used by some serializers)."""
    with pytest.raises(TypeError):
        Secret(VALUE).__reduce__()


def test_equality_uses_compare_digest_for_str_and_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    """== between str or bytes secrets goes through hmac.compare_digest (constant time)."""
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    assert Secret("abc") == Secret("abc")
    assert Secret("abc") != Secret("abd")
    assert Secret(b"k") == Secret(bytearray(b"k"))
    assert len(calls) == 3


def test_equality_other_cases() -> None:
    """Mixed types are unequal; non-secrets are not equal to secrets; other payloads compare normally."""
    assert Secret("a") != Secret(b"a")
    assert Secret("a") != "a"
    assert Secret(5) == Secret(5)
    assert Secret([1]) != Secret([2])


def test_hash_does_not_depend_on_value() -> None:
    """Secrets are hashable, with a hash that reveals nothing about the value."""
    assert hash(Secret("a")) == hash(Secret("b"))
    assert len({Secret("a"), Secret("a")}) == 1


def test_bool_len_and_immutability() -> None:
    """bool tells emptiness; len() and attribute assignment are refused."""
    assert Secret("x")
    assert not Secret("")
    with pytest.raises(TypeError):
        len(Secret("abc"))  # type: ignore[misc]
    secret = Secret("x")
    with pytest.raises(AttributeError):
        secret._value = "y"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        secret.other = 1  # type: ignore[attr-defined]
    assert not hasattr(secret, "__dict__")
