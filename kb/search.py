"""Hybrid search over an :class:`~kb.index.IndexBuild`: BM25 and dense, fused by reciprocal rank.

The match score is a probability from a small calibrator fitted on held-out data (see
``models/search_calibration.py``), so one cut-off can say "no good answer": a greeting or an
off-topic question gets ``abstain: true`` instead of a confident entry.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kb.index import EncodeFn, IndexBuild
from triage.segment import Segmenter

MODES = ("hybrid", "bm25", "dense")
RRF_K = 60
CANDIDATES = 200


@dataclass(frozen=True, slots=True)
class Hit:
    entry_id: int
    slug: str
    kind: str
    title: str
    issue_types: list[str]
    status: str
    version: int
    score: float  # calibrated probability that this entry answers the query
    fused: float
    retrievers: list[str]
    bm25_rank: int | None = None
    dense_rank: int | None = None
    matched: str | None = None
    standing: float = 1.0  # the feedback multiplier applied to ``fused`` (1.0: none)


@dataclass(frozen=True, slots=True)
class SearchResult:
    abstain: bool
    hits: list[Hit]
    mode: str
    reason: str | None = None
    threshold: float | None = None
    # The build that answered (its directory name; None before it is saved) and its entry count. A build
    # is complete and immutable, so every hit of one result comes from this one build.
    index_build: str | None = None
    index_entries: int | None = None


@dataclass
class Candidate:
    pos: int
    bm25: float = 0.0
    bm25_rank: int | None = None
    cos_q: float = 0.0
    cos_a: float = 0.0
    dense_rank: int | None = None
    matched: str | None = None
    fused: float = 0.0
    features: list[float] = field(default_factory=list)


FEATURES = ("bm25_norm", "bm25_top", "cos_q", "cos_a", "inv_bm25_rank", "inv_dense_rank", "both_top3", "margin",
            "idf_coverage", "oov_share", "cos_margin", "log_query_chars")


class Calibrator:
    """Logistic regression on match features, one per mode, stored as JSON (no pickles).

    ``model_id``: the embedding vectors it was fitted on (the dense features depend on them).
    """

    def __init__(self, params: dict[str, dict[str, Any]], model_id: str | None = None) -> None:
        self.params = params
        self.model_id = model_id

    def probability(self, mode: str, features: Sequence[float]) -> float:
        p = self.params.get(mode)
        if not p:
            return float("nan")
        z = float(np.dot(p["coef"], features) + p["intercept"])
        return 1.0 / (1.0 + math.exp(-z))

    def threshold(self, mode: str) -> float:
        return float(self.params.get(mode, {}).get("threshold", 0.5))

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({**self.params, "model_id": self.model_id}, ensure_ascii=False, indent=1),
                       encoding="utf-8")
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> Calibrator | None:
        if not path.exists():
            return None
        params = json.loads(path.read_text(encoding="utf-8"))
        model_id = params.pop("model_id", None)  # files from before it was recorded have none
        return cls(params, model_id)


class Searcher:
    """Search one index build. Cheap to create; hold one per build (a rebuild makes a new one)."""

    def __init__(self, build: IndexBuild, encode_query: EncodeFn | None, calibrator: Calibrator | None,
                 segmenter: Segmenter | None = None) -> None:
        self.build = build
        self.encode_query = encode_query if build.faiss_index is not None else None
        self.calibrator = calibrator
        self.segmenter = segmenter or Segmenter()
        vocab = getattr(build.bm25, "vocab_dict", None) or {}
        self._vocab = set(vocab)
        n = max(len(build.rows.texts), 1)
        self._max_idf = math.log(1 + n)
        self._entry_tokens: dict[int, set[str]] = {}

    def _idf(self, token: str) -> float:
        df = self.build.doc_freq.get(token, 0)
        return math.log(1 + len(self.build.rows.texts) / (1 + df)) if df else self._max_idf

    def _tokens_of(self, pos: int, exclude_text: str | None = None) -> set[str]:
        """All tokens of one entry's rows (cached; a query looks at its top hit only).

        ``exclude_text`` leaves one row out, as the leave-one-out calibration does for retrieval.
        """
        toks = self._entry_tokens.get(pos) if exclude_text is None else None
        if toks is None:
            e = self.build.entries[pos]
            toks = set()
            for text in (*e.questions, e.answer):
                if text != exclude_text:
                    toks.update(self.segmenter(text))
            if exclude_text is None:
                self._entry_tokens[pos] = toks
        return toks

    def coverage(self, query_tokens: list[str], pos: int, exclude_text: str | None = None) -> tuple[float, float]:
        """(IDF share of the query's words found in the entry, IDF share of words the index has never seen).

        An off-topic question that shares one domain word (健身房的押金) covers little of its own weight.
        """
        if not query_tokens:
            return 0.0, 1.0
        weights = {t: self._idf(t) for t in set(query_tokens)}
        total = sum(weights.values()) or 1.0
        found = self._tokens_of(pos, exclude_text)
        covered = sum(w for t, w in weights.items() if t in found)
        oov = sum(w for t, w in weights.items() if t not in self._vocab)
        return covered / total, oov / total

    @property
    def modes(self) -> tuple[str, ...]:
        return MODES if self.encode_query is not None else ("bm25",)

    def candidates(self, query: str, mode: str, exclude_text: str | None = None,
                   query_vector: np.ndarray | None = None) -> list[Candidate]:
        """Per-entry candidates with their raw retrieval signals, in fused order."""
        b = self.build
        rows = b.rows
        cands: dict[int, Candidate] = {}
        n_rows = len(rows.texts)
        if n_rows == 0:
            return []
        all_tokens = self.segmenter(query)
        tokens = [t for t in all_tokens if t in self._vocab]
        if mode in ("hybrid", "bm25") and tokens:
            # Score every row and take the top ones ourselves: bm25s.retrieve hands each query to a
            # thread pool, which costs more than the scoring at this size.
            all_scores = b.bm25.get_scores(tokens)
            k = min(CANDIDATES, n_rows)
            top = np.argpartition(-all_scores, k - 1)[:k] if k < n_rows else np.arange(n_rows)
            top = top[np.argsort(-all_scores[top], kind="stable")]
            rank = 0
            for row, score in zip(top, all_scores[top]):
                if score <= 0 or (exclude_text is not None and rows.texts[row] == exclude_text):
                    continue
                pos = int(rows.entry_pos[row])
                c = cands.setdefault(pos, Candidate(pos))
                if c.bm25_rank is None:
                    c.bm25_rank, c.bm25 = rank, float(score)
                    rank += 1
        if mode in ("hybrid", "dense") and self.encode_query is not None:
            vec = query_vector if query_vector is not None else self.encode_query([query])[0]
            sims, ids = b.faiss_index.search(np.ascontiguousarray(vec[None, :], dtype=np.float32), min(CANDIDATES, n_rows))
            rank = 0
            for row, sim in zip(ids[0], sims[0]):
                if row < 0 or (exclude_text is not None and rows.texts[row] == exclude_text):
                    continue
                pos = int(rows.entry_pos[row])
                c = cands.setdefault(pos, Candidate(pos))
                if rows.field[row] == "question":
                    c.cos_q = max(c.cos_q, float(sim))
                else:
                    c.cos_a = max(c.cos_a, float(sim))
                if c.dense_rank is None:
                    c.dense_rank, c.matched = rank, rows.texts[row]
                    rank += 1
        for c in cands.values():
            c.fused = sum(1.0 / (RRF_K + r + 1) for r in (c.bm25_rank, c.dense_rank) if r is not None)
        ordered = sorted(cands.values(), key=lambda c: -c.fused)
        top_bm25 = max((c.bm25 for c in ordered), default=0.0)
        second = ordered[1].fused if len(ordered) > 1 else 0.0
        second_cos = max((max(c.cos_q, c.cos_a) for c in ordered[1:]), default=0.0)
        log_chars = math.log(1 + len(query))
        for i, c in enumerate(ordered):
            cov, oov = self.coverage(all_tokens, c.pos, exclude_text) if i == 0 else (0.0, 0.0)
            c.features = [
                c.bm25 / (1.0 + c.bm25),
                c.bm25 / top_bm25 if top_bm25 else 0.0,
                c.cos_q,
                c.cos_a,
                1.0 / (1 + c.bm25_rank) if c.bm25_rank is not None else 0.0,
                1.0 / (1 + c.dense_rank) if c.dense_rank is not None else 0.0,
                1.0 if (c.bm25_rank is not None and c.bm25_rank < 3 and c.dense_rank is not None and c.dense_rank < 3) else 0.0,
                (c.fused - second) * RRF_K if i == 0 else 0.0,
                cov,
                oov,
                max(c.cos_q, c.cos_a) - second_cos if i == 0 else 0.0,
                log_chars,
            ]
        return ordered

    def search(self, query: str, k: int = 5, mode: str = "hybrid", issue_types: Sequence[str] | None = None,
               kinds: Sequence[str] | None = None, jurisdictions: Sequence[str] | None = None,
               exclude_text: str | None = None, query_vector: np.ndarray | None = None,
               standing: Mapping[int, float] | None = None) -> SearchResult:
        """``standing``: entry id -> a bounded multiplier earned from feedback (hotline/standing.py); it
        reorders the hits only. The calibrated scores and the abstain decision are those of the ranking
        without it: the calibrator was fitted on raw retrieval features, and feedback must not turn a weak
        match into a confident one (or the reverse)."""
        if mode not in self.modes:
            raise ValueError(f"mode {mode!r} not available; this index supports {self.modes}")
        ordered = self.candidates(query, mode, exclude_text, query_vector)
        entries = self.build.entries
        if kinds:
            ordered = [c for c in ordered if entries[c.pos].kind in kinds]
        if jurisdictions:
            ordered = [c for c in ordered if entries[c.pos].jurisdiction in jurisdictions]
        if issue_types:
            # A gentle boost for entries about the types triage found; it reorders near-ties only.
            wanted = set(issue_types)
            for c in ordered:
                overlap = len(wanted & set(entries[c.pos].issue_types))
                c.fused *= 1.0 + 0.1 * min(overlap, 2)
            ordered.sort(key=lambda c: -c.fused)
        lead = ordered[0] if ordered else None  # whose calibrated score decides "good enough"
        factors: dict[int, float] = {}
        if standing and ordered:
            for c in ordered:
                factors[c.pos] = float(standing.get(entries[c.pos].entry_id, 1.0))
                c.fused *= factors[c.pos]
            ordered.sort(key=lambda c: -c.fused)
        hits = []
        for c in ordered[:k]:
            e = entries[c.pos]
            score = self.calibrator.probability(mode, c.features) if self.calibrator else float("nan")
            retrievers = [name for name, r in (("bm25", c.bm25_rank), ("dense", c.dense_rank)) if r is not None]
            hits.append(Hit(e.entry_id, e.slug, e.kind, e.title, list(e.issue_types), e.status, e.version,
                            round(score, 4) if not math.isnan(score) else float("nan"), round(c.fused, 6), retrievers,
                            c.bm25_rank, c.dense_rank, c.matched, round(factors.get(c.pos, 1.0), 4)))
        if not hits or lead is None:
            return self._result(True, [], mode, "no entry matches the query")
        best = self.calibrator.probability(mode, lead.features) if self.calibrator else float("nan")
        if math.isnan(best):
            return self._result(False, hits, mode, "uncalibrated: scores are not probabilities")
        t = self.calibrator.threshold(mode)
        if best < t:
            return self._result(True, hits, mode, f"best match {best:.2f} is below {t:.2f}: no good answer", t)
        return self._result(False, hits, mode, None, t)

    def _result(self, abstain: bool, hits: list[Hit], mode: str, reason: str | None,
                threshold: float | None = None) -> SearchResult:
        build = self.build
        return SearchResult(abstain, hits, mode, reason, threshold, build.path.name if build.path else None,
                            len(build.entries))
