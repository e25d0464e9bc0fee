"""Gaps: questions nobody answered well, clustered by meaning, named by their key terms, counted,
and turned into a draft entry in one step (the questions become its paraphrases)."""

from __future__ import annotations

import hashlib
import re
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np

from kb.schema import EntryContent
from kb.store import EntryStore, EntryView

# Complete linkage: every two questions in a cluster are within this cosine distance (one need per draft).
# Chosen by `jishibang eval gaps` on the calibration queries (e5 similarities are compressed: 0.10 is
# already loose); the held-out figures are in the README.
DEFAULT_DISTANCE = 0.09
_PLACEHOLDER = re.compile(r"\[[^\]]{1,6}\]")

EncodeFn = Callable[[list[str]], np.ndarray]


class VectorCache:
    """Question vectors kept between visits: the gaps view clusters the same questions every time, and
    encoding a thousand of them again took the model most of a minute (the fuzzer's requests timed out)."""

    def __init__(self, encode: EncodeFn, size: int = 20_000) -> None:
        self.encode, self.size = encode, size
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            known = {t: self._vectors[t] for t in texts if t in self._vectors}
        missing = [t for t in dict.fromkeys(texts) if t not in known]
        if missing:
            fresh = dict(zip(missing, self.encode(missing)))
            known.update(fresh)
            with self._lock:
                self._vectors.update(fresh)
                while len(self._vectors) > self.size:
                    self._vectors.popitem(last=False)
        return np.stack([known[t] for t in texts])  # cluster() never asks for none


@dataclass(frozen=True, slots=True)
class GapCluster:
    key: str  # stable for the same member questions
    terms: list[str]
    count: int
    question_ids: list[int]
    examples: list[str]
    issue_types: list[str]
    sources: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "terms": self.terms, "count": self.count, "question_ids": self.question_ids,
                "examples": self.examples, "issue_types": self.issue_types, "sources": self.sources}


def key_terms(texts: list[str], k: int = 3) -> list[str]:
    import jieba.analyse

    joined = _PLACEHOLDER.sub(" ", "。".join(texts))
    return [t for t in jieba.analyse.extract_tags(joined, topK=k + 4) if not t.isdigit()][:k]


def cluster(questions: list[dict[str, Any]], encode: EncodeFn, distance: float = DEFAULT_DISTANCE,
            examples: int = 5) -> list[GapCluster]:
    """``questions``: rows with id, text, source, issue_types. Largest clusters first."""
    if not questions:
        return []
    texts = [q["text"] for q in questions]
    if len(questions) == 1:
        labels = np.zeros(1, dtype=int)
        vecs = encode(texts)
    else:
        vecs = encode(texts)
        from sklearn.cluster import AgglomerativeClustering  # here: the API workers never cluster

        labels = AgglomerativeClustering(n_clusters=None, distance_threshold=distance, metric="cosine",
                                         linkage="complete").fit_predict(vecs)
    out = []
    for label in set(labels.tolist()):
        idx = np.flatnonzero(labels == label)
        centre = vecs[idx].mean(axis=0)
        # Most typical question first: closest to the cluster's centre.
        order = idx[np.argsort(-(vecs[idx] @ centre))]
        members = [questions[i] for i in order]
        ids = sorted(int(m["id"]) for m in members)
        types = Counter(t for m in members for t in m.get("issue_types") or [])
        out.append(GapCluster(
            key=hashlib.sha1(",".join(map(str, ids)).encode()).hexdigest()[:12],
            terms=key_terms([m["text"] for m in members]),
            count=len(members),
            question_ids=ids,
            examples=list(dict.fromkeys(m["text"] for m in members))[:examples],
            issue_types=[t for t, _ in types.most_common(3)],
            sources=dict(Counter(m.get("source", "worker") for m in members)),
        ))
    out.sort(key=lambda c: (-c.count, c.key))
    return out


def draft_from_questions(store: EntryStore, questions: list[dict[str, Any]], author: str,
                         issue_types: list[str] | None = None, title: str | None = None) -> EntryView:
    """A new draft entry whose question and paraphrases are the gap's questions; staff write the answer."""
    if not questions:
        raise ValueError("no questions to draft from")
    texts = list(dict.fromkeys(q["text"].strip()[:300] for q in questions if q["text"].strip()))
    types = issue_types or [t for t, _ in Counter(t for q in questions for t in q.get("issue_types") or []).most_common(2)]
    terms = key_terms(texts)
    digest = hashlib.sha1(",".join(str(q["id"]) for q in questions).encode()).hexdigest()[:8]
    content = EntryContent(
        slug=f"gap-{date.today():%Y%m%d}-{digest}",
        kind="faq",
        title=(title or ("待答：" + "、".join(terms) if terms else "待答问题"))[:300],
        question=texts[0],
        paraphrases=texts[1:41],
        operator_answer="（待撰写：给接线员的答复要点、法律依据与转介。）",
        worker_answer="（待撰写：给劳动者的白话答复。）",
        issue_types=types or ["out_of_scope"],
        sources=[f"gap cluster of {len(questions)} unanswered questions"],
    )
    return store.create(content, author=author, comment="drafted from unanswered questions")


@dataclass(frozen=True, slots=True)
class ParaphrasesAdded:
    entry: EntryView
    added: list[str]
    skipped: list[str]  # already among the entry's questions, or beyond the 40 paraphrases an entry holds


def add_as_paraphrases(store: EntryStore, entry_id: int, questions: list[dict[str, Any]], author: str,
                       max_paraphrases: int = 40) -> ParaphrasesAdded:
    """Add a gap's questions to an existing entry as paraphrases: a new draft revision of the entry, which goes
    through the normal review (submit, a second person approves); the published revision stays live meanwhile."""
    view = store.get(entry_id)
    content = view.content
    known = {_norm(t) for t in content.search_questions()}
    added: list[str] = []
    skipped: list[str] = []
    room = max_paraphrases - len(content.paraphrases)
    for q in questions:
        text = q["text"].strip()[:300]
        if not text or _norm(text) in known or len(added) >= room:
            skipped.append(text)
            continue
        known.add(_norm(text))
        added.append(text)
    if not added:
        return ParaphrasesAdded(view, [], skipped)
    new = content.model_copy(update={"paraphrases": [*content.paraphrases, *added]})
    edited = store.update(entry_id, view.version, EntryContent.model_validate(new.model_dump()), author,
                          comment=f"由知识缺口加入 {len(added)} 个同义问法")
    return ParaphrasesAdded(edited, added, skipped)


def _norm(text: str) -> str:
    return re.sub(r"[\s\W_]+", "", text).lower()
