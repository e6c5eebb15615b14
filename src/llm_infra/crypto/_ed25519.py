"""Refusing weak Ed25519 public keys: small-order points and non-canonical encodings.

A public key of small order (one of the 8 points whose order divides 8, in any of its
encodings) lets one signature verify for many messages, or for every key-holder at once; RFC
8032 verifiers differ in whether they accept it. We refuse such keys when they are loaded. The
check decodes the point (RFC 8032 §5.1.3) and multiplies it by the cofactor 8 with plain
integer arithmetic: it runs once per key load, never per signature.
"""

from __future__ import annotations

from typing import Final

_P: Final = 2**255 - 19
_D: Final = (-121665 * pow(121666, -1, _P)) % _P
_SQRT_M1: Final = pow(2, (_P - 1) // 4, _P)

_Point = tuple[int, int, int, int]  # extended coordinates (X, Y, Z, T)


def _decode(raw: bytes) -> _Point | None:
    """The point encoded by ``raw`` (32 bytes), or ``None`` when it is not a valid encoding."""
    value = int.from_bytes(raw, "little")
    sign = value >> 255
    y = value & ((1 << 255) - 1)
    if y >= _P:
        return None  # non-canonical y
    u, v = (y * y - 1) % _P, (_D * y * y + 1) % _P
    x = (u * pow(v, 3, _P) * pow(u * pow(v, 7, _P), (_P - 5) // 8, _P)) % _P
    if (v * x * x - u) % _P != 0:
        x = (x * _SQRT_M1) % _P
        if (v * x * x - u) % _P != 0:
            return None  # not on the curve
    if x == 0 and sign:
        return None  # "negative zero": a non-canonical encoding
    if x & 1 != sign:
        x = _P - x
    return (x, y, 1, (x * y) % _P)


def _double(pt: _Point) -> _Point:
    x1, y1, z1, _ = pt
    a, b = x1 * x1 % _P, y1 * y1 % _P
    c = 2 * z1 * z1 % _P
    h = (a + b) % _P
    e = (h - (x1 + y1) * (x1 + y1)) % _P
    g = (a - b) % _P
    f = (c + g) % _P
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def is_weak_public_key(raw: bytes) -> bool:
    """Whether the 32-byte Ed25519 public key ``raw`` is invalid, non-canonical or of small order."""
    if len(raw) != 32:
        return True
    point = _decode(raw)
    if point is None:
        return True
    for _ in range(3):
        point = _double(point)
    x, y, z, _ = point
    # [8]P is the neutral element (0, 1) exactly when P has order dividing 8.
    return x % _P == 0 and (y - z) % _P == 0


__all__ = ["is_weak_public_key"]
