"""Evaluate the whole triage pipeline on the held-out test split, as the product would run it.

Reports per-type precision/recall/F1, macro-F1, top-1/top-3 accuracy, urgency confusion and emergency
recall, referral top-1 accuracy, expected calibration error and abstain rate, and draws the confusion
matrix of the main issue type.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support
from sklearn.preprocessing import MultiLabelBinarizer
from tqdm import tqdm

from models.triage_data import Example
from triage.pipeline import TriageResult, Triager
from triage.taxonomy import issue_types, urgency_levels


def expected_calibration_error(probs: np.ndarray, truth: np.ndarray, bins: int = 10) -> float:
    """ECE over every (message, type) score: |accuracy - confidence| weighted by bin size."""
    p, y = probs.ravel(), truth.ravel()
    edges = np.linspace(0, 1, bins + 1)
    ece = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (p >= lo) & (p < hi) if hi < 1 else (p >= lo) & (p <= hi)
        if sel.any():
            ece += sel.mean() * abs(y[sel].mean() - p[sel].mean())
    return float(ece)


def reliability(probs: np.ndarray, truth: np.ndarray, bins: int = 10) -> list[dict[str, float]]:
    p, y = probs.ravel(), truth.ravel()
    edges = np.linspace(0, 1, bins + 1)
    out = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (p >= lo) & (p < hi) if hi < 1 else (p >= lo) & (p <= hi)
        if sel.any():
            out.append({"bin": round(float(lo), 2), "confidence": float(p[sel].mean()), "accuracy": float(y[sel].mean()), "n": int(sel.sum())})
    return out


def run(triager: Triager, examples: list[Example], batch: int = 64) -> list[TriageResult]:
    out: list[TriageResult] = []
    for i in tqdm(range(0, len(examples), batch), desc="evaluating", unit="batch"):
        out.extend(triager.analyse_many([e.text for e in examples[i : i + batch]]))
    return out


def evaluate(triager: Triager, examples: list[Example], png: Path | None = None,
             results: list[TriageResult] | None = None) -> dict[str, Any]:
    """``results``: the triager's results on ``examples`` when the caller already ran it."""
    labels = issue_types()
    results = results if results is not None else run(triager, examples)
    mlb = MultiLabelBinarizer(classes=labels)
    Y = mlb.fit_transform([e.issue_types for e in examples])
    pred = mlb.transform([r.labels for r in results])
    P = np.array([[{s.id: s.score for s in r.issue_types}[lab] for lab in labels] for r in results])
    prec, rec, f1, support = precision_recall_fscore_support(Y, pred, zero_division=0)
    per_type = {lab: {"precision": round(float(prec[i]), 3), "recall": round(float(rec[i]), 3), "f1": round(float(f1[i]), 3),
                    "support": int(support[i])} for i, lab in enumerate(labels)}
    ranked = [[s.id for s in r.issue_types] for r in results]
    top1 = np.mean([rk[0] in e.issue_types for rk, e in zip(ranked, examples)])
    top3 = np.mean([bool(set(rk[:3]) & set(e.issue_types)) for rk, e in zip(ranked, examples)])
    levels = urgency_levels()
    y_u = [e.urgency for e in examples]
    p_u = [r.urgency.level for r in results]
    emerg = [i for i, y in enumerate(y_u) if y == "emergency"]
    missed = [examples[i].id for i in emerg if p_u[i] != "emergency"]
    unreached = [examples[i].id for i in emerg if p_u[i] != "emergency" and not results[i].danger.check]
    false_em = sum(1 for y, p in zip(y_u, p_u) if p == "emergency" and y != "emergency")
    checks = sum(1 for y, p, r in zip(y_u, p_u, results) if p != "emergency" and y != "emergency" and r.danger.check)
    with_ref = [(r, e) for r, e in zip(results, examples) if e.referrals]
    ref_top1 = np.mean([bool(r.referrals) and r.referrals[0].target in e.referrals for r, e in with_ref]) if with_ref else 0.0
    ref_first = np.mean([bool(r.referrals) and r.referrals[0].target == e.referrals[0] for r, e in with_ref]) if with_ref else 0.0
    report = {
        "n": len(examples),
        "macro_f1": round(float(f1_score(Y, pred, average="macro", zero_division=0)), 4),
        "micro_f1": round(float(f1_score(Y, pred, average="micro", zero_division=0)), 4),
        "top1_accuracy": round(float(top1), 4),
        "top3_accuracy": round(float(top3), 4),
        "abstain_rate": round(float(np.mean([r.abstain for r in results])), 4),
        "calibration_error": round(expected_calibration_error(P, Y), 4),
        "reliability": reliability(P, Y),
        "urgency_accuracy": round(float(np.mean([a == b for a, b in zip(y_u, p_u)])), 4),
        "urgency_confusion": {"levels": levels, "matrix": confusion_matrix(y_u, p_u, labels=levels).tolist()},
        "emergency_recall": round(1 - len(missed) / len(emerg), 4) if emerg else None,
        "emergency_support": len(emerg),
        "emergency_missed": missed,
        # flagged, or at least in the danger detector's safety-check band (the operator asks one question)
        "emergency_reached": round(1 - len(unreached) / len(emerg), 4) if emerg else None,
        "false_emergencies": false_em,
        "safety_checks": checks,  # non-emergencies in the safety-check band (asked one question, no panel)
        "referral_top1_accuracy": round(float(ref_top1), 4),
        "referral_top1_is_first_gold": round(float(ref_first), 4),
        "per_type": per_type,
        "label_counts": dict(Counter(t for e in examples for t in e.issue_types)),
    }
    if png:
        draw_confusion(examples, results, labels, png)
        report["confusion_png"] = str(png)
    return report


