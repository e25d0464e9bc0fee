"""Train, compare, tune and evaluate the triage classifiers.

Three feature variants are compared in one run: TF-IDF (character n-grams + jieba words), e5
sentence embeddings, and both. Each gets calibrated one-vs-rest logistic regressions for issue
types and a calibrated multinomial one for urgency. Per-type thresholds, the abstain threshold and
the emergency threshold are tuned on the validation split; the winner is chosen by validation
macro-F1; the test split is touched only by :func:`evaluate`.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.multiclass import OneVsRestClassifier
from sklearn.preprocessing import MultiLabelBinarizer
from tqdm import tqdm

from models.triage_data import Example, by_split, data_hash
from triage import classifier as artifact
from triage.classifier import TriageModel, decide_labels
from triage.features import VARIANTS, attach_encoder, build_features
from triage.pii import mask
from triage.segment import resource_hash
from triage.taxonomy import issue_types

Progress = Callable[[str], None]


def _log_stderr(line: str) -> None:
    # stdout carries the command's JSON result; progress goes to stderr.
    tqdm.write(line, file=sys.stderr)


class CachedEncoder:
    """Memoise query embeddings by text (on disk too), so training runs encode each text once."""

    def __init__(self, encode: Callable[[Sequence[str]], np.ndarray], cache_file: Path | None = None,
                 progress: bool = False) -> None:
        self._encode = encode
        self.cache_file = cache_file
        self.progress = progress
        self._cache: dict[str, np.ndarray] = {}
        if cache_file and cache_file.exists():
            data = np.load(cache_file, allow_pickle=False)
            self._cache = dict(zip(data["keys"].tolist(), data["vectors"]))

    @staticmethod
    def _key(text: str) -> str:
        return hashlib.sha1(text.encode("utf-8")).hexdigest()

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        keys = [self._key(t) for t in texts]
        missing = list(dict.fromkeys(t for t, k in zip(texts, keys) if k not in self._cache))
        if missing:
            batches = range(0, len(missing), 64)
            for i in tqdm(batches, desc="embedding", unit="batch", disable=not self.progress or len(missing) < 65):
                chunk = missing[i : i + 64]
                for t, v in zip(chunk, self._encode(chunk)):
                    self._cache[self._key(t)] = v
        return np.vstack([self._cache[k] for k in keys])

    def save(self) -> None:
        if self.cache_file and self._cache:
            self.cache_file.parent.mkdir(parents=True, exist_ok=True)
            keys = np.array(list(self._cache))
            tmp = self.cache_file.with_suffix(".tmp.npz")
            np.savez(tmp, keys=keys, vectors=np.vstack(list(self._cache.values())))
            tmp.replace(self.cache_file)


@dataclass
class Candidate:
    variant: str
    C: float
    model: TriageModel
    val_macro_f1: float


def _issue_clf(C: float) -> OneVsRestClassifier:
    base = LogisticRegression(C=C, class_weight="balanced", max_iter=3000)
    return OneVsRestClassifier(CalibratedClassifierCV(base, method="sigmoid", cv=3), n_jobs=2)


def _urgency_clf(C: float) -> CalibratedClassifierCV:
    return CalibratedClassifierCV(LogisticRegression(C=C, class_weight="balanced", max_iter=3000), method="sigmoid", cv=3)


def tune_thresholds(P: np.ndarray, Y: np.ndarray, labels: list[str]) -> dict[str, float]:
    """Per type, the threshold that maximises F1 on validation (0.5 when the type is absent there)."""
    grid = np.round(np.arange(0.10, 0.91, 0.05), 2)
    out = {}
    for j, label in enumerate(labels):
        if Y[:, j].sum() == 0:
            out[label] = 0.5
            continue
        f1s = [f1_score(Y[:, j], P[:, j] >= t, zero_division=0) for t in grid]
        best = max(f1s)
        # Among near-best thresholds take the middle one: less sensitive to a few validation items.
        near = [t for t, f in zip(grid, f1s) if f >= best - 0.005]
        out[label] = float(near[len(near) // 2])
    return out


def predict_labels(P: np.ndarray, labels: list[str], thresholds: dict[str, float], abstain: float) -> np.ndarray:
    """Indicator matrix of :func:`decide_labels` over rows, for scoring during tuning."""
    index = {l: j for j, l in enumerate(labels)}
    pred = np.zeros_like(P, dtype=int)
    for i, row in enumerate(P):
        for l in decide_labels(row, labels, thresholds, abstain):
            pred[i, index[l]] = 1
    return pred


def tune_abstain(P: np.ndarray, Y: np.ndarray, labels: list[str], thresholds: dict[str, float]) -> float:
    """The highest abstain threshold that costs at most 0.005 validation macro-F1."""
    grid = np.round(np.arange(0.0, 0.61, 0.05), 2)
    f1s = [f1_score(Y, predict_labels(P, labels, thresholds, t), average="macro", zero_division=0) for t in grid]
    best = max(f1s)
    return float(max(t for t, f in zip(grid, f1s) if f >= best - 0.005))


def tune_emergency(model: TriageModel, val_ex: list[Example], beta: float = 2.0) -> float:
    """Threshold on P(emergency) for the whole system on validation: cues catch most emergencies,
    the classifier adds what they miss. Maximise F-beta (recall-weighted); never below 0.15, because
    a threshold set by the weakest of ~20 validation emergencies flags half of all messages."""
    from sklearn.metrics import fbeta_score

    from triage.pipeline import Triager

    texts = [e.text for e in val_ex]
    truth = [e.urgency == "emergency" for e in val_ex]
    saved = model.emergency_threshold
    model.emergency_threshold = 1.01  # rules only
    rule_flags = [r.urgency.level == "emergency" for r in Triager(model).analyse_many(texts)]
    model.emergency_threshold = saved
    _, Pu = model.predict_proba([mask(t).text for t in texts])
    p_em = Pu[:, model.urgency_classes.index("emergency")]
    best_t, best_f = 0.5, -1.0
    for t in np.round(np.arange(0.15, 0.91, 0.05), 2):
        flags = [r or p >= t for r, p in zip(rule_flags, p_em)]
        f = fbeta_score(truth, flags, beta=beta, zero_division=0)
        if f >= best_f:  # ties go to the higher threshold
            best_t, best_f = float(t), f
    return best_t


def train(
    examples: list[Example],
    encoder: Callable[[Sequence[str]], np.ndarray] | None,
    variants: Sequence[str] = VARIANTS,
    Cs: Sequence[float] = (2.0, 8.0),
    log: Progress = _log_stderr,
) -> tuple[Candidate, list[dict[str, Any]], dict[str, Candidate]]:
    """Fit every variant x C on train, tune on val. Returns the best by val macro-F1, the comparison
    table, and the best candidate of each variant."""
    labels = issue_types()
    splits = by_split(examples)
    train_ex, val_ex = splits["train"], splits["val"]
    mlb = MultiLabelBinarizer(classes=labels)
    Ytr = mlb.fit_transform([e.issue_types for e in train_ex])
    Yva = mlb.transform([e.issue_types for e in val_ex])
    Xtr_text = [mask(e.text).text for e in train_ex]
    Xva_text = [mask(e.text).text for e in val_ex]
    comparison: list[dict[str, Any]] = []
    best: Candidate | None = None
    per_variant: dict[str, Candidate] = {}
    configs = [(v, C) for v in variants for C in Cs if v == "tfidf" or encoder is not None]
    for variant, C in tqdm(configs, desc="training", unit="model"):
        t0 = time.perf_counter()
        features = build_features(variant)
        attach_encoder(features, encoder)
        Ftr = features.fit_transform(Xtr_text)
        Fva = features.transform(Xva_text)
        issue = _issue_clf(C).fit(Ftr, Ytr)
        urgency = _urgency_clf(C).fit(Ftr, [e.urgency for e in train_ex])
        Pva = issue.predict_proba(Fva)
        thresholds = tune_thresholds(Pva, Yva, labels)
        abstain = tune_abstain(Pva, Yva, labels, thresholds)
        macro = float(f1_score(Yva, predict_labels(Pva, labels, thresholds, abstain), average="macro", zero_division=0))
        model = TriageModel(features, issue, urgency, labels, thresholds, abstain, 0.5, variant)
        model.emergency_threshold = tune_emergency(model, val_ex)
        row = {"variant": variant, "C": C, "val_macro_f1": round(macro, 4), "abstain_threshold": abstain,
               "emergency_threshold": model.emergency_threshold,
               "fit_seconds": round(time.perf_counter() - t0, 1)}
        comparison.append(row)
        log(json.dumps(row, ensure_ascii=False))
        cand = Candidate(variant, C, model, macro)
        if best is None or macro > best.val_macro_f1 + 1e-9:
            best = cand
        if variant not in per_variant or macro > per_variant[variant].val_macro_f1 + 1e-9:
            per_variant[variant] = cand
    if best is None:
        raise ValueError("no model was trained (no variants?)")
    return best, comparison, per_variant


def save_model(best: Candidate, examples: list[Example], root: Path, metrics: dict[str, Any], comparison: list[dict[str, Any]],
               embedding_id: str | None, make_current: bool = True, suffix: str = "") -> Path:
    version = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + suffix
    counts = {s: len(v) for s, v in by_split(examples).items()}
    manifest = {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "data_hash": data_hash(examples),
        "data_counts": counts,
        "dictionary_hash": resource_hash("dictionary.txt", "synonyms.tsv", "cantonese.tsv"),
        "embedding_id": embedding_id if best.model.needs_encoder else None,
        "C": best.C,
        "thresholds": best.model.thresholds,
        "abstain_threshold": best.model.abstain_threshold,
        "emergency_threshold": best.model.emergency_threshold,
        "comparison": comparison,
        "metrics": metrics,
    }
    return artifact.save(best.model, root, version, manifest, make_current=make_current)
