"""Parsing configuration files (TOML, JSON, YAML) with positioned errors, and locating keys in them.

Every parse error becomes ``ConfigError(code=codes.PARSE_ERROR)`` naming the file, line and
column (1-based) and quoting the offending line with a caret; the parser's own position is
used (tomllib's message, ``JSONDecodeError.lineno/colno``, YAML's ``problem_mark``). A quoted
line whose key looks secret (``password``, ``token``, ``api_key``, a declared secret key, ...)
has its value replaced by the mask. The parser's exception is not chained (PyYAML's message
embeds the source line): the cause is a ``SerializationError`` carrying the same position.

YAML is loaded with the safe loader only, and a document is rejected before construction when
it uses more than ``YAML_MAX_ALIASES`` aliases or expands to more than ``YAML_MAX_NODES`` nodes
(the "billion laughs" shape: a few dozen aliases that expand to a billion nodes).

Key positions (for ``Config.explain`` and wrong-type errors) are computed lazily, only when
asked, by a light scan of the text: a line scanner for TOML, a string/bracket tokenizer for
JSON, and the YAML node graph.
"""

from __future__ import annotations

import bisect
import json
import re
import tomllib
from collections.abc import Collection, Mapping
from typing import Any, Literal, NoReturn

import yaml

from llm_infra.config import _codes as codes
from llm_infra.config._tree import Path
from llm_infra.errors import ConfigError, SerializationError
from llm_infra.secrets import MASK, is_secret_name

Format = Literal["toml", "json", "yaml"]

YAML_MAX_ALIASES = 100
"""Most aliases a YAML configuration document may use."""

YAML_MAX_NODES = 100_000
"""Most nodes a YAML configuration document may expand to (aliases counted at full size)."""

_EXTENSIONS: dict[str, Format] = {".toml": "toml", ".json": "json", ".yaml": "yaml", ".yml": "yaml"}
_TOML_POS = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")
_TOML_END = re.compile(r"\s*\(at end of document\)$")
# Bounded repetitions: a long run of digits or letters must not make the scan quadratic.
_PAIR_KEY = re.compile(r"""("(?:[^"\\]|\\.){0,256}"|'[^']{0,256}'|[A-Za-z0-9_.\-]{1,256})[ \t]{0,64}[:=]""")

_EXCERPT_WIDTH = 120
_LONG_NUMBER = re.compile(r"\d{1000,}")

_YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_STR_TAG = "tag:yaml.org,2002:str"
_BAD_KEY_TAGS = {"tag:yaml.org,2002:bool": "a boolean", "tag:yaml.org,2002:null": "null"}


def detect_format(path: str, explicit: str | None) -> Format:
    """The format named explicitly, or the one of the file's extension."""
    if explicit is not None:
        fmt = explicit.lower().lstrip(".")
        fmt = "yaml" if fmt == "yml" else fmt
        if fmt not in ("toml", "json", "yaml"):
            raise ConfigError(
                f"unknown configuration format {explicit!r} for {path}; use 'toml', 'json' or 'yaml'",
                code=codes.UNKNOWN_FORMAT,
                source=path,
            )
        return fmt  # type: ignore[return-value]
    lower = path.lower()
    for ext, fmt_ in _EXTENSIONS.items():
        if lower.endswith(ext):
            return fmt_
    raise ConfigError(
        f"cannot tell the format of {path} from its extension; pass format='toml', 'json' or 'yaml'",
        code=codes.UNKNOWN_FORMAT,
        source=path,
    )


