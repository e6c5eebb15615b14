"""The pgvector backend without I/O: SQL builders and operations as generators.

An operation is a generator that yields statements (``Stmt`` or ``Copy``) and receives their
results; the sync and async drivers in ``_pgvector`` run the same generators, so both stores
share one implementation. Values always travel as parameters; identifiers are validated and
quoted with ``psycopg.sql.Identifier``; DDL constants (``m``, ``ef_construction``, field names
in expression indexes) are quoted with ``sql.Literal``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal, TypeAlias

import numpy as np
from psycopg import sql
from psycopg.types.json import Jsonb

from llm_infra.errors import ConfigError, InfraError, VectorError
from llm_infra.vector import _backend_codes as codes
from llm_infra.vector._backends import check_same, score_of
from llm_infra.vector._config import Distance, VectorStoreConfig
from llm_infra.vector._filters import And, Eq, Exists, In, MetadataFilter, Ne, Not, NotIn, Or, Range
from llm_infra.vector._types import SearchResult, VectorRecord, VerifyReport
from llm_infra.vector._validate import exists_error, not_found

REGISTRY: Final = "llm_infra_vector_collections"
MAX_COLLECTION: Final = 48
MAX_HNSW_DIMS: Final = {"vector": 2000, "halfvec": 4000}
MAX_PG_EF: Final = 1000
_OPS: Final = {Distance.COSINE: ("<=>", "cosine"), Distance.L2: ("<->", "l2"), Distance.DOT: ("<#>", "ip")}


@dataclass(frozen=True, slots=True)
class Stmt:
    """One statement and what to fetch (``none``, ``one``, ``all``)."""

    query: sql.Composable
    params: Sequence[Any] | None = None
    fetch: Literal["none", "one", "all"] = "none"
    on_error: Callable[[Exception], InfraError] | None = None
    """The error a driver raises when this statement fails (None: the operation's driver error)."""


@dataclass(frozen=True, slots=True)
class Copy:
    """A binary ``COPY ... FROM STDIN`` of ``rows`` typed ``types``."""

    query: sql.Composable
    types: tuple[str, ...]
    rows: list[tuple[Any, ...]] = field(default_factory=list)


Step: TypeAlias = Stmt | Copy
Op: TypeAlias = Generator[Step, Any, Any]


def registry_lookup(column: str, collection: str) -> Op:
    """Create the collection registry when it is missing, then read ``column`` of ``collection``."""
    yield Stmt(
        sql.SQL("CREATE TABLE IF NOT EXISTS {} (name text PRIMARY KEY, config jsonb NOT NULL)").format(
            sql.Identifier(REGISTRY)
        )
    )
    query = sql.SQL("SELECT {} FROM {} WHERE name = %s").format(sql.SQL(column), sql.Identifier(REGISTRY))
    row = yield Stmt(query, [collection], "one")
    return row


def missing_collection(name: str) -> VectorError:
    """``vector.collection_missing``: opening a collection that does not exist without a config."""
    return VectorError(
        f"no postgres collection {name!r}; pass a VectorStoreConfig to create it",
        operation="open",
        code=codes.COLLECTION_MISSING,
    )


def extension_error(exc: Exception | None) -> VectorError:
    """``vector.pg_extension_missing`` (caused by ``exc``, the failed ``CREATE EXTENSION``, if any)."""
    err = VectorError(
        "the pgvector extension is not installed in this database",
        operation="open",
        code=codes.PG_EXTENSION_MISSING,
        remediation=[
            "run CREATE EXTENSION vector; as a superuser in this database",
            "or install pgvector on the server (https://github.com/pgvector/pgvector#installation)",
        ],
    )
    err.__cause__ = exc
    return err


def check_extension(create: bool) -> Op:
    """Check (or with ``create``, install) the pgvector extension; returns whether its HNSW scans
    are iterative (pgvector 0.8+). Runs on an autocommit connection, before any pool."""
    check = Stmt(sql.SQL("SELECT extversion FROM pg_extension WHERE extname = 'vector'"), fetch="one")
    row = yield check
    if row is None and create:
        yield Stmt(sql.SQL("CREATE EXTENSION IF NOT EXISTS vector"), on_error=extension_error)
        row = yield check
    if row is None:
        raise extension_error(None)
    version = [int(p) for p in str(row[0]).split(".")[:2] if p.isdigit()]
    return tuple(version) >= (0, 8)


def to_numpy(value: Any) -> np.ndarray:
    """A float32 array from what the pgvector loaders return."""
    if hasattr(value, "to_numpy"):
        return np.asarray(value.to_numpy(), dtype=np.float32)
    return np.asarray(value, dtype=np.float32)


# ------------------------------------------------------------------ filters


def _json_path(f: str) -> sql.Composable:
    """The JSON value of a field path (a top-level key first, else a dotted path)."""
    if "." not in f:
        return sql.SQL("(metadata -> {})").format(sql.Literal(f))
    return sql.SQL("(CASE WHEN metadata ? {k} THEN metadata -> {k} ELSE metadata #> {p} END)").format(
        k=sql.Literal(f), p=sql.Literal(f.split("."))
    )


def _contains(f: str, value: object, params: list[Any]) -> sql.Composable:
    """``f == value`` or ``value`` in the list ``f`` through JSONB containment (GIN-indexable)."""
    if "." not in f:
        params.extend([Jsonb({f: value}), Jsonb({f: [value]})])
        return sql.SQL("(metadata @> %s OR metadata @> %s)")
    nested: Any = value
    nested_list: Any = [value]
    for part in reversed(f.split(".")):
        nested, nested_list = {part: nested}, {part: nested_list}
    params.extend([f, Jsonb({f: value}), Jsonb({f: [value]}), Jsonb(nested), Jsonb(nested_list)])
    return sql.SQL(
        "(CASE WHEN metadata ? %s THEN (metadata @> %s OR metadata @> %s)"
        " ELSE (metadata @> %s OR metadata @> %s) END)"
    )


def compile_filter(flt: MetadataFilter, params: list[Any]) -> sql.Composable:
    """The SQL boolean of ``flt`` (never NULL, so ``NOT`` is exact); values go to ``params``.

    Rows without metadata have ``metadata IS NULL``: every leaf is guarded so they match only
    negations, as in ``MetadataFilter.matches``.
    """
    if isinstance(flt, And):
        if not flt.filters:
            return sql.SQL("TRUE")
        return sql.SQL("({})").format(sql.SQL(" AND ").join(compile_filter(c, params) for c in flt.filters))
    if isinstance(flt, Or):
        if not flt.filters:
            return sql.SQL("FALSE")
        return sql.SQL("({})").format(sql.SQL(" OR ").join(compile_filter(c, params) for c in flt.filters))
    if isinstance(flt, Not):
        return sql.SQL("(NOT {})").format(compile_filter(flt.filter, params))
    if isinstance(flt, Ne):
        return sql.SQL("(NOT {})").format(compile_filter(Eq(flt.field, flt.value), params))
    if isinstance(flt, NotIn):
        return sql.SQL("(NOT {})").format(compile_filter(In(flt.field, flt.values), params))
    guard = sql.SQL("metadata IS NOT NULL AND ")
    if isinstance(flt, Eq):
        return sql.SQL("({}{})").format(guard, _contains(flt.field, flt.value, params))
    if isinstance(flt, In):
        if not flt.values:
            return sql.SQL("FALSE")
        return sql.SQL("({}({}))").format(
            guard, sql.SQL(" OR ").join(_contains(flt.field, v, params) for v in flt.values)
        )
    if isinstance(flt, Exists):
        return sql.SQL("({}{} IS NOT NULL)").format(guard, _json_path(flt.field))
    if isinstance(flt, Range):
        lo, lo_inc, hi, hi_inc = flt.bounds()
        conds: list[sql.Composable] = [sql.SQL("TRUE")]
        if lo != float("-inf"):
            conds.append(sql.SQL("(e)::float8 >= %s" if lo_inc else "(e)::float8 > %s"))
            params.append(lo)
        if hi != float("inf"):
            conds.append(sql.SQL("(e)::float8 <= %s" if hi_inc else "(e)::float8 < %s"))
            params.append(hi)
        v = _json_path(flt.field)
        return sql.SQL(
            "({guard}EXISTS (SELECT 1 FROM jsonb_array_elements("
            "CASE WHEN jsonb_typeof({v}) = 'array' THEN {v} ELSE jsonb_build_array({v}) END) AS x(e)"
            " WHERE CASE WHEN jsonb_typeof(e) = 'number' THEN {conds} ELSE FALSE END))"
        ).format(guard=guard, v=v, conds=sql.SQL(" AND ").join(conds))
    raise AssertionError(f"unknown filter {flt!r}")  # pragma: no cover


# ------------------------------------------------------------------ the collection


def _short(text: str) -> str:
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:8]


