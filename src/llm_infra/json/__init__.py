"""JSON on orjson: limits, line/column errors, canonical form, merge patch, pointers and diff.

``loads`` rejects NaN/Infinity and enforces ``max_depth``/``max_bytes``; errors are
``SerializationError`` with 1-based ``line`` and ``column``. ``dumps`` encodes numpy, dataclasses
and datetimes and writes a ``Secret`` as its mask::

    >>> from llm_infra import json
    >>> json.dumps({"b": 1, "a": [1.5, None]}, sort_keys=True)
    b'{"a":[1.5,null],"b":1}'
    >>> json.merge_patch({"a": 1, "b": 2}, {"b": None, "c": 3})
    {'a': 1, 'c': 3}
"""

from llm_infra.json._codec import DEFAULT_MAX_DEPTH as DEFAULT_MAX_DEPTH
from llm_infra.json._codec import ORJSON_MAX_DEPTH as ORJSON_MAX_DEPTH
from llm_infra.json._codec import dumps as dumps
from llm_infra.json._codec import dumps_canonical as dumps_canonical
from llm_infra.json._codec import find_non_finite as find_non_finite
from llm_infra.json._codec import loads as loads
from llm_infra.json._patch import JsonChange as JsonChange
from llm_infra.json._patch import diff as diff
from llm_infra.json._patch import escape_token as escape_token
from llm_infra.json._patch import merge_patch as merge_patch
from llm_infra.json._patch import parse_pointer as parse_pointer
from llm_infra.json._patch import pointer_get as pointer_get
from llm_infra.json._patch import pointer_set as pointer_set

__all__ = [
    "DEFAULT_MAX_DEPTH",
    "JsonChange",
    "ORJSON_MAX_DEPTH",
    "diff",
    "dumps",
    "dumps_canonical",
    "escape_token",
    "find_non_finite",
    "loads",
    "merge_patch",
    "parse_pointer",
    "pointer_get",
    "pointer_set",
]