def decode(data: bytes, path: str, fmt: Format, secret_names: Collection[str]) -> str:
    """UTF-8 text of a file, without a byte-order mark; a bad byte is a positioned error."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        start = exc.start
        line = data.count(b"\n", 0, start) + 1
        column = start - (data.rfind(b"\n", 0, start) + 1) + 1
        text = data.decode("utf-8-sig", errors="replace")
        parse_error(path, fmt, text, line, column, f"invalid UTF-8 byte 0x{data[start]:02x}", secret_names)


def parse(text: str, path: str, fmt: Format, secret_names: Collection[str]) -> dict[str, Any]:
    """Parse a document into a tree (a dict); any failure is a positioned ``ConfigError``."""
    try:
        if fmt == "toml":
            return _parse_toml(text, path, secret_names)
        if fmt == "json":
            return _parse_json(text, path, secret_names)
        return _parse_yaml(text, path, secret_names)
    except ConfigError:
        raise
    except ValueError:
        # Python refuses to convert integers of more than sys.get_int_max_str_digits() digits.
        match = _LONG_NUMBER.search(text)
        start = match.start() if match else 0
        line = text.count("\n", 0, start) + 1
        column = start - (text.rfind("\n", 0, start) + 1) + 1
        parse_error(path, fmt, text, line, column, "a number has too many digits", secret_names)


def _parse_toml(text: str, path: str, secret_names: Collection[str]) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        match = _TOML_POS.search(message)
        if match is not None:
            line, column = int(match.group(1)), int(match.group(2))
            problem = message[: match.start()]
        else:
            lines = text.splitlines() or [""]
            line, column = len(lines), len(lines[-1]) + 1
            problem = _TOML_END.sub("", message)
        parse_error(path, "toml", text, line, column, problem, secret_names)
    except RecursionError:
        parse_error(path, "toml", text, 1, 1, "nesting too deep", secret_names)


def _parse_json(text: str, path: str, secret_names: Collection[str]) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        parse_error(path, "json", text, exc.lineno, exc.colno, exc.msg, secret_names)
    except RecursionError:
        parse_error(path, "json", text, 1, 1, "nesting too deep", secret_names)
    if not isinstance(data, dict):
        line, column = _first_token(text)
        parse_error(path, "json", text, line, column, "the top level must be an object", secret_names)
    return data


def _parse_yaml(text: str, path: str, secret_names: Collection[str]) -> dict[str, Any]:
    loader = _YAML_LOADER(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return {}
        needs_key_fix = _check_yaml_graph(node, path, text, secret_names)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = "; ".join(part for part in (exc.context, exc.problem) if part) or "invalid YAML"
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        parse_error(path, "yaml", text, line, column, problem, secret_names)
    except yaml.YAMLError as exc:
        # A reader error (a control character): it carries a character offset, not a mark.
        offset = int(getattr(exc, "position", 0) or 0)
        line = text.count("\n", 0, offset) + 1
        column = offset - (text.rfind("\n", 0, offset) + 1) + 1
        parse_error(path, "yaml", text, line, column, "invalid YAML character", secret_names)
    except RecursionError:
        parse_error(path, "yaml", text, 1, 1, "nesting too deep", secret_names)
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        _yaml_node_error(node, "the top level must be a mapping", path, text, secret_names)
    return _string_keys(data) if needs_key_fix else data


def _check_yaml_graph(root: Any, path: str, text: str, secret_names: Collection[str]) -> bool:
    """Reject alias bombs, recursive aliases and boolean/null keys; True when keys need ``str()``.

    Walks the composed node graph iteratively: a node reached a second time is an alias use;
    each node's expanded size is 1 plus its children's, so shared subtrees count in full.
    """
    sizes: dict[int, int] = {}
    visiting: set[int] = set()
    aliases = 0
    needs_key_fix = False
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        ident = id(node)
        children: list[Any]
        if isinstance(node, yaml.MappingNode):
            children = [item for pair in node.value for item in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = node.value
        else:
            children = []
        if done:
            size = 1 + sum(sizes[id(child)] for child in children)
            visiting.discard(ident)
            if size > YAML_MAX_NODES:
                problem = f"the document expands to more than {YAML_MAX_NODES} nodes (alias bomb?)"
                _yaml_node_error(node, problem, path, text, secret_names, code=codes.YAML_LIMITS)
            sizes[ident] = size
            continue
        if ident in sizes:
            aliases += 1
            if aliases > YAML_MAX_ALIASES:
                problem = f"more than {YAML_MAX_ALIASES} aliases (this one refers to the anchor here)"
                _yaml_node_error(node, problem, path, text, secret_names, code=codes.YAML_LIMITS)
            continue
        if ident in visiting:
            _yaml_node_error(node, "recursive alias", path, text, secret_names)
        visiting.add(ident)
        if isinstance(node, yaml.MappingNode):
            for key_node, _ in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    _bad_key(key_node, "a collection", path, text, secret_names)
                if key_node.tag in _BAD_KEY_TAGS:
                    _bad_key(key_node, _BAD_KEY_TAGS[key_node.tag], path, text, secret_names)
                if key_node.tag != _STR_TAG:
                    needs_key_fix = True
        stack.append((node, True))
        stack.extend((child, False) for child in reversed(children))
    return needs_key_fix


def _bad_key(node: Any, what: str, path: str, text: str, secret_names: Collection[str]) -> NoReturn:
    problem = f"a mapping key here is read as {what}; quote it to make it a string"
    _yaml_node_error(node, problem, path, text, secret_names)


def _yaml_node_error(
    node: Any,
    problem: str,
    path: str,
    text: str,
    secret_names: Collection[str],
    *,
    code: str = codes.PARSE_ERROR,
) -> NoReturn:
    mark = node.start_mark
    parse_error(path, "yaml", text, mark.line + 1, mark.column + 1, problem, secret_names, code=code)


def _string_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _string_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_string_keys(v) for v in value]
    return value


def _first_token(text: str) -> tuple[int, int]:
    stripped = text.lstrip()
    offset = len(text) - len(stripped)
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def redact_line(line: str, secret_names: Collection[str]) -> str:
    """Mask everything after the first secret-looking key of a quoted line (``password = ...``).

    A key looks secret when its last segment is a secret name (``llm_infra.secrets.is_secret_name``:
    ``password``, ``token``, ``api_key``, ...) or the last segment of a declared secret key.
    Masking to the end of the line also covers unterminated strings and one-line JSON documents.
    """
    for match in _PAIR_KEY.finditer(line):
        key = match.group(1).strip("\"'")
        leaf = key.rsplit(".", 1)[-1]
        if is_secret_name(leaf) or leaf in secret_names:
            return line[: match.end()] + " " + MASK
    return line


def excerpt(text: str, line: int, column: int, secret_names: Collection[str]) -> str:
    """The offending line (redacted when it holds a secret) with a caret under ``column``.

    A line longer than ``_EXCERPT_WIDTH`` characters is cut to a window around the column.
    """
    lines = text.splitlines()
    source = lines[line - 1] if 0 < line <= len(lines) else ""
    source = redact_line(source.rstrip("\r"), secret_names)
    offset = max(0, column - 1)
    if len(source) > _EXCERPT_WIDTH:
        start = max(0, min(offset - _EXCERPT_WIDTH // 2, len(source) - _EXCERPT_WIDTH))
        end = start + _EXCERPT_WIDTH
        source = ("..." if start else "") + source[start:end] + ("..." if end < len(source) else "")
        offset = offset - start + (3 if start else 0)
    gutter = f"{line:>4} | "
    caret = " " * (len(gutter) - 2) + "| " + " " * offset + "^"
    return f"{gutter}{source}\n{caret}"


def parse_error(  # noqa: PLR0917 - one call shape for every parser's position
    path: str,
    fmt: Format,
    text: str,
    line: int,
    column: int,
    problem: str,
    secret_names: Collection[str],
    *,
    code: str = codes.PARSE_ERROR,
) -> NoReturn:
    """Raise the positioned ``ConfigError`` for a document that cannot be read."""
    quoted = excerpt(text, line, column, secret_names)
    message = f"invalid {fmt.upper()} in {path} at line {line}, column {column}: {problem}\n{quoted}"
    cause = SerializationError(
        f"{problem} (line {line}, column {column})", format=fmt, line=line, column=column, path=path
    )
    raise ConfigError(
        message,
        code=code,
        source=path,
        context={"path": path, "line": line, "column": column, "format": fmt},
        remediation=[f"fix {path} at line {line}, column {column}: {problem}"],
    ) from cause


# --------------------------------------------------------------------------- key positions


class Locator:
    """Lazily computed positions ``(line, column)`` of keys in one document."""

    __slots__ = ("_fmt", "_positions", "_text")

    def __init__(self, text: str, fmt: Format) -> None:
        self._text = text
        self._fmt = fmt
        self._positions: Mapping[Path, tuple[int, int]] | None = None

    def locate(self, path: Path) -> tuple[int, int] | None:
        """Position of the key at ``path``, or of its nearest located ancestor, or None."""
        positions = self._positions
        if positions is None:
            try:
                positions = _SCANNERS[self._fmt](self._text)
            except (yaml.YAMLError, ValueError, RecursionError):
                positions = {}
            self._positions = positions
        for end in range(len(path), 0, -1):
            found = positions.get(path[:end])
            if found is not None:
                return found
        return None


def _toml_positions(text: str) -> dict[Path, tuple[int, int]]:
    positions: dict[Path, tuple[int, int]] = {}
    table: Path = ()
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        raw = lines[index]
        stripped = raw.lstrip()
        column = len(raw) - len(stripped) + 1
        if stripped.startswith("["):
            start = 2 if stripped.startswith("[[") else 1
            parsed = _toml_key(stripped, start, "]")
            if parsed is not None:
                table = parsed[0]
                positions.setdefault(table, (index + 1, column))
        elif stripped and not stripped.startswith("#"):
            parsed = _toml_key(stripped, 0, "=")
            if parsed is not None:
                keys, end = parsed
                full = table + keys
                for depth in range(len(table) + 1, len(full)):
                    positions.setdefault(full[:depth], (index + 1, column))
                positions[full] = (index + 1, column)
                index = _skip_multiline(lines, index, stripped[end + 1 :].lstrip())
        index += 1
    return positions


def _toml_key(text: str, pos: int, stop: str) -> tuple[Path, int] | None:
    parts: list[str] = []
    length = len(text)
    while True:
        while pos < length and text[pos] in " \t":
            pos += 1
        if pos >= length:
            return None
        char = text[pos]
        if char == '"':
            match = re.match(r'"((?:[^"\\]|\\.)*)"', text[pos:])
            if match is None:
                return None
            try:
                parts.append(json.loads(match.group(0)))
            except ValueError:
                parts.append(match.group(1))
            pos += match.end()
        elif char == "'":
            end = text.find("'", pos + 1)
            if end < 0:
                return None
            parts.append(text[pos + 1 : end])
            pos = end + 1
        else:
            match = re.match(r"[A-Za-z0-9_\-]+", text[pos:])
            if match is None:
                return None
            parts.append(match.group(0))
            pos += match.end()
        while pos < length and text[pos] in " \t":
            pos += 1
        if pos < length and text[pos] == ".":
            pos += 1
            continue
        if pos < length and text[pos] == stop:
            return tuple(parts), pos
        return None


def _skip_multiline(lines: list[str], index: int, value: str) -> int:
    """Index of the last line of a value that spans several lines (multi-line strings and arrays)."""
    for quote in ('"""', "'''"):
        if value.startswith(quote):
            if quote in value[3:]:
                return index
            while index + 1 < len(lines):
                index += 1
                if quote in lines[index]:
                    return index
            return index
    if value.startswith("["):
        depth = _bracket_balance(value)
        while depth > 0 and index + 1 < len(lines):
            index += 1
            depth += _bracket_balance(lines[index])
    return index


