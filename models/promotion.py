"""Retrain the triage model with operators' corrections, and promote it only when it is no worse.

The gate (:func:`judge`) compares the candidate with the served model on the same held-out test messages
(the fixed test split no training or tuning step sees), both evaluated in the same run. Retraining on
nearly the same data moves a small issue type's F1 by more than any fixed margin (one message is ~0.02
of a type with 30 test messages), so a fixed "no type drops by more than 0.03" rule rejected good
candidates at random. The verdict now rests on paired statistics over those messages:

1. every emergency of the test split reaches at least the danger detector's safety check
   (``min_emergency_recall``, 1.0: missing an emergency is the worst error; the emergency flag itself is set
   for 98% of training emergencies, see models/train_danger.py, and judged by rule 3);
2. macro-F1: rejected only when the candidate is *significantly* worse: the one-sided upper confidence
   bound of (candidate - current) from a paired bootstrap over test messages (fixed seed) is below 0,
   and the drop is larger than ``min_macro_drop``;
3. on the held-out crisis split (operators' "这是紧急情况 / 不是紧急情况" verdicts join the detector's training
   data): every emergency the current model reaches (flag or safety check) the candidate reaches too, with no
   tolerance; and the emergency flag's recall is not *significantly* lower (one-sided exact test on the
   emergencies the two models flag differently). Its threshold is set at 98% of training emergencies, so a
   retraining moves one held-out emergency between flag and check by chance; a strict "not lower" rejected real
   corrections for that one message;
4. per issue type: rejected only when the candidate gets significantly more messages wrong for that type
   (McNemar's exact test on the discordant messages, one-sided, Holm-corrected over the types at
   ``alpha``) *and* its F1 drops by more than ``max_f1_drop`` (the minimum effect worth refusing).

A candidate that passes becomes ``CURRENT`` (served); one that fails is saved beside it, not served,
with the report in its manifest (both models' per-type F1, the tests, the verdict and the reasons).
Every verdict is appended to the model history (:mod:`models.registry`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import binomtest

from models import eval_triage
from models.crisis_data import CrisisExample, load_crisis
from models.crisis_data import by_split as crisis_by_split
from models.feedback_data import Correction, select_danger_for_training, select_for_training
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
    max_f1_drop: float = 0.03  # the smallest per-type F1 drop worth refusing (when it is also significant)
    min_emergency_recall: float = 1.0
    alpha: float = 0.05  # family-wise, over the issue types (Holm) and for the macro-F1 bound
    min_macro_drop: float = 0.005
    bootstrap: int = 2000
    seed: int = 20261204


_EPS = 1e-9  # scores are rounded to 3-4 decimals: equal means equal


def summary(report: dict[str, Any]) -> dict[str, Any]:
    """What the gate and the model list keep of an evaluation report."""
    return {"macro_f1": report["macro_f1"], "top1_accuracy": report["top1_accuracy"],
            "emergency_recall": report["emergency_recall"], "emergency_reached": report.get("emergency_reached"),
            "calibration_error": report["calibration_error"],
            "per_type_f1": {t: v["f1"] for t, v in report["per_type"].items()}}


@dataclass(frozen=True)
class Paired:
    """Both models' label decisions on the same test messages: indicator matrices (messages x types)."""

    labels: list[str]
    truth: np.ndarray
    current: np.ndarray
    candidate: np.ndarray

    @classmethod
    def from_label_sets(cls, labels: Sequence[str], truth: Sequence[Sequence[str]], current: Sequence[Sequence[str]],
                        candidate: Sequence[Sequence[str]]) -> Paired:
        index = {lab: j for j, lab in enumerate(labels)}

        def matrix(rows: Sequence[Sequence[str]]) -> np.ndarray:
            m = np.zeros((len(rows), len(labels)), dtype=bool)
            for i, row in enumerate(rows):
                for lab in row:
                    if lab in index:
                        m[i, index[lab]] = True
            return m

        return cls(list(labels), matrix(truth), matrix(current), matrix(candidate))


def _f1_columns(truth: np.ndarray, pred: np.ndarray) -> np.ndarray:
    tp = (truth & pred).sum(axis=0).astype(float)
    denom = truth.sum(axis=0) + pred.sum(axis=0)
    return np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)


