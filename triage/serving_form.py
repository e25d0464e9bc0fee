"""The triage model's serving form: its fitted numbers in plain arrays, read without scikit-learn.

Training pickles the sklearn pipeline (``model.joblib``); unpickling it imports scikit-learn and scipy.stats,
~70 MB in every API worker for code that only multiplies a sparse matrix by a few weight matrices. So
:func:`triage.classifier.save` also writes ``serving.npz`` + ``serving.json``: the TF-IDF vocabularies and idf
weights, the embedding centre, the compiled classifiers (:mod:`triage.linear`) and the danger detector's two
logistic regressions. :class:`ServingFeatures` reproduces the pipeline's ``transform`` exactly (sklearn's
``char_wb`` n-grams, sublinear tf, idf, l2 rows), and tests/test_serving_form.py checks every output equals
the pickled model's.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse
from scipy.special import expit, softmax

from triage.normalize import normalize
from triage.segment import Segmenter

Encoder = Callable[[Sequence[str]], np.ndarray]
ARRAYS_FILE = "serving.npz"
META_FILE = "serving.json"
_WHITE_SPACES = re.compile(r"\s\s+")  # sklearn's _white_spaces, applied before char_wb n-grams


def char_wb_ngrams(text: str, min_n: int, max_n: int) -> list[str]:
    """sklearn's ``char_wb`` analyzer: n-grams inside each space-padded word, a short word counted once."""
    out = []
    for w in _WHITE_SPACES.sub(" ", text).split():
        w = " " + w + " "
        for n in range(min_n, max_n + 1):
            offset = 0
            out.append(w[offset:offset + n])
            while offset + n < len(w):
                offset += 1
                out.append(w[offset:offset + n])
            if offset == 0:
                break
    return out


def hstack_csr(blocks: Sequence[Any]) -> sparse.csr_matrix:
    """``scipy.sparse.hstack(blocks, format="csr")`` for blocks with the same rows (CSR matrices or dense 2-D
    arrays), built from the arrays directly: scipy's hstack validated and converted each block, which cost more than
    the TF-IDF itself for one message. Equal to scipy's result (tests/test_serving_form.py)."""
    mats = [b if sparse.issparse(b) else sparse.csr_matrix(b) for b in blocks]
    n = mats[0].shape[0]
    if n != 1 or any(m.format != "csr" for m in mats):
        return sparse.hstack(mats, format="csr")  # batches (training, evaluation): scipy's own path
    offsets = np.cumsum([0] + [m.shape[1] for m in mats])
    data = np.concatenate([m.data for m in mats])
    indices = np.concatenate([m.indices.astype(np.int64) + off for m, off in zip(mats, offsets)])
    width = int(offsets[-1])
    index_dtype = np.int32 if max(width, len(data)) < np.iinfo(np.int32).max else np.int64
    return sparse.csr_matrix((data, indices.astype(index_dtype), np.array([0, len(data)], dtype=index_dtype)),
                             shape=(1, width))


def dense_row_csr(v: np.ndarray) -> sparse.csr_matrix:
    """A dense (n, d) array as CSR without scipy's dense-to-sparse scan per call (zeros kept out as scipy does)."""
    if v.shape[0] != 1:
        return sparse.csr_matrix(v)
    cols = np.flatnonzero(v[0])
    return sparse.csr_matrix((v[0, cols], cols.astype(np.int32), np.array([0, len(cols)], dtype=np.int32)),
                             shape=v.shape)


def leading_columns(X: sparse.csr_matrix, width: int) -> sparse.csr_matrix:
    """``X[:, :width]``; for one row with sorted columns, a cut of its arrays rather than scipy's slicing."""
    if X.shape[0] != 1 or not X.has_sorted_indices:
        return X[:, :width]
    k = int(np.searchsorted(X.indices, width))
    return sparse.csr_matrix((X.data[:k], X.indices[:k], np.array([0, k], dtype=X.indptr.dtype)), shape=(1, width))


