"""RbacPolicy: the permission matrix, wildcards, inheritance, explicit deny, loading, and fuzzing."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llm_infra.audit import AuthorizationCheck, SecurityAuditLog
from llm_infra.auth import Identity, RbacPolicy, Role
from llm_infra.errors import AuthError, ConfigError
from llm_infra.testing._audit import capture_audit

POLICY_TOML = """
[roles.reader]
allow = ["vector:read:collection/*", "vector:search:collection/*"]

[roles.writer]
inherits = ["reader"]
allow = ["vector:write:collection/*"]
deny = ["vector:write:collection/audit"]

[roles.ops]
allow = ["**:collection/ops-*", "system:health:service"]

[roles.admin]
inherits = ["writer", "ops"]
allow = ["**"]
deny = ["keys:export:**"]

[roles.intern]
allow = ["vector:read:collection/*", "!vector:read:collection/hr"]
"""

INTERN_YAML = """
roles:
  intern:
    - vector:read:collection/*
    - "!vector:read:collection/hr"
"""


@pytest.fixture(scope="module")
def policy() -> RbacPolicy:
    return RbacPolicy.from_toml(POLICY_TOML)


def who(*roles: str) -> Identity:
    return Identity("user", roles)


# (role, action, resource) -> expected
MATRIX: list[tuple[str, str, str, bool]] = [
    # reader
    ("reader", "vector:read", "collection/docs", True),
    ("reader", "vector:search", "collection/docs", True),
    ("reader", "vector:write", "collection/docs", False),
    ("reader", "vector:read", "collection/docs/sub", False),  # * stays within one segment
    ("reader", "vector:read", "collections/docs", False),
    ("reader", "vector:delete", "collection/docs", False),
    ("reader", "keys:create", "service", False),
    # writer inherits reader, denies the audit collection
    ("writer", "vector:read", "collection/docs", True),
    ("writer", "vector:write", "collection/docs", True),
    ("writer", "vector:write", "collection/audit", False),
    ("writer", "vector:read", "collection/audit", True),
    # ops: ** action on ops-* collections
    ("ops", "vector:read", "collection/ops-metrics", True),
    ("ops", "vector:drop:hard", "collection/ops-x", True),
    ("ops", "vector:read", "collection/docs", False),
    ("ops", "system:health", "service", True),
    ("ops", "system:health", "service/x", False),
    # admin: everything but exporting keys; inherited deny still applies
    ("admin", "anything:at:all", "some/deep/resource", True),
    ("admin", "vector:write", "collection/audit", False),
    ("admin", "keys:export", "all", False),
    ("admin", "keys:export", "a/b/c", False),
    ("admin", "keys:create", "service", True),
    # intern: shorthand list with ! deny
    ("intern", "vector:read", "collection/docs", True),
    ("intern", "vector:read", "collection/hr", False),
    # unknown role: nothing
    ("ghost", "vector:read", "collection/docs", False),
]


@pytest.mark.parametrize(("role", "action", "resource", "expected"), MATRIX)
def test_rbac_matrix(policy: RbacPolicy, role: str, action: str, resource: str, expected: bool) -> None:
    """Each role gets exactly the decisions of the matrix."""
    assert policy.authorize(who(role), action, resource) is expected


@pytest.mark.parametrize(("role", "action", "resource", "expected"), MATRIX)
def test_require_matches_authorize(
    policy: RbacPolicy, role: str, action: str, resource: str, expected: bool
) -> None:
    """require() passes exactly when authorize() is true, else raises insufficient_permissions (403)."""
    if expected:
        policy.require(who(role), action, resource)
        return
    with pytest.raises(AuthError) as info:
        policy.require(who(role), action, resource)
    assert info.value.code == "auth.insufficient_permissions"
    assert info.value.auth_kind == "insufficient_permissions"
    assert info.value.problem_status() == 403
    assert info.value.identity == "user"


def test_deny_of_any_role_wins_over_allow_of_another(policy: RbacPolicy) -> None:
    """An explicit deny in one role beats an allow in another role of the same identity."""
    assert policy.authorize(who("ops"), "vector:write", "collection/ops-audit")
    both = who("admin", "reader")
    assert not policy.authorize(both, "keys:export", "x")
    assert not policy.authorize(who("intern", "admin"), "vector:read", "collection/hr")


def test_no_roles_means_deny(policy: RbacPolicy) -> None:
    """An identity without roles is denied everything."""
    assert not policy.authorize(Identity("nobody"), "vector:read", "collection/docs")


@pytest.mark.parametrize(
    ("action", "resource"),
    [
        ("", "collection/docs"),
        ("vector:read", ""),
        ("vector::read", "collection/docs"),
        ("vector:read", "collection//docs"),
        ("vector:read", "collection/../secret"),
        ("vector:read", "collection/./docs"),
        ("vector:read", "collection/docs/"),
        ("vector:read", "/collection/docs"),
        ("vector:read", "collection/do cs"),
        ("vector:read", "collection:docs"),
        ("vector:read", "collection/" + "a" * 2000),
        ("vector read", "collection/docs"),
        (None, "collection/docs"),
        ("vector:read", 5),
    ],
)
def test_malformed_requests_are_denied_even_for_admin(policy: RbacPolicy, action: Any, resource: Any) -> None:
    """Ill-formed actions and resources are always denied (no traversal or ambiguity tricks)."""
    assert not policy.authorize(who("admin"), action, resource)


def test_non_identity_is_denied(policy: RbacPolicy) -> None:
    """Anything that is not an Identity is denied."""
    assert not policy.authorize("admin", "vector:read", "collection/docs")  # type: ignore[arg-type]
    with pytest.raises(AuthError) as exc_info:
        policy.require(None, "vector:read", "collection/docs")  # type: ignore[arg-type]
    assert exc_info.value.code == "auth.insufficient_permissions"


def test_decisions_are_audited_when_asked(policy: RbacPolicy) -> None:
    """With audit=..., every decision is an AuthorizationCheck."""
    log = SecurityAuditLog(flush_interval=None)
    with capture_audit() as audit:
        policy.authorize(who("reader"), "vector:read", "collection/docs", audit=log)
        with pytest.raises(AuthError) as exc_info:
            policy.require(who("reader"), "vector:write", "collection/docs", audit=log)
        assert exc_info.value.code == "auth.insufficient_permissions"
        policy.authorize("x", None, 3, audit=log)  # type: ignore[arg-type]
    checks = audit.of_type(AuthorizationCheck)
    assert [(c.identity, c.action, c.resource, c.granted) for c in checks] == [
        ("user", "vector:read", "collection/docs", True),
        ("user", "vector:write", "collection/docs", False),
        ("unknown", "unknown", "", False),
    ]


def test_yaml_json_dict_and_toml_agree(tmp_path: Path) -> None:
    """The same policy loads from YAML, JSON, a dict and files of each kind."""
    from llm_infra.json import dumps

    data = {"roles": {"intern": ["vector:read:collection/*", "!vector:read:collection/hr"]}}
    policies = [
        RbacPolicy.from_yaml(INTERN_YAML),
        RbacPolicy.from_json(dumps(data)),
        RbacPolicy.from_dict(data),
    ]
    for suffix, text in ((".yaml", INTERN_YAML), (".yml", INTERN_YAML), (".json", dumps(data).decode())):
        path = tmp_path / f"policy{suffix}"
        path.write_text(text)
        policies.append(RbacPolicy.from_file(path))
    toml_path = tmp_path / "policy.toml"
    toml_path.write_text(POLICY_TOML)
    policies.append(RbacPolicy.from_file(toml_path))
    for p in policies:
        assert p.authorize(who("intern"), "vector:read", "collection/docs")
        assert not p.authorize(who("intern"), "vector:read", "collection/hr")


def test_from_config_reads_a_section() -> None:
    """from_config takes the policy from a Config section or a plain mapping."""
    from llm_infra.config import Config

    data = {"auth": {"rbac": {"roles": {"reader": {"allow": ["vector:read:collection/*"]}}}}}
    for source in (Config(data), data):
        p = RbacPolicy.from_config(source)
        assert p.authorize(who("reader"), "vector:read", "collection/x")
    with pytest.raises(ConfigError) as info:
        RbacPolicy.from_config(Config({}))
    assert info.value.code == "auth.policy_missing"
    with pytest.raises(ConfigError) as exc_info:
        RbacPolicy.from_config({"auth": 5})
    assert exc_info.value.code == "auth.policy_missing"


def test_to_dict_round_trips(policy: RbacPolicy) -> None:
    """from_dict(to_dict()) gives the same decisions."""
    again = RbacPolicy.from_dict(policy.to_dict())
    for role, action, resource, expected in MATRIX:
        assert again.authorize(who(role), action, resource) is expected
    assert sorted(again.roles) == sorted(policy.roles)


def test_effective_roles_follow_inheritance(policy: RbacPolicy) -> None:
    """effective_roles lists the role and its ancestors; unknown roles have none."""
    assert set(policy.effective_roles("admin")) == {"admin", "writer", "reader", "ops"}
    assert policy.effective_roles("ghost") == []
    assert "admin" in repr(policy)


@pytest.mark.parametrize(
    ("roles", "code"),
    [
        ({"a": {"inherits": ["a"]}}, "auth.policy_cycle"),
        ({"a": {"inherits": ["b"]}, "b": {"inherits": ["a"]}}, "auth.policy_cycle"),
        ({"a": {"inherits": ["b"]}, "b": {"inherits": ["c"]}, "c": {"inherits": ["a"]}}, "auth.policy_cycle"),
        ({"a": {"inherits": ["missing"]}}, "auth.policy_unknown_role"),
    ],
)
def test_inheritance_cycles_and_unknown_parents_are_rejected(roles: dict[str, Any], code: str) -> None:
    """Cycles and references to undefined roles fail at load time."""
    with pytest.raises(ConfigError) as info:
        RbacPolicy.from_dict({"roles": roles})
    assert info.value.code == code


def test_cycle_message_names_the_cycle() -> None:
    """The cycle error shows the loop."""
    with pytest.raises(ConfigError) as info:
        RbacPolicy.from_dict({"roles": {"a": {"inherits": ["b"]}, "b": {"inherits": ["a"]}}})
    assert info.value.code == "auth.policy_cycle"
    assert "a -> b -> a" in info.value.message


def test_diamond_inheritance_is_fine() -> None:
    """Two paths to one ancestor are not a cycle."""
    p = RbacPolicy.from_dict(
        {
            "roles": {
                "base": ["x:read:r"],
                "left": {"inherits": ["base"]},
                "right": {"inherits": ["base"]},
                "top": {"inherits": ["left", "right"]},
            }
        }
    )
    assert p.authorize(who("top"), "x:read", "r")


@pytest.mark.parametrize(
    "data",
    [
        [],
        {},
        {"roles": []},
        {"roles": {"r": 5}},
        {"roles": {"r": "x:y"}},
        {"roles": {"": []}},
        {"roles": {"bad name": []}},
        {"roles": {5: []}},
        {"roles": {"r": {"allow": "x:y"}}},
        {"roles": {"r": {"allow": [1]}}},
        {"roles": {"r": {"bogus": []}}},
        {"roles": {"r": {"description": 5}}},
        {"roles": {"r": ["noaction"]}},
        {"roles": {"r": ["*"]}},
        {"roles": {"r": ["a::b"]}},
        {"roles": {"r": ["a:b*c*d"]}},
        {"roles": {"r": ["a:***"]}},
        {"roles": {"r": ["**:a/**"]}},
        {"roles": {"r": ["a:b c"]}},
        {"roles": {"r": [""]}},
        {"roles": {"r": ["a:" + "b" * 300]}},
        {"roles": {"r": []}, "extra": 1},
        {"roles": {"r": []}, "version": 2},
        {"roles": {"r": []}, "version": True},
    ],
)
def test_invalid_policies_are_config_errors(data: Any) -> None:
    """Every structural problem is a ConfigError with a policy code."""
    with pytest.raises(ConfigError) as info:
        RbacPolicy.from_dict(data)
    assert info.value.code.startswith("auth.policy_")


@pytest.mark.parametrize(
    ("loader", "text"),
    [
        (RbacPolicy.from_toml, "[roles\nx"),
        (RbacPolicy.from_yaml, "roles: [unclosed"),
        (RbacPolicy.from_yaml, "roles:\n\t- x"),
        (RbacPolicy.from_json, "{"),
        (RbacPolicy.from_toml, b"\xff\xfe"),
        (RbacPolicy.from_toml, "x" * (1 << 20 + 1)),
        (RbacPolicy.from_yaml, b"y" * ((1 << 20) + 1)),
        (RbacPolicy.from_toml, 5),
    ],
)
def test_syntax_errors_are_config_errors(loader: Any, text: Any) -> None:
    """Unparseable, oversized or non-text input is a ConfigError."""
    with pytest.raises(ConfigError) as info:
        loader(text)
    assert info.value.code.startswith("auth.policy_")


def test_yaml_error_reports_the_position() -> None:
    """YAML syntax errors carry line and column."""
    with pytest.raises(ConfigError) as info:
        RbacPolicy.from_yaml("roles:\n  a: [x\n  b: y\n", source="p.yaml")
    assert info.value.code == "auth.policy_syntax"
    assert "line" in info.value.message
    assert info.value.source == "p.yaml"


def test_file_errors(tmp_path: Path) -> None:
    """Unknown suffixes and unreadable files are ConfigErrors; the source names the file."""
    with pytest.raises(ConfigError) as exc_info:
        RbacPolicy.from_file(tmp_path / "policy.ini")
    assert exc_info.value.code == "auth.policy_invalid"
    with pytest.raises(ConfigError) as info:
        RbacPolicy.from_file(tmp_path / "missing.toml")
    assert info.value.code == "auth.policy_io"
    bad = tmp_path / "bad.toml"
    bad.write_text('[roles.r]\nallow = ["nope"]\n')
    with pytest.raises(ConfigError) as info:
        RbacPolicy.from_file(bad)
    assert info.value.code == "auth.policy_invalid"
    assert info.value.source == str(bad)


def test_constructor_validates_roles() -> None:
    """RbacPolicy(...) takes Role objects with unique valid names."""
    with pytest.raises(ConfigError) as exc_info:
        RbacPolicy([{"name": "x"}])  # type: ignore[list-item]
    assert exc_info.value.code == "auth.policy_invalid"
    with pytest.raises(ConfigError) as exc_info:
        RbacPolicy([Role("a"), Role("a")])
    assert exc_info.value.code == "auth.policy_invalid"
    with pytest.raises(ConfigError) as exc_info:
        RbacPolicy([Role("bad name")])
    assert exc_info.value.code == "auth.policy_invalid"
    assert RbacPolicy([Role("a", allow=("x:y:z",))]).authorize(who("a"), "x:y", "z")


def test_matcher_cache_stays_bounded(policy: RbacPolicy) -> None:
    """Many distinct role sets do not grow the cache without bound."""
    for i in range(1500):
        policy.authorize(Identity("u", {"reader", f"r{i}"}), "vector:read", "collection/x")
    assert len(policy._cache) <= 1024


SEGMENT = st.from_regex(r"[a-z0-9_.\-]{1,8}", fullmatch=True).filter(lambda s: s not in (".", ".."))


@settings(max_examples=150, deadline=None)
@given(action=st.lists(SEGMENT, min_size=1, max_size=3), resource=st.lists(SEGMENT, min_size=1, max_size=4))
def test_globstar_admin_allows_every_valid_request(action: list[str], resource: list[str]) -> None:
    """'**' allows any well-formed action/resource; a role with nothing allows none."""
    p = RbacPolicy.from_dict({"roles": {"admin": ["**"], "none": []}})
    a, r = ":".join(action), "/".join(resource)
    assert p.authorize(who("admin"), a, r)
    assert not p.authorize(who("none"), a, r)


@settings(max_examples=150, deadline=None)
@given(action=st.lists(SEGMENT, min_size=1, max_size=3), resource=st.lists(SEGMENT, min_size=1, max_size=4))
def test_an_exact_permission_matches_itself_and_deny_beats_it(action: list[str], resource: list[str]) -> None:
    """A literal permission allows exactly itself; denying it in another role wins."""
    a, r = ":".join(action), "/".join(resource)
    p = RbacPolicy.from_dict({"roles": {"x": [f"{a}:{r}"], "y": [f"!{a}:{r}"]}})
    assert p.authorize(who("x"), a, r)
    assert not p.authorize(who("x", "y"), a, r)
    assert not p.authorize(who("x"), a + "x", r)


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
PATTERN_CHARS = st.text(alphabet="ab:/*!-._ @", max_size=16)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.one_of(
        JSONISH,
        st.fixed_dictionaries(
            {
                "roles": st.dictionaries(
                    st.text(alphabet="abc:-", max_size=4),
                    st.one_of(st.lists(PATTERN_CHARS, max_size=4), JSONISH),
                    max_size=4,
                )
            }
        ),
        st.fixed_dictionaries(
            {
                "roles": st.dictionaries(
                    st.sampled_from(["a", "b", "c"]),
                    st.fixed_dictionaries(
                        {},
                        optional={
                            "allow": st.lists(PATTERN_CHARS, max_size=3),
                            "deny": st.lists(PATTERN_CHARS, max_size=3),
                            "inherits": st.lists(st.sampled_from(["a", "b", "c", "d"]), max_size=3),
                        },
                    ),
                )
            }
        ),
    )
)
def test_fuzz_policy_data_only_raises_config_error(data: Any) -> None:
    """Arbitrary data either builds a policy that answers, or raises ConfigError: nothing else."""
    try:
        p = RbacPolicy.from_dict(data)
    except ConfigError:
        return
    for role in ("a", "b", "c"):
        p.authorize(who(role), "a:b", "a/b")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    text=st.one_of(st.text(max_size=200), st.binary(max_size=200)),
    fmt=st.sampled_from(["toml", "yaml", "json"]),
)
def test_fuzz_policy_text_only_raises_config_error(text: str | bytes, fmt: str) -> None:
    """Arbitrary text in any format parses to a policy or raises ConfigError: nothing else."""
    loader = {"toml": RbacPolicy.from_toml, "yaml": RbacPolicy.from_yaml, "json": RbacPolicy.from_json}[fmt]
    with contextlib.suppress(ConfigError):
        loader(text)


MUTATIONS = [
    POLICY_TOML,
    INTERN_YAML,
    '{"roles": {"a": ["x:y:z", "!x:y:q"], "b": {"inherits": ["a"]}}}',
]


@settings(max_examples=300, deadline=None)
@given(
    base=st.sampled_from(MUTATIONS),
    cut=st.integers(0, 400),
    insert=st.text(alphabet="[]{}:\"'!*,-\n\t #&|>", max_size=4),
    fmt=st.sampled_from(["toml", "yaml", "json"]),
)
def test_fuzz_mutated_policies_only_raise_config_error(base: str, cut: int, insert: str, fmt: str) -> None:
    """Near-valid policies with a random splice parse or raise ConfigError: nothing else."""
    text = base[:cut] + insert + base[cut + len(insert) :]
    loader = {"toml": RbacPolicy.from_toml, "yaml": RbacPolicy.from_yaml, "json": RbacPolicy.from_json}[fmt]
    with contextlib.suppress(ConfigError):
        loader(text)


def test_deeply_nested_yaml_is_a_config_error() -> None:
    """Pathological nesting is rejected as a syntax error, not a crash."""
    with pytest.raises(ConfigError) as exc_info:
        RbacPolicy.from_yaml("[" * 50_000 + "]" * 50_000)
    assert exc_info.value.code == "auth.policy_syntax"
    with pytest.raises(ConfigError) as exc_info:
        RbacPolicy.from_json("[" * 50_000 + "]" * 50_000)
    assert exc_info.value.code == "auth.policy_syntax"
    with pytest.raises(ConfigError) as exc_info:
        RbacPolicy.from_toml("a = " + "[" * 50_000 + "]" * 50_000)
    assert exc_info.value.code == "auth.policy_syntax"


def test_yaml_alias_bomb_is_harmless() -> None:
    """A billion-laughs document cannot blow up (patterns must be strings)."""
    bomb = 'roles:\n  a: &a ["x:y:z", "x:y:z"]\n  b: &b [*a, *a, *a, *a]\n  c: &c [*b, *b, *b, *b]\n  r: *c\n'
    with pytest.raises(ConfigError) as exc_info:
        RbacPolicy.from_yaml(bomb)
    assert exc_info.value.code == "auth.policy_invalid"


def test_long_wildcard_targets_match_quickly() -> None:
    """Wildcard patterns cannot be made to backtrack catastrophically (one ** and one * per segment)."""
    p = RbacPolicy.from_dict({"roles": {"r": ["**:a*b/c*d/e*f/z"]}})
    resource = "/".join(["a" + "x" * 40] * 20)
    assert not p.authorize(who("r"), "v:w", resource)
