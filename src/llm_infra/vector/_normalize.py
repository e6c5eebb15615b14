"""Unit-norm normalization; zero vectors stay zero."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]


def normalize(vector: Any) -> FloatArray:
    """Scale a vector (or each row of a 2-D array) to unit Euclidean length.

    Zero vectors stay zero (the rule: the result has norm 1 *or* the input was all
    zeros). The result is a new float32 array; the input is not modified.

    Args:
        vector: a 1-D or 2-D array-like of numbers.

    Returns:
        float32 array of the same shape.

    .. versionadded:: 0.1.0
    """
    arr = np.array(vector, dtype=np.float32)
    if arr.ndim == 1:
        # Divide in float64: for subnormal inputs the norm itself is not representable in float32.
        wide = arr.astype(np.float64)
        norm = float(np.linalg.norm(wide))
        if norm > 0.0:
            arr = (wide / norm).astype(np.float32)
        return arr
    norms = np.linalg.norm(arr.astype(np.float64), axis=-1, keepdims=True)
    norms[norms == 0.0] = 1.0
    out: FloatArray = (arr / norms).astype(np.float32)
    return out


class EmbeddingNormalizer:
    """``EmbeddingNormalizer``: unit-norm scaling, zero vectors left as they are.

    .. versionadded:: 0.1.0
    """

    @staticmethod
    def normalize(vector: Any) -> FloatArray:
        """Same as ``llm_infra.vector.normalize``."""
        return normalize(vector)

    @staticmethod
    def normalize_in_place(vector: FloatArray) -> None:
        """Normalize a float32 array in place (rows of a 2-D array independently)."""
        vector[...] = normalize(vector)

    @staticmethod
    def is_normalized(vector: Any, tolerance: float = 1e-5) -> bool:
        """True when the vector has unit norm (within ``tolerance``) or is all zeros."""
        arr = np.asarray(vector, dtype=np.float64)
        norm = float(np.linalg.norm(arr))
        return abs(norm - 1.0) <= tolerance or norm == 0.0
