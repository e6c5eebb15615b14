"""``ServiceSettings``: the service's configuration, bound from ``llm_infra.config`` keys."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from llm_infra.config import Config, ConfigLoader, Key, float_range, int_range
from llm_infra.errors import ConfigError
from llm_infra.secrets import Secret
from llm_infra.server import _codes

CONFIG_FILE: Final = "llm-infra.toml"
"""The configuration file read from the working directory when present."""

SERVER_HOST = Key("server.host", cast=str, default="127.0.0.1", doc="Address the service binds.")
SERVER_PORT = Key("server.port", cast=int_range(0, 65_535), default=8080, doc="TCP port of the service.")
SERVER_DATA_DIR = Key("server.data_dir", cast=str, default="./data", doc="Directory of the embedded state.")
SERVER_TENANT = Key(
    "server.default_tenant", cast=str, default="default", doc="Tenant of the first admin key."
)
SERVER_MAX_BODY = Key(
    "server.max_body_bytes", cast=int_range(1_024, 1 << 31), default=64 << 20, doc="Largest request body."
)
SERVER_REQUEST_TIMEOUT = Key(
    "server.request_timeout", cast=float_range(0.001, None), default=30.0, doc="Seconds a request may take."
)
SERVER_QUEUE_CONSUMER = Key(
    "server.queue_consumer", cast=bool, default=True, doc="Run the queued-ingest consumer inside serve."
)
SERVER_COALESCE = Key(
    "server.coalesce_searches",
    cast=bool,
    default=False,
    doc="Batch concurrent single searches (off: no consistent gain measured on 2 cores).",
)
SERVER_ACCESS_LOG = Key("server.access_log", cast=bool, default=True, doc="Log each request.")
VECTOR_URL = Key(
    "vector.url", cast=str, default="", doc="Vector backend: '' (data dir), a path, postgresql://."
)
AUTH_KEYS_URL = Key(
    "auth.keys_url", cast=str, default="", doc="API key store: '' (data dir), a path, postgresql://."
)
AUTH_JWT_ISSUER = Key("auth.jwt.issuer", cast=str, default="", doc="Accepted JWT issuer ('' disables JWTs).")
AUTH_JWT_JWKS_URL = Key("auth.jwt.jwks_url", cast=str, default="", doc="JWKS URL of the JWT issuer.")
AUTH_JWT_AUDIENCE = Key("auth.jwt.audience", cast=str, default="", doc="Required JWT audience.")
RATELIMIT_URL = Key("ratelimit.url", cast=str, default="memory://", doc="memory:// or redis://.")
RATELIMIT_LIMIT = Key("ratelimit.limit", cast=int_range(1, 10**9), default=6_000, doc="Requests per period.")
RATELIMIT_PERIOD = Key("ratelimit.period", cast=float_range(0.001, None), default=60.0, doc="Seconds.")
RATELIMIT_TENANT_LIMIT = Key(
    "ratelimit.tenant_limit", cast=int_range(1, 10**9), default=60_000, doc="Requests per period per tenant."
)
MQ_URL = Key("mq.url", cast=str, default="memory://", doc="Broker of queued ingest and jobs.")
MQ_TOPIC = Key("mq.topic", cast=str, default="llm-infra.jobs", doc="Topic of queued ingest and jobs.")
MQ_ACK_WAIT = Key(
    "mq.ack_wait",
    cast=float_range(0.1, None),
    default=30.0,
    doc="Seconds before an unacked job is redelivered.",
)
AUDIT_FILE = Key("audit.file", cast=str, default="", doc="Hash-chained audit file ('' = <data_dir>/audit).")
AUDIT_KEY = Key("audit.key", cast=str, default="", secret=True, doc="HMAC key of the audit chain.")
QUOTA_COLLECTIONS = Key(
    "server.quota.collections", cast=int_range(1, 10**9), default=1_000, doc="Collections per tenant."
)
QUOTA_POINTS = Key("server.quota.points", cast=int_range(1, 10**12), default=10**9, doc="Points per tenant.")
OTEL_ENABLED = Key("otel.enabled", cast=bool, default=False, doc="Export telemetry (off by default).")

SERVICE_KEYS: Final = (
    SERVER_HOST,
    SERVER_PORT,
    SERVER_DATA_DIR,
    SERVER_TENANT,
    SERVER_MAX_BODY,
    SERVER_REQUEST_TIMEOUT,
    SERVER_QUEUE_CONSUMER,
    SERVER_COALESCE,
    SERVER_ACCESS_LOG,
    VECTOR_URL,
    AUTH_KEYS_URL,
    AUTH_JWT_ISSUER,
    AUTH_JWT_JWKS_URL,
    AUTH_JWT_AUDIENCE,
    RATELIMIT_URL,
    RATELIMIT_LIMIT,
    RATELIMIT_PERIOD,
    RATELIMIT_TENANT_LIMIT,
    MQ_URL,
    MQ_TOPIC,
    MQ_ACK_WAIT,
    AUDIT_FILE,
    AUDIT_KEY,
    QUOTA_COLLECTIONS,
    QUOTA_POINTS,
    OTEL_ENABLED,
)
"""Every key the service reads (``llm-infra config show`` lists them)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceSettings:
    """What the service needs to start; every field has the embedded default.

    Attributes:
        host, port: where to listen (loopback:8080 by default).
        data_dir: directory of the embedded state (collections, keys, audit file, jobs).
        default_tenant: tenant of the first admin key.
        vector_url: ``""`` for ``<data_dir>/collections``, a directory, or ``postgresql://``.
        keys_url: ``""`` for ``<data_dir>/auth/api_keys.sqlite3``, a SQLite path, or ``postgresql://``.
        jwt_issuer, jwt_jwks_url, jwt_audience: accept bearer JWTs from this issuer (off when empty).
        ratelimit_url: ``memory://`` or ``redis://`` (shared by replicas).
        rate_limit, rate_period: requests per identity per period.
        tenant_rate_limit: requests per tenant per period.
        mq_url: broker of queued ingest (``memory://`` in-process).
        mq_topic: the topic jobs travel on.
        mq_ack_wait: seconds before a job message a dead consumer took is delivered again.
        audit_file: the hash-chained audit file (default ``<data_dir>/audit/audit.jsonl``).
        audit_key: HMAC key of the chain (default: generated once into the data dir).
        quota_collections, quota_points: per-tenant quotas.
        max_body_bytes: largest request body.
        request_timeout: seconds a request may run.
        queue_consumer: run the ingest consumer inside ``serve``.
        coalesce_searches: batch concurrent single searches of one collection.
        access_log: log each request.
        otel: the loaded configuration's ``otel.*`` section is exported when ``otel.enabled``.
        config: the whole loaded configuration (for ``otel.*`` and the rest).

    .. versionadded:: 0.1.0
    """

    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path("data")
    default_tenant: str = "default"
    vector_url: str = ""
    keys_url: str = ""
    jwt_issuer: str = ""
    jwt_jwks_url: str = ""
    jwt_audience: str = ""
    ratelimit_url: str = "memory://"
    rate_limit: int = 6_000
    rate_period: float = 60.0
    tenant_rate_limit: int = 60_000
    mq_url: str = "memory://"
    mq_topic: str = "llm-infra.jobs"
    mq_ack_wait: float = 30.0
    audit_file: str = ""
    audit_key: Secret[str] | None = dataclasses.field(default=None, repr=False)
    quota_collections: int = 1_000
    quota_points: int = 10**9
    max_body_bytes: int = 64 << 20
    request_timeout: float = 30.0
    queue_consumer: bool = True
    coalesce_searches: bool = False
    access_log: bool = True
    otel: bool = False
    config: Config | None = dataclasses.field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_dir", Path(self.data_dir))
        if isinstance(self.port, bool) or not isinstance(self.port, int) or not 0 <= self.port <= 65_535:
            raise ConfigError(
                f"server.port must be 0-65535, got {self.port!r}",
                key="server.port",
                code=_codes.INVALID_SETTING,
            )
        _name(self.default_tenant, "server.default_tenant")

    @classmethod
    def from_config(cls, cfg: Config) -> ServiceSettings:
        """Bind the service keys of ``cfg`` (see ``SERVICE_KEYS``).

        Raises:
            ConfigError: a value has the wrong type or range (the key is named).
        """
        key = cfg.get(AUDIT_KEY)
        secret: Secret[str] | None = None
        if isinstance(key, Secret):
            secret = key if key.reveal() else None
        elif key:
            secret = Secret(str(key))
        return cls(
            host=cfg.get(SERVER_HOST),
            port=cfg.get(SERVER_PORT),
            data_dir=Path(cfg.get(SERVER_DATA_DIR)),
            default_tenant=_name(cfg.get(SERVER_TENANT), "server.default_tenant"),
            vector_url=_plain(cfg.get(VECTOR_URL)),
            keys_url=_plain(cfg.get(AUTH_KEYS_URL)),
            jwt_issuer=cfg.get(AUTH_JWT_ISSUER),
            jwt_jwks_url=cfg.get(AUTH_JWT_JWKS_URL),
            jwt_audience=cfg.get(AUTH_JWT_AUDIENCE),
            ratelimit_url=_plain(cfg.get(RATELIMIT_URL)),
            rate_limit=cfg.get(RATELIMIT_LIMIT),
            rate_period=cfg.get(RATELIMIT_PERIOD),
            tenant_rate_limit=cfg.get(RATELIMIT_TENANT_LIMIT),
            mq_url=_plain(cfg.get(MQ_URL)),
            mq_topic=cfg.get(MQ_TOPIC),
            mq_ack_wait=cfg.get(MQ_ACK_WAIT),
            audit_file=cfg.get(AUDIT_FILE),
            audit_key=secret,
            quota_collections=cfg.get(QUOTA_COLLECTIONS),
            quota_points=cfg.get(QUOTA_POINTS),
            max_body_bytes=cfg.get(SERVER_MAX_BODY),
            request_timeout=cfg.get(SERVER_REQUEST_TIMEOUT),
            queue_consumer=cfg.get(SERVER_QUEUE_CONSUMER),
            coalesce_searches=cfg.get(SERVER_COALESCE),
            access_log=cfg.get(SERVER_ACCESS_LOG),
            otel=cfg.get(OTEL_ENABLED),
            config=cfg,
        )

    def with_overrides(
        self,
        *,
        host: str | None = None,
        port: int | None = None,
        data_dir: str | os.PathLike[str] | None = None,
    ) -> ServiceSettings:
        """A copy with the command line's ``--host/--port/--data-dir`` applied."""
        changes: dict[str, Any] = {}
        if host is not None:
            changes["host"] = host
        if port is not None:
            changes["port"] = port
        if data_dir is not None:
            changes["data_dir"] = Path(data_dir)
        return dataclasses.replace(self, **changes) if changes else self


