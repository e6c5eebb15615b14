"""``RbacPolicy``: roles -> ``action:resource`` permission patterns, inheritance, explicit deny."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, final

from llm_infra.audit import AuthorizationCheck, SecurityAuditLog
from llm_infra.auth import _codes
from llm_infra.auth._identity import Identity
from llm_infra.errors import AuthError, ConfigError, InfraError

MAX_POLICY_BYTES = 1 << 20
"""Largest policy text accepted (1 MiB)."""

MAX_ROLES = 1_000
"""Most roles a policy may define (inheritance closures are materialized per role)."""

MAX_PATTERNS = 1_000
"""Most entries in one role's allow, deny or inherits list."""

MAX_PATTERN_LENGTH = 256
"""Longest permission pattern."""
_MAX_TARGET = 1024
_ROLE_RE = re.compile(r"\A[A-Za-z0-9_.\-:]{1,64}\Z")
_SEGMENT_CHARS = r"A-Za-z0-9_.\-@=+~"
_LITERAL_SEGMENT = re.compile(rf"\A[{_SEGMENT_CHARS}]+\Z")
_PATTERN_SEGMENT = re.compile(rf"\A(?:\*\*|[{_SEGMENT_CHARS}]*\*?[{_SEGMENT_CHARS}]*)\Z")
_ACTION_RE = re.compile(rf"\A[{_SEGMENT_CHARS}]+(?::[{_SEGMENT_CHARS}]+)*\Z")
_SPLIT = re.compile(r"([:/])")
_CACHE_SIZE = 1024


def _policy_error(
    message: str, code: str = _codes.POLICY_INVALID, *, source: str | None = None
) -> ConfigError:
    return ConfigError(message, key="rbac", source=source, code=code)


def _yaml_syntax(exc: Exception) -> str:
    """``invalid YAML``, with the position of the fault when PyYAML gives one (never its text)."""
    mark = getattr(exc, "problem_mark", None)
    where = "" if mark is None else f" at line {mark.line + 1}, column {mark.column + 1}"
    return f"invalid YAML{where}"


def _compile(pattern: object, role: str) -> str:
    """Validate a permission pattern and return its regex source."""
    if not isinstance(pattern, str):
        raise _policy_error(f"role {role!r}: every permission must be a string")
    if not pattern or len(pattern) > MAX_PATTERN_LENGTH:
        raise _policy_error(f"role {role!r}: a permission must have 1 to {MAX_PATTERN_LENGTH} characters")
    if pattern == "**":
        return ".+"
    if ":" not in pattern:
        raise _policy_error(
            f"role {role!r}: permission {pattern!r} must be 'action:resource' (or '**' for everything)"
        )
    parts = _SPLIT.split(pattern)
    regex: list[str] = []
    globstars = 0
    for index, part in enumerate(parts):
        if index % 2:
            regex.append(re.escape(part))
            continue
        if not part or not _PATTERN_SEGMENT.match(part):
            raise _policy_error(
                f"role {role!r}: permission {pattern!r} has an empty or invalid segment "
                "(use letters, digits, _ . - @ = + ~, one '*' per segment, or '**' as a whole segment)"
            )
        if part == "**":
            globstars += 1
            regex.append(".+")
        elif "*" in part:
            head, _, tail = part.partition("*")
            regex.append(re.escape(head) + f"[{_SEGMENT_CHARS}]*" + re.escape(tail))
        else:
            regex.append(re.escape(part))
    if globstars > 1:
        raise _policy_error(f"role {role!r}: permission {pattern!r} may use '**' at most once")
    return "".join(regex)


def _target(action: object, resource: object) -> str | None:
    """``action:resource`` when both are well formed, else None (which always denies)."""
    if not isinstance(action, str) or not isinstance(resource, str):
        return None
    if len(action) + len(resource) > _MAX_TARGET or not _ACTION_RE.match(action):
        return None
    segments = resource.split("/")
    for segment in segments:
        if segment in (".", "..") or not _LITERAL_SEGMENT.match(segment):
            return None
    return f"{action}:{resource}"


@final
@dataclass(frozen=True, slots=True)
class Role:
    """One role of an ``RbacPolicy``.

    Attributes:
        name: the role name.
        allow: permission patterns granted.
        deny: permission patterns refused (a match denies, whatever else allows).
        inherits: roles whose permissions (allow and deny) this role also has.

    .. versionadded:: 0.1.0
    """

    name: str
    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    inherits: tuple[str, ...] = ()