def draw_confusion(examples: list[Example], results: list[TriageResult], labels: list[str], png: Path) -> None:
    """Main gold type (rows) vs top predicted type (columns); abstentions in their own column."""
    # A bare Figure, not pyplot: no backend is switched, so a notebook's inline plots keep working.
    from matplotlib.figure import Figure

    cols = labels + ["(abstain)"]
    gold = [e.issue_types[0] for e in examples]
    predicted = [r.labels[0] if r.labels else "(abstain)" for r in results]
    M = confusion_matrix(gold, predicted, labels=cols)[: len(labels)]
    norm = M / np.maximum(M.sum(axis=1, keepdims=True), 1)
    fig = Figure(figsize=(11, 9))
    ax = fig.subplots()
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(cols)), cols, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    for i in range(M.shape[0]):
        for j in range(M.shape[1]):
            if M[i, j]:
                ax.text(j, i, str(M[i, j]), ha="center", va="center", fontsize=7, color="white" if norm[i, j] > 0.5 else "black")
    ax.set_xlabel("predicted (top label)")
    ax.set_ylabel("gold (main type)")
    ax.set_title("Triage confusion matrix, held-out test split (row-normalised colour, counts in cells)")
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=110)


def danger_report(triager: Triager, examples: list[Any], batch: int = 64, keep_examples: int = 20) -> dict[str, Any]:
    """The danger-now detector on crisis messages (models.crisis_data.CrisisExample or any object with
    ``text``, ``emergency`` and ``kind``): recall per kind of emergency, false alarms per kind of hard
    negative, and the false alarms and misses themselves (masked text)."""
    results: list[TriageResult] = []
    for i in range(0, len(examples), batch):
        results.extend(triager.analyse_many([e.text for e in examples[i:i + batch]]))
    per_kind: dict[str, dict[str, int]] = {}
    false_alarms, missed = [], []
    for e, r in zip(examples, results):
        flagged = r.urgency.level == "emergency"
        key = e.kind or ("emergency" if e.emergency else "other")
        row = per_kind.setdefault(key, {"n": 0, "flagged": 0, "emergency": int(e.emergency)})
        row["n"] += 1
        row["flagged"] += int(flagged)
        row["checked"] = row.get("checked", 0) + int(not flagged and r.danger.check)
        if flagged and not e.emergency:
            false_alarms.append({"kind": key, "text": r.text_masked, "p": r.danger.probability})
        if e.emergency and not flagged:
            missed.append({"kind": key, "text": r.text_masked, "p": r.danger.probability})
        if e.emergency and flagged and e.kind == "self_harm_passive" and r.danger.level != "passive":
            row["other_level"] = row.get("other_level", 0) + 1
    pos = [e.emergency for e in examples]
    n_pos, n_neg = sum(pos), len(pos) - sum(pos)
    flagged_pos = sum(1 for e, r in zip(examples, results) if e.emergency and r.urgency.level == "emergency")
    # The safety-check band (triage.danger): not an emergency, but the operator is asked to check on safety.
    reached_pos = sum(1 for e, r in zip(examples, results) if e.emergency and (r.urgency.level == "emergency" or r.danger.check))
    checked_neg = sum(1 for e, r in zip(examples, results) if not e.emergency and r.urgency.level != "emergency" and r.danger.check)
    return {
        "emergencies": n_pos, "negatives": n_neg,
        "recall": round(flagged_pos / n_pos, 4) if n_pos else None,
        "false_alarm_rate": round(len(false_alarms) / n_neg, 4) if n_neg else None,
        "recall_with_check": round(reached_pos / n_pos, 4) if n_pos else None,
        "check_rate": round(checked_neg / n_neg, 4) if n_neg else None,
        "per_kind": {k: {**v, "rate": round(v["flagged"] / v["n"], 4)} for k, v in sorted(per_kind.items())},
        "missed": missed, "false_alarms": false_alarms[:keep_examples], "false_alarm_count": len(false_alarms),
    }
