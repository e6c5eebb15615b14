"""One error model for the whole layer.

Every error derives from ``InfraError`` and carries a ``kind``, a stable dotted ``code``,
``retryable``/``retry_after`` (which alone drive retry and circuit-breaker decisions) and an
``ErrorContext`` captured at construction (ULID ``error_id``, UTC timestamp, the user's source
location, the current OpenTelemetry trace/span ids, attributes, remediation)::

    InfraError
    ├── ConfigError (ValueError)          config.*
    ├── HttpError                         http.status / http.transport
    ├── VectorError                       vector.*
    ├── AuthError                         auth.<kind>
    ├── CryptoError                       crypto.*
    ├── IoError                           io.*
    ├── SerializationError (ValueError)   serialization.*
    ├── ValidationError (ValueError)      validation.*
    ├── ExternalError                     external.*
    ├── MessageQueueError                 mq.*
    ├── OperationTimeout (TimeoutError)   timeout.*
    ├── RateLimitedError                  rate_limited
    ├── CircuitOpenError                  circuit.open
    ├── NotFoundError (LookupError)       not_found
    ├── AlreadyExistsError                already_exists
    └── BatchError                        batch.all_failed

``to_problem()`` renders RFC 9457 problem+json; ``to_infra_error`` converts foreign exceptions.
"""

from llm_infra.errors import _foreign as _foreign  # registers the redis/psycopg converters
from llm_infra.errors._base import ErrorContext as ErrorContext
from llm_infra.errors._base import ErrorKind as ErrorKind
from llm_infra.errors._base import InfraError as InfraError
from llm_infra.errors._base import SourceLocation as SourceLocation
from llm_infra.errors._base import TraceIds as TraceIds
from llm_infra.errors._batch import BatchError as BatchError
from llm_infra.errors._batch import BatchFailure as BatchFailure
from llm_infra.errors._batch import BatchResult as BatchResult
from llm_infra.errors._context import error_context as error_context
from llm_infra.errors._context import register_converter as register_converter
from llm_infra.errors._context import to_infra_error as to_infra_error
from llm_infra.errors._types import AlreadyExistsError as AlreadyExistsError
from llm_infra.errors._types import AuthError as AuthError
from llm_infra.errors._types import CircuitOpenError as CircuitOpenError
from llm_infra.errors._types import ConfigError as ConfigError
from llm_infra.errors._types import CryptoError as CryptoError
from llm_infra.errors._types import ExternalError as ExternalError
from llm_infra.errors._types import HttpError as HttpError
from llm_infra.errors._types import IoError as IoError
from llm_infra.errors._types import MessageQueueError as MessageQueueError
from llm_infra.errors._types import NotFoundError as NotFoundError
from llm_infra.errors._types import OperationTimeout as OperationTimeout
from llm_infra.errors._types import RateLimitedError as RateLimitedError
from llm_infra.errors._types import SerializationError as SerializationError
from llm_infra.errors._types import ValidationError as ValidationError
from llm_infra.errors._types import VectorError as VectorError

__all__ = [
    "AlreadyExistsError",
    "AuthError",
    "BatchError",
    "BatchFailure",
    "BatchResult",
    "CircuitOpenError",
    "ConfigError",
    "CryptoError",
    "ErrorContext",
    "ErrorKind",
    "ExternalError",
    "HttpError",
    "InfraError",
    "IoError",
    "MessageQueueError",
    "NotFoundError",
    "OperationTimeout",
    "RateLimitedError",
    "SerializationError",
    "SourceLocation",
    "TraceIds",
    "ValidationError",
    "VectorError",
    "error_context",
    "register_converter",
    "to_infra_error",
]
