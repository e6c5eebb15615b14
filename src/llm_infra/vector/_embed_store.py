"""``TextVectorStore``: a store opened with an embedder (``add_texts`` / ``search_text``).

Embeddings are cached by content hash (model id + text) in an ``llm_infra.cache`` backend, so a
repeated text is embedded once. The embedder's model id and dimensions must match the
collection (``vector.embedder_mismatch`` / ``vector.dimension_mismatch`` otherwise); when the
config has an ``embedder_model`` field it is the one compared.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, final

import numpy as np

from llm_infra._internal._attrs import Closing
from llm_infra.cache import TtlCache
from llm_infra.errors import ValidationError, VectorError
from llm_infra.vector import _backend_codes as codes
from llm_infra.vector._config import VectorStoreConfig
from llm_infra.vector._embed import Embedder, check_texts, dimension_changed

if TYPE_CHECKING:
    from llm_infra.errors import BatchResult
    from llm_infra.vector._filters import MetadataFilter
    from llm_infra.vector._types import SearchResult


def content_key(model_id: str, text: str) -> str:
    """The cache key of a text's embedding: a hash of the model id and the text."""
    return hashlib.blake2b(f"{model_id}\x00{text}".encode(), digest_size=20).hexdigest()


@final
class TextVectorStore(Closing):
    """Text in, vectors behind: wraps any ``VectorStore`` with an ``Embedder``.

    Every other attribute (``search``, ``get``, ``delete``, ``stats``, ...) is the wrapped store's.

    Args:
        store: the vector store (its dimensions must equal the embedder's).
        embedder: the ``Embedder``.
        cache: a cache backend for embeddings (``get``/``set``); a ``TtlCache`` of 10 000
            entries by default, ``False`` for none.

    Raises:
        VectorError: ``vector.dimension_mismatch`` when store and embedder disagree on the
            length; ``vector.embedder_mismatch`` when the collection records another model.

    .. versionadded:: 0.2.0
    """

    def __init__(self, store: Any, embedder: Embedder, cache: Any = None) -> None:
        self.store = store
        self.embedder = embedder
        self._cache: Any = (
            TtlCache(10_000, None, name="vector.embeddings") if cache is None else cache or None
        )
        cfg = getattr(store, "config", None)
        dims = getattr(cfg, "dimensions", None)
        if dims is not None and dims != embedder.dimensions:
            raise VectorError(
                f"Dimension mismatch: expected {dims}, got {embedder.dimensions}",
                operation="open",
                expected=dims,
                actual=embedder.dimensions,
                code="vector.dimension_mismatch",
                remediation=["embed with a model of the collection's dimensions, or create a new collection"],
            )
        recorded = getattr(cfg, "embedder_model", None)
        if recorded and recorded != embedder.model_id:
            raise VectorError(
                f"the collection was built with the embedding model {recorded!r}, not {embedder.model_id!r}",
                operation="open",
                code=codes.EMBEDDER_MISMATCH,
                remediation=["use the collection's model, or migrate to a new collection"],
            )
        self.embedded = 0
        self.cache_hits = 0

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embeddings of ``texts`` through the cache (misses are embedded in one call)."""
        items = check_texts(texts)
        model = self.embedder.model_id
        dims = self.embedder.dimensions
        out = np.zeros((len(items), dims), dtype=np.float32)
        missing: dict[str, list[int]] = {}
        keys = [content_key(model, t) for t in items]
        for i, key in enumerate(keys):
            if key in missing:
                missing[key].append(i)
                continue
            hit = self._cache.get(key) if self._cache is not None else None
            if hit is None:
                missing[key] = [i]
            else:
                out[i] = hit
                self.cache_hits += 1
        if missing:
            firsts = [positions[0] for positions in missing.values()]
            fresh = np.asarray(self.embedder.embed([items[i] for i in firsts]), dtype=np.float32)
            if fresh.ndim != 2 or fresh.shape[0] != len(firsts):
                raise VectorError(
                    "the embedder returned a wrong number of vectors",
                    operation="embed",
                    code=codes.EMBEDDER_ERROR,
                )
            if fresh.shape[1] != dims:
                raise dimension_changed(model, dims, int(fresh.shape[1]))
            self.embedded += len(firsts)
            for row, (key, positions) in enumerate(missing.items()):
                out[positions] = fresh[row]
                if self._cache is not None:
                    self._cache.set(key, fresh[row].copy())
        return out

    def add_texts(
        self,
        texts: Sequence[str],
        ids: Sequence[str] | None = None,
        metadatas: Sequence[Mapping[str, Any] | None] | None = None,
        *,
        upsert: bool = True,
    ) -> BatchResult:
        """Embed and store ``texts`` (ids default to the content hash of each text)."""
        items = check_texts(texts)
        if ids is None:
            ids = [content_key(self.embedder.model_id, t)[:32] for t in items]
        elif len(ids) != len(items):
            raise ValidationError(
                f"ids has {len(ids)} entries for {len(items)} texts", field="ids", code="vector.invalid_batch"
            )
        vectors = self.embed(items)
        write = self.store.upsert_batch if upsert else self.store.insert_batch
        result: BatchResult = write(ids=list(ids), vectors=vectors, metadatas=metadatas)
        return result

    def search_text(
        self,
        text: str,
        k: int = 10,
        filter: MetadataFilter | Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> list[SearchResult]:
        """The ``k`` stored texts closest to ``text``."""
        if not isinstance(text, str):
            raise ValidationError("text must be a string", field="text", code=codes.INVALID_TEXT)
        result: list[SearchResult] = self.store.search(self.embed([text])[0], k, filter, **kwargs)
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def __repr__(self) -> str:
        return f"TextVectorStore({self.store!r}, model={self.embedder.model_id!r})"


def open_text_store(
    location: str | os.PathLike[str],
    config: VectorStoreConfig | None,
    embedder: Embedder,
    *,
    cache: Any = None,
    **options: Any,
) -> TextVectorStore:
    """Open (or create) a store at ``location`` for ``embedder`` and wrap it in a ``TextVectorStore``.

    ``location`` is what ``open_store`` takes (a directory, ``":memory:"``) or a backend URL. The
    embedder's model id is recorded in the config (``embedder_model``), so reopening the
    collection with another model fails with ``vector.embedder_mismatch``.
    """
    if config is not None and "embedder_model" in getattr(type(config), "__dataclass_fields__", {}):
        config = config.with_options(embedder_model=embedder.model_id)
    from llm_infra.vector._backends import open_backend

    store = open_backend(str(location), config, **options) if "://" in str(location) else None
    if store is None:
        from llm_infra.vector._store import open_store

        store = open_store(location, config)
    return TextVectorStore(store, embedder, cache)
