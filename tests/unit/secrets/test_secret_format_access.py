"""A Secret's value is not reachable through str.format attribute access or introspection."""

from __future__ import annotations

import gc

import pytest

from llm_infra.secrets import Secret

VALUE = "hunter2-s3cr3t"


@pytest.mark.parametrize(
    "template",
    [
        "{0}",
        "{0!r}",
        "{0._handle}",
        "{0.__slots__}",
        "{0.__class__}",
        "{0.reveal}",
        "{0.reveal.__globals__[_VALUES]}",
        "{0.reveal.__globals__[_VALUES]!r}",
        "{0.__class__.__init__.__globals__[_VALUES]}",
    ],
)
def test_format_strings_never_reach_the_value(template: str) -> None:
    """Attribute and index access in a format string reach a handle or a masked store only."""
    secret = Secret(VALUE)
    assert VALUE not in template.format(secret)


@pytest.mark.parametrize("template", ["{0._value}", "{0.__dict__}", "{0._Secret__value}", "{0.value}"])
def test_format_strings_naming_a_value_attribute_fail(template: str) -> None:
    """There is no value attribute to name: the lookup fails instead of leaking."""
    with pytest.raises(AttributeError):
        template.format(Secret(VALUE))


def test_the_value_is_not_in_the_instance_state() -> None:
    """Neither slots nor vars nor dir expose the value."""
    secret = Secret(VALUE)
    assert not hasattr(secret, "__dict__")
    state = [getattr(secret, name) for name in type(secret).__slots__]
    assert VALUE not in repr(state)
    assert all(VALUE not in repr(getattr(secret, name, None)) for name in dir(secret) if name != "reveal")
    assert secret.reveal() == VALUE


def test_a_collected_secret_leaves_the_store() -> None:
    """The store holds values of live secrets only."""
    from llm_infra.secrets import _secret

    before = len(_secret._VALUES)
    secret = Secret("transient")
    assert len(_secret._VALUES) == before + 1
    del secret
    gc.collect()
    assert len(_secret._VALUES) == before


def test_copies_share_the_value_and_secrets_compare_by_value() -> None:
    """copy returns the same object; equality still compares the values in constant time."""
    import copy

    secret = Secret(VALUE)
    assert copy.copy(secret) is secret
    assert copy.deepcopy(secret) is secret
    assert Secret(VALUE) == secret
    assert Secret("other") != secret
