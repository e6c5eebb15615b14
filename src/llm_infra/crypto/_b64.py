"""Strict base64url (RFC 4648 §5, unpadded, canonical) as JOSE requires it."""

from __future__ import annotations

import binascii

from llm_infra.crypto import _codes
from llm_infra.errors import CryptoError

_TO_STD = bytes.maketrans(b"-_", b"+/")
_TO_URL = bytes.maketrans(b"+/", b"-_")
_PAD = (b"", b"", b"==", b"=")


def b64url_encode(data: bytes) -> str:
    """Encode ``data`` as unpadded base64url text.

    Args:
        data: the bytes to encode.

    Returns:
        ASCII text of the alphabet ``A-Z a-z 0-9 - _`` without ``=`` padding.

    .. versionadded:: 0.1.0
    """
    return binascii.b2a_base64(data, newline=False).translate(_TO_URL).rstrip(b"=").decode("ascii")


def decode_strict(segment: bytes) -> bytes:
    """Decode unpadded canonical base64url bytes; raise ``ValueError`` on anything else.

    Canonical means the segment is exactly what ``b64url_encode`` produces for the decoded
    bytes: no padding, no whitespace, no characters outside the alphabet and no non-zero
    trailing bits (RFC 4648 §3.5), so one value has exactly one encoding.
    """
    if len(segment) & 3 == 1:
        raise ValueError("impossible base64url length")
    raw = binascii.a2b_base64(segment.translate(_TO_STD) + _PAD[len(segment) & 3])
    # Re-encoding and comparing rejects every non-canonical form at once: characters the lenient
    # decoder skipped, '=' padding, '+'/'/' (they would come back as '-'/'_') and trailing bits.
    if binascii.b2a_base64(raw, newline=False).translate(_TO_URL).rstrip(b"=") != segment:
        raise ValueError("non-canonical base64url")
    return raw


def b64url_decode(text: str | bytes) -> bytes:
    """Decode unpadded canonical base64url, refusing every other spelling.

    Args:
        text: base64url text (``str`` or ASCII ``bytes``) without padding.

    Returns:
        The decoded bytes.

    Raises:
        CryptoError: ``crypto.invalid_encoding`` for padding, whitespace, characters outside the
            alphabet, an impossible length or non-zero trailing bits.

    .. versionadded:: 0.1.0
    """
    try:
        segment = text.encode("ascii") if isinstance(text, str) else bytes(text)
        return decode_strict(segment)
    except (ValueError, TypeError, binascii.Error):
        raise CryptoError(
            "invalid base64url encoding", code=_codes.INVALID_ENCODING, operation="b64url_decode"
        ) from None