@dataclass
class TfidfTable:
    """One fitted TfidfVectorizer: how it reads text, its vocabulary and its idf weights."""

    analyzer: str  # "char_wb" or "segmenter"
    ngram_range: tuple[int, int]
    lowercase: bool
    vocabulary: dict[str, int]
    idf: np.ndarray
    sublinear_tf: bool
    norm: str | None

    def __post_init__(self) -> None:
        self._segmenter = Segmenter(assume_normalised=True) if self.analyzer == "segmenter" else None

    @classmethod
    def from_sklearn(cls, vec: Any) -> TfidfTable:
        if isinstance(vec.analyzer, Segmenter):
            if not vec.analyzer.assume_normalised or vec.analyzer.keep_stopwords:
                raise ValueError("only the pipeline's Segmenter(assume_normalised=True) is supported")
            analyzer = "segmenter"
        elif vec.analyzer == "char_wb" and vec.preprocessor is None and vec.strip_accents is None:
            analyzer = "char_wb"
        else:
            raise ValueError(f"no serving form for analyzer {vec.analyzer!r}")
        if vec.binary or not vec.use_idf or vec.norm not in ("l2", None):
            raise ValueError("only idf-weighted, non-binary TF-IDF with l2 or no norm is supported")
        return cls(analyzer, tuple(vec.ngram_range), bool(vec.lowercase), {str(k): int(v) for k, v in vec.vocabulary_.items()},
                   np.asarray(vec.idf_, dtype=np.float64), bool(vec.sublinear_tf), vec.norm)

    def terms(self, text: str) -> list[str]:
        if self._segmenter is not None:
            return self._segmenter(text)  # a callable analyzer gets the raw text (no lowercasing)
        return char_wb_ngrams(text.lower() if self.lowercase else text, *self.ngram_range)

    def transform(self, texts: Sequence[str]) -> sparse.csr_matrix:
        indptr, indices, data = [0], [], []
        vocab = self.vocabulary
        for text in texts:
            counts: dict[int, int] = {}
            for term in self.terms(text):
                j = vocab.get(term)
                if j is not None:
                    counts[j] = counts.get(j, 0) + 1
            cols = sorted(counts)
            indices.extend(cols)
            data.extend(counts[j] for j in cols)
            indptr.append(len(indices))
        values = np.asarray(data, dtype=np.float64)
        cols_arr = np.asarray(indices, dtype=np.int32)
        rows_ptr = np.asarray(indptr, dtype=np.int32)
        if self.sublinear_tf:
            values = np.log(values) + 1.0
        values *= self.idf[cols_arr]
        if self.norm == "l2" and len(values):
            # Row norms on the arrays themselves: a sparse diagonal product cost more than the rest of the transform.
            row_of = np.repeat(np.arange(len(texts)), np.diff(rows_ptr))
            norms = np.sqrt(np.bincount(row_of, weights=values * values, minlength=len(texts)))
            norms[norms == 0.0] = 1.0
            values /= norms[row_of]
        return sparse.csr_matrix((values, cols_arr, rows_ptr), shape=(len(texts), len(self.idf)))


@dataclass
class EmbeddingPart:
    """EmbeddingFeatures' fitted state: the training mean and the weight."""

    mean: np.ndarray
    weight: float
    encoder: Encoder | None = None

    def transform(self, texts: Sequence[str]) -> sparse.csr_matrix:
        if self.encoder is None:
            from triage.errors import ArtifactError

            raise ArtifactError("embedding features need an encoder: call attach_encoder() after loading")
        v = np.asarray(self.encoder(list(texts)), dtype=np.float32) - self.mean
        v /= np.linalg.norm(v, axis=1, keepdims=True) + 1e-9
        return dense_row_csr(v * self.weight)


class ServingFeatures:
    """The feature pipeline's ``transform``: normalise, then [char, word, embed] side by side."""

    def __init__(self, parts: list[tuple[str, TfidfTable | EmbeddingPart]]) -> None:
        self.parts = parts

    @classmethod
    def from_pipeline(cls, pipeline: Any) -> ServingFeatures:
        from triage.features import EmbeddingFeatures

        parts: list[tuple[str, TfidfTable | EmbeddingPart]] = []
        for name, step in pipeline.named_steps["union"].transformer_list:
            if isinstance(step, EmbeddingFeatures):
                parts.append((name, EmbeddingPart(np.asarray(step.mean_), float(step.weight))))
            else:
                parts.append((name, TfidfTable.from_sklearn(step)))
        return cls(parts)

    def transform(self, texts: Sequence[str]) -> sparse.csr_matrix:
        normalised = [normalize(t) for t in texts]
        return hstack_csr([part.transform(normalised) for _, part in self.parts])

    def tfidf(self) -> list[TfidfTable]:
        return [p for name, p in self.parts if name in ("char", "word") and isinstance(p, TfidfTable)]

    def uses_embeddings(self) -> bool:
        return any(isinstance(p, EmbeddingPart) for _, p in self.parts)

    def attach_encoder(self, encoder: Encoder | None) -> None:
        for _, p in self.parts:
            if isinstance(p, EmbeddingPart):
                p.encoder = encoder


@dataclass
class BinaryLinear:
    """A fitted binary LogisticRegression: P = expit(x . w + b); ``predict_proba`` gives [1 - P, P]."""

    w: np.ndarray
    b: float
    classes_: np.ndarray

    def predict_proba(self, X: Any) -> np.ndarray:
        p = expit(np.asarray(X @ self.w).ravel() + self.b)
        return np.column_stack([1.0 - p, p])


@dataclass
class SoftmaxLinear:
    """A fitted multinomial LogisticRegression: softmax(X . W^T + b)."""

    W: np.ndarray
    b: np.ndarray
    classes_: np.ndarray

    def predict_proba(self, X: Any) -> np.ndarray:
        return softmax(np.asarray(X @ self.W.T) + self.b, axis=1)


