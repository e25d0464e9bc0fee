"""Retrain the triage model with operators' corrections, and promote it only when it is no worse.

The gate (:func:`judge`), judged on the fixed held-out test split that no training or tuning step sees,
with the current model re-evaluated on the same split at the same time:

1. the candidate's macro-F1 is at least the current model's;
2. no issue type's F1 drops by more than ``max_f1_drop`` (default 0.03);
3. the candidate's emergency recall is at least ``min_emergency_recall`` (1.0: missing an emergency is
   the worst error this product can make).

A candidate that passes becomes ``CURRENT`` (served); one that fails is saved beside it, not served,
with the report in its manifest (both models' per-type F1, the verdict and the reasons). Every verdict
is appended to the model history (:mod:`models.registry`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from models import eval_triage
from models.feedback_data import Correction, select_for_training
from models.registry import record_event, triage_root
from models.train_triage import CachedEncoder, embedding_cache_file, save_model, train
from models.triage_data import Example, by_split, load_corpus
from triage import classifier as artifact
from triage.embedder import Embedder, embedding_id
from triage.errors import ArtifactError
from triage.features import VARIANTS
from triage.pipeline import Triager


@dataclass(frozen=True)
class GatePolicy:
    max_f1_drop: float = 0.03
    min_emergency_recall: float = 1.0


_EPS = 1e-9  # scores are rounded to 3-4 decimals: equal means equal


def summary(report: dict[str, Any]) -> dict[str, Any]:
    """What the gate and the model list keep of an evaluation report."""
    return {"macro_f1": report["macro_f1"], "top1_accuracy": report["top1_accuracy"],
            "emergency_recall": report["emergency_recall"], "calibration_error": report["calibration_error"],
            "per_type_f1": {t: v["f1"] for t, v in report["per_type"].items()}}


def judge(candidate: dict[str, Any], current: dict[str, Any] | None, policy: GatePolicy = GatePolicy()) -> dict[str, Any]:
    """The verdict on a candidate's test report against the current model's (``None``: nothing served).

    Both arguments are :func:`summary` dicts. Returns ``verdict`` (promoted / rejected), ``reasons``
    (the failed checks, or the passed ones when promoted), every check, and per-type F1 side by side.
    """
    checks: list[dict[str, Any]] = []
    em = candidate.get("emergency_recall")
    checks.append({"rule": "emergency_recall", "passed": em is None or em >= policy.min_emergency_recall - _EPS,
                   "detail": f"emergency recall {em} (needs >= {policy.min_emergency_recall})" if em is not None
                   else "no emergencies in the test split"})
    per_type: dict[str, dict[str, float | None]] = {}
    if current is None:
        checks.append({"rule": "current_model", "passed": True, "detail": "no current model to compare with"})
        per_type = {t: {"current": None, "candidate": f, "change": None} for t, f in candidate["per_type_f1"].items()}
    else:
        cand, cur = candidate["macro_f1"], current["macro_f1"]
        checks.append({"rule": "macro_f1", "passed": cand >= cur - _EPS,
                       "detail": f"macro-F1 {cand:.4f} vs current {cur:.4f}"})
        drops = []
        for t, f_new in candidate["per_type_f1"].items():
            f_old = current["per_type_f1"].get(t)
            change = None if f_old is None else round(f_new - f_old, 4)
            per_type[t] = {"current": f_old, "candidate": f_new, "change": change}
            if change is not None:
                drops.append((-change, t, f_old, f_new))
        worst = [d for d in drops if d[0] > policy.max_f1_drop + _EPS]
        if worst:
            for drop, t, f_old, f_new in sorted(worst, reverse=True):
                checks.append({"rule": "per_type_f1", "passed": False,
                               "detail": f"{t}: F1 {f_old:.3f} -> {f_new:.3f} (drop {drop:.3f} > {policy.max_f1_drop})"})
        else:
            drop, t, *_ = max(drops) if drops else (0.0, "-", None, None)
            checks.append({"rule": "per_type_f1", "passed": True,
                           "detail": f"largest per-type F1 drop {max(drop, 0.0) or 0.0:.3f} ({t}) <= {policy.max_f1_drop}"})
    passed = all(c["passed"] for c in checks)
    return {
        "verdict": "promoted" if passed else "rejected",
        "reasons": [c["detail"] for c in checks if c["passed"] == passed],
        "checks": checks,
        "policy": asdict(policy),
        "macro_f1": {"current": current["macro_f1"] if current else None, "candidate": candidate["macro_f1"]},
        "emergency_recall": {"current": current.get("emergency_recall") if current else None, "candidate": em},
        "per_type_f1": per_type,
    }


def retrain_with_feedback(
    model_dir: Path,
    embedding_model_path: str,
    shared_dir: Path | None,
    reports_dir: Path,
    corrections: list[Correction],
    policy: GatePolicy = GatePolicy(),
    *,
    variants: Sequence[str] | None = None,
    Cs: Sequence[float] | None = None,
    use_embeddings: bool = True,
    embedder_options: dict[str, Any] | None = None,
    examples: list[Example] | None = None,
) -> dict[str, Any]:
    """Train a candidate on the corpus plus the usable corrections, judge it, save it (served or aside).

    By default the candidate keeps the served model's configuration (feature variant and C), so the
    comparison isolates what the corrections changed; ``variants``/``Cs`` widen or override it.
    ``examples`` replaces the corpus (tests train on a subset to stay fast).
    """
    t0 = time.perf_counter()
    root = triage_root(model_dir)
    examples = examples if examples is not None else load_corpus(shared_dir)
    selection = select_for_training(corrections, examples)
    current_version = artifact.current_version(root)
    current_manifest = artifact.read_manifest(root, current_version)
    if variants is None:
        variants = (current_manifest["variant"],) if current_manifest.get("variant") else VARIANTS
    if Cs is None:
        Cs = (float(current_manifest["C"]),) if current_manifest.get("C") else (2.0, 8.0)
    if not use_embeddings:
        variants = tuple(v for v in variants if v == "tfidf") or ("tfidf",)

    emb_id = embedding_id(embedding_model_path, **(embedder_options or {}))
    encoder: CachedEncoder | None = None

    def get_encoder() -> CachedEncoder:
        nonlocal encoder
        if encoder is None:
            embedder = Embedder(embedding_model_path, **(embedder_options or {}))
            encoder = CachedEncoder(embedder.encode_queries, embedding_cache_file(model_dir, emb_id))
        return encoder

    needs_encoder = any(v != "tfidf" for v in variants)
    best, comparison, _ = train(examples, get_encoder() if needs_encoder else None, variants=variants, Cs=Cs,
                                extra_train=selection.examples)
    trained_s = time.perf_counter() - t0
    test = by_split(examples)["test"]
    candidate_report = eval_triage.evaluate(Triager(best.model), test)
    candidate = summary(candidate_report)

    current: dict[str, Any] | None = None
    current_problem = None
    if current_version:
        try:
            model = artifact.load(root, current_version, embedding_id=emb_id)
            if model.needs_encoder:
                model.attach_encoder(get_encoder())
            current = summary(eval_triage.evaluate(Triager(model), test))
        except ArtifactError as exc:  # a current model this code refuses to serve is no standard to keep
            current_problem = str(exc)
    if encoder is not None:
        encoder.save()
    decision = judge(candidate, current, policy)
    if current_problem:
        decision["reasons"].append(f"current model {current_version} not comparable: {current_problem}")
    promote = decision["verdict"] == "promoted"
    metrics = {"test": {k: v for k, v in candidate_report.items() if k not in ("reliability", "label_counts")}}
    promotion = {**decision, "current_version": current_version, "feedback": selection.report}
    path = save_model(best, examples, root, metrics, comparison, emb_id if best.model.needs_encoder else None,
                      make_current=promote, suffix="-feedback", extra_train=selection.examples,
                      extra_manifest={"promotion": promotion})
    record_event(model_dir, decision["verdict"], path.name, compared_with=current_version,
                 macro_f1=decision["macro_f1"], feedback_examples=len(selection.examples))
    report = {"version": path.name, "verdict": decision["verdict"],
              "served": artifact.current_version(root), "variant": best.variant, "C": best.C,
              **{k: v for k, v in promotion.items() if k != "verdict"},
              "comparison": comparison,
              "seconds": {"train": round(trained_s, 1), "total": round(time.perf_counter() - t0, 1)}}
    reports_dir.mkdir(parents=True, exist_ok=True)
    (reports_dir / "triage_promotion.json").write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    return report
