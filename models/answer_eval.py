"""`jishibang eval answers`: what workers and operators actually get, end to end, on messages the team did not
tune on.

Each answer set still blind (kb/eval/blindN, see kb/eval/README.md; retired ones are training data) goes through
the same Assistant the service runs: worker questions through the FAQ decision (the web page and the WeChat
auto-reply share it; reported by channel), call notes through the operators' suggestions. Reported:

- workers: an acceptable entry as the confident answer or first in a likely answer (of answerable questions);
  confident answers that are not acceptable (of confident answers, and of answerable questions); the tier mix;
- greetings, off-topic and degenerate input: confident answers (must be none); emergencies: the emergency path;
- operators: an acceptable entry first and in the top 3 (of answerable call notes); the "no reliable
  suggestion" banner; suggestions in the order of the displayed score;
- the real lawbench consultations that are labour matters (kb/eval/lawbench/labels.jsonl), as worker questions.
Nothing is recorded in the question log.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

from tqdm import tqdm

from hotline.assist import Assistant
from models.retired_sets import answer_set_rows, set_names


def blind_sets(retired: bool = False) -> list[str]:
    """Every blind answer set under kb/eval, oldest first (blind, blind3, ...): each written by someone new before
    the tuning it judges (kb/eval/README.md says who and when). Without ``retired``, only those still blind: a
    retired set is training data now (models/retired_sets.py)."""
    return set_names("kb", retired)


def load_blind(name: str) -> list[dict[str, Any]]:
    return answer_set_rows(name)


# The real consultations (../shared/data/lawbench_consultation_3-8), relative to the shared directory.
LAWBENCH_QUESTIONS = Path("data") / "lawbench_consultation_3-8" / "consultation_qa.jsonl"


def load_lawbench(shared_dir: Path) -> list[dict[str, Any]]:
    """The labelled lawbench consultations that are labour matters, with their question text from ../shared."""
    path = shared_dir / LAWBENCH_QUESTIONS
    if not path.exists():
        return []
    text = {r["id"]: r["question"] for r in map(json.loads, path.read_text(encoding="utf-8").splitlines()) if r}
    labels = resources.files("kb").joinpath("eval").joinpath("lawbench").joinpath("labels.jsonl")
    out = []
    for line in labels.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if row["labour_matter"] and row["id"] in text:
            out.append({**row, "text": text[row["id"]], "kind": "question", "channel": "web"})
    return out


def _share(x: int, n: int) -> float | None:
    return round(x / n, 4) if n else None


def worker_figures(rows: list[dict[str, Any]], answers: list[Any]) -> dict[str, Any]:
    """``answers``: the Assistant's WorkerAnswer per row."""
    answerable = [(r, a) for r, a in zip(rows, answers) if r["acceptable"]]
    right = sum(1 for r, a in answerable if a.answers and a.tier in ("confident", "likely")
                and a.answers[0].entry.slug in r["acceptable"])
    confident = [(r, a) for r, a in zip(rows, answers) if a.tier == "confident"]
    wrong = [(r, a) for r, a in confident if not a.answers or a.answers[0].entry.slug not in r["acceptable"]]
    tiers = Counter(a.tier for _, a in answerable)
    return {
        "questions": len(rows), "answerable": len(answerable),
        "acceptable_confident_or_first_likely": _share(right, len(answerable)),
        "confident_not_acceptable_of_confident": _share(len(wrong), len(confident)),
        "confident_not_acceptable_of_answerable": _share(sum(1 for r, _ in wrong if r["acceptable"]), len(answerable)),
        "tiers_answerable": {t: _share(tiers.get(t, 0), len(answerable)) for t in ("confident", "likely", "none")},
        "clarifying_questions": sum(1 for a in answers if a.clarify is not None),
        "wrong_confident_examples": [{"id": r["id"], "given": a.answers[0].entry.slug if a.answers else None,
                                      "acceptable": r["acceptable"]} for r, a in wrong[:10]],
    }


def run_workers(assistant: Assistant, rows: list[dict[str, Any]], desc: str) -> list[Any]:
    return [assistant.faq(r["text"], record=False) for r in tqdm(rows, desc=desc, leave=False)]