def _bracket_balance(text: str) -> int:
    depth = 0
    quote = ""
    escaped = False
    for char in text:
        if quote:
            if escaped:
                escaped = False
            elif char == "\\" and quote == '"':
                escaped = True
            elif char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char == "#":
            break
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
    return depth


_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\],:]')


def _json_positions(text: str) -> dict[Path, tuple[int, int]]:
    positions: dict[Path, tuple[int, int]] = {}
    newlines = [i for i, char in enumerate(text) if char == "\n"]
    # Each frame: [is_object, current key, expecting a key]
    stack: list[list[Any]] = []
    for match in _JSON_TOKEN.finditer(text):
        tok = match.group(0)
        if tok in "{[":
            stack.append([tok == "{", None, tok == "{"])
        elif tok in "}]":
            if stack:
                stack.pop()
        elif tok == ",":
            if stack and stack[-1][0]:
                stack[-1][2] = True
        elif tok == ":":
            continue
        elif stack and stack[-1][0] and stack[-1][2]:
            stack[-1][1] = json.loads(tok)
            stack[-1][2] = False
            if all(frame[0] for frame in stack):
                offset = match.start()
                line = bisect.bisect_left(newlines, offset)
                column = offset - (newlines[line - 1] + 1 if line else 0) + 1
                positions[tuple(frame[1] for frame in stack)] = (line + 1, column)
    return positions


def _yaml_positions(text: str) -> dict[Path, tuple[int, int]]:
    positions: dict[Path, tuple[int, int]] = {}
    root = yaml.compose(text, Loader=_YAML_LOADER)
    stack: list[tuple[Any, Path]] = [(root, ())] if root is not None else []
    seen: set[int] = set()
    while stack:
        node, prefix = stack.pop()
        if id(node) in seen or not isinstance(node, yaml.MappingNode):
            continue
        seen.add(id(node))
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                path = (*prefix, str(key_node.value))
                positions.setdefault(path, (key_node.start_mark.line + 1, key_node.start_mark.column + 1))
                stack.append((value_node, path))
    return positions


_SCANNERS = {"toml": _toml_positions, "json": _json_positions, "yaml": _yaml_positions}
