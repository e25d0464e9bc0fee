"""The labelled triage corpus: who wrote each file, and which rows tune the urgency offsets."""

from __future__ import annotations

from collections import Counter

from models.train_triage import MIN_OUTSIDE_VAL, urgency_tuning_rows
from models.triage_data import Example, by_split, team_corpus


def test_outside_written_files_are_marked_as_such() -> None:
    corpus = team_corpus()
    by_source = Counter(e.source for e in corpus)
    assert set(by_source) == {"team", "outside"}
    assert by_source["outside"] >= 1500 and by_source["team"] >= 2600
    # the ids tell the files apart: team rows t*, outside rows the helpers' batches
    assert all(e.id.startswith("t") for e in corpus if e.source == "team")
    assert not any(e.id.startswith("t") for e in corpus if e.source == "outside")


def test_urgency_offsets_are_tuned_on_outside_rows_when_there_are_enough() -> None:
    val = by_split(team_corpus())["val"]
    rows = urgency_tuning_rows(val)
    assert rows and all(e.source == "outside" for e in rows) and len(rows) >= MIN_OUTSIDE_VAL
    few = [Example(f"o{i}", f"问题{i}", ("legal_consult",), "low", (), "outside") for i in range(3)]
    team = [Example(f"t{i}", f"消息{i}", ("pay_settlement",), "normal", (), "team") for i in range(200)]
    assert urgency_tuning_rows(team + few) == team + few  # too few outside rows: all of validation