def evaluate(assistant: Assistant, shared_dir: Path | None = None, rows: Iterable[dict[str, Any]] | None = None,
             blind_set: str | None = None) -> dict[str, Any]:
    """One blind set's figures (``rows``, else the set named ``blind_set``, else the oldest set still blind), and
    lawbench's when ``shared_dir``."""
    if rows is None:
        names = blind_sets()
        if blind_set is None and not names:
            raise ValueError("no blind answer set is left under kb/eval: write one (kb/eval/README.md)")
        rows = load_blind(blind_set or names[0])
    rows = list(rows)
    questions = [r for r in rows if r["kind"] == "question"]
    noise = [r for r in rows if r["kind"] in ("greeting", "off_topic", "degenerate")]
    notes = [r for r in rows if r["kind"] == "call_note"]
    q_answers = run_workers(assistant, questions, "worker questions")
    report: dict[str, Any] = {"workers": worker_figures(questions, q_answers)}
    for channel in ("web", "wechat"):
        sel = [(r, a) for r, a in zip(questions, q_answers) if r.get("channel") == channel]
        report[f"workers_{channel}"] = worker_figures([r for r, _ in sel], [a for _, a in sel])
    emergencies = [(r, a) for r, a in zip(questions, q_answers) if r.get("urgency") == "emergency"]
    report["workers_emergency_path"] = {"emergencies": len(emergencies),
                                        "took_the_emergency_path": sum(1 for _, a in emergencies if a.emergency)}
    n_answers = run_workers(assistant, noise, "greetings and noise")
    # An off-topic question may be labelled with the out-of-scope entry written for it (divorce -> legal aid): a
    # confident answer with that entry is a redirect, not a wrong answer; the count without it says so apart.
    report["noise"] = {"inputs": len(noise), "confident": sum(1 for a in n_answers if a.tier == "confident"),
                       "confident_not_acceptable": sum(1 for r, a in zip(noise, n_answers) if a.tier == "confident"
                                                       and a.answers[0].entry.slug not in (r.get("acceptable") or ())),
                       "likely": sum(1 for a in n_answers if a.tier == "likely"),
                       "by_kind": {k: dict(Counter(a.tier for r, a in zip(noise, n_answers) if r["kind"] == k))
                                   for k in ("greeting", "off_topic", "degenerate")}}
    suggested = [assistant.suggest(r["text"], record=False) for r in tqdm(notes, desc="call notes", leave=False)]
    answerable = [(r, s) for r, s in zip(notes, suggested) if r["acceptable"]]
    first = sum(1 for r, s in answerable if s.suggestions and s.suggestions[0].entry.slug in r["acceptable"])
    top3 = sum(1 for r, s in answerable if any(x.entry.slug in r["acceptable"] for x in s.suggestions[:3]))
    # Placed by score, after any entry pinned first (crisis support for a message about self-harm).
    by_score = [[x.score for x in s.suggestions if not x.pinned] for s in suggested]
    ordered = all(xs == sorted(xs, reverse=True) for xs in by_score if all(x is not None for x in xs))
    report["operators"] = {
        "call_notes": len(notes), "answerable": len(answerable),
        "acceptable_first": _share(first, len(answerable)), "acceptable_top3": _share(top3, len(answerable)),
        "banner_answerable": _share(sum(1 for _, s in answerable if s.banner), len(answerable)),
        "tiers_answerable": {t: _share(sum(1 for _, s in answerable if s.tier == t), len(answerable))
                             for t in ("confident", "likely", "none")},
        "suggestions_in_score_order": ordered,
        "emergencies": sum(1 for r in notes if r.get("urgency") == "emergency"),
        "emergency_contacts_shown": sum(1 for r, s in zip(notes, suggested)
                                        if r.get("urgency") == "emergency" and s.emergency_contacts),
    }
    all_answers = q_answers + n_answers
    report["tier_mix_all_worker_inputs"] = dict(Counter(a.tier for a in all_answers))
    if shared_dir is not None:
        law = load_lawbench(shared_dir)
        if law:
            l_answers = run_workers(assistant, law, "lawbench consultations")
            report["lawbench_labour"] = worker_figures(law, l_answers)
    return report
