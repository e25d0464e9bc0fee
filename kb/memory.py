"""The answered-question memory: labelled calibration questions and the entries that answer them.

People ask about one need in many more ways than an entry's own paraphrases hold. The calibration questions
(``kb/calibration/``: the team's and those written by people who never saw the entries) are each labelled with
the entries that answer them; a new message close to one of them is likely answered by the same entries. The
reranker gets this as features beside retrieval (``mem_*`` in kb/search.py), never as the answer itself.

The memory is fitted with the ranking model and saved inside it (vectors as float16: a few MB). While fitting,
each calibration question is searched with itself left out of the memory, as it would be for a new message.
Only the calibration queries go in (the files and the retired blind sets, models/retired_sets.py): never the
evaluation queries or a blind set not yet retired.

Every published entry's own questions (title, question, paraphrases) join the remembered questions too, taken from
the index build's dense search (``own``), not stored here: an entry published after the ranking model was fitted
has no calibration question, and a model that only ever saw entries with remembered questions learned that an
entry nobody asked about is never the answer (a new entry scored 0.21-0.25 for its own question).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# Neighbours that vote for an entry; neighbours searched for an entry's closest question.
VOTERS = 10
NEIGHBOURS = 50
MEMORY_FEATURES = ("mem_cos", "mem_gap", "mem_vote", "mem_nearest")
# An entry no remembered question speaks for (or no memory, or BM25 mode without a query vector).
NO_MEMORY = (0.0, -1.0, 0.0, 0.0)


@dataclass
class QueryMemory:
    vectors: np.ndarray  # (n, dim) float32, rounded through float16 as saved
    slugs: list[tuple[str, ...]]  # the entries that answer each question
    texts: list[str] = field(default_factory=list)  # kept only while fitting (to leave a question out)

    def __post_init__(self) -> None:
        self.vectors = np.ascontiguousarray(self.vectors.astype(np.float16).astype(np.float32))
        self._rows_by_text: dict[str, list[int]] = {}
        for i, t in enumerate(self.texts):
            self._rows_by_text.setdefault(t, []).append(i)

    def __len__(self) -> int:
        return len(self.slugs)

    @classmethod
    def of(cls, texts: Sequence[str], vectors: np.ndarray, slugs: Sequence[Sequence[str]]) -> QueryMemory:
        keep = [i for i, s in enumerate(slugs) if s]
        return cls(np.asarray(vectors)[keep], [tuple(slugs[i]) for i in keep], [texts[i] for i in keep])

    def features(self, query_vector: np.ndarray, entry_slugs: Sequence[str], exclude_text: str | None = None,
                 own: tuple[np.ndarray, Sequence[str]] | None = None) -> list[list[float]]:
        """Per entry (by slug, in the order given): [its closest answered question's cosine, that minus the
        closest question's overall, the share of the nearest questions' similarity that votes for it, the closest
        question's cosine]. ``own``: the cosines and entry slugs of the entries' own question rows the dense search
        retrieved (its nearest rows, so every own row among the nearest questions overall is there)."""
        sims = self.vectors @ np.asarray(query_vector, dtype=np.float32) if len(self) else np.zeros(0, np.float32)
        if exclude_text is not None and self.texts:
            for i in self._rows_by_text.get(exclude_text, []):
                sims[i] = -np.inf  # not a neighbour at all
        n = len(sims)
        if own is not None and len(own[0]):
            sims = np.concatenate([sims, np.asarray(own[0], dtype=np.float32)])
        slugs_of = lambda i: self.slugs[i] if i < n else (own[1][i - n],)  # type: ignore[index]  # noqa: E731
        if not len(sims):
            return [list(NO_MEMORY) for _ in entry_slugs]
        k = min(NEIGHBOURS, len(sims))
        top = np.argpartition(-sims, k - 1)[:k]
        top = top[np.argsort(-sims[top], kind="stable")]
        top = top[np.isfinite(sims[top])]
        if not len(top):
            return [list(NO_MEMORY) for _ in entry_slugs]
        nearest = float(sims[top[0]])
        best: dict[str, float] = {}
        votes: dict[str, float] = {}
        voters = top[:VOTERS]
        total = float(np.clip(sims[voters], 0.0, None).sum()) or 1.0
        for rank, i in enumerate(top):
            s = float(sims[i])
            for slug in slugs_of(i):
                if slug not in best:
                    best[slug] = s
                if rank < VOTERS:
                    votes[slug] = votes.get(slug, 0.0) + max(s, 0.0)
        out = []
        for slug in entry_slugs:
            cos = best.get(slug, 0.0)
            out.append([cos, cos - nearest if slug in best else -1.0, votes.get(slug, 0.0) / total, nearest])
        return out

    def without(self, slug: str) -> QueryMemory:
        """The memory as it would be had ``slug`` been published after fitting: no remembered question names it
        (questions that named it among others keep the others)."""
        rows = [(i, tuple(s for s in slugs if s != slug)) for i, slugs in enumerate(self.slugs)]
        keep = [i for i, s in rows if s]
        texts = [self.texts[i] for i in keep] if self.texts else []
        return QueryMemory(self.vectors[keep], [rows[i][1] for i in keep], texts)

    def to_dict(self) -> dict[str, Any]:
        data = self.vectors.astype(np.float16)
        return {"dim": int(data.shape[1]) if data.ndim == 2 else 0, "slugs": [list(s) for s in self.slugs],
                "vectors_f16": base64.b64encode(data.tobytes()).decode("ascii")}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> QueryMemory:
        raw = np.frombuffer(base64.b64decode(d["vectors_f16"]), dtype=np.float16)
        dim = int(d["dim"])
        slugs = [tuple(s) for s in d["slugs"]]
        vectors = raw.reshape(len(slugs), dim) if dim else np.zeros((0, 0), dtype=np.float16)
        return cls(vectors, slugs)
