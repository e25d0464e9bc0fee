"""The feature pipeline shared by training and serving.

Input is the masked message text; the pipeline normalises it, then builds character n-grams,
jieba words (via :class:`Segmenter`) and, optionally, sentence embeddings. The embedding model is
not pickled with the pipeline: it is attached after loading with :func:`attach_encoder`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion, Pipeline

from triage.errors import ArtifactError
from triage.normalize import normalize
from triage.segment import Segmenter

Encoder = Callable[[Sequence[str]], np.ndarray]
VARIANTS = ("tfidf", "embed", "combined")


class Normalizer(BaseEstimator, TransformerMixin):  # type: ignore[misc]
    """Full-width, traditional and Cantonese forms folded (see :func:`triage.normalize.normalize`)."""

    def fit(self, X: Sequence[str], y: object = None) -> Normalizer:
        return self

    def transform(self, X: Sequence[str]) -> list[str]:
        return [normalize(t) for t in X]


class EmbeddingFeatures(BaseEstimator, TransformerMixin):  # type: ignore[misc]
    """Sentence embeddings of the (normalised) text, centred and scaled by ``weight``.

    e5 similarities are compressed (unrelated sentences score ~0.8): most of each vector is a
    direction all texts share. Subtracting the training mean and re-normalising keeps what differs.
    """

    def __init__(self, weight: float = 1.0) -> None:
        self.weight = weight

    def fit(self, X: Sequence[str], y: object = None) -> EmbeddingFeatures:
        self.mean_ = self._encode(X).mean(axis=0)
        self.n_features_in_ = 1
        return self

    def _encode(self, X: Sequence[str]) -> np.ndarray:
        encoder = getattr(self, "encoder_", None)
        if encoder is None:
            raise ArtifactError("embedding features need an encoder: call attach_encoder() after loading")
        return np.asarray(encoder(list(X)), dtype=np.float32)

    def __getstate__(self) -> dict[str, object]:
        state = dict(self.__dict__)
        state.pop("encoder_", None)  # the model is loaded separately, never pickled
        return state

    def transform(self, X: Sequence[str]) -> sparse.csr_matrix:
        v = self._encode(X) - self.mean_
        v /= np.linalg.norm(v, axis=1, keepdims=True) + 1e-9
        return sparse.csr_matrix(v * self.weight)


def build_features(variant: str, embedding_weight: float = 1.0) -> Pipeline:
    if variant not in VARIANTS:
        raise ValueError(f"unknown feature variant {variant!r}; expected one of {VARIANTS}")
    parts: list[tuple[str, object]] = []
    if variant in ("tfidf", "combined"):
        parts.append(
            ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), min_df=2, sublinear_tf=True, max_features=60000))
        )
        parts.append(
            ("word", TfidfVectorizer(analyzer=Segmenter(assume_normalised=True), min_df=1, sublinear_tf=True, ngram_range=(1, 1)))
        )
    if variant in ("embed", "combined"):
        parts.append(("embed", EmbeddingFeatures(weight=embedding_weight)))
    return Pipeline([("normalize", Normalizer()), ("union", FeatureUnion(parts))])


def attach_encoder(features: Pipeline, encoder: Encoder | None) -> None:
    """Give the embedding step its encoder (after unpickling, or before fitting)."""
    for _name, step in features.named_steps["union"].transformer_list:
        if isinstance(step, EmbeddingFeatures):
            step.encoder_ = encoder


def uses_embeddings(features: Pipeline) -> bool:
    return any(isinstance(s, EmbeddingFeatures) for _, s in features.named_steps["union"].transformer_list)