@dataclass(slots=True)
class PgCollection:
    """SQL of one collection (table ``lvs_<collection>``) and its operations."""

    config: VectorStoreConfig
    iterative: bool = True

    def __post_init__(self) -> None:
        if len(self.config.collection) > MAX_COLLECTION:
            raise ConfigError(
                f"collection names are limited to {MAX_COLLECTION} characters on Postgres, "
                f"got {len(self.config.collection)}",
                key="collection",
                code=codes.PG_COLLECTION_NAME,
            )

    @property
    def table_name(self) -> str:
        return f"lvs_{self.config.collection}"

    @property
    def table(self) -> sql.Identifier:
        return sql.Identifier(self.table_name)

    @property
    def vtype(self) -> str:
        return "halfvec" if self.config.compression.tier == "f16" else "vector"

    @property
    def op(self) -> sql.SQL:
        return sql.SQL(_OPS[self.config.distance][0])

    def qparam(self) -> sql.Composable:
        return sql.SQL("%s::halfvec" if self.vtype == "halfvec" else "%s")

    def _dist(self) -> sql.Composable:
        return sql.SQL("embedding {} {}").format(self.op, self.qparam())

    # ------------------------------------------------------------------ schema

    def create_steps(self) -> list[Stmt]:
        cfg = self.config
        limit = MAX_HNSW_DIMS[self.vtype]
        if cfg.dimensions > limit:
            raise VectorError(
                f"pgvector indexes at most {limit} dimensions as {self.vtype}, got {cfg.dimensions}",
                operation="open",
                dimensions=cfg.dimensions,
                code=codes.PG_DIMENSIONS_UNSUPPORTED,
                remediation=[
                    'use compression tier "f16" (halfvec, up to 4000 dimensions)',
                    "or reduce the dimensions of the embeddings",
                ],
            )
        t = self.table_name
        ops = f"{self.vtype}_{_OPS[cfg.distance][1]}_ops"
        steps = [
            Stmt(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {t} (id text PRIMARY KEY, embedding {vt}({d}) NOT NULL,"
                    " metadata jsonb)"
                ).format(t=self.table, vt=sql.SQL(self.vtype), d=sql.Literal(cfg.dimensions))
            ),
            Stmt(
                sql.SQL(
                    "CREATE INDEX IF NOT EXISTS {i} ON {t} USING hnsw (embedding {ops})"
                    " WITH (m = {m}, ef_construction = {efc})"
                ).format(
                    i=sql.Identifier(f"{t}_hnsw"),
                    t=self.table,
                    ops=sql.SQL(ops),
                    m=sql.Literal(cfg.hnsw.m),
                    efc=sql.Literal(cfg.hnsw.ef_construction),
                )
            ),
            Stmt(
                sql.SQL("CREATE INDEX IF NOT EXISTS {i} ON {t} USING gin (metadata jsonb_path_ops)").format(
                    i=sql.Identifier(f"{t}_gin"), t=self.table
                )
            ),
        ]
        for name in cfg.indexed_fields:
            steps.append(
                Stmt(
                    sql.SQL("CREATE INDEX IF NOT EXISTS {i} ON {t} (({e}))").format(
                        i=sql.Identifier(f"{t}_f{_short(name)}"), t=self.table, e=_json_path(name)
                    )
                )
            )
        return steps

    def open(self, given: VectorStoreConfig | None) -> Op:
        """Register or check the collection (it must exist without ``given``); returns the config in force."""
        row = yield from registry_lookup("config", self.config.collection)
        cfg = self.config
        if row is None and given is None:
            raise missing_collection(cfg.collection)
        if row is not None:
            stored = VectorStoreConfig.from_dict(row[0])
            if given is not None:
                check_same(stored, given, f"postgres collection {cfg.collection}")
                cfg = given
            else:
                cfg = stored
            self.config = cfg
        yield from self.create_steps()
        yield Stmt(
            sql.SQL(
                "INSERT INTO {} (name, config) VALUES (%s, %s)"
                " ON CONFLICT (name) DO UPDATE SET config = EXCLUDED.config"
            ).format(sql.Identifier(REGISTRY)),
            [cfg.collection, Jsonb(cfg.to_dict())],
        )
        return cfg

    def drop(self) -> Op:
        yield Stmt(sql.SQL("DROP TABLE IF EXISTS {}").format(self.table))
        yield Stmt(
            sql.SQL("DELETE FROM {} WHERE name = %s").format(sql.Identifier(REGISTRY)),
            [self.config.collection],
        )

    # ------------------------------------------------------------------ writes

    def write_one(self, ident: str, vec: np.ndarray, meta: dict[str, Any] | None, *, upsert: bool) -> Op:
        conflict = (
            "DO UPDATE SET embedding = EXCLUDED.embedding, metadata = EXCLUDED.metadata"
            if upsert
            else "DO NOTHING"
        )
        row = yield Stmt(
            sql.SQL(
                "INSERT INTO {t} (id, embedding, metadata) VALUES (%s, {q}, %s)"
                " ON CONFLICT (id) {c} RETURNING id"
            ).format(t=self.table, q=self.qparam(), c=sql.SQL(conflict)),
            [ident, vec, None if meta is None else Jsonb(meta)],
            "one",
        )
        if row is None:
            raise exists_error(ident)

    def write_many(
        self, names: list[str], matrix: np.ndarray, metas: list[dict[str, Any] | None], *, upsert: bool
    ) -> Op:
        """Stage rows with a binary COPY, then one INSERT ... ON CONFLICT; returns the ids written."""
        stage = sql.Identifier("lvs_stage")
        yield Stmt(
            sql.SQL(
                "CREATE TEMP TABLE IF NOT EXISTS {} (id text, embedding vector, metadata jsonb)"
                " ON COMMIT DELETE ROWS"
            ).format(stage)
        )
        rows = [
            (name, matrix[i], None if metas[i] is None else Jsonb(metas[i])) for i, name in enumerate(names)
        ]
        yield Copy(
            sql.SQL("COPY {} (id, embedding, metadata) FROM STDIN (FORMAT BINARY)").format(stage),
            ("text", "vector", "jsonb"),
            rows,
        )
        conflict = (
            "DO UPDATE SET embedding = EXCLUDED.embedding, metadata = EXCLUDED.metadata"
            if upsert
            else "DO NOTHING"
        )
        cast = sql.SQL("::halfvec" if self.vtype == "halfvec" else "")
        written = yield Stmt(
            sql.SQL(
                "INSERT INTO {t} (id, embedding, metadata) SELECT id, embedding{c}, metadata FROM {s}"
                " ON CONFLICT (id) {conflict} RETURNING id"
            ).format(t=self.table, c=cast, s=stage, conflict=sql.SQL(conflict)),
            None,
            "all",
        )
        yield Stmt(sql.SQL("TRUNCATE {}").format(stage))
        return {r[0] for r in written}

    def delete(self, ident: str) -> Op:
        row = yield Stmt(
            sql.SQL("DELETE FROM {} WHERE id = %s RETURNING id").format(self.table), [ident], "one"
        )
        return row is not None

    def update_metadata(self, ident: str, meta: dict[str, Any] | None) -> Op:
        row = yield Stmt(
            sql.SQL("UPDATE {} SET metadata = %s WHERE id = %s RETURNING id").format(self.table),
            [None if meta is None else Jsonb(meta), ident],
            "one",
        )
        if row is None:
            raise not_found(ident)

    # ------------------------------------------------------------------ reads

    def get(self, ident: str, with_vector: bool) -> Op:
        cols = sql.SQL("metadata, embedding" if with_vector else "metadata")
        row = yield Stmt(sql.SQL("SELECT {} FROM {} WHERE id = %s").format(cols, self.table), [ident], "one")
        if row is None:
            return None
        return VectorRecord(id=ident, vector=to_numpy(row[1]) if with_vector else None, metadata=row[0])

    def count(self) -> Op:
        row = yield Stmt(sql.SQL("SELECT count(*) FROM {}").format(self.table), None, "one")
        return int(row[0])

    def _plan(self, flt: MetadataFilter | None, params: list[Any]) -> Op:
        """``(where, exact)``: exact scans for selective filters, as the embedded planner does."""
        if flt is None:
            return sql.SQL(""), False
        where = compile_filter(flt, params)
        total_row = yield Stmt(
            sql.SQL("SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(quote_ident(%s))"),
            [self.table_name],
            "one",
        )
        total = int(total_row[0]) if total_row else -1
        if total < 0:  # never analyzed: count
            total = yield from self.count()
        limit = int(max(self.config.exact_scan_min_rows, self.config.exact_scan_fraction * total))
        # A literal LIMIT lets the planner count through the metadata indexes.
        row = yield Stmt(
            sql.SQL("SELECT count(*) FROM (SELECT 1 FROM {} WHERE {} LIMIT %s) s").format(self.table, where),
            [*params, limit + 1],
            "one",
        )
        return sql.SQL(" WHERE {}").format(where), int(row[0]) <= limit

    def _settings(self, ef: int, k: int, exact: bool) -> Stmt:
        names = ["hnsw.ef_search"]
        values = [str(min(max(ef, k), MAX_PG_EF))]
        if exact:
            names.append("enable_indexscan")
            values.append("off")
        elif self.iterative:
            names.append("hnsw.iterative_scan")
            values.append("relaxed_order")
        sets = sql.SQL(", ").join(sql.SQL("set_config(%s, %s, true)") for _ in names)
        params: list[Any] = []
        for n, v in zip(names, values, strict=True):
            params.extend([n, v])
        return Stmt(sql.SQL("SELECT {}").format(sets), params, "one")

    def _columns(self, with_metadata: bool, with_vectors: bool) -> sql.Composable:
        cols = (
            "id, d" + (", metadata" if with_metadata else ", NULL") + (", embedding" if with_vectors else "")
        )
        return sql.SQL(cols)

    def _hits(
        self, rows: list[tuple[Any, ...]], min_score: float | None, with_vectors: bool
    ) -> list[SearchResult]:
        dist = self.config.distance
        out = [
            SearchResult(r[0], score_of(dist, float(r[1])), r[2], to_numpy(r[3]) if with_vectors else None)
            for r in rows
        ]
        out.sort(key=lambda h: -h.score)  # iterative scans return results in relaxed order
        if min_score is not None:
            out = [h for h in out if h.score >= min_score]
        return out

    def search(  # noqa: PLR0917 - mirrors the store's search
        self,
        q: np.ndarray,
        k: int,
        flt: MetadataFilter | None,
        ef: int,
        min_score: float | None,
        with_vectors: bool,
        with_metadata: bool,
    ) -> Op:
        params: list[Any] = []
        where, exact = yield from self._plan(flt, params)
        yield self._settings(ef, k, exact)
        rows = yield Stmt(
            sql.SQL(
                "SELECT {cols} FROM (SELECT id, {dist} AS d, metadata, embedding FROM {t}{w}"
                " ORDER BY {dist} LIMIT %s) s"
            ).format(
                cols=self._columns(with_metadata, with_vectors), dist=self._dist(), t=self.table, w=where
            ),
            [q, *params, q, k],
            "all",
        )
        return self._hits(rows, min_score, with_vectors)

    def search_batch(  # noqa: PLR0917 - mirrors the store's search_batch
        self,
        queries: np.ndarray,
        k: int,
        flt: MetadataFilter | None,
        ef: int,
        min_score: float | None,
        with_vectors: bool,
    ) -> Op:
        """Every query in one statement: a LATERAL top-k per row of ``unnest(queries)``."""
        if len(queries) == 0:
            return []
        params: list[Any] = []
        where, exact = yield from self._plan(flt, params)
        yield self._settings(ef, k, exact)
        op = self.op
        qv = sql.SQL("q.v::halfvec" if self.vtype == "halfvec" else "q.v")
        cols = "r.id, r.d, r.metadata" + (", r.embedding" if with_vectors else "")
        rows = yield Stmt(
            sql.SQL(
                "SELECT q.i, {cols} FROM unnest(%s::vector[]) WITH ORDINALITY AS q(v, i)"
                " CROSS JOIN LATERAL (SELECT id, embedding {op} {qv} AS d, metadata, embedding FROM {t}{w}"
                " ORDER BY embedding {op} {qv} LIMIT %s) r"
            ).format(cols=sql.SQL(cols), op=op, qv=qv, t=self.table, w=where),
            [list(queries), *params, k],
            "all",
        )
        grouped: list[list[tuple[Any, ...]]] = [[] for _ in range(len(queries))]
        for r in rows:
            grouped[int(r[0]) - 1].append(tuple(r[1:]))
        return [self._hits(g, min_score, with_vectors) for g in grouped]

    def scan(self, after: str | None, limit: int) -> Op:
        """Up to ``limit`` records with vectors, in id order after ``after``."""
        if after is None:
            rows = yield Stmt(
                sql.SQL("SELECT id, embedding, metadata FROM {} ORDER BY id LIMIT %s").format(self.table),
                [limit],
                "all",
            )
        else:
            rows = yield Stmt(
                sql.SQL("SELECT id, embedding, metadata FROM {} WHERE id > %s ORDER BY id LIMIT %s").format(
                    self.table
                ),
                [after, limit],
                "all",
            )
        return [VectorRecord(id=r[0], vector=to_numpy(r[1]), metadata=r[2]) for r in rows]

    # ------------------------------------------------------------------ maintenance

    def sizes(self) -> Op:
        row = yield Stmt(
            sql.SQL(
                "SELECT (SELECT count(*) FROM {t}), pg_total_relation_size(to_regclass(quote_ident(%s)))"
            ).format(t=self.table),
            [self.table_name],
            "one",
        )
        return int(row[0]), int(row[1])

    def verify(self) -> Op:
        problems: list[str] = []
        row = yield Stmt(
            sql.SQL("SELECT count(*), count(*) FILTER (WHERE vector_dims(embedding) <> %s) FROM {}").format(
                self.table
            ),
            [self.config.dimensions],
            "one",
        )
        count, bad = int(row[0]), int(row[1])
        if bad:
            problems.append(f"{bad} vectors have another length than {self.config.dimensions}")
        idx = yield Stmt(
            sql.SQL(
                "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
                " WHERE c.relname = %s"
            ),
            [f"{self.table_name}_hnsw"],
            "one",
        )
        if idx is None or not idx[0]:
            problems.append("the HNSW index is missing or invalid: run rebuild()")
        return VerifyReport(
            ok=not problems,
            count=count,
            problems=tuple(problems),
            checked=("vector lengths", "hnsw index"),
        )

    def drop_index(self) -> Op:
        """Drop the HNSW index (a bulk load then builds it once, much faster than row by row)."""
        yield Stmt(sql.SQL("DROP INDEX IF EXISTS {}").format(sql.Identifier(f"{self.table_name}_hnsw")))

    def rebuild(self) -> Op:
        """Build the HNSW index afresh (also when it is missing after an interrupted bulk load)."""
        yield Stmt(sql.SQL("SELECT set_config('maintenance_work_mem', '256MB', true)"), None, "one")
        yield from self.drop_index()
        yield self.create_steps()[1]
        yield Stmt(sql.SQL("ANALYZE {}").format(self.table))  # fresh statistics for the filter planner
