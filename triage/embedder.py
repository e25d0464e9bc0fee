"""Sentence embeddings for retrieval and classification.

Any sentence-transformers model works; the model's own prompt table decides the prefixes
(multilingual-e5 needs ``query: `` / ``passage: ``, a model without prompts gets none).
The model is loaded lazily in :meth:`Embedder.warm_up`, never at import.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


BACKENDS = ("torch", "onnx")
# ONNX variants a service may run (triage.onnx_encoder.VARIANTS names their files). fp32 gives the torch
# model's vectors; int8-mixed its own (cosine ~0.999 to fp32), so indexes and classifiers are built for it.
SERVED_VARIANTS = ("fp32", "int8-mixed")


def embedding_id(model_path: str, variant: str = "fp32", **_options: object) -> str:
    """A stable identity for the vectors an embedder gives: the model's build manifest when it has one
    (else its name), plus the ONNX variant when that is not fp32. Indexes, triage models and cached
    training vectors record it and are refused or rebuilt when it changes.

    Takes ``Embedder``'s keyword arguments, so ``embedding_id(path, **options)`` names ``Embedder(path, **options)``.
    """
    manifest = Path(model_path) / "manifest.json"
    if manifest.exists():
        m = json.loads(manifest.read_text(encoding="utf-8"))
        key = json.dumps([m.get("source", {}).get("sha256"), m.get("converter_version")])
        base = "e5-local:" + hashlib.sha256(key.encode()).hexdigest()[:16]
    else:
        base = "st:" + model_path
    return base if variant == "fp32" else f"{base}:{variant}"


class EmbedderError(RuntimeError):
    """The embedding model could not be loaded or used."""


class Embedder:
    """Encode queries and passages into L2-normalised float32 vectors.

    >>> emb = Embedder("models/artifacts/multilingual-e5-small")  # doctest: +SKIP
    >>> emb.encode_queries(["押金不退怎么办"]).shape  # doctest: +SKIP
    (1, 384)
    """

    def __init__(self, model_name_or_path: str, device: str = "cpu", batch_size: int = 64, backend: str = "torch",
                 onnx_dir: str | Path | None = None, threads: int | None = None, variant: str = "fp32") -> None:
        """``backend``: ``torch`` (sentence-transformers) or ``onnx`` (the ONNX export of the same model in
        ``onnx_dir``). ``variant`` (onnx only): ``fp32`` (the torch vectors, about twice as fast for single
        queries) or ``int8-mixed`` (about 1.4x faster again, vectors of its own)."""
        if backend not in BACKENDS:
            raise EmbedderError(f"unknown embedding backend {backend!r}; expected one of {BACKENDS}")
        if backend == "onnx" and onnx_dir is None:
            raise EmbedderError("the onnx backend needs the export directory (onnx_dir)")
        if variant not in SERVED_VARIANTS or (backend == "torch" and variant != "fp32"):
            raise EmbedderError(f"unknown embedding variant {variant!r} for the {backend} backend; "
                                f"expected one of {SERVED_VARIANTS} (torch: fp32)")
        self.model_name_or_path = model_name_or_path
        self.device = device
        self.batch_size = batch_size
        self.backend = backend
        self.variant = variant
        self._onnx = None
        if backend == "onnx":
            from triage.onnx_encoder import OnnxEncoder

            # Threads: all cores for one process; one per process when several API workers share them.
            self._onnx = OnnxEncoder(onnx_dir, variant, intra_op_num_threads=threads or os.cpu_count() or 1)  # type: ignore[arg-type]
        self._model: SentenceTransformer | None = None
        self._lock = threading.Lock()
        # Recent query vectors: triage and search embed the same message text one after the other,
        # and a live note is re-analysed as it grows.
        self._queries: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_lock = threading.Lock()
        self.cache_size = 512

    def warm_up(self) -> None:
        """Load the model once; later calls do nothing."""
        if self._onnx is not None:
            try:
                self._onnx.warm_up()
            except Exception as exc:
                raise EmbedderError(str(exc)) from exc
            return
        if self._model is not None:
            return
        with self._lock:
            if self._model is not None:
                return
            import transformers
            from sentence_transformers import SentenceTransformer

            # Weight-loading progress bars would land in every command's stderr and in server logs.
            transformers.utils.logging.disable_progress_bar()

            try:
                # local_files_only: nothing may be fetched at run time.
                self._model = SentenceTransformer(
                    self.model_name_or_path, device=self.device, local_files_only=True
                )
            except Exception as exc:  # the library raises many kinds; name the model in one error
                raise EmbedderError(
                    f"cannot load embedding model {self.model_name_or_path!r}: {exc}. "
                    "Build the local model with `jishibang models build`."
                ) from exc

    @property
    def model(self) -> SentenceTransformer:
        self.warm_up()
        assert self._model is not None
        return self._model

    @property
    def identity(self) -> str:
        """What indexes and classifiers record as the source of their vectors (see :func:`embedding_id`)."""
        return embedding_id(self.model_name_or_path, self.variant)

    @property
    def is_loaded(self) -> bool:
        return self._onnx.is_loaded if self._onnx is not None else self._model is not None

    @property
    def dim(self) -> int:
        if self._onnx is not None:
            self.warm_up()
            return self._onnx.dim
        model = self.model
        # sentence-transformers 6 renamed the method; keep working with either name.
        getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        dim = getter()
        if dim is None:
            raise EmbedderError("model does not report its embedding dimension")
        return int(dim)

    def _encode(self, texts: Sequence[str], prompt_name: str) -> np.ndarray:
        if self._onnx is not None:
            self.warm_up()
            return self._onnx._encode(texts, prompt_name)
        model = self.model
        name = prompt_name if prompt_name in (model.prompts or {}) else None
        vectors = model.encode(
            list(texts),
            prompt_name=name,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Shape (n, dim); for search queries and messages to classify. Single texts are cached."""
        if len(texts) != 1 or self.cache_size <= 0:
            return self._encode(texts, "query")
        text = texts[0]
        with self._cache_lock:
            hit = self._queries.get(text)
            if hit is not None:
                self._queries.move_to_end(text)
                return hit[None, :].copy()
        vec = self._encode(texts, "query")
        with self._cache_lock:
            self._queries[text] = vec[0]
            while len(self._queries) > self.cache_size:
                self._queries.popitem(last=False)
        return vec

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Shape (n, dim); for the texts that are searched."""
        return self._encode(texts, "passage")
