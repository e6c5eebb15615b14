"""``secure_stack``: the auth and rate-limit middlewares of a service, in the one safe order."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from llm_infra._internal._asgi import ASGIApp
from llm_infra.audit import SecurityAuditLog
from llm_infra.auth._identity import Authenticator
from llm_infra.auth._middleware import _DEFAULT, _DEFAULT_EXEMPT, AuthMiddleware, PermissionFor, _Default
from llm_infra.auth._rbac import RbacPolicy
from llm_infra.ratelimit import RateLimiter, RateLimitEvent, RateLimitMiddleware


def secure_stack(
    app: ASGIApp,
    *,
    authenticator: Authenticator,
    policy: RbacPolicy | None = None,
    permission_for: PermissionFor | None = None,
    limiter: RateLimiter | None = None,
    failure_limiter: RateLimiter | _Default | None = _DEFAULT,
    audit: SecurityAuditLog | None = None,
    exempt_paths: Iterable[str] = _DEFAULT_EXEMPT,
    on_limited: Callable[[RateLimitEvent], object] | None = None,
    ipv6_prefix: int = 64,
) -> ASGIApp:
    """Wrap ``app`` as ``AuthMiddleware(RateLimitMiddleware(app))`` with the order checks on.

    A request goes through, outermost first:

    1. the brute-force budget (inside ``AuthMiddleware``, before any credential is checked);
    2. authentication, then RBAC with deny-by-default (``AuthMiddleware``);
    3. the per-identity rate limit (``RateLimitMiddleware(require_identity=True)``: keyed by
       tenant, issuer and subject; it raises ``ratelimit.misordered`` if it ever sees a request
       that did not pass through authentication).

    The HTTP server's limits (sizes, timeouts, framing) sit outside all of this, in the server.

    Args:
        app: the application.
        authenticator: see ``AuthMiddleware``.
        policy: see ``AuthMiddleware`` (with ``permission_for``).
        permission_for: see ``AuthMiddleware``.
        limiter: the per-identity request limit (``None``: no request limit).
        failure_limiter: the brute-force budget (default 20 failures per minute per network).
        audit: the security audit log.
        exempt_paths: public route paths: no credentials, no permission, no request limit.
        on_limited: see ``RateLimitMiddleware``.
        ipv6_prefix: the prefix IPv6 clients are grouped by (both limits).

    Returns:
        The wrapped ASGI application.

    Raises:
        ConfigError: for invalid options of either middleware.

    .. versionadded:: 0.1.0
    """
    exempt = tuple(exempt_paths)
    inner: ASGIApp = app
    if limiter is not None:
        inner = RateLimitMiddleware(
            app,
            limiter,
            on_limited=on_limited,
            exempt_paths=exempt,
            ipv6_prefix=ipv6_prefix,
            require_identity=True,
        )
    return AuthMiddleware(
        inner,
        authenticator=authenticator,
        audit=audit,
        policy=policy,
        permission_for=permission_for,
        exempt_paths=exempt,
        failure_limiter=failure_limiter,
        ipv6_prefix=ipv6_prefix,
    )


__all__ = ["secure_stack"]