def _string_tuple(value: object, what: str, role: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise _policy_error(f"role {role!r}: {what} must be a list of strings")
    if len(value) > MAX_PATTERNS:
        raise _policy_error(f"role {role!r}: more than {MAX_PATTERNS} entries in {what}")
    for item in value:
        if not isinstance(item, str):
            raise _policy_error(f"role {role!r}: every entry of {what} must be a string")
    return tuple(value)


def _role_from(name: object, spec: object) -> Role:
    if not isinstance(name, str) or not _ROLE_RE.match(name):
        raise _policy_error("a role name must have 1-64 letters, digits or _ . - :")
    if isinstance(spec, list | tuple):
        allow, deny = [], []
        for item in _string_tuple(spec, "permissions", name):
            if item.startswith("!"):
                deny.append(item[1:])
            else:
                allow.append(item)
        return Role(name, tuple(allow), tuple(deny))
    if not isinstance(spec, Mapping):
        raise _policy_error(
            f"role {name!r} must be a list of permissions or a table with allow/deny/inherits"
        )
    unknown = set(spec) - {"allow", "deny", "inherits", "description"}
    if unknown:
        raise _policy_error(f"role {name!r}: unknown field {sorted(map(str, unknown))[0]!r}")
    description = spec.get("description")
    if description is not None and not isinstance(description, str):
        raise _policy_error(f"role {name!r}: description must be a string")
    allow_list = _string_tuple(spec.get("allow"), "allow", name)
    return Role(
        name,
        tuple(p for p in allow_list if not p.startswith("!")),
        _string_tuple(spec.get("deny"), "deny", name) + tuple(p[1:] for p in allow_list if p.startswith("!")),
        _string_tuple(spec.get("inherits"), "inherits", name),
    )


@final
class RbacPolicy:
    """Role-based access control: deny by default, explicit deny wins, roles inherit.

    A permission is ``<action>:<resource>``: the action is one or more ``:``-separated segments
    (``vector:read``), the resource one or more ``/``-separated segments (``collection/docs``).
    In patterns, ``*`` matches within one segment (``collection/*``, ``vector:*:collection/docs``,
    ``collection/doc-*``) and ``**`` as a whole segment matches one or more segments
    (``vector:**``, ``**:collection/docs``); ``**`` alone matches everything. An identity is
    allowed when one of its roles (with what they inherit) allows the permission and none denies
    it. Malformed actions or resources (empty, ``.``/``..`` segments, other characters) are
    always denied. Roles the policy does not know grant nothing.

    Args:
        roles: the roles.

    Raises:
        ConfigError: an invalid pattern or role (``auth.policy_invalid``), an unknown inherited
            role (``auth.policy_unknown_role``) or an inheritance cycle (``auth.policy_cycle``).

    .. versionadded:: 0.1.0
    """

    __slots__ = ("_allow", "_cache", "_deny", "_lock", "_roles")

    def __init__(self, roles: Iterable[Role]) -> None:
        table: dict[str, Role] = {}
        for role in roles:
            if not isinstance(role, Role):
                raise _policy_error("RbacPolicy takes Role objects; use from_dict for plain data")
            _role_from(role.name, {})
            if role.name in table:
                raise _policy_error(f"role {role.name!r} is defined twice")
            if len(table) >= MAX_ROLES:
                raise _policy_error(f"more than {MAX_ROLES} roles")
            table[role.name] = role
        self._roles = table
        compiled = {
            name: ([_compile(p, name) for p in role.allow], [_compile(p, name) for p in role.deny])
            for name, role in table.items()
        }
        self._allow: dict[str, tuple[str, ...]] = {}
        self._deny: dict[str, tuple[str, ...]] = {}
        for name in table:
            allow: dict[str, None] = {}
            deny: dict[str, None] = {}
            for member in self._closure(name):
                allow.update(dict.fromkeys(compiled[member][0]))
                deny.update(dict.fromkeys(compiled[member][1]))
            self._allow[name] = tuple(allow)
            self._deny[name] = tuple(deny)
        self._cache: dict[frozenset[str], tuple[re.Pattern[str] | None, re.Pattern[str] | None]] = {}
        self._lock = threading.Lock()

    def _closure(self, name: str) -> list[str]:
        """``name`` and every role it inherits, transitively; rejects cycles and unknown roles."""
        order: list[str] = []
        state: dict[str, int] = {}  # 1 = on the current path, 2 = done
        stack: list[tuple[str, int]] = [(name, 0)]
        path: list[str] = []
        while stack:
            current, index = stack.pop()
            if index == 0:
                state[current] = 1
                path.append(current)
            parents = self._roles[current].inherits
            if index < len(parents):
                stack.append((current, index + 1))
                parent = parents[index]
                if parent not in self._roles:
                    raise _policy_error(
                        f"role {current!r} inherits unknown role {parent!r}", _codes.POLICY_UNKNOWN_ROLE
                    )
                if state.get(parent) == 1:
                    cycle = [*path[path.index(parent) :], parent]
                    raise _policy_error("role inheritance cycle: " + " -> ".join(cycle), _codes.POLICY_CYCLE)
                if parent not in state:
                    stack.append((parent, 0))
                continue
            state[current] = 2
            path.pop()
            order.append(current)
        return order

    # -- loading -------------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str | None = None) -> RbacPolicy:
        """Build a policy from ``{"roles": {name: spec}}``.

        A role spec is either a list of permissions or a table with ``allow``, ``deny``,
        ``inherits`` (lists of strings) and ``description``. In a permission list (and in
        ``allow``) a leading ``!`` makes the entry a deny.

        Raises:
            ConfigError: the data does not describe a valid policy.
        """
        if not isinstance(data, Mapping):
            raise _policy_error("a policy must be a table with a 'roles' table", source=source)
        unknown = set(data) - {"roles", "version"}
        if unknown:
            raise _policy_error(f"unknown policy field {sorted(map(str, unknown))[0]!r}", source=source)
        version = data.get("version", 1)
        if version != 1 or isinstance(version, bool):
            raise _policy_error("unsupported policy version (expected 1)", source=source)
        roles = data.get("roles")
        if not isinstance(roles, Mapping):
            raise _policy_error("a policy needs a 'roles' table", source=source)
        if len(roles) > MAX_ROLES:
            raise _policy_error(f"more than {MAX_ROLES} roles", source=source)
        try:
            return cls(_role_from(name, spec) for name, spec in roles.items())
        except ConfigError as exc:
            if source is not None and exc.source is None:
                exc.source = source
            raise

    @classmethod
    def _parse(
        cls,
        text: str | bytes,
        source: str | None,
        load: Callable[[str], Any],
        errors: tuple[type[Exception], ...],
        describe: Callable[[Exception], str],
    ) -> RbacPolicy:
        """Decode ``text`` with ``load``; its ``errors`` become ``auth.policy_syntax`` (``describe``d)."""
        body = cls._text(text, source)
        try:
            data = load(body)
        except errors as exc:
            raise _policy_error(describe(exc), _codes.POLICY_SYNTAX, source=source) from None
        return cls.from_dict(data, source=source)

    @classmethod
    def from_toml(cls, text: str | bytes, *, source: str | None = None) -> RbacPolicy:
        """Parse a TOML policy (``[roles.<name>]`` tables).

        Raises:
            ConfigError: a syntax error (``auth.policy_syntax``) or an invalid policy.
        """
        import tomllib

        errors = (tomllib.TOMLDecodeError, RecursionError, ValueError)
        return cls._parse(text, source, tomllib.loads, errors, lambda exc: f"invalid TOML: {exc}")

    @classmethod
    def from_yaml(cls, text: str | bytes, *, source: str | None = None) -> RbacPolicy:
        """Parse a YAML policy (``yaml.safe_load``).

        Raises:
            ConfigError: a syntax error (``auth.policy_syntax``) or an invalid policy.
        """
        import yaml

        # Every exception: PyYAML raises assorted types on hostile input.
        return cls._parse(text, source, yaml.safe_load, (Exception,), _yaml_syntax)

    @classmethod
    def from_json(cls, text: str | bytes, *, source: str | None = None) -> RbacPolicy:
        """Parse a JSON policy.

        Raises:
            ConfigError: a syntax error (``auth.policy_syntax``) or an invalid policy.
        """
        from llm_infra.json import loads

        return cls._parse(
            text, source, partial(loads, max_depth=64), (InfraError,), lambda exc: f"invalid JSON: {exc}"
        )

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> RbacPolicy:
        """Load a ``.toml``, ``.yaml``/``.yml`` or ``.json`` policy file.

        Raises:
            ConfigError: unknown suffix, unreadable file (``auth.policy_io``) or invalid policy.
        """
        path = Path(path)
        loaders = {
            ".toml": cls.from_toml,
            ".yaml": cls.from_yaml,
            ".yml": cls.from_yaml,
            ".json": cls.from_json,
        }
        loader = loaders.get(path.suffix.lower())
        if loader is None:
            raise _policy_error("a policy file must end in .toml, .yaml, .yml or .json", source=str(path))
        try:
            with path.open("rb") as handle:
                data = handle.read(MAX_POLICY_BYTES + 1)
        except OSError as exc:
            raise _policy_error(
                f"cannot read the policy file: {exc.strerror}", _codes.POLICY_IO, source=str(path)
            ) from exc
        return loader(data, source=str(path))

    @classmethod
    def from_config(cls, cfg: Any, key: str = "auth.rbac") -> RbacPolicy:
        """Build the policy from a configuration section (``[auth.rbac.roles.<name>]``).

        Args:
            cfg: an ``llm_infra.config.Config`` (anything with ``get(name, default)``), or a
                plain mapping of the whole configuration.
            key: the dotted key of the policy table.

        Raises:
            ConfigError: the section is missing or invalid.
        """
        if isinstance(cfg, Mapping):
            section: Any = cfg
            for part in key.split("."):
                section = section.get(part) if isinstance(section, Mapping) else None
        else:
            section = cfg.get(key, None)
        if section is None:
            raise _policy_error(f"no RBAC policy at {key!r}", _codes.POLICY_MISSING, source=key)
        if hasattr(section, "to_dict") and not isinstance(section, Mapping):
            section = section.to_dict()
        return cls.from_dict(section, source=key)

    @staticmethod
    def _text(text: str | bytes, source: str | None) -> str:
        if isinstance(text, bytes):
            if len(text) > MAX_POLICY_BYTES:
                raise _policy_error("the policy is larger than 1 MiB", source=source)
            try:
                return text.decode("utf-8")
            except UnicodeDecodeError:
                raise _policy_error("the policy is not UTF-8", _codes.POLICY_SYNTAX, source=source) from None
        if not isinstance(text, str):
            raise _policy_error("a policy text must be str or bytes", source=source)
        if len(text) > MAX_POLICY_BYTES:
            raise _policy_error("the policy is larger than 1 MiB", source=source)
        return text

    def to_dict(self) -> dict[str, Any]:
        """The policy as data (``from_dict(policy.to_dict())`` rebuilds it)."""
        roles: dict[str, Any] = {}
        for name, role in self._roles.items():
            spec: dict[str, Any] = {"allow": list(role.allow)}
            if role.deny:
                spec["deny"] = list(role.deny)
            if role.inherits:
                spec["inherits"] = list(role.inherits)
            roles[name] = spec
        return {"roles": roles}

    # -- deciding ------------------------------------------------------------------------------

    @property
    def roles(self) -> Mapping[str, Role]:
        """The roles by name."""
        return dict(self._roles)

    def effective_roles(self, role: str) -> list[str]:
        """``role`` and everything it inherits (empty when the role is unknown)."""
        return self._closure(role) if role in self._roles else []

    def _matchers(self, roles: frozenset[str]) -> tuple[re.Pattern[str] | None, re.Pattern[str] | None]:
        cached = self._cache.get(roles)
        if cached is not None:
            return cached
        allow: dict[str, None] = {}
        deny: dict[str, None] = {}
        for role in sorted(roles):
            allow.update(dict.fromkeys(self._allow.get(role, ())))
            deny.update(dict.fromkeys(self._deny.get(role, ())))
        result = (
            re.compile("(?:" + "|".join(allow) + ")") if allow else None,
            re.compile("(?:" + "|".join(deny) + ")") if deny else None,
        )
        with self._lock:
            if len(self._cache) >= _CACHE_SIZE:
                self._cache.clear()
            self._cache[roles] = result
        return result

    def _decide(self, identity: Identity, action: str, resource: str) -> bool:
        if not isinstance(identity, Identity):
            return False
        target = _target(action, resource)
        if target is None:
            return False
        allow, deny = self._matchers(identity.roles)
        if deny is not None and deny.fullmatch(target):
            return False
        return allow is not None and allow.fullmatch(target) is not None

    def authorize(
        self, identity: Identity, action: str, resource: str, *, audit: SecurityAuditLog | None = None
    ) -> bool:
        """Whether ``identity`` may perform ``action`` on ``resource``.

        Args:
            identity: who asks.
            action: e.g. ``vector:read``.
            resource: e.g. ``collection/docs``.
            audit: when given, the decision is recorded as an ``AuthorizationCheck``.
        """
        granted = self._decide(identity, action, resource)
        if audit is not None:
            audit.log(
                AuthorizationCheck(
                    identity.subject if isinstance(identity, Identity) else "unknown",
                    resource if isinstance(resource, str) else "",
                    action if isinstance(action, str) and action else "unknown",
                    granted,
                )
            )
        return granted

    def require(
        self, identity: Identity, action: str, resource: str, *, audit: SecurityAuditLog | None = None
    ) -> None:
        """Like ``authorize``, but raise when denied.

        Raises:
            AuthError: ``insufficient_permissions`` (HTTP 403).
        """
        if not self.authorize(identity, action, resource, audit=audit):
            raise AuthError(
                "permission denied",
                kind="insufficient_permissions",
                code=_codes.INSUFFICIENT_PERMISSIONS,
                identity=identity.subject if isinstance(identity, Identity) else None,
                context={"action": str(action)[:128], "resource": str(resource)[:256]},
            )

    def __repr__(self) -> str:
        return f"RbacPolicy(roles={sorted(self._roles)!r})"
