"""Validated value types: construct one and it is valid, or ``ValidationError`` is raised."""

from __future__ import annotations

import operator
import re
from typing import TYPE_CHECKING, Any, ClassVar, Final, final
from urllib.parse import SplitResult, urlsplit

from llm_infra.errors import ValidationError
from llm_infra.validation import _codes

if TYPE_CHECKING:
    from pydantic import GetCoreSchemaHandler
    from pydantic_core import CoreSchema


def _invalid(code: str, field: str | None, problem: str, *, expected: str, actual: str) -> ValidationError:
    """The error of every validated type: ``"<field> <problem>"`` with ``expected`` and ``actual``."""
    return ValidationError(
        f"{field or 'value'} {problem}", field=field, expected=expected, actual=actual, code=code
    )


def _type_error(field: str | None, expected: str, value: object) -> ValidationError:
    actual = type(value).__name__
    return _invalid(_codes.TYPE, field, f"must be {expected}, got {actual}", expected=expected, actual=actual)


def _require_str(value: object, field: str | None) -> str:
    if not isinstance(value, str):
        raise _type_error(field, "a string", value)
    return value


class _PydanticStr(str):
    """Lets the validated string types be used as pydantic field types."""

    __slots__ = ()

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        from pydantic_core import core_schema

        return core_schema.no_info_after_validator_function(cls, core_schema.str_schema())

    @property
    def value(self) -> str:
        """The plain ``str``."""
        return str.__str__(self)


@final
class NonEmptyString(_PydanticStr):
    """A ``str`` with at least one non-whitespace character.

    Example::

        name = NonEmptyString(raw, field="name")   # a str; raises ValidationError when blank

    Raises:
        ValidationError: ``validation.empty`` (``expected="non-empty string"``) or
            ``validation.type``.

    .. versionadded:: 0.1.0
    """

    __slots__ = ()

    def __new__(cls, value: object, *, field: str | None = None) -> NonEmptyString:
        text = _require_str(value, field)
        if not text.strip():
            raise _invalid(
                _codes.EMPTY,
                field,
                "must not be empty",
                expected="non-empty string",
                actual="empty string" if not text else "whitespace only",
            )
        return super().__new__(cls, text)


@final
class BoundedString(_PydanticStr):
    """A ``str`` whose length in characters (code points, not bytes) lies in a range.

    Args:
        value: the string.
        max_length: the largest accepted length in characters.
        min_length: the smallest accepted length (default 0).
        field: the field name reported in errors.

    Raises:
        ValidationError: ``validation.too_long``/``validation.too_short`` with ``expected`` such as
            ``"<= 64 characters"`` and ``actual`` the length (never the value).

    .. versionadded:: 0.1.0
    """

    __slots__ = ()

    def __new__(
        cls, value: object, max_length: int, *, min_length: int = 0, field: str | None = None
    ) -> BoundedString:
        text = _require_str(value, field)
        length = len(text)
        if length > max_length:
            raise _invalid(
                _codes.TOO_LONG,
                field,
                f"is {length} characters long, more than {max_length}",
                expected=f"<= {max_length} characters",
                actual=f"{length} characters",
            )
        if length < min_length:
            raise _invalid(
                _codes.TOO_SHORT,
                field,
                f"is {length} characters long, fewer than {min_length}",
                expected=f">= {min_length} characters",
                actual=f"{length} characters",
            )
        return super().__new__(cls, text)


# The WHATWG HTML "valid e-mail address" production: what browsers accept in <input type=email>.
_EMAIL_RE: Final = re.compile(
    r"[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
    r"(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*",
    re.ASCII,
)
_EMAIL_MAX: Final = 254  # RFC 5321 path limit minus the angle brackets
_LOCAL_MAX: Final = 64


@final
class Email(_PydanticStr):
    """An e-mail address valid by the WHATWG HTML rule, at most 254 characters (local part <= 64).

    ASCII only: convert internationalised domains with the ``idna`` codec first. A bare
    "contains ``@``" check is not enough: ``"@@@"`` is rejected.

    Raises:
        ValidationError: ``validation.invalid_email`` (``expected="e-mail address"``).

    .. versionadded:: 0.1.0
    """

    __slots__ = ()

    def __new__(cls, value: object, *, field: str | None = "email") -> Email:
        text = _require_str(value, field)
        local, _, _domain = text.rpartition("@")
        if len(text) > _EMAIL_MAX or len(local) > _LOCAL_MAX or _EMAIL_RE.fullmatch(text) is None:
            raise _invalid(
                _codes.INVALID_EMAIL,
                field,
                "is not a valid e-mail address",
                expected="e-mail address (local@domain, ASCII, <= 254 characters)",
                actual=f"{len(text)} characters, {text.count('@')} '@'",
            )
        return super().__new__(cls, text)

    @property
    def local(self) -> str:
        """The part before ``@``."""
        return self.rpartition("@")[0]

    @property
    def domain(self) -> str:
        """The part after ``@``."""
        return self.rpartition("@")[2]


