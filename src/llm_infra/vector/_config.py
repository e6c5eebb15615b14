"""Option objects of the vector store: distance, HNSW parameters, compression, the store config."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from enum import StrEnum
from typing import Any, Final, Literal, Protocol, TypeAlias, TypedDict, Unpack

from llm_infra.config import Key
from llm_infra.config._casts import one_of
from llm_infra.errors import ConfigError

Tier: TypeAlias = Literal["none", "f16", "int8", "binary", "auto"]
Durability: TypeAlias = Literal["normal", "full"]

TIERS: Final[tuple[str, ...]] = ("none", "f16", "int8", "binary", "auto")
MAX_DIMENSIONS: Final = 65_536
_COLLECTION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


class Distance(StrEnum):
    """How vectors are compared. Scores are always *higher is better*.

    - ``COSINE``: cosine similarity in [-1, 1] (vectors are normalized for search).
    - ``L2``: the negative Euclidean distance (0 is a perfect match).
    - ``DOT``: the raw inner product.

    .. versionadded:: 0.1.0
    """

    COSINE = "cosine"
    L2 = "l2"
    DOT = "dot"

    @classmethod
    def _missing_(cls, value: object) -> Distance | None:
        if isinstance(value, str):
            text = value.strip().lower()
            name = DISTANCE_ALIASES.get(text, text)
            for member in cls:
                if member.value == name:
                    return member
        return None


DISTANCE_ALIASES: Final[dict[str, str]] = {"euclidean": "l2", "inner_product": "dot", "ip": "dot"}
"""Other spellings of the distances, accepted by ``Distance(...)``, configs and config files."""
DISTANCE_NAMES: Final[tuple[str, ...]] = ("cosine", "l2", "dot")


def _check_int(name: str, value: object, lo: int, hi: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise ConfigError(
            f"{name} must be an integer in [{lo}, {hi}], got {value!r}",
            key=name,
            code="config.invalid_value",
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class HnswConfig:
    """Parameters of the HNSW graph.

    Args:
        m: links per node (memory and recall grow with it); 2..256.
        ef_construction: candidate list size while building (build time and graph quality).
        ef_search: default candidate list size while searching (latency vs recall); a search
            may raise it per call, and filtered searches raise it with the filter's selectivity.

    .. versionadded:: 0.1.0
    """

    m: int = 16
    ef_construction: int = 200
    ef_search: int = 100

    def __post_init__(self) -> None:
        _check_int("hnsw.m", self.m, 2, 256)
        _check_int("hnsw.ef_construction", self.ef_construction, 1, 100_000)
        _check_int("hnsw.ef_search", self.ef_search, 1, 100_000)


_DEFAULT_RESCORE_FACTOR: Final[dict[str, int]] = {"none": 1, "f16": 2, "int8": 4, "binary": 32}


@dataclass(frozen=True, slots=True, kw_only=True)
class CompressionConfig:
    """How the ANN index stores vectors.

    Args:
        tier: ``"none"`` (float32), ``"f16"`` (half precision, nearly lossless), ``"int8"``
            (8-bit scalar quantization with trained per-dimension ranges), ``"binary"`` (one bit
            per dimension), or ``"auto"`` (the least lossy tier whose estimated memory fits
            ``memory_budget_mb``).
        rescore: re-rank ``k * rescore_factor`` candidates with the full-precision vectors
            (which stay on disk for on-disk stores). Without it, only the ``k`` candidates found
            by the compressed index get exact scores.
        rescore_factor: candidates per result when rescoring; default per tier
            (f16 2, int8 4, binary 32).
        memory_budget_mb: budget for ``tier="auto"`` (required then).

    .. versionadded:: 0.1.0
    """

    tier: Tier = "none"
    rescore: bool = True
    rescore_factor: int | None = None
    memory_budget_mb: float | None = None

    def __post_init__(self) -> None:
        if self.tier not in TIERS:
            raise ConfigError(
                f"compression.tier must be one of {', '.join(TIERS)}, got {self.tier!r}",
                key="compression.tier",
                code="config.invalid_value",
            )
        if not isinstance(self.rescore, bool):
            raise ConfigError("compression.rescore must be a bool", key="compression.rescore")
        if self.rescore_factor is not None:
            _check_int("compression.rescore_factor", self.rescore_factor, 1, 1000)
        if self.memory_budget_mb is not None and (
            isinstance(self.memory_budget_mb, bool)
            or not isinstance(self.memory_budget_mb, int | float)
            or not self.memory_budget_mb > 0
        ):
            raise ConfigError(
                f"compression.memory_budget_mb must be a positive number, got {self.memory_budget_mb!r}",
                key="compression.memory_budget_mb",
                code="config.invalid_value",
            )
        if self.tier == "auto" and self.memory_budget_mb is None:
            raise ConfigError(
                'compression.tier="auto" needs compression.memory_budget_mb',
                key="compression.memory_budget_mb",
                code="config.missing_key",
            )

    def factor_for(self, tier: str) -> int:
        """Candidates per result fetched before rescoring, for a concrete tier."""
        if tier == "none":
            return 1
        if not self.rescore:
            return 1
        return self.rescore_factor or _DEFAULT_RESCORE_FACTOR[tier]


@dataclass(frozen=True, slots=True, kw_only=True)
class VectorStoreConfig:
    """Everything a store needs to know; persisted in the store, so reopening needs none of it.

    Args:
        collection: the collection name (letters, digits, ``_.-``; up to 128 characters).
        dimensions: vector length, 1..65536.
        distance: ``Distance.COSINE`` (default), ``L2`` or ``DOT``.
        hnsw: graph parameters.
        compression: compression tier of the ANN index.
        indexed_fields: metadata fields indexed from the first write (any field used in a
            filter is indexed on first use as well).
        durability: ``"normal"`` (an acknowledged write survives a crash of the process) or
            ``"full"`` (it also survives power loss: SQLite syncs the WAL at every commit).
        background_indexing: absorb new vectors into the graph in a background thread; when
            False, the graph absorbs them at ``flush()`` (they are searched exactly until then).
        exact_scan_fraction: a filter matching at most this fraction of the indexed points is
            searched exactly over the matching rows instead of through the graph.
        exact_scan_min_rows: filters matching at most this many rows are always scanned exactly.
        compaction_threshold: rebuild the graph once deleted points exceed this fraction of it.
        chunk_size: rows per SQLite transaction in batch writes and per graph insertion step.
        embedder_model: the id of the embedding model that makes this collection's vectors;
            persisted with the collection, and a reopen naming another model fails with
            ``vector.embedder_mismatch`` (None: not recorded; a reopen without it keeps the
            stored one).

    .. versionadded:: 0.1.0
    """

    collection: str
    dimensions: int
    distance: Distance = Distance.COSINE
    hnsw: HnswConfig = field(default_factory=HnswConfig)
    compression: CompressionConfig = field(default_factory=CompressionConfig)
    indexed_fields: tuple[str, ...] = ()
    durability: Durability = "normal"
    background_indexing: bool = True
    exact_scan_fraction: float = 0.12
    exact_scan_min_rows: int = 2_000
    compaction_threshold: float = 0.2
    chunk_size: int = 10_000
    embedder_model: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.collection, str) or not _COLLECTION_RE.match(self.collection):
            raise ConfigError(
                f"collection must match {_COLLECTION_RE.pattern}, got {self.collection!r}",
                key="collection",
                code="config.invalid_value",
            )
        _check_int("dimensions", self.dimensions, 1, MAX_DIMENSIONS)
        try:
            object.__setattr__(self, "distance", Distance(self.distance))
        except ValueError:
            raise ConfigError(
                f"distance must be one of cosine, l2, dot (or {', '.join(sorted(DISTANCE_ALIASES))}), "
                f"got {self.distance!r}",
                key="distance",
                code="config.invalid_value",
            ) from None
        if not isinstance(self.hnsw, HnswConfig):
            raise ConfigError("hnsw must be an HnswConfig", key="hnsw", code="config.invalid_value")
        if not isinstance(self.compression, CompressionConfig):
            raise ConfigError(
                "compression must be a CompressionConfig", key="compression", code="config.invalid_value"
            )
        fields = self.indexed_fields
        if isinstance(fields, str) or not isinstance(fields, Iterable):
            raise ConfigError(
                "indexed_fields must be a list of field names",
                key="indexed_fields",
                code="config.invalid_value",
            )
        fields = tuple(fields)
        if not all(isinstance(f, str) and f for f in fields):
            raise ConfigError(
                "indexed_fields must be non-empty strings", key="indexed_fields", code="config.invalid_value"
            )
        object.__setattr__(self, "indexed_fields", tuple(dict.fromkeys(fields)))
        if self.durability not in ("normal", "full"):
            raise ConfigError(
                f'durability must be "normal" or "full", got {self.durability!r}',
                key="durability",
                code="config.invalid_value",
            )
        if not isinstance(self.background_indexing, bool):
            raise ConfigError("background_indexing must be a bool", key="background_indexing")
        for name in ("exact_scan_fraction", "compaction_threshold"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
                raise ConfigError(
                    f"{name} must be a number in [0, 1], got {value!r}", key=name, code="config.invalid_value"
                )
        _check_int("exact_scan_min_rows", self.exact_scan_min_rows, 0, 1 << 40)
        _check_int("chunk_size", self.chunk_size, 1, 1_000_000)
        if self.embedder_model is not None and (
            not isinstance(self.embedder_model, str) or not 0 < len(self.embedder_model) <= 512
        ):
            raise ConfigError(
                f"embedder_model must be a non-empty string or None, got {self.embedder_model!r}",
                key="embedder_model",
                code="config.invalid_value",
            )

    @staticmethod
    def builder() -> VectorStoreConfigBuilder:
        """Start a fluent builder.

        Example::

            cfg = (VectorStoreConfig.builder().collection("docs").dimensions(384)
                   .hnsw(m=32, ef_construction=400).compression(tier="f16").build())
        """
        return VectorStoreConfigBuilder()

    @classmethod
    def from_config(cls, cfg: ConfigSource, section: str = "vector") -> VectorStoreConfig:
        """Read ``vector.*`` keys from an ``llm_infra.config.Config`` (or anything with ``get``).

        Keys: ``collection`` and ``dimensions`` (required), ``distance``, ``hnsw.m``,
        ``hnsw.ef_construction``, ``hnsw.ef_search``, ``compression.tier``,
        ``compression.enabled`` (False means tier ``none``), ``compression.rescore``,
        ``compression.rescore_factor``, ``compression.memory_budget_mb``, ``indexed_fields``,
        ``durability``, ``background_indexing``, ``exact_scan_fraction``,
        ``exact_scan_min_rows``, ``compaction_threshold``, ``chunk_size``, ``embedder_model``.
        Each is read through a typed ``Key`` (``config_keys``); unset keys take the
        dataclass defaults, so every default is defined once.

        Raises:
            ConfigError: a required key is missing or a value has the wrong type.
        """
        return _from_config(cls, cfg, section)

    def with_options(self, **changes: Any) -> VectorStoreConfig:
        """A copy with some fields replaced (``dataclasses.replace``), validated again."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (what the store persists in its manifest)."""
        return {
            "collection": self.collection,
            "dimensions": self.dimensions,
            "distance": str(self.distance),
            "hnsw": {
                "m": self.hnsw.m,
                "ef_construction": self.hnsw.ef_construction,
                "ef_search": self.hnsw.ef_search,
            },
            "compression": {
                "tier": self.compression.tier,
                "rescore": self.compression.rescore,
                "rescore_factor": self.compression.rescore_factor,
                "memory_budget_mb": self.compression.memory_budget_mb,
            },
            "indexed_fields": list(self.indexed_fields),
            "durability": self.durability,
            "background_indexing": self.background_indexing,
            "exact_scan_fraction": self.exact_scan_fraction,
            "exact_scan_min_rows": self.exact_scan_min_rows,
            "compaction_threshold": self.compaction_threshold,
            "chunk_size": self.chunk_size,
            "embedder_model": self.embedder_model,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VectorStoreConfig:
        """Inverse of ``to_dict``; unknown keys are ignored (forward compatibility)."""
        try:
            kwargs = {k: v for k, v in data.items() if k in _TOP_KEYS}
            kwargs["hnsw"] = HnswConfig(**dict(data.get("hnsw") or {}))
            kwargs["compression"] = CompressionConfig(**dict(data.get("compression") or {}))
            kwargs["indexed_fields"] = tuple(data.get("indexed_fields") or ())
            return cls(**kwargs)
        except TypeError as exc:
            raise ConfigError(f"invalid stored vector config: {exc}", code="config.invalid_value") from exc


_TOP_KEYS: Final = frozenset(
    {
        "collection",
        "dimensions",
        "distance",
        "durability",
        "background_indexing",
        "exact_scan_fraction",
        "exact_scan_min_rows",
        "compaction_threshold",
        "chunk_size",
        "embedder_model",
    }
)


class ConfigSource(Protocol):
    """What ``VectorStoreConfig.from_config`` needs: ``llm_infra.config.Config`` satisfies it."""

    def get(self, key: Any, default: Any = ..., /) -> Any:
        """Value of a dotted key, or ``default`` when it is absent."""
        ...


_ABSENT: Final = object()


def _fields_cast(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    if isinstance(value, list | tuple):
        return tuple(str(v) for v in value)
    raise ValueError("expected a list of field names")


def _lower(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {type(value).__name__}")
    return value.strip().lower()


# The settings ``from_config`` reads: (name under the section, cast). Ranges and defaults live
# in the dataclasses above (defined once); the casts only convert.
_KEY_SPECS: Final[tuple[tuple[str, Any], ...]] = (
    ("collection", str),
    ("dimensions", int),
    ("distance", one_of(*DISTANCE_NAMES, aliases=DISTANCE_ALIASES)),
    ("hnsw.m", int),
    ("hnsw.ef_construction", int),
    ("hnsw.ef_search", int),
    ("compression.tier", _lower),
    ("compression.enabled", bool),
    ("compression.rescore", bool),
    ("compression.rescore_factor", int),
    ("compression.memory_budget_mb", float),
    ("indexed_fields", _fields_cast),
    ("durability", _lower),
    ("background_indexing", bool),
    ("exact_scan_fraction", float),
    ("exact_scan_min_rows", int),
    ("compaction_threshold", float),
    ("chunk_size", int),
    ("embedder_model", str),
)


def config_keys(section: str = "vector") -> dict[str, Key[Any]]:
    """The typed ``Key`` of every vector setting under ``section`` (name -> key)."""
    return {name: Key(f"{section}.{name}", cast=cast) for name, cast in _KEY_SPECS}


def _from_config(cls: type[VectorStoreConfig], cfg: ConfigSource, section: str) -> VectorStoreConfig:
    keys = config_keys(section)

    def get(name: str) -> Any:
        key = keys[name]
        try:
            raw = cfg.get(key.name, _ABSENT)
        except ConfigError as exc:
            if exc.code in ("config.missing_key", "config.not_found"):
                return _ABSENT
            raise
        if raw is _ABSENT or raw is None:
            return _ABSENT
        try:
            return key.convert(raw)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{key.name}: {exc}", key=key.name, code="config.invalid_value") from None

    def required(name: str) -> Any:
        value = get(name)
        if value is _ABSENT or value == "":
            raise ConfigError(
                f"configuration key {section}.{name} is required for the vector store",
                key=f"{section}.{name}",
                code="config.missing_key",
                remediation=[
                    f"set {section}.{name} in a config file or LLM_{section.upper()}__{name.upper()}"
                ],
            )
        return value

    def pick(names: tuple[str, ...], prefix: str = "") -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in names:
            value = get(prefix + name)
            if value is not _ABSENT:
                out[name] = value
        return out

    kwargs: dict[str, Any] = {"collection": required("collection"), "dimensions": required("dimensions")}
    kwargs["hnsw"] = HnswConfig(**pick(("m", "ef_construction", "ef_search"), "hnsw."))
    comp = pick(("tier", "rescore", "rescore_factor", "memory_budget_mb"), "compression.")
    if "tier" not in comp and get("compression.enabled") is False:
        comp["tier"] = "none"
    kwargs["compression"] = CompressionConfig(**comp)
    kwargs.update(
        pick(
            (
                "distance",
                "indexed_fields",
                "durability",
                "background_indexing",
                "exact_scan_fraction",
                "exact_scan_min_rows",
                "compaction_threshold",
                "chunk_size",
                "embedder_model",
            )
        )
    )
    return cls(**kwargs)


class _HnswKeywords(TypedDict, total=False):
    m: int | None
    ef_construction: int | None
    ef_search: int | None


class _CompressionKeywords(TypedDict, total=False):
    tier: Tier | None
    rescore: bool | None
    rescore_factor: int | None
    memory_budget_mb: float | None


class VectorStoreConfigBuilder:
    """Fluent builder for ``VectorStoreConfig``; ``build()`` validates.

    .. versionadded:: 0.1.0
    """

    __slots__ = ("_values",)

    def __init__(self) -> None:
        self._values: dict[str, Any] = {}

    def collection(self, name: str) -> VectorStoreConfigBuilder:
        """Required: the collection name."""
        self._values["collection"] = name
        return self

    def dimensions(self, dims: int) -> VectorStoreConfigBuilder:
        """Required: the vector length."""
        self._values["dimensions"] = dims
        return self

    def distance(self, distance: Distance | str) -> VectorStoreConfigBuilder:
        """Optional: the distance (default cosine)."""
        self._values["distance"] = distance
        return self

    def hnsw(
        self, config: HnswConfig | None = None, /, **keywords: Unpack[_HnswKeywords]
    ) -> VectorStoreConfigBuilder:
        """Optional: graph parameters, as an ``HnswConfig`` or as keywords."""
        self._values["hnsw"] = HnswConfig(**self._merged("hnsw", HnswConfig, config, keywords))
        return self

    def compression(
        self, config: CompressionConfig | None = None, /, **keywords: Unpack[_CompressionKeywords]
    ) -> VectorStoreConfigBuilder:
        """Optional: compression, as a ``CompressionConfig`` or as keywords (validated by ``build``)."""
        self._values["compression"] = self._merged("compression", CompressionConfig, config, keywords)
        return self

    def _merged(self, key: str, kind: type[Any], config: Any, keywords: Mapping[str, Any]) -> dict[str, Any]:
        """The fields of ``config`` (or else of the earlier call) with the keywords given (not None)."""
        unknown = keywords.keys() - {f.name for f in fields(kind)}
        if unknown:
            raise TypeError(f"{key}() got an unexpected keyword argument {min(unknown)!r}")
        base: Any = self._values.get(key, {}) if config is None else config
        merged: dict[str, Any] = base if isinstance(base, dict) else asdict(base)
        return merged | {name: value for name, value in keywords.items() if value is not None}

    def indexed_fields(self, *names: str) -> VectorStoreConfigBuilder:
        """Optional: metadata fields to index from the first write."""
        self._values["indexed_fields"] = names
        return self

    def durability(self, level: Durability) -> VectorStoreConfigBuilder:
        """Optional: ``"normal"`` or ``"full"``."""
        self._values["durability"] = level
        return self

    def background_indexing(self, enabled: bool) -> VectorStoreConfigBuilder:
        """Optional: absorb new vectors into the graph in a background thread."""
        self._values["background_indexing"] = enabled
        return self

    def validate(self) -> None:
        """Raise ``ConfigError`` when ``build()`` would fail."""
        self.build()

    def build(self) -> VectorStoreConfig:
        """Validate and return the ``VectorStoreConfig``.

        Raises:
            ConfigError: a required field is missing or a value is invalid.
        """
        values = dict(self._values)
        for name in ("collection", "dimensions"):
            if name not in values:
                raise ConfigError(f"{name} is required", key=name, code="config.missing_key")
        comp = values.pop("compression", None)
        if comp is not None:
            values["compression"] = CompressionConfig(**comp)
        return VectorStoreConfig(**values)
