"""A hash-based embedder with the real interface (triage.embedder.Embedder), for fast tests.

Character bigrams and words hashed into a fixed number of dimensions, L2-normalised: texts that share words get
close vectors, and nothing is loaded. It has its own identity, so a model or index built on the real vectors is
refused with it, exactly as with any other embedder.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np


class HashEmbedder:
    def __init__(self, dim: int = 128) -> None:
        self._dim = dim
        self.cache_size = 0

    @property
    def identity(self) -> str:
        return f"hash-bigrams:{self._dim}"

    @property
    def is_loaded(self) -> bool:
        return True

    @property
    def dim(self) -> int:
        return self._dim

    def warm_up(self) -> None:
        return None

    def _vector(self, text: str) -> np.ndarray:
        v = np.zeros(self._dim, dtype=np.float32)
        grams = [text[i:i + 2] for i in range(max(1, len(text) - 1))] + text.split()
        for g in grams:
            h = int.from_bytes(hashlib.blake2b(g.encode("utf-8"), digest_size=8).digest(), "little")
            v[h % self._dim] += 1.0 if (h >> 32) & 1 else -1.0
        n = float(np.linalg.norm(v))
        return v / n if n else v

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return np.vstack([self._vector(t) for t in texts]) if texts else np.zeros((0, self._dim), np.float32)

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self.encode_queries(texts)
