"""Validated value types: ``NonEmptyString``, ``BoundedString``, ``Email``, ``Url``, ``Dimensions``.

Each is a ``str`` (or ``int``) subclass whose constructor validates, so a value of the type is
valid by construction; failures raise ``ValidationError`` with ``field``, ``expected`` and
``actual`` (``actual`` describes the input without echoing secrets)::

    >>> from llm_infra.validation import BoundedString, Dimensions
    >>> BoundedString("héllo", max_length=5)
    'héllo'
    >>> Dimensions(384) + 0
    384

The string types can also be pydantic field types (``BoundedString`` excepted: it needs a limit).
"""

from llm_infra.validation._types import BoundedString as BoundedString
from llm_infra.validation._types import Dimensions as Dimensions
from llm_infra.validation._types import Email as Email
from llm_infra.validation._types import NonEmptyString as NonEmptyString
from llm_infra.validation._types import Url as Url

__all__ = ["BoundedString", "Dimensions", "Email", "NonEmptyString", "Url"]
