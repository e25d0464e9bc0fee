"""The ranking model: reorder the retrieved candidates by situation, then decide how sure the answer is.

Two models per retrieval mode, stored as JSON (no pickles):

- the **reranker**: a LightGBM lambdarank model over the candidates' features (retrieval scores, triage's
  issue types, the situation tags of triage/situation.py, the answered-question memory of kb/memory.py, saved
  in the same file), its score turned into P(this entry answers the
  query) by a Platt sigmoid fitted on out-of-fold scores. Suggestions are ordered by this probability and it
  is the score the console shows (the sigmoid is monotonic, so the order is the ranker's);
- the **decision**: P(the first suggestion answers the query), from the reranked candidates, triage's
  confidence and its agreement with the entry, and the query itself. Two thresholds turn it into a tier:
  ``confident`` (answer), ``likely`` (a hedged answer, or one clarifying question), else ``none``
  (hand over to a person).

Both are fitted by ``jishibang train search`` (models/answer_training.py) on the calibration queries and
the entries' own paraphrases (and the retired blind sets), never on the evaluation queries or a blind set still
blind. The file records what the features depend on (the embedding vectors, the segmentation dictionary, the
situation tags) and the service refuses a file whose record does not match (kb.errors.RankingModelError).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kb.errors import RankingModelError
from kb.memory import QueryMemory
from kb.tree_model import TreeEnsemble, TreeModelError
from triage.files import write_text_atomic

TIERS = ("confident", "likely", "none")


@dataclass(frozen=True)
class Linear:
    """Standardised logistic regression: sigmoid(((x - mean) / scale) . coef + intercept)."""

    features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Linear:
        return cls(tuple(d["features"]), np.asarray(d["mean"], dtype=np.float64),
                   np.asarray(d["scale"], dtype=np.float64), np.asarray(d["coef"], dtype=np.float64),
                   float(d["intercept"]))

    def to_dict(self) -> dict[str, Any]:
        return {"features": list(self.features), "mean": self.mean.round(8).tolist(),
                "scale": self.scale.round(8).tolist(), "coef": self.coef.round(8).tolist(),
                "intercept": round(self.intercept, 8)}

    def probability(self, X: np.ndarray) -> np.ndarray:
        """``X``: (n, features) -> (n,) probabilities."""
        z = ((np.asarray(X, dtype=np.float64) - self.mean) / self.scale) @ self.coef + self.intercept
        return 1.0 / (1.0 + np.exp(-np.clip(z, -40, 40)))


class Reranker:
    """A LightGBM ranker (its own text format, kept inside the JSON) and the Platt sigmoid of its scores.

    Trained with lightgbm; served by kb.tree_model (the same text evaluated with numpy, equal scores), so an
    API worker never imports lightgbm and, through it, scikit-learn."""

    def __init__(self, model_text: str, a: float, b: float, features: Sequence[str]) -> None:
        self.model_text = model_text
        self.a, self.b = float(a), float(b)
        self.features = tuple(features)
        self.trees = TreeEnsemble.from_text(model_text)

    def scores(self, X: np.ndarray) -> np.ndarray:
        return self.trees.predict(np.asarray(X, dtype=np.float64))

    def probability(self, X: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-np.clip(self.a * self.scores(X) + self.b, -40, 40)))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "lightgbm-lambdarank", "features": list(self.features), "platt": [self.a, self.b],
                "model": self.model_text}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Reranker:
        return cls(d["model"], d["platt"][0], d["platt"][1], d["features"])


@dataclass(frozen=True)
class ModeModel:
    rerank: Reranker
    decide: Linear
    confident: float
    likely: float
    # The first suggestion's own score below which it is never offered, whatever the decision says: a hedge
    # showing an entry the reranker itself gives a few percent looks wrong to everyone who reads it.
    floor: float = 0.0

    def tier(self, p: float, top_score: float | None = None) -> str:
        if math.isnan(p) or (top_score is not None and top_score < self.floor):
            return "none"
        return "confident" if p >= self.confident else "likely" if p >= self.likely else "none"


class RankingModel:
    """Per mode (hybrid / bm25 / dense) a reranker, a decision and its two thresholds."""

    # 2: a LightGBM reranker; 3: with the answered-question memory; 4: the entries' own questions in the memory
    FILE_VERSION = 4

    def __init__(self, modes: dict[str, ModeModel], record: dict[str, Any], report: dict[str, Any] | None = None,
                 memory: QueryMemory | None = None) -> None:
        self.modes = modes
        self.memory = memory  # the calibration questions the reranker's mem_* features were fitted with
        self.record = record  # what the features depend on: model_id, dictionary_hash, situation_hash, features
        self.report = report or {}

    def mode(self, mode: str) -> ModeModel | None:
        return self.modes.get(mode)

    def check(self, expected: dict[str, Any]) -> None:
        """Raise :class:`RankingModelError` naming every recorded value that differs from ``expected``."""
        wrong = [f"{k}: fitted on {self.record.get(k)!r}, now {v!r}" for k, v in expected.items()
                 if self.record.get(k) != v]
        if wrong:
            raise RankingModelError("; ".join(wrong))

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        body = {"file_version": self.FILE_VERSION, "record": self.record, "report": self.report,
                "modes": {m: {"rerank": mm.rerank.to_dict(), "decide": mm.decide.to_dict(),
                              "confident": mm.confident, "likely": mm.likely, "floor": mm.floor}
                          for m, mm in self.modes.items()},
                "memory": self.memory.to_dict() if self.memory is not None else None}
        write_text_atomic(path, json.dumps(body, ensure_ascii=False, indent=1))

    @classmethod
    def load(cls, path: Path) -> RankingModel | None:
        if not path.exists():
            return None
        try:
            body = json.loads(path.read_text(encoding="utf-8"))
            if body.get("file_version") != cls.FILE_VERSION:
                raise RankingModelError(f"{path.name} has file version {body.get('file_version')}, "
                                        f"this code reads {cls.FILE_VERSION}: run `jishibang train search`")
            modes = {m: ModeModel(Reranker.from_dict(d["rerank"]), Linear.from_dict(d["decide"]), float(d["confident"]),
                                  float(d["likely"]), float(d.get("floor", 0.0))) for m, d in body["modes"].items()}
            memory = QueryMemory.from_dict(body["memory"]) if body.get("memory") else None
        except (OSError, ValueError, KeyError, TypeError, TreeModelError) as exc:
            raise RankingModelError(f"{path.name} cannot be read: {exc}") from exc
        return cls(modes, body.get("record", {}), body.get("report"), memory)


def standardise(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column means and scales (1 for constant columns), as the Linear model applies them."""
    mean = X.mean(axis=0)
    scale = X.std(axis=0)
    scale[scale < 1e-9] = 1.0
    return mean, scale


def as_matrix(rows: Sequence[Sequence[float]], width: int) -> np.ndarray:
    return np.asarray(rows, dtype=np.float64).reshape(-1, width)