def _plain(value: object) -> str:
    """URLs may be given as ``${env:...}`` secrets (they carry passwords): keep them revealed here."""
    if isinstance(value, Secret):
        return str(value.reveal())
    return str(value)


def _name(value: str, key: str) -> str:
    if not value or len(value) > 64 or not all(c.isalnum() or c in "-_." for c in value):
        raise ConfigError(
            f"{key} must be 1-64 letters, digits, '-', '_' or '.'", key=key, code=_codes.INVALID_SETTING
        )
    return value


def load_settings(
    config_file: str | os.PathLike[str] | None = None,
    *,
    environ: dict[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
) -> ServiceSettings:
    """Load the service settings: key defaults < ``llm-infra.toml`` (or ``config_file``) < ``LLM_*``.

    Raises:
        ConfigError: the file is missing (when named) or malformed, or a value is invalid.

    .. versionadded:: 0.1.0
    """
    loader = ConfigLoader(keys=SERVICE_KEYS, environ=environ).with_defaults(SERVICE_KEYS)
    if config_file is not None:
        loader = loader.with_file(config_file)
    else:
        default = Path(cwd or ".") / CONFIG_FILE
        loader = loader.with_file(default, required=False)
    return ServiceSettings.from_config(loader.with_env("LLM_", environ).load())