_CONTROL_OR_SPACE: Final = re.compile(r"[\x00-\x20\x7f]")


def _redact_userinfo(text: str) -> str:
    # Never echo credentials embedded in a URL into an error.
    scheme, sep, rest = text.partition("://")
    if sep and "@" in rest.split("/", 1)[0]:
        return f"{scheme}://***@{rest.split('/', 1)[0].rpartition('@')[2]}"
    return text[:100]


@final
class Url(_PydanticStr):
    """An absolute URL with an allowed scheme and a host (``urllib.parse.urlsplit`` underneath).

    Args:
        value: the URL.
        schemes: accepted schemes, lower case (default ``http`` and ``https``).
        max_length: the longest accepted URL in characters (default 2048).
        field: the field name reported in errors.

    Raises:
        ValidationError: ``validation.invalid_url``; the ``actual`` value has credentials redacted.

    .. versionadded:: 0.1.0
    """

    __slots__ = ()
    DEFAULT_SCHEMES: ClassVar[tuple[str, ...]] = ("http", "https")

    def __new__(
        cls,
        value: object,
        *,
        schemes: tuple[str, ...] | frozenset[str] = DEFAULT_SCHEMES,
        max_length: int = 2048,
        field: str | None = "url",
    ) -> Url:
        text = _require_str(value, field)
        problem = cls._problem(text, schemes, max_length)
        if problem is not None:
            raise _invalid(
                _codes.INVALID_URL,
                field,
                f"is not a valid URL: {problem}",
                expected=f"absolute URL with scheme {'/'.join(sorted(schemes))} and a host",
                actual=_redact_userinfo(text),
            )
        return super().__new__(cls, text)

    @staticmethod
    def _problem(text: str, schemes: tuple[str, ...] | frozenset[str], max_length: int) -> str | None:
        if len(text) > max_length:
            return f"longer than {max_length} characters"
        if _CONTROL_OR_SPACE.search(text):
            return "contains whitespace or control characters"
        try:
            parts = urlsplit(text)
            port = parts.port
        except ValueError as exc:
            return str(exc)
        if not parts.scheme:
            return "no scheme"
        if parts.scheme.lower() not in schemes:
            return f"scheme {parts.scheme!r} is not allowed"
        if not parts.hostname:
            return "no host"
        if port == 0:
            return "port 0 is not allowed"
        return None

    def _split(self) -> SplitResult:
        return urlsplit(str.__str__(self))

    @property
    def scheme(self) -> str:
        """The scheme, lower case."""
        return self._split().scheme.lower()

    @property
    def host(self) -> str:
        """The host name, lower case (brackets of IPv6 literals removed)."""
        return self._split().hostname or ""

    @property
    def port(self) -> int | None:
        """The explicit port, if any."""
        return self._split().port

    @property
    def path(self) -> str:
        """The path component."""
        return self._split().path


@final
class Dimensions(int):
    """A vector dimension count in 1..65536.

    Note that pgvector's HNSW index stops at 2000 dimensions; backends check their own limits.

    Raises:
        ValidationError: ``validation.out_of_range`` (``expected="1-65536"``) or
            ``validation.type`` for non-integers (``bool`` and ``float`` included).

    .. versionadded:: 0.1.0
    """

    __slots__ = ()
    MIN: ClassVar[int] = 1
    MAX: ClassVar[int] = 65536

    def __new__(cls, value: object, *, field: str | None = "dimensions") -> Dimensions:
        if isinstance(value, bool):
            raise _type_error(field, "an integer", value)
        try:
            number = operator.index(value)  # type: ignore[arg-type]  # int, numpy ints; not float
        except TypeError:
            raise _type_error(field, "an integer", value) from None
        if not cls.MIN <= number <= cls.MAX:
            raise _invalid(
                _codes.OUT_OF_RANGE,
                field,
                f"must be between {cls.MIN} and {cls.MAX}, got {number}",
                expected=f"{cls.MIN}-{cls.MAX}",
                actual=str(number),
            )
        return super().__new__(cls, number)

    @property
    def value(self) -> int:
        """The plain ``int``."""
        return int(self)

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        from pydantic_core import core_schema

        return core_schema.no_info_after_validator_function(cls, core_schema.int_schema(strict=True))
