"""Search over an :class:`~kb.index.IndexBuild`: retrieve, rerank by situation, decide how sure.

1. **Retrieve**: BM25 and dense candidates, fused by reciprocal rank (RRF).
2. **Rerank** the first :data:`RERANK_DEPTH` with the ranking model's reranker (kb/ranking.py): each
   candidate's probability of answering the query, from its retrieval scores, triage's issue types,
   the situation tags and how close the query is to calibration questions the entry is known to answer
   (kb/memory.py). Hits are ordered by that probability, and it is the score shown.
3. **Decide**: the probability that the first hit answers the query, and its tier: ``confident``,
   ``likely`` (with one clarifying question when the leading candidates answer different needs) or
   ``none``. Degenerate input (kb/query.py) is always ``none``.

Feedback standing (hotline/standing.py) multiplies the shown score by at most 1.05 or 0.95; the decision
is taken on the probabilities without it, so feedback cannot make a weak match look confident.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from kb.index import EncodeFn, IndexBuild
from kb.memory import MEMORY_FEATURES, NO_MEMORY, QueryMemory
from kb.query import PreparedQuery, prepare_query
from kb.ranking import ModeModel, RankingModel
from triage.situation import COMPARE_FEATURES, Situation, compare, situation
from triage.pipeline import TriageResult
from triage.segment import Segmenter
from triage.taxonomy import issue_type_names

MODES = ("hybrid", "bm25", "dense")
RRF_K = 60
CANDIDATES = 200
RERANK_DEPTH = 30
# How a clarifying question names the other side (kb/data/situations.yaml counterparty tags).
COUNTERPARTY_NAMES = {"employer": "站点、公司或老板", "rental_shop": "车行或租车店", "landlord": "房东", "customer": "顾客或乘客",
                      "shipper": "货主", "platform": "平台", "property": "物业或保安", "other_road_user": "对方司机或车辆",
                      "dog_owner": "狗主人"}

RERANK_FEATURES = (
    "bm25_norm", "bm25_rel", "cos_q", "cos_a", "cos_gap", "inv_bm25_rank", "inv_dense_rank", "inv_fused_rank",
    "both_top3", "coverage", "question_coverage", "tri_overlap", "tri_main", "tri_in_labels", "is_past_case", "is_faq",
    *COMPARE_FEATURES, "log_query_chars", "oov_share", "tri_max", "tri_out_of_scope", "degenerate",
    *MEMORY_FEATURES,
)
DECISION_FEATURES = (
    "p1", "p2", "p_gap", "top_tri_overlap", "top_tri_main", "top_in_labels", "tri_max", "tri_out_of_scope",
    "top_coverage", "top_question_coverage", "top_cos", "top_bm25_norm", "log_query_chars", "oov_share",
    "log_tokens", "degenerate", "second_same_need", "top_mem_cos", "top_mem_vote",
)


@dataclass(frozen=True, slots=True)
class TriageView:
    """What search uses of triage: the issue-type probabilities and the types it is confident about."""

    probs: Mapping[str, float]
    labels: tuple[str, ...]

    @classmethod
    def of(cls, result: TriageResult | None) -> TriageView | None:
        if result is None:
            return None
        return cls({s.id: float(s.score) for s in result.issue_types}, tuple(result.labels))


@dataclass(frozen=True, slots=True)
class Hit:
    entry_id: int
    slug: str
    kind: str
    title: str
    issue_types: list[str]
    status: str
    version: int
    score: float  # the reranker's probability that this entry answers the query (x standing); NaN: no model
    fused: float
    retrievers: list[str]
    bm25_rank: int | None = None
    dense_rank: int | None = None
    matched: str | None = None
    standing: float = 1.0  # the feedback multiplier applied to the score (1.0: none)
    tier: str = "none"  # this hit's own tier by its score: confident / likely / none


@dataclass(frozen=True, slots=True)
class ClarifyOption:
    need: str  # an issue type id: choosing it re-runs the question with that need
    label: str  # its Chinese name
    entry_id: int  # the best entry for that need


@dataclass(frozen=True, slots=True)
class Clarify:
    question: str
    options: tuple[ClarifyOption, ...]


@dataclass(frozen=True, slots=True)
class SearchResult:
    abstain: bool  # tier == "none": no good answer
    hits: list[Hit]
    mode: str
    reason: str | None = None
    threshold: float | None = None  # the "likely" threshold
    # The build that answered (its directory name; None before it is saved) and its entry count. A build
    # is complete and immutable, so every hit of one result comes from this one build.
    index_build: str | None = None
    index_entries: int | None = None
    tier: str = "none"
    confidence: float = float("nan")  # P(the first hit answers the query), from the decision model
    clarify: Clarify | None = None
    degenerate: str | None = None


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
    fused_rank: int = 0
    features: list[float] = field(default_factory=list)
    probability: float = float("nan")


def _first_per_entry(entry_pos: np.ndarray) -> np.ndarray:
    """Indices of each entry's first row in ``entry_pos`` (rows in retrieval order), in that order."""
    _, first = np.unique(entry_pos, return_index=True)
    first.sort()
    return first