def paired_tests(paired: Paired, policy: GatePolicy = GatePolicy()) -> dict[str, Any]:
    """McNemar per type and a bootstrap bound on the macro-F1 difference, on the same messages."""
    t, cur, cand = paired.truth, paired.current, paired.candidate
    right_cur, right_cand = cur == t, cand == t
    per_type: dict[str, dict[str, Any]] = {}
    for j, lab in enumerate(paired.labels):
        worse = int((right_cur[:, j] & ~right_cand[:, j]).sum())  # current right, candidate wrong
        better = int((~right_cur[:, j] & right_cand[:, j]).sum())
        p = binomtest(worse, worse + better, 0.5, alternative="greater").pvalue if worse + better else 1.0
        per_type[lab] = {"candidate_worse": worse, "candidate_better": better, "p_worse": float(round(p, 6))}
    # Holm: sort the p-values, compare the k-th smallest with alpha / (m - k); stop at the first that fails.
    order = sorted(per_type, key=lambda lab: per_type[lab]["p_worse"])
    m = len(order)
    still = True
    for k, lab in enumerate(order):
        still = still and per_type[lab]["p_worse"] <= policy.alpha / (m - k)
        per_type[lab]["significant"] = bool(still)
    rng = np.random.default_rng(policy.seed)
    n = len(t)
    diffs = np.empty(policy.bootstrap)
    for b in range(policy.bootstrap):
        idx = rng.integers(0, n, n)
        diffs[b] = _f1_columns(t[idx], cand[idx]).mean() - _f1_columns(t[idx], cur[idx]).mean()
    observed = float(_f1_columns(t, cand).mean() - _f1_columns(t, cur).mean())
    upper = float(np.quantile(diffs, 1 - policy.alpha))
    return {"per_type": per_type, "macro_f1_diff": round(observed, 4), "macro_f1_diff_upper": round(upper, 4),
            "bootstrap": policy.bootstrap, "messages": n}


def crisis_outcomes(triager: Any, emergencies: Sequence[CrisisExample]) -> list[str]:
    """Per held-out crisis emergency: "flag" (an emergency), "check" (the safety-check band) or "missed"."""
    out = []
    for r in triager.analyse_many([e.text for e in emergencies]):
        out.append("flag" if r.urgency.level == "emergency" else "check" if r.danger.check else "missed")
    return out


def crisis_summary(triager: Any, emergencies: Sequence[CrisisExample]) -> dict[str, Any]:
    """The outcomes of the held-out crisis emergencies and the flag's recall, from one triage pass."""
    outcomes = crisis_outcomes(triager, emergencies)
    recall = round(outcomes.count("flag") / len(outcomes), 4) if outcomes else None
    return {"crisis_test_outcomes": outcomes, "crisis_test_recall": recall}


def crisis_checks(candidate: Sequence[str], current: Sequence[str], alpha: float) -> list[dict[str, Any]]:
    """Rule 3 on per-emergency outcomes of the same held-out crisis emergencies (see the module's docstring)."""
    lost = sum(1 for a, b in zip(candidate, current) if a == "missed" and b != "missed")
    n = len(candidate)
    flag_new, flag_old = sum(o == "flag" for o in candidate), sum(o == "flag" for o in current)
    worse = sum(1 for a, b in zip(candidate, current) if b == "flag" and a != "flag")
    better = sum(1 for a, b in zip(candidate, current) if a == "flag" and b != "flag")
    p = float(binomtest(worse, worse + better, 0.5, alternative="greater").pvalue) if worse + better else 1.0
    return [
        {"rule": "crisis_reached", "passed": lost == 0,
         "detail": f"held-out crisis emergencies reached (flag or check) {n - candidate.count('missed')}/{n} "
                   f"(current {n - list(current).count('missed')}/{n}; {lost} no longer reached)"},
        {"rule": "crisis_recall", "passed": not (worse > better and p < alpha),
         "detail": f"danger-now recall on the held-out crisis split {flag_new}/{n} (current {flag_old}/{n}; "
                   f"{worse} no longer flagged, {better} newly flagged, one-sided p {p:.3f})"},
    ]


