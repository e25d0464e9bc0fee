"""`jishibang eval urgency`: the danger-now detector, urgency and the referral card, on messages nobody who
tuned them wrote.

- The blind crisis sets still blind (triage/eval/blindN; the retired ones are training data, models/retired_sets.py),
  written from the guidelines by people who had not seen the crisis corpus or the cue files: emergency recall
  (must be 1.0), false emergencies, recall per kind, false alarms per kind of negative, and the messages
  themselves (``blind6_crisis``).
- The blind answer sets still blind (kb/eval/blindN questions and call notes, labelled with urgency and every
  acceptable first referral): urgency accuracy and its confusion, emergencies whose only signal is an intensifier
  or idiom, and whether the first referral is one a supervisor accepts (``blind8_triage``).
- The 500 real legal consultations in ../shared/data/lawbench_consultation_3-8, written by the public, none of them
  danger now and none trained on: how many the detector flags as emergencies or sends to a safety check (its false
  alarms on real text, which no writer of ours imitates).
- The crisis corpus's and the team corpus's held-out test splits, for comparison.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from models import eval_triage
from models.answer_eval import LAWBENCH_QUESTIONS, blind_sets, load_blind
from models.crisis_data import CrisisExample, by_split, load_crisis
from models.retired_sets import RETIRED_ANSWER_SETS, chosen_sets, crisis_set_rows, retired_answer_rows, set_names
from triage.danger import cue_groups
from triage.pipeline import Triager
from triage.taxonomy import urgency_levels


def load_blind_crisis(folder_name: str) -> list[CrisisExample]:
    return [CrisisExample(r["id"], r["text"], r["label"] == "emergency", r.get("kind"), folder_name)
            for r in crisis_set_rows(folder_name)]


def blind_crisis_sets(retired: bool = False) -> list[str]:
    """Every blind crisis set, oldest first: each written by someone new, before the tuning it judges
    (triage/eval/blind*/README.md says who and when). Without ``retired``, only those still blind: a retired set
    is training data now (models/retired_sets.py)."""
    return set_names("triage", retired)


def _crisis_report(triager: Triager, crisis: list[CrisisExample]) -> dict[str, Any]:
    report = eval_triage.danger_report(triager, crisis, keep_examples=40)
    per_kind = report["per_kind"]
    report["intensifier_or_idiom_only_flagged"] = (per_kind.get("hyperbole", {}).get("flagged", 0)
                                                   + per_kind.get("idiom", {}).get("flagged", 0))
    report["intensifier_or_idiom_messages"] = sum(1 for e in crisis if e.kind in ("hyperbole", "idiom"))
    return report


def consultation_alarms(triager: Triager, shared_dir: Path) -> dict[str, Any] | None:
    """The detector on the real lawbench consultations (divorce, debts, accidents and fights that are over, wages):
    none is danger now, so every flag is a false emergency."""
    path = shared_dir / LAWBENCH_QUESTIONS
    if not path.exists():
        return None
    texts = [json.loads(line)["question"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    results = _analyse(triager, texts)
    flagged = [(t, x.danger) for t, x in zip(texts, results) if x.danger.level != "none"]
    cues = set(cue_groups())
    return {"consultations": len(texts), "flagged": len(flagged),
            "false_alarm_rate": round(len(flagged) / len(texts), 4) if texts else None,
            "checked": sum(1 for x in results if x.danger.level == "none" and x.danger.check),
            "flagged_without_a_cue_word": sum(1 for _, d in flagged if not any(r.code in cues for r in d.reasons)),
            "flagged_examples": [{"kind": d.kind, "p": round(d.probability, 3), "text": t[:80]} for t, d in flagged[:10]]}


def _analyse(triager: Triager, texts: list[str], batch: int = 64) -> list[Any]:
    results = []
    for i in range(0, len(texts), batch):
        results += triager.analyse_many(texts[i:i + batch])
    return results


def triage_figures(triager: Triager, rows: list[dict[str, Any]]) -> dict[str, Any]:
    results = _analyse(triager, [r["text"] for r in rows])
    levels = urgency_levels()
    truth = [r["urgency"] for r in rows]
    pred = [x.urgency.level for x in results]
    confusion = {t: dict(Counter(p for tt, p in zip(truth, pred) if tt == t)) for t in levels}
    with_ref = [(r, x) for r, x in zip(rows, results) if r.get("referrals")]
    ok = sum(1 for r, x in with_ref if x.referrals and x.referrals[0].target in r["referrals"])
    em = [i for i, t in enumerate(truth) if t == "emergency"]
    return {
        "messages": len(rows),
        "urgency_accuracy": round(sum(a == b for a, b in zip(truth, pred)) / len(rows), 4) if rows else None,
        "urgency_confusion_true_to_predicted": confusion,
        "emergency_recall": round(sum(pred[i] == "emergency" for i in em) / len(em), 4) if em else None,
        "false_emergencies": sum(1 for t, p in zip(truth, pred) if p == "emergency" and t != "emergency"),
        "safety_checks": sum(1 for t, p, x in zip(truth, pred, results) if p != "emergency" and t != "emergency"
                             and x.danger.check),
        "emergency_recall_with_check": round(sum(pred[i] == "emergency" or results[i].danger.check for i in em) / len(em), 4)
        if em else None,
        "first_referral_acceptable": round(ok / len(with_ref), 4) if with_ref else None,
        "first_referral_misses": [{"id": r["id"], "given": x.referrals[0].target if x.referrals else None,
                                   "acceptable": r["referrals"]} for r, x in with_ref
                                  if not (x.referrals and x.referrals[0].target in r["referrals"])][:25],
    }


def read_sets_figures(triager: Triager) -> dict[str, Any]:
    """Urgency and the first referral on the retired answer sets, pooled (3,000+ messages by thirteen outside writers,
    labelled with every acceptable door). They are training data now (the classifier read them), so the figure
    flatters; it is the wide check for a change to the referral rules, which nothing fits."""
    rows = [r for _, r in retired_answer_rows() if r["kind"] in ("question", "call_note")]
    figures = triage_figures(triager, rows)
    figures.pop("first_referral_misses")
    return {"sets": list(RETIRED_ANSWER_SETS), **figures}


def evaluate(triager: Triager, shared_dir: Path | None = None, blind: bool = True,
             crisis_sets: list[str] | None = None, triage_sets: list[str] | None = None,
             read_sets: bool = False) -> dict[str, Any]:
    """``crisis_sets`` / ``triage_sets``: only these blind sets (default: every set still blind); ``read_sets``:
    also the retired answer sets (read_sets_figures)."""
    report: dict[str, Any] = {}
    if read_sets:
        report["read_sets_triage"] = read_sets_figures(triager)
    if blind:
        # Only the sets still blind; the retired ones are training data now (models/retired_sets.py).
        crisis_names = chosen_sets(crisis_sets, blind_crisis_sets(), "crisis")
        triage_names = chosen_sets(triage_sets, blind_sets(), "blind answer")
        report["blind_sets"] = {"crisis": crisis_names, "triage": triage_names}
        for name in crisis_names:  # blind6 -> "blind6_crisis"
            report[f"{name}_crisis"] = _crisis_report(triager, load_blind_crisis(name))
        for name in triage_names:  # the blind answer sets carry urgency and referral labels too
            rows = [r for r in load_blind(name) if r["kind"] in ("question", "call_note")]
            report[f"{name}_triage"] = triage_figures(triager, rows)
    if shared_dir is not None:
        report["real_consultations"] = consultation_alarms(triager, shared_dir)
    report["crisis_test_split"] = eval_triage.danger_report(triager, by_split(load_crisis())["test"])
    return report
