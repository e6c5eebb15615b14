"""Security audit trail: the ``SecurityEvent`` types, ``SecurityAuditLog`` and its sinks.

``SecurityAuditLog.log(event)`` writes the event as JSON to the ``security_audit`` logger at
once and buffers it (bounded) for the sinks, which a background thread or ``flush()`` fills:
``HashChainedFileSink`` (tamper-evident JSONL, checked by ``verify_chain``),
``PostgresAuditSink``, ``OtelLogsAuditSink``, ``StreamAuditSink``, ``LoggingAuditSink`` and
``MemoryAuditSink``. Events carry identifiers and keyed value hashes, never secrets.
"""

from llm_infra.audit._chain import ChainHead as ChainHead
from llm_infra.audit._chain import ChainReport as ChainReport
from llm_infra.audit._chain import HashChainedFileSink as HashChainedFileSink
from llm_infra.audit._chain import reseal_chain as reseal_chain
from llm_infra.audit._chain import verify_chain as verify_chain
from llm_infra.audit._events import AuthenticationAttempt as AuthenticationAttempt
from llm_infra.audit._events import AuthMethod as AuthMethod
from llm_infra.audit._events import AuthorizationCheck as AuthorizationCheck
from llm_infra.audit._events import ConfigChange as ConfigChange
from llm_infra.audit._events import RateLimitExceeded as RateLimitExceeded
from llm_infra.audit._events import SecretAccess as SecretAccess
from llm_infra.audit._events import SecretOperation as SecretOperation
from llm_infra.audit._events import SecurityEvent as SecurityEvent
from llm_infra.audit._events import SuspiciousActivity as SuspiciousActivity
from llm_infra.audit._events import event_from_dict as event_from_dict
from llm_infra.audit._events import hash_config_value as hash_config_value
from llm_infra.audit._log import AUDIT_LOGGER as AUDIT_LOGGER
from llm_infra.audit._log import AuditStats as AuditStats
from llm_infra.audit._log import SecurityAuditLog as SecurityAuditLog
from llm_infra.audit._otel import OtelLogsAuditSink as OtelLogsAuditSink
from llm_infra.audit._postgres import PostgresAuditSink as PostgresAuditSink
from llm_infra.audit._sinks import AuditSink as AuditSink
from llm_infra.audit._sinks import LoggingAuditSink as LoggingAuditSink
from llm_infra.audit._sinks import MemoryAuditSink as MemoryAuditSink
from llm_infra.audit._sinks import StreamAuditSink as StreamAuditSink

__all__ = [
    "AUDIT_LOGGER",
    "AuditSink",
    "AuditStats",
    "AuthMethod",
    "AuthenticationAttempt",
    "AuthorizationCheck",
    "ChainHead",
    "ChainReport",
    "ConfigChange",
    "HashChainedFileSink",
    "LoggingAuditSink",
    "MemoryAuditSink",
    "OtelLogsAuditSink",
    "PostgresAuditSink",
    "RateLimitExceeded",
    "SecretAccess",
    "SecretOperation",
    "SecurityAuditLog",
    "SecurityEvent",
    "StreamAuditSink",
    "SuspiciousActivity",
    "event_from_dict",
    "hash_config_value",
    "reseal_chain",
    "verify_chain",
]