class Searcher:
    """Search one index build. Cheap to create; hold one per build (a rebuild makes a new one)."""

    def __init__(self, build: IndexBuild, encode_query: EncodeFn | None, ranking: RankingModel | None,
                 segmenter: Segmenter | None = None) -> None:
        self.build = build
        self.encode_query = encode_query if build.faiss_index is not None else None
        self.ranking = ranking
        self.memory: QueryMemory | None = ranking.memory if ranking is not None else None
        self.segmenter = segmenter or Segmenter()
        vocab = getattr(build.bm25, "vocab_dict", None) or {}
        self._vocab = set(vocab)
        n = max(len(build.rows.texts), 1)
        self._n_rows = n
        self._max_idf = math.log(1 + n)
        self._row_is_question = np.array([f == "question" for f in build.rows.field], dtype=bool)
        # Per entry, computed once per build: its words (all rows; question rows only) and situation.
        self._entry_tokens: dict[int, tuple[frozenset[str], frozenset[str]]] = {}
        self._entry_rows: dict[int, list[tuple[str, frozenset[str], bool]]] = {}
        self._entry_situation: dict[int, Situation] = {}
        self._names = issue_type_names()

    def warm_up(self) -> None:
        """Segment every entry now rather than on the first searches that meet it."""
        for pos in range(len(self.build.entries)):
            self._tokens_of(pos)
            self._situation_of(pos)

    # --- per-entry data ---------------------------------------------------------------------------

    def _idf(self, token: str) -> float:
        df = self.build.doc_freq.get(token, 0)
        return math.log(1 + self._n_rows / (1 + df)) if df else self._max_idf

    def _row_tokens(self, pos: int) -> list[tuple[str, frozenset[str], bool]]:
        """(text, words, is_question) of each of the entry's rows, segmented once per build."""
        rows = self._entry_rows.get(pos)
        if rows is None:
            e = self.build.entries[pos]
            rows = [(t, frozenset(self.segmenter(t)), True) for t in e.questions]
            rows.append((e.answer, frozenset(self.segmenter(e.answer)), False))
            self._entry_rows[pos] = rows
        return rows

    def _tokens_of(self, pos: int, exclude_text: str | None = None) -> tuple[frozenset[str], frozenset[str]]:
        """(words of all the entry's rows, words of its question rows); ``exclude_text`` leaves one row out,
        as leave-one-out fitting does for retrieval."""
        cached = self._entry_tokens.get(pos) if exclude_text is None else None
        if cached is not None:
            return cached
        rows = [r for r in self._row_tokens(pos) if r[0] != exclude_text or not r[2]]
        questions = frozenset().union(*(w for _, w, q in rows if q))
        out = (questions.union(*(w for _, w, q in rows if not q)), questions)
        if exclude_text is None:
            self._entry_tokens[pos] = out
        return out

    def _situation_of(self, pos: int) -> Situation:
        s = self._entry_situation.get(pos)
        if s is None:
            from triage.normalize import normalize

            e = self.build.entries[pos]
            s = situation(normalize(" ".join(e.questions)))
            self._entry_situation[pos] = s
        return s

    def query_weights(self, query_tokens: Sequence[str]) -> dict[str, float]:
        """IDF weight of each distinct query word (computed once per query, used for every candidate)."""
        # In first-seen order (a set's order changes with each process's string hashing, and with it the last bit
        # of the coverage sums): the same query gives the same features in every process.
        return {t: self._idf(t) for t in dict.fromkeys(query_tokens)}

    def coverage(self, query_tokens: Sequence[str], pos: int, exclude_text: str | None = None,
                 weights: dict[str, float] | None = None) -> tuple[float, float]:
        """(IDF share of the query's words found in the entry, the same in its questions only). An off-topic
        question that shares one domain word (健身房的押金) covers little of its own weight."""
        if not query_tokens:
            return 0.0, 0.0
        weights = weights if weights is not None else self.query_weights(query_tokens)
        total = sum(weights.values()) or 1.0
        everything, questions = self._tokens_of(pos, exclude_text)
        covered = covered_q = 0.0
        for t, w in weights.items():  # one pass: this runs for every candidate of every query
            if t in everything:
                covered += w
                if t in questions:  # the question rows' words are a subset of all the entry's words
                    covered_q += w
        return covered / total, covered_q / total

    def oov_share(self, query_tokens: Sequence[str], weights: dict[str, float] | None = None) -> float:
        """IDF share of the query's words the index has never seen (1.0 for no words): one figure per query."""
        if not query_tokens:
            return 1.0
        weights = weights if weights is not None else self.query_weights(query_tokens)
        total = sum(weights.values()) or 1.0
        return sum(w for t, w in weights.items() if t not in self._vocab) / total

    @property
    def modes(self) -> tuple[str, ...]:
        return MODES if self.encode_query is not None else ("bm25",)

    # --- retrieval --------------------------------------------------------------------------------

    def candidates(self, query: PreparedQuery, mode: str, exclude_text: str | None = None,
                   query_vector: np.ndarray | None = None, triage: TriageView | None = None,
                   depth: int = RERANK_DEPTH, memory_exclude: str | None = None) -> list[Candidate]:
        """The first ``depth`` candidates in fused order, each with its reranking features.
        ``memory_exclude``: while fitting, the calibration question itself, left out of the memory."""
        b = self.build
        rows = b.rows
        n_rows, n_entries = len(rows.texts), len(b.entries)
        if n_rows == 0 or not b.entries or b.bm25 is None:
            return []  # nothing is published: nothing to find
        # Per entry, with numpy over the retrieved rows (a Python loop over 400 rows cost more than the scoring):
        # its rank and score in each retriever, counting an entry at its best row; -1 when not retrieved.
        bm25_rank = np.full(n_entries, -1, dtype=np.int64)
        bm25_score = np.zeros(n_entries)
        tokens = [t for t in query.tokens if t in self._vocab]
        if mode in ("hybrid", "bm25") and tokens:
            # Score every row and take the top ones ourselves: bm25s.retrieve hands each query to a
            # thread pool, which costs more than the scoring at this size.
            all_scores = b.bm25.get_scores(tokens)
            k = min(CANDIDATES, n_rows)
            top = np.argpartition(-all_scores, k - 1)[:k] if k < n_rows else np.arange(n_rows)
            top = top[np.argsort(-all_scores[top], kind="stable")]
            keep = all_scores[top] > 0
            if exclude_text is not None:
                keep &= np.array([rows.texts[r] != exclude_text for r in top], dtype=bool)
            top = top[keep]
            first = _first_per_entry(rows.entry_pos[top])
            best_rows = top[first]
            bm25_rank[rows.entry_pos[best_rows]] = np.arange(len(first))
            bm25_score[rows.entry_pos[best_rows]] = all_scores[best_rows]
        dense_rank = np.full(n_entries, -1, dtype=np.int64)
        cos_q, cos_a = np.zeros(n_entries), np.zeros(n_entries)
        matched_row = np.full(n_entries, -1, dtype=np.int64)
        vec, own = None, None
        if mode in ("hybrid", "dense") and self.encode_query is not None:
            vec = query_vector if query_vector is not None else self.encode_query([query.text])[0]
            sims, ids = b.faiss_index.search(np.ascontiguousarray(vec[None, :], dtype=np.float32), min(CANDIDATES, n_rows))
            keep = ids[0] >= 0
            if exclude_text is not None:
                keep &= np.array([r < 0 or rows.texts[r] != exclude_text for r in ids[0]], dtype=bool)
            ids_k, sims_k = ids[0][keep], sims[0][keep].astype(np.float64)
            pos = rows.entry_pos[ids_k]
            is_q = self._row_is_question[ids_k]
            np.maximum.at(cos_q, pos[is_q], sims_k[is_q])  # the best question row and answer row (never below 0)
            np.maximum.at(cos_a, pos[~is_q], sims_k[~is_q])
            first = _first_per_entry(pos)
            dense_rank[pos[first]] = np.arange(len(first))
            matched_row[pos[first]] = ids_k[first]
            if self.memory is not None:  # the entries' own questions join the remembered ones (kb/memory.py)
                own = (sims_k[is_q], [b.entries[p].slug for p in pos[is_q].tolist()])
        reached = np.flatnonzero((bm25_rank >= 0) | (dense_rank >= 0))
        fused = np.zeros(n_entries)
        for ranks in (bm25_rank, dense_rank):  # reciprocal rank fusion, summed in the retrievers' order
            hit = ranks >= 0
            fused[hit] += 1.0 / (RRF_K + ranks[hit] + 1)
        best = reached[np.lexsort((reached, -fused[reached]))][:depth]  # by fused score, then position
        ordered = []
        for i, p in enumerate(best.tolist()):
            c = Candidate(p, fused=float(fused[p]), fused_rank=i)
            if bm25_rank[p] >= 0:
                c.bm25_rank, c.bm25 = int(bm25_rank[p]), float(bm25_score[p])
            if dense_rank[p] >= 0:
                c.dense_rank, c.matched = int(dense_rank[p]), rows.texts[int(matched_row[p])]
                c.cos_q, c.cos_a = float(cos_q[p]), float(cos_a[p])
            ordered.append(c)
        self._features(query, ordered, exclude_text, triage, vec, memory_exclude, own)
        return ordered

    def _features(self, query: PreparedQuery, ordered: list[Candidate], exclude_text: str | None,
                  triage: TriageView | None, vec: np.ndarray | None = None, memory_exclude: str | None = None,
                  own: tuple[np.ndarray, list[str]] | None = None) -> None:
        entries = self.build.entries
        if vec is not None and self.memory is not None:
            memory = self.memory.features(vec, [entries[c.pos].slug for c in ordered], memory_exclude, own)
        else:
            memory = [NO_MEMORY] * len(ordered)
        top_bm25 = max((c.bm25 for c in ordered), default=0.0)
        best_cos = max((max(c.cos_q, c.cos_a) for c in ordered), default=0.0)
        q_situation = situation(query.text)
        probs = triage.probs if triage else {}
        labels = set(triage.labels) if triage else set()
        tri_max = max(probs.values(), default=0.0)
        tri_oos = float(probs.get("out_of_scope", 0.0))
        weights = self.query_weights(query.tokens)
        query_level = [math.log(1 + len(query.text)), self.oov_share(query.tokens, weights), tri_max, tri_oos,
                       float(query.degenerate is not None)]
        for c, mem in zip(ordered, memory):
            e = entries[c.pos]
            cov, cov_q = self.coverage(query.tokens, c.pos, exclude_text, weights)
            types = e.issue_types
            c.features = [
                c.bm25 / (1.0 + c.bm25),
                c.bm25 / top_bm25 if top_bm25 else 0.0,
                c.cos_q,
                c.cos_a,
                max(c.cos_q, c.cos_a) - best_cos,
                1.0 / (1 + c.bm25_rank) if c.bm25_rank is not None else 0.0,
                1.0 / (1 + c.dense_rank) if c.dense_rank is not None else 0.0,
                1.0 / (1 + c.fused_rank),
                1.0 if (c.bm25_rank is not None and c.bm25_rank < 3 and c.dense_rank is not None and c.dense_rank < 3) else 0.0,
                cov,
                cov_q,
                max((probs.get(t, 0.0) for t in types), default=0.0),
                float(probs.get(types[0], 0.0)) if types else 0.0,
                float(bool(types) and types[0] in labels),
                float(e.kind == "past_case"),
                float(e.kind == "faq"),
                *compare(q_situation, self._situation_of(c.pos)),
                *query_level,
                *mem,
            ]

    # --- rerank and decide -----------------------------------------------------------------------

    def rerank(self, cands: list[Candidate], mode: str) -> list[Candidate]:
        """Candidates ordered by the reranker's probability (fused order when there is no model)."""
        model = self.ranking.mode(mode) if self.ranking else None
        if model is None or not cands:
            return cands
        P = model.rerank.probability(np.asarray([c.features for c in cands]))
        for c, p in zip(cands, P):
            c.probability = float(p)
        return sorted(cands, key=lambda c: (-c.probability, c.fused_rank))

    def decision_features(self, ranked: list[Candidate], query: PreparedQuery, triage: TriageView | None) -> list[float]:
        top = ranked[0]
        second = ranked[1] if len(ranked) > 1 else None
        f = dict(zip(RERANK_FEATURES, top.features))
        p1 = top.probability
        p2 = second.probability if second is not None else 0.0
        entries = self.build.entries
        same = float(second is not None and bool(entries[top.pos].issue_types) and bool(entries[second.pos].issue_types)
                     and entries[top.pos].issue_types[0] == entries[second.pos].issue_types[0])
        return [p1, p2, p1 - p2, f["tri_overlap"], f["tri_main"], f["tri_in_labels"], f["tri_max"],
                f["tri_out_of_scope"], f["coverage"], f["question_coverage"], max(f["cos_q"], f["cos_a"]),
                f["bm25_norm"], f["log_query_chars"], f["oov_share"], math.log(1 + len(query.tokens)),
                f["degenerate"], same, f["mem_cos"], f["mem_vote"]]

    def search(self, query: PreparedQuery | str, k: int = 5, mode: str | None = None, triage: TriageView | None = None,
               kinds: Sequence[str] | None = None, jurisdictions: Sequence[str] | None = None,
               exclude_text: str | None = None, query_vector: np.ndarray | None = None,
               standing: Mapping[int, float] | None = None, need: str | None = None) -> SearchResult:
        """``need``: an issue type the person chose in a clarifying question: only its entries are offered.
        ``standing``: entry id -> a bounded multiplier earned from feedback (hotline/standing.py). A plain string
        is prepared here by kb.query.prepare_query, the one query path."""
        if isinstance(query, str):
            query = prepare_query(query)
        mode = mode or ("hybrid" if "hybrid" in self.modes else "bm25")  # a BM25-only index answers in bm25
        if not self.build.entries:
            return self._result([], mode, "none", float("nan"), "nothing is published yet", query=query)
        if mode not in self.modes:
            raise ValueError(f"mode {mode!r} not available; this index supports {self.modes}")
        entries = self.build.entries
        cands = self.candidates(query, mode, exclude_text, query_vector, triage,
                                depth=RERANK_DEPTH if not (kinds or jurisdictions or need) else CANDIDATES)
        if kinds:
            cands = [c for c in cands if entries[c.pos].kind in kinds]
        if jurisdictions:
            cands = [c for c in cands if entries[c.pos].jurisdiction in jurisdictions]
        if need:
            matches = self._need_filter(need)
            cands = [c for c in cands if matches(c.pos)]
        cands = cands[:RERANK_DEPTH]
        if not cands:
            return self._result([], mode, "none", float("nan"), "no entry matches the query", query=query)
        model = self.ranking.mode(mode) if self.ranking else None
        ranked = self.rerank(cands, mode)
        if model is None:
            factors = {c.pos: float(standing.get(entries[c.pos].entry_id, 1.0)) if standing else 1.0 for c in ranked}
            ranked = sorted(ranked, key=lambda c: -c.fused * factors[c.pos])
            hits = [self._hit(c, float("nan"), factors[c.pos], "none") for c in ranked[:k]]
            return self._result(hits, mode, "none", float("nan"), "uncalibrated: no ranking model, scores are not "
                                "probabilities", abstain=False, query=query)
        confidence = float(model.decide.probability(np.asarray([self.decision_features(ranked, query, triage)]))[0])
        tier = model.tier(confidence, ranked[0].probability)
        reason = None
        if query.degenerate:
            tier, reason = "none", f"not a question ({query.degenerate})"
        elif tier == "none":
            reason = f"best match {confidence:.2f} is below {model.likely:.2f}: no good answer"
        # Standing reorders what is shown (x0.95-1.05); ties keep the reranker's order.
        factors = {c.pos: float(standing.get(entries[c.pos].entry_id, 1.0)) if standing else 1.0 for c in ranked}
        order = {c.pos: i for i, c in enumerate(ranked)}
        shown = sorted(ranked, key=lambda c: (-min(1.0, c.probability * factors[c.pos]), order[c.pos]))
        hits = []
        for c in shown[:k]:
            score = min(1.0, c.probability * factors[c.pos])
            hits.append(self._hit(c, score, factors[c.pos], self._hit_tier(model, score, c is ranked[0], tier)))
        clarify = self._clarify(shown, query, tier) if not need else None
        return self._result(hits, mode, tier, confidence, reason, model.likely, clarify, query=query)

    @staticmethod
    def _hit_tier(model: ModeModel, score: float, is_lead: bool, tier: str) -> str:
        """The lead hit carries the answer's tier; the others their own by score, never above the lead's."""
        if is_lead:
            return tier
        own = model.tier(score)
        order = ("confident", "likely", "none")
        return order[max(order.index(own), order.index(tier))]

    def _clarify(self, shown: list[Candidate], query: PreparedQuery, tier: str) -> Clarify | None:
        """One question when the answer is only likely and the leading candidates answer different needs:
        their main issue types differ, or (same type) they are about different counterparties the query does
        not name (a deposit held by a rental shop or by the station)."""
        if tier != "likely" or len(shown) < 2:
            return None
        entries = self.build.entries
        first = shown[0]
        rivals = [c for c in shown[1:4] if c.probability >= 0.5 * first.probability]
        need1 = entries[first.pos].issue_types[0] if entries[first.pos].issue_types else None
        for c in rivals:
            types = entries[c.pos].issue_types
            if need1 and types and types[0] != need1:
                n1, n2 = self._names.get(need1, need1), self._names.get(types[0], types[0])
                return Clarify(f"你想问的是{n1}，还是{n2}？", (ClarifyOption(need1, n1, entries[first.pos].entry_id),
                                                           ClarifyOption(types[0], n2, entries[c.pos].entry_id)))
        if situation(query.text).counterparty:
            return None  # the person already said who the other side is
        who1 = self._situation_of(first.pos).counterparty
        for c in rivals:
            who2 = self._situation_of(c.pos).counterparty
            a, b = sorted(who1 - who2), sorted(who2 - who1)
            if len(who1) == 1 and a and b and a[0] in COUNTERPARTY_NAMES and b[0] in COUNTERPARTY_NAMES:
                l1, l2 = COUNTERPARTY_NAMES[a[0]], COUNTERPARTY_NAMES[b[0]]
                return Clarify(f"这件事的对方是{l1}，还是{l2}？",
                               (ClarifyOption(f"who:{a[0]}", l1, entries[first.pos].entry_id),
                                ClarifyOption(f"who:{b[0]}", l2, entries[c.pos].entry_id)))
        return None

    def _need_filter(self, need: str) -> Callable[[int], bool]:
        """Whether the entry at a position answers ``need``: an issue type id, ``who:<counterparty tag>`` from a
        clarifying question, ``lead:<issue type id>``: entries whose main (first) issue type it is, or
        ``slug:<a>,<b>``: those entries. Parsed once per search, not once per candidate."""
        entries = self.build.entries
        if need.startswith("slug:"):
            slugs = frozenset(need[5:].split(","))
            return lambda pos: entries[pos].slug in slugs
        if need.startswith("who:"):
            return lambda pos: need[4:] in self._situation_of(pos).counterparty
        if need.startswith("lead:"):
            return lambda pos: bool(entries[pos].issue_types) and entries[pos].issue_types[0] == need[5:]
        return lambda pos: need in entries[pos].issue_types

    def _hit(self, c: Candidate, score: float, standing: float, tier: str) -> Hit:
        e = self.build.entries[c.pos]
        retrievers = [name for name, r in (("bm25", c.bm25_rank), ("dense", c.dense_rank)) if r is not None]
        return Hit(e.entry_id, e.slug, e.kind, e.title, list(e.issue_types), e.status, e.version,
                   round(score, 4) if not math.isnan(score) else float("nan"), round(c.fused, 6), retrievers,
                   c.bm25_rank, c.dense_rank, c.matched, round(standing, 4), tier)

    def _result(self, hits: list[Hit], mode: str, tier: str, confidence: float, reason: str | None,
                threshold: float | None = None, clarify: Clarify | None = None, abstain: bool | None = None,
                query: PreparedQuery | None = None) -> SearchResult:
        build = self.build
        return SearchResult(tier == "none" if abstain is None else abstain, hits, mode, reason, threshold,
                            build.path.name if build.path else None, len(build.entries), tier,
                            round(confidence, 4) if not math.isnan(confidence) else float("nan"), clarify,
                            query.degenerate if query else None)
