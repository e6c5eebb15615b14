"""Binding a configuration section onto a pydantic model or a dataclass, reporting all problems at once."""

from __future__ import annotations

import dataclasses
import enum
import pathlib
import types
import typing
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from llm_infra.config import _codes as codes
from llm_infra.config._casts import CastError, describe_value, strict_cast
from llm_infra.config._key import env_var_name
from llm_infra.config._tree import Path, display, is_absent, lookup
from llm_infra.errors import ConfigError
from llm_infra.secrets import Secret, is_secret_name

if TYPE_CHECKING:
    from llm_infra.config._config import Config

M = TypeVar("M")
Loc = tuple[str | int, ...]

_FAIL: Any = object()
_SEQUENCES = (list, tuple, set, frozenset, typing.Sequence, typing.AbstractSet)
_PATHS = (pathlib.Path, pathlib.PurePath, pathlib.PurePosixPath, pathlib.PosixPath)


def is_pydantic_model(model: object) -> bool:
    """True for a pydantic v2 ``BaseModel`` subclass (checked without importing pydantic)."""
    return isinstance(model, type) and hasattr(model, "model_validate") and hasattr(model, "model_fields")


def bind(cfg: Config, model: type[M]) -> M:
    """Validate ``cfg`` (a root or a section) into ``model``; see ``Config.bind``."""
    binder = _Binder(cfg)
    if is_pydantic_model(model):
        return binder.pydantic(model)
    if dataclasses.is_dataclass(model) and isinstance(model, type):
        result = binder.dataclass(model, cfg._tree, ())
        binder.raise_if_problems(model)
        return result  # type: ignore[no-any-return]
    raise ConfigError(
        f"bind() needs a pydantic model or a dataclass, got {model!r}", code=codes.INVALID_MODEL
    )