def linear_from_sklearn(clf: Any) -> BinaryLinear | SoftmaxLinear:
    classes = np.asarray(clf.classes_)
    if len(classes) == 2:
        return BinaryLinear(np.asarray(clf.coef_[0], dtype=np.float64), float(clf.intercept_[0]), classes)
    return SoftmaxLinear(np.asarray(clf.coef_, dtype=np.float64), np.asarray(clf.intercept_, dtype=np.float64), classes)


# ---- files ------------------------------------------------------------------------------------------------

def write(d: Path, features: ServingFeatures, compiled: dict[str, Any], linears: dict[str, Any],
          scalars: dict[str, Any], extra: dict[str, np.ndarray] | None = None) -> None:
    """``compiled``: name -> triage.linear.CompiledLinear; ``linears``: name -> a fitted LogisticRegression or
    None; ``scalars``: the model's thresholds and settings (JSON-able); ``extra``: other arrays by name (the
    danger detector's neighbour memory)."""
    arrays: dict[str, np.ndarray] = {f"extra_{k}": v for k, v in (extra or {}).items()}
    meta: dict[str, Any] = {"parts": [], "compiled": {}, "linears": {}, "scalars": scalars, "extra": sorted(extra or {})}
    for i, (name, part) in enumerate(features.parts):
        if isinstance(part, TfidfTable):
            terms = sorted(part.vocabulary, key=part.vocabulary.__getitem__)
            meta["parts"].append({"name": name, "type": "tfidf", "analyzer": part.analyzer, "ngram_range": list(part.ngram_range),
                                  "lowercase": part.lowercase, "sublinear_tf": part.sublinear_tf, "norm": part.norm,
                                  "terms": terms})
            arrays[f"part{i}_idf"] = part.idf
        else:
            meta["parts"].append({"name": name, "type": "embed", "weight": part.weight})
            arrays[f"part{i}_mean"] = part.mean
    for name, c in compiled.items():
        meta["compiled"][name] = {"n_folds": c.n_folds, "n_outputs": c.n_outputs, "normalise": c.normalise,
                                  "classes": list(c.classes)}
        arrays.update({f"{name}_W": c.W, f"{name}_b": c.b, f"{name}_a": c.a, f"{name}_c": c.c})
    for name, clf in linears.items():
        if clf is None:
            continue
        lin = linear_from_sklearn(clf)
        meta["linears"][name] = {"type": type(lin).__name__, "classes": [str(c) for c in lin.classes_]}
        if isinstance(lin, BinaryLinear):
            arrays.update({f"{name}_w": lin.w, f"{name}_b": np.asarray([lin.b])})
        else:
            arrays.update({f"{name}_W": lin.W, f"{name}_b": lin.b})
    with open(d / ARRAYS_FILE, "wb") as f:
        np.savez(f, **arrays)
    (d / META_FILE).write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")


def read(d: Path) -> tuple[ServingFeatures, dict[str, Any], dict[str, Any], dict[str, Any], dict[str, np.ndarray]]:
    """(features, compiled classifiers, danger linears, scalars, extra arrays) as :func:`write` stored them."""
    from triage.linear import CompiledLinear

    meta = json.loads((d / META_FILE).read_text(encoding="utf-8"))
    with np.load(d / ARRAYS_FILE, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    parts: list[tuple[str, TfidfTable | EmbeddingPart]] = []
    for i, p in enumerate(meta["parts"]):
        if p["type"] == "tfidf":
            vocab = {t: j for j, t in enumerate(p["terms"])}
            parts.append((p["name"], TfidfTable(p["analyzer"], tuple(p["ngram_range"]), p["lowercase"], vocab,
                                                arrays[f"part{i}_idf"], p["sublinear_tf"], p["norm"])))
        else:
            parts.append((p["name"], EmbeddingPart(arrays[f"part{i}_mean"], float(p["weight"]))))
    compiled = {name: CompiledLinear(arrays[f"{name}_W"], arrays[f"{name}_b"], arrays[f"{name}_a"], arrays[f"{name}_c"],
                                     c["n_folds"], c["n_outputs"], c["normalise"], c["classes"])
                for name, c in meta["compiled"].items()}
    linears: dict[str, Any] = {}
    for name, spec in meta["linears"].items():
        classes = np.asarray(spec["classes"])
        if spec["type"] == "BinaryLinear":
            linears[name] = BinaryLinear(arrays[f"{name}_w"], float(arrays[f"{name}_b"][0]), classes)
        else:
            linears[name] = SoftmaxLinear(arrays[f"{name}_W"], arrays[f"{name}_b"], classes)
    extra = {name: arrays[f"extra_{name}"] for name in meta.get("extra", [])}
    return ServingFeatures(parts), compiled, linears, meta["scalars"], extra
