"""Retired blind sets (models/retired_sets.py) are training data, the rest stay blind: the evaluations list only the
blind ones, training reads the retired ones, and nothing trained on is a near copy of what is still judged."""

from __future__ import annotations

from models.answer_eval import blind_sets
from models.crisis_data import load_crisis
from models.retired_sets import (
    NEAR_COPIES,
    RETIRED_ANSWER_SETS,
    RETIRED_CRISIS_SETS,
    answer_set_rows,
    crisis_set_rows,
    near_copies,
    retired_answer_rows,
    retired_crisis_rows,
)
from models.triage_data import load_corpus, retired_corpus
from models.urgency_eval import blind_crisis_sets
from triage.normalize import normalize


def test_the_evaluations_list_only_the_sets_still_blind() -> None:
    assert blind_sets() and blind_crisis_sets(), "a set must stay blind for the next figures"
    assert not set(blind_sets()) & set(RETIRED_ANSWER_SETS)
    assert not set(blind_crisis_sets()) & set(RETIRED_CRISIS_SETS)
    assert set(blind_sets(retired=True)) == {*blind_sets(), *RETIRED_ANSWER_SETS}
    assert set(blind_crisis_sets(retired=True)) == {*blind_crisis_sets(), *RETIRED_CRISIS_SETS}


def test_a_set_is_retired_only_after_a_newer_one_was_written() -> None:
    """Retiring the newest set would leave the next tuning nothing blind to be judged on."""
    order = lambda n: (len(n), n)
    assert max(RETIRED_ANSWER_SETS, key=order) != max(blind_sets(retired=True), key=order)
    assert max(RETIRED_CRISIS_SETS, key=order) != max(blind_crisis_sets(retired=True), key=order)


def test_the_crisis_corpus_holds_the_retired_crisis_sets() -> None:
    with_retired = {e.text for e in load_crisis()}
    without = {e.text for e in load_crisis(retired=False)}
    retired = {r["text"] for _, r in retired_crisis_rows()}
    assert retired <= with_retired and not retired <= without
    assert len(with_retired) > len(without) + 2000
    blind = {r["text"] for name in blind_crisis_sets() for r in crisis_set_rows(name)}
    assert not with_retired & blind


def test_the_triage_corpus_holds_the_retired_answer_sets_as_outside_rows() -> None:
    rows = retired_corpus()
    assert len(rows) > 1500 and {e.source for e in rows} == {"outside"}
    assert not {e.id for e in rows} & NEAR_COPIES
    corpus = {e.text for e in load_corpus(None)}
    assert {e.text for e in rows} <= corpus
    assert not corpus & {r["text"].strip() for name in blind_sets() for r in answer_set_rows(name)}


def test_nothing_retired_is_a_near_copy_of_a_set_still_blind() -> None:
    """The sets still blind were written after the retired ones, and near copies of them were dropped then; the
    retired answer rows that copy an evaluation query or a blind message are in NEAR_COPIES (left out)."""
    retired = {normalize(r["text"]) for _, r in retired_answer_rows()}
    retired |= {normalize(r["text"]) for _, r in retired_crisis_rows()}
    judged = {normalize(r["text"]) for name in blind_sets() for r in answer_set_rows(name)}
    judged |= {normalize(r["text"]) for name in blind_crisis_sets() for r in crisis_set_rows(name)}
    assert not near_copies(retired, judged)