class _Binder:
    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.base: Path = cfg._base
        self.problems: list[tuple[str, str, str | None]] = []

    # ------------------------------------------------------------------ reporting

    def _origin(self, path: Loc) -> str | None:
        keys: list[str] = []
        for part in path:
            if not isinstance(part, str):
                break
            keys.append(part)
        for end in range(len(keys), 0, -1):
            rel = tuple(keys[:end])
            for layer in reversed(self.cfg._layers):
                if not is_absent(lookup(layer.tree, rel)):
                    return str(layer.origin(rel))
        return None

    def _is_secret_path(self, path: Loc) -> bool:
        name = display(self.base + tuple(str(p) for p in path))
        declared = self.cfg._keys.get(name)
        if declared is not None:
            return declared.secret
        return is_secret_name(name.rsplit(".", 1)[-1])

    def problem(self, path: Loc, message: str) -> None:
        name = display(self.base + tuple(str(p) for p in path)) or "(root)"
        origin = self._origin(path)
        where = f" (from {origin})" if origin else ""
        self.problems.append((name, f"{name}: {message}{where}", origin))

    def missing(self, path: Loc) -> None:
        name = display(self.base + tuple(str(p) for p in path))
        prefixes = self.cfg._info.env_prefixes or ("LLM_",)
        self.problems.append(
            (
                name,
                f"{name}: missing (required); set it in a file or as {env_var_name(name, prefixes[0])}",
                None,
            )
        )

    def got(self, value: object, path: Loc) -> str:
        if isinstance(value, Secret) or self._is_secret_path(path):
            return "a secret value (not shown)"
        return describe_value(value)

    def raise_if_problems(self, model: type[Any]) -> None:
        if not self.problems:
            return
        lines = "\n".join(f"  - {message}" for _, message, _ in self.problems)
        count = len(self.problems)
        raise ConfigError(
            f"{count} problem{'s' if count > 1 else ''} binding configuration to {model.__name__}:\n{lines}",
            code=codes.VALIDATION,
            key=self.problems[0][0] if count == 1 else None,
            source=self.problems[0][2] if count == 1 else None,
            context={"errors": [{"key": k, "message": m, "source": s} for k, m, s in self.problems]},
            remediation=[message for _, message, _ in self.problems],
        )

    # ------------------------------------------------------------------ pydantic

    def pydantic(self, model: type[M]) -> M:
        import pydantic

        data = _prepare_pydantic(model, _plain(self.cfg._tree))
        try:
            return model.model_validate(data)  # type: ignore[attr-defined, no-any-return]
        except pydantic.ValidationError as exc:
            for error in exc.errors(include_url=False):
                loc = tuple(error["loc"])
                if error["type"] == "missing":
                    self.missing(loc)
                    continue
                value = error.get("input")
                self.problem(loc, f"{error['msg']}, got {self.got(value, loc)}")
        self.raise_if_problems(model)
        raise AssertionError("unreachable: validation failed without problems")

    # ------------------------------------------------------------------ dataclasses

    def dataclass(self, cls: type[Any], data: object, path: Loc) -> Any:
        if not isinstance(data, Mapping):
            self.problem(path, f"expected a section for {cls.__name__}, got {self.got(data, path)}")
            return _FAIL
        try:
            hints = typing.get_type_hints(cls)
        except (NameError, TypeError) as exc:
            raise ConfigError(
                f"cannot resolve the type hints of {cls.__name__}: {exc}", code=codes.INVALID_MODEL
            ) from None
        kwargs: dict[str, Any] = {}
        ok = True
        for field in dataclasses.fields(cls):
            if not field.init:
                continue
            sub = (*path, field.name)
            if field.name in data:
                value = self.value(data[field.name], hints.get(field.name, Any), sub)
                if value is _FAIL:
                    ok = False
                else:
                    kwargs[field.name] = value
            elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
                self.missing(sub)
                ok = False
        if not ok:
            return _FAIL
        try:
            return cls(**kwargs)
        except (ValueError, TypeError) as exc:
            message = exc.message if isinstance(exc, ConfigError) else str(exc)
            self.problem(path, f"{cls.__name__} rejected the values: {message}")
            return _FAIL

    def value(self, value: object, tp: Any, path: Loc) -> Any:
        if tp is Any or tp is object:
            return value
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if origin is typing.Union or origin is types.UnionType:
            return self._union(value, args, tp, path)
        if origin is typing.Literal:
            if any(value == arg and type(value) is type(arg) for arg in args):
                return value
            choices = " | ".join(repr(a) for a in args)
            self.problem(path, f"expected one of {choices}, got {self.got(value, path)}")
            return _FAIL
        if tp is Secret or origin is Secret:
            inner = value.reveal() if isinstance(value, Secret) else value
            converted = self.value(inner, args[0], path) if args else inner
            return _FAIL if converted is _FAIL else Secret(converted)
        if origin in _SEQUENCES or tp in (list, tuple, set, frozenset):
            return self._sequence(value, origin or tp, args, path)
        if origin in (dict, Mapping, typing.Mapping) or tp in (dict, Mapping):
            return self._mapping(value, args, path)
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            return self.dataclass(tp, value, path)
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            return self._enum(value, tp, path)
        if tp is type(None):
            if value is None:
                return None
            self.problem(path, f"expected None, got {self.got(value, path)}")
            return _FAIL
        if tp in (int, float, bool, str):
            try:
                return strict_cast(tp)(value)
            except CastError:
                self.problem(path, f"expected {tp.__name__}, got {self.got(value, path)}")
                return _FAIL
        if isinstance(tp, type):
            if isinstance(value, tp):
                return value
            if tp in _PATHS and isinstance(value, str):
                return tp(value)
            self.problem(path, f"expected {tp.__name__}, got {self.got(value, path)}")
            return _FAIL
        return value

    def _union(self, value: object, args: tuple[Any, ...], tp: Any, path: Loc) -> Any:
        if value is None and type(None) in args:
            return None
        saved = self.problems
        for arg in args:
            if arg is type(None):
                continue
            self.problems = []
            result = self.value(value, arg, path)
            if result is not _FAIL:
                self.problems = saved
                return result
        self.problems = saved
        names = " | ".join(getattr(a, "__name__", repr(a)) for a in args)
        self.problem(path, f"expected {names}, got {self.got(value, path)}")
        return _FAIL

    def _sequence(self, value: object, kind: Any, args: tuple[Any, ...], path: Loc) -> Any:
        if not isinstance(value, list | tuple):
            self.problem(path, f"expected a list, got {self.got(value, path)}")
            return _FAIL
        if kind is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            if len(args) != len(value):
                self.problem(path, f"expected {len(args)} items, got {len(value)}")
                return _FAIL
            item_types = list(args)
        else:
            item_types = [args[0] if args else Any] * len(value)
        items = [
            self.value(item, t, (*path, i)) for i, (item, t) in enumerate(zip(value, item_types, strict=True))
        ]
        if any(item is _FAIL for item in items):
            return _FAIL
        if kind in (set, typing.AbstractSet):
            return set(items)
        if kind is frozenset:
            return frozenset(items)
        if kind is list:
            return items
        return tuple(items)

    def _mapping(self, value: object, args: tuple[Any, ...], path: Loc) -> Any:
        if not isinstance(value, Mapping):
            self.problem(path, f"expected a mapping, got {self.got(value, path)}")
            return _FAIL
        item_type = args[1] if len(args) == 2 else Any
        out: dict[str, Any] = {}
        ok = True
        for key, item in value.items():
            converted = self.value(item, item_type, (*path, key))
            if converted is _FAIL:
                ok = False
            else:
                out[key] = converted
        return out if ok else _FAIL

    def _enum(self, value: object, tp: type[enum.Enum], path: Loc) -> Any:
        try:
            return tp(value)
        except ValueError:
            pass
        if isinstance(value, str):
            for member in tp:
                if member.name.lower() == value.lower() or str(member.value).lower() == value.lower():
                    return member
        choices = " | ".join(repr(m.value) for m in tp)
        self.problem(path, f"expected one of {choices}, got {self.got(value, path)}")
        return _FAIL


def _plain(value: Mapping[str, object]) -> dict[str, object]:
    return {k: _plain(v) if isinstance(v, Mapping) else v for k, v in value.items()}


def _wants_pydantic_secret(annotation: Any) -> bool:
    import pydantic

    if annotation in (pydantic.SecretStr, pydantic.SecretBytes):
        return True
    return any(_wants_pydantic_secret(arg) for arg in typing.get_args(annotation))


def _nested_model(annotation: Any) -> Any:
    if is_pydantic_model(annotation):
        return annotation
    for arg in typing.get_args(annotation):
        if is_pydantic_model(arg):
            return arg
    return None


def _prepare_pydantic(model: Any, data: dict[str, object]) -> dict[str, object]:
    """Reveal ``Secret`` values into ``SecretStr``/``SecretBytes`` fields (which mask them again)."""
    for name, info in model.model_fields.items():
        key = info.alias if isinstance(info.alias, str) else name
        if key not in data:
            continue
        value = data[key]
        annotation = info.annotation
        if isinstance(value, Secret) and _wants_pydantic_secret(annotation):
            inner = value.reveal()
            if isinstance(inner, str | bytes):
                data[key] = inner
        elif isinstance(value, dict):
            nested = _nested_model(annotation)
            if nested is not None:
                data[key] = _prepare_pydantic(nested, value)
    return data
