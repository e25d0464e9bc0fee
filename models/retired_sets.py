"""Blind sets that have been used up and now serve as training data.

A blind set judges one piece of work, once. After that run its errors get read, and from then on it is only a
"read set", with figures that flatter. The messages themselves are still worth a lot: each set was written by
someone new, and a new writer's messages are what the models generalise badly to (false emergencies on the crisis
sets ran from 3.5% to 17.9% from one writer to the next with the same model). From 2026-12-06 the read sets are
therefore *retired into training*, and the newest sets nobody has run stay blind:

- answer sets (kb/eval/blindN): the ranking model's calibration queries and its answered-question memory (their
  ``acceptable`` / ``preferred`` labels, models/answer_training.py), and the triage corpus (their issue types and
  urgency, models/triage_data.py);
- crisis sets (triage/eval/blindN): the danger detector's crisis corpus (models/crisis_data.py).

The evaluation commands no longer report a retired set (``jishibang eval answers`` / ``eval urgency`` list only the
blind ones). Before a set is added here it must have been evaluated once and reported (docs/results.md), and a
newer blind set must exist that was checked for near copies of it (its README says so).
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable
from importlib import resources
from typing import Any

# Retired 2026-12-06 (eighth session): each reported once in docs/results.md; kb/eval/blind8 and
# triage/eval/blind6 were written afterwards, with near copies of these sets' messages dropped from them.
# Retired 2026-12-06 (ninth session): kb/eval/blind8 and triage/eval/blind6, reported once in the eighth session;
# kb/eval/blind9 and triage/eval/blind7 (and the later blind10 / blind8) were checked for near copies of them.
# Retired 2026-12-06 (tenth session): kb/eval/blind9 and triage/eval/blind7, reported once in the ninth session;
# kb/eval/blind10 and triage/eval/blind8 were written after them, with near copies of their messages dropped.
# Retired 2026-12-06 (eleventh session): kb/eval/blind10 and blind11, triage/eval/blind8 and blind9, each reported
# once in the tenth session; kb/eval/blind12 and triage/eval/blind10 were written after them, with near copies of
# their messages dropped (none of their messages is a near copy of an evaluation query either).
# Retired 2026-12-06 (twelfth session): kb/eval/blind12 and blind13, triage/eval/blind10 and blind11, each reported
# once in the eleventh session; kb/eval/blind14 and triage/eval/blind12 were written after them with near copies of
# their messages dropped, and none of their messages is a near copy of an evaluation query.
# Retired 2026-12-06 (thirteenth session): kb/eval/blind14 and triage/eval/blind12, reported once in the twelfth
# session (and blind14's referral misses read); kb/eval/blind15 and triage/eval/blind13 were written after them with
# near copies of their messages dropped, and none of their messages is a near copy of an evaluation query.
# Retired 2026-12-07 (fourteenth session): kb/eval/blind15 and triage/eval/blind13, reported once in the thirteenth
# session; kb/eval/blind16 and triage/eval/blind14 were written after them with near copies of their messages
# dropped, and none of their messages is a near copy of an evaluation query.
# Retired 2026-12-07 (fifteenth session): kb/eval/blind16 and triage/eval/blind14, reported once in the fourteenth
# session; kb/eval/blind17 and triage/eval/blind15 were written after them with near copies of their messages
# dropped, and none of their messages is a near copy of an evaluation query (after normalisation or the query path).
# Retired 2026-12-07 (fifteenth session, later): kb/eval/blind17 and triage/eval/blind15, reported once that session
# and read after; kb/eval/blind18 and triage/eval/blind16 were written after them with near copies dropped, and none
# of their messages is a near copy of an evaluation query.
# Retired 2026-12-07 (sixteenth session): kb/eval/blind18 and triage/eval/blind16, reported once in the fifteenth
# session and read at the start of the sixteenth on models that had not seen them; kb/eval/blind19 and blind20 and
# triage/eval/blind17 and blind18 were written after them with near copies dropped, and none of their messages is a
# near copy of an evaluation query.
# Retired 2026-12-07 (seventeenth session): kb/eval/blind19 and triage/eval/blind17, reported once in the sixteenth
# session and read at the start of the seventeenth on models that had not seen them (blind19's labels extended to the
# k11 entries written for its needs); kb/eval/blind20 and blind21 and triage/eval/blind18 and blind19 were written
# after them with near copies dropped.
# Retired 2026-12-07 (eighteenth session): kb/eval/blind20 and triage/eval/blind18, reported once in the seventeenth
# session and read at its end (blind20) and the start of the eighteenth (blind18, on models that had not seen it);
# blind20's labels extended to the k12 entries written for its needs. kb/eval/blind21 and triage/eval/blind19 were
# written after them with near copies dropped.
# Retired 2026-12-07 (nineteenth session): kb/eval/blind21 and triage/eval/blind19, reported once at the end of the
# eighteenth session and read then; blind21's labels extended to the k13 entries written for its needs (9 messages).
# kb/eval/blind22 and triage/eval/blind20 were written after them with near copies dropped.
RETIRED_ANSWER_SETS = ("blind", "blind2", "blind3", "blind4", "blind5", "blind6", "blind7", "blind8", "blind9",
                       "blind10", "blind11", "blind12", "blind13", "blind14", "blind15", "blind16", "blind17", "blind18",
                       "blind19", "blind20", "blind21")
RETIRED_CRISIS_SETS = ("blind", "blind2", "blind3", "blind4", "blind5", "blind6", "blind7", "blind8", "blind9",
                       "blind10", "blind11", "blind12", "blind13", "blind14", "blind15", "blind16", "blind17", "blind18",
                       "blind19")

# Messages of the retired answer sets that are near copies (difflib ratio > 0.75 after the query path's
# normalisation) of an evaluation query (kb/eval/queries_q*.jsonl) or of a message of a set still blind: kept out of
# training, so those evaluations stay unseen (37, mostly short common questions and greetings; tests/test_retired_sets.py
# and tests/test_query_memory.py check).
NEAR_COPIES = frozenset({
    "b10-041", "b10-194", "b13-127", "b3-011", "b3-032", "b3-056", "b3-121", "b3-135", "b3-222", "b3-262", "b4-122",
    "b4-129", "b4-138", "b4-195", "b6-030", "b6-052", "b6-143", "b7-008", "b7-031", "b7-056", "b7-202", "b8-134",
    "bwa-051", "bwb-009", "bwb-025", "bwb-162", "bwb-164", "bwb-169", "bwb-172", "bwb-174", "bwb-178", "bwb-184",
    "bwb-199", "bwb-218", "bwb-222", "bwb-223", "b36-010"
})

# kb/eval/blind was written as three files before the later sets took one file each.
_FIRST_SET_FILES = ("worker_questions_a.jsonl", "worker_questions_b.jsonl", "call_notes.jsonl")


def _rows(package: str, name: str, files: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
    folder = resources.files(package).joinpath("eval").joinpath(name)
    names = files or tuple(sorted(p.name for p in folder.iterdir() if p.name.endswith(".jsonl")))
    out: list[dict[str, Any]] = []
    for file in names:
        out += [json.loads(line) for line in folder.joinpath(file).read_text(encoding="utf-8").splitlines() if line.strip()]
    return out


def set_names(package: str, retired: bool) -> list[str]:
    """The sets under ``<package>/eval`` (kb: answer sets, triage: crisis sets), oldest first (blind, blind2, ...,
    blind10); without ``retired``, only those not retired."""
    root = resources.files(package).joinpath("eval")
    marker = "messages.jsonl" if package == "kb" else "crisis_positive.jsonl"
    gone = RETIRED_ANSWER_SETS if package == "kb" else RETIRED_CRISIS_SETS
    names = [p.name for p in root.iterdir() if p.name.startswith("blind")
             and (p.joinpath(marker).is_file() or p.joinpath(_FIRST_SET_FILES[0]).is_file())]
    return [n for n in sorted(names, key=lambda n: (len(n), n)) if retired or n not in gone]


def chosen_sets(only: list[str] | None, available: list[str], what: str) -> list[str]:
    """The blind sets to run: ``only`` (each checked to be still blind) or all ``available``."""
    if only is None:
        return available
    unknown = sorted(set(only) - set(available))
    if unknown:
        raise ValueError(f"not a {what} set still blind: {', '.join(unknown)} (blind: {', '.join(available)})")
    return [n for n in available if n in only]


def answer_set_rows(name: str) -> list[dict[str, Any]]:
    """The rows of one answer set (retired or not), as written: text, channel, kind, labels."""
    return _rows("kb", name, _FIRST_SET_FILES if name == "blind" else None)


def crisis_set_rows(name: str) -> list[dict[str, Any]]:
    return _rows("triage", name, ("crisis_positive.jsonl", "crisis_negative.jsonl"))


def retired_answer_rows() -> list[tuple[str, dict[str, Any]]]:
    """(set name, row) of every retired answer set, oldest first, without the near copies of evaluated text."""
    return [(name, row) for name in RETIRED_ANSWER_SETS for row in answer_set_rows(name) if row["id"] not in NEAR_COPIES]


def retired_crisis_rows() -> list[tuple[str, dict[str, Any]]]:
    return [(name, row) for name in RETIRED_CRISIS_SETS for row in crisis_set_rows(name)]


def near_copies(texts: Iterable[str], judged: Iterable[str], ratio: float = 0.75) -> list[tuple[str, str]]:
    """(text, the judged text it copies) for each of ``texts`` with a difflib ratio above ``ratio`` to one of
    ``judged`` (the rule every training file and blind set was checked under); cheap bounds first."""
    judged = list(judged)
    out = []
    for text in texts:
        sm = difflib.SequenceMatcher(None, "", text, autojunk=False)
        for other in judged:
            if abs(len(other) - len(text)) > max(len(other), len(text)) / 2:
                continue  # the ratio cannot pass: at most 2 * shorter / (shorter + longer)
            sm.set_seq1(other)
            if sm.real_quick_ratio() > ratio and sm.quick_ratio() > ratio and sm.ratio() > ratio:
                out.append((text, other))
                break
    return out