def judge(candidate: dict[str, Any], current: dict[str, Any] | None, policy: GatePolicy = GatePolicy(),
          tests: dict[str, Any] | None = None) -> dict[str, Any]:
    """The verdict on a candidate's test report against the current model's (``None``: nothing served).

    ``candidate``/``current`` are :func:`summary` dicts; ``tests`` is :func:`paired_tests` on the same
    messages (required when there is a current model). Returns ``verdict`` (promoted / rejected),
    ``reasons`` (the failed checks, or the passed ones when promoted), every check, and per-type F1 and
    tests side by side.
    """
    checks: list[dict[str, Any]] = []
    em = candidate.get("emergency_reached")
    em = candidate.get("emergency_recall") if em is None else em  # a summary from before the safety check
    checks.append({"rule": "emergency_recall", "passed": em is None or em >= policy.min_emergency_recall - _EPS,
                   "detail": f"emergencies flagged or checked {em} (needs >= {policy.min_emergency_recall}; "
                             f"flagged {candidate.get('emergency_recall')})" if em is not None
                   else "no emergencies in the test split"})
    cv_new, cv_old = candidate.get("crisis_test_recall"), (current or {}).get("crisis_test_recall")
    new_out, old_out = candidate.get("crisis_test_outcomes"), (current or {}).get("crisis_test_outcomes")
    if new_out is not None and old_out is not None and len(new_out) == len(old_out):
        checks += crisis_checks(new_out, old_out, policy.alpha)
    elif cv_new is not None and cv_old is not None:  # summaries from before the per-message outcomes
        checks.append({"rule": "crisis_recall", "passed": cv_new >= cv_old - _EPS,
                       "detail": f"danger-now recall on the held-out crisis split {cv_new} (current {cv_old})"})
    per_type: dict[str, dict[str, Any]] = {}
    if current is None:
        checks.append({"rule": "current_model", "passed": True, "detail": "no current model to compare with"})
        per_type = {t: {"current": None, "candidate": f, "change": None} for t, f in candidate["per_type_f1"].items()}
    else:
        if tests is None:
            raise ValueError("judging against a current model needs the paired tests on the same messages")
        cand, cur = candidate["macro_f1"], current["macro_f1"]
        upper = tests["macro_f1_diff_upper"]
        worse = upper < 0 and cand - cur < -policy.min_macro_drop - _EPS
        checks.append({"rule": "macro_f1", "passed": not worse,
                       "detail": f"macro-F1 {cand:.4f} vs current {cur:.4f} (difference {cand - cur:+.4f}, "
                                 f"upper {1 - policy.alpha:.0%} bound {upper:+.4f})"})
        failed = []
        for t, f_new in candidate["per_type_f1"].items():
            f_old = current["per_type_f1"].get(t)
            change = None if f_old is None else round(f_new - f_old, 4)
            stats = tests["per_type"].get(t, {})
            per_type[t] = {"current": f_old, "candidate": f_new, "change": change, **stats}
            if change is not None and -change > policy.max_f1_drop + _EPS and stats.get("significant"):
                failed.append((-change, t, f_old, f_new, stats))
        for drop, t, f_old, f_new, stats in sorted(failed, key=lambda d: d[:2], reverse=True):
            checks.append({"rule": "per_type_f1", "passed": False,
                           "detail": f"{t}: F1 {f_old:.3f} -> {f_new:.3f} (drop {drop:.3f} > {policy.max_f1_drop}; "
                                     f"{stats['candidate_worse']} messages worse, {stats['candidate_better']} better, "
                                     f"p {stats['p_worse']:.2g})"})
        if not failed:
            drops = [(-(v["change"] or 0.0), t) for t, v in per_type.items()]
            drop, t = max(drops) if drops else (0.0, "-")
            checks.append({"rule": "per_type_f1", "passed": True,
                           "detail": f"no issue type significantly worse by more than {policy.max_f1_drop} "
                                     f"(largest drop {max(drop, 0.0):.3f}, {t})"})
    passed = all(c["passed"] for c in checks)
    return {
        "verdict": "promoted" if passed else "rejected",
        "reasons": [c["detail"] for c in checks if c["passed"] == passed],
        "checks": checks,
        "policy": asdict(policy),
        "macro_f1": {"current": current["macro_f1"] if current else None, "candidate": candidate["macro_f1"]},
        "emergency_recall": {"current": current.get("emergency_recall") if current else None, "candidate": em},
        "per_type_f1": per_type,
        "tests": {k: v for k, v in (tests or {}).items() if k != "per_type"},
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
    danger_corrections: Sequence[CrisisExample] = (),
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
    crisis = load_crisis()
    extra_danger = select_danger_for_training(list(danger_corrections), examples, crisis)
    crisis_test = crisis_by_split(crisis)["test"]  # held out: the detector fits on train + validation
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
                                extra_train=selection.examples, crisis=crisis, extra_danger=extra_danger)
    trained_s = time.perf_counter() - t0
    test = by_split(examples)["test"]
    candidate_triager = Triager(best.model)
    candidate_results = eval_triage.run(candidate_triager, test)
    candidate_report = eval_triage.evaluate(candidate_triager, test, results=candidate_results)
    candidate = summary(candidate_report)
    crisis_emergencies = [e for e in crisis_test if e.emergency]
    candidate.update(crisis_summary(candidate_triager, crisis_emergencies))

    current: dict[str, Any] | None = None
    current_problem = None
    tests = None
    if current_version:
        try:
            model = artifact.load(root, current_version, embedding_id=emb_id)
            if model.needs_encoder:
                model.attach_encoder(get_encoder())
            current_triager = Triager(model)
            current_results = eval_triage.run(current_triager, test)
            current = summary(eval_triage.evaluate(current_triager, test, results=current_results))
            current.update(crisis_summary(current_triager, crisis_emergencies))
            paired = Paired.from_label_sets(best.model.labels, [e.issue_types for e in test],
                                            [r.labels for r in current_results], [r.labels for r in candidate_results])
            tests = paired_tests(paired, policy)
        except ArtifactError as exc:  # a current model this code refuses to serve is no standard to keep
            current_problem = str(exc)
    if encoder is not None:
        encoder.save()
    decision = judge(candidate, current, policy, tests)
    if current_problem:
        decision["reasons"].append(f"current model {current_version} not comparable: {current_problem}")
    promote = decision["verdict"] == "promoted"
    metrics = {"test": {k: v for k, v in candidate_report.items() if k not in ("reliability", "label_counts")}}
    promotion = {**decision, "current_version": current_version,
                 "feedback": {**selection.report, "danger_corrections_used": len(extra_danger)}}
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
