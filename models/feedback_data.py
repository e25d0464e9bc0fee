"""Operators' corrections from the hotline database, turned into labelled training examples.

A "corrected" feedback names the right issue types for one message: the masked query sent with it, or,
when it names only a case, that case's masked text. The text is masked again here (masking is
idempotent), so nothing unmasked can reach a model even from a row written before masking existed.

What is kept (:func:`select_for_training`): corrections with text and known issue types; the latest
correction of a text wins; a text that is already in the labelled corpus (any split, compared raw and
masked) is left out, so the fixed validation and test splits never gain a copy in training and the
team's reviewed labels stand.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hotline.tables import Case, Feedback
from models.crisis_data import CrisisExample
from models.train_triage import LabelledText
from models.triage_data import Example
from triage.pii import mask
from triage.taxonomy import issue_types


@dataclass(frozen=True, slots=True)
class Correction:
    feedback_id: int
    text: str | None  # masked; None when neither the feedback nor its case has text
    issue_types: tuple[str, ...]
    at: datetime | None
    case_id: int | None = None
    from_case: bool = False  # the text is the case's, the feedback named only the case


def load_corrections(factory: sessionmaker[Session]) -> list[Correction]:
    """Every operator correction, oldest first, with the text it is about."""
    q = (select(Feedback.id, Feedback.at, Feedback.query_masked, Feedback.corrected_issue_types, Feedback.case_id,
                Case.text_masked)
         .outerjoin(Case, Case.id == Feedback.case_id)
         .where(Feedback.event == "corrected")
         .order_by(Feedback.id))
    out = []
    with factory() as s:
        for fid, at, query, types, case_id, case_text in s.execute(q):
            text = query or case_text or None
            out.append(Correction(int(fid), mask(text).text.strip() if text else None, tuple(types or ()), at,
                                  case_id, from_case=not query and bool(case_text)))
    return out


@dataclass
class Selection:
    examples: list[LabelledText]
    report: dict[str, Any]


def select_for_training(corrections: list[Correction], corpus: list[Example]) -> Selection:
    """The corrections that become training examples, and a count of why the others were left out."""
    known = set(issue_types())
    in_corpus = {e.text.strip() for e in corpus} | {mask(e.text).text.strip() for e in corpus}
    skipped: Counter[str] = Counter()
    latest: dict[str, Correction] = {}
    for c in corrections:
        if not c.text:
            skipped["no_text"] += 1
        elif not c.issue_types or any(t not in known for t in c.issue_types):
            skipped["unknown_issue_type"] += 1
        elif c.text in in_corpus:
            skipped["already_in_corpus"] += 1
        else:
            if c.text in latest:
                skipped["superseded_by_a_later_correction"] += 1
            latest[c.text] = c
    examples = [LabelledText(f"feedback-{c.feedback_id}", text, tuple(dict.fromkeys(c.issue_types)))
                for text, c in latest.items()]
    report = {"recorded": len(corrections), "used": len(examples),
              "from_case_text": sum(1 for c in latest.values() if c.from_case),
              "skipped": dict(skipped),
              "label_counts": dict(Counter(t for e in examples for t in e.issue_types).most_common())}
    return Selection(examples, report)


def load_danger_corrections(factory: sessionmaker[Session]) -> list[CrisisExample]:
    """Operators' "这是紧急情况 / 不是紧急情况" verdicts as crisis examples (masked text; the latest verdict on a
    text wins). Only for the training split: texts already in the crisis or triage corpus are left out."""
    q = (select(Feedback.id, Feedback.event, Feedback.query_masked, Case.text_masked)
         .outerjoin(Case, Case.id == Feedback.case_id)
         .where(Feedback.event.in_(("emergency", "not_emergency")))
         .order_by(Feedback.id))
    latest: dict[str, CrisisExample] = {}
    with factory() as s:
        for fid, event, query, case_text in s.execute(q):
            text = query or case_text
            if text:
                t = mask(text).text.strip()
                latest[t] = CrisisExample(f"feedback-{fid}", t, event == "emergency", None, "operator")
    return list(latest.values())


def select_danger_for_training(corrections: list[CrisisExample], corpus: list[Example],
                               crisis: list[CrisisExample]) -> list[CrisisExample]:
    known = {e.text.strip() for e in corpus} | {mask(e.text).text.strip() for e in corpus} | \
            {c.text.strip() for c in crisis} | {mask(c.text).text.strip() for c in crisis}
    return [c for c in corrections if c.text not in known]


def load_feedback(database_url: str) -> tuple[list[Correction], list[CrisisExample]]:
    """Operators' issue-type corrections and danger verdicts, read from the database at ``database_url``
    (what `jishibang train triage --with-feedback` and the retraining job train on)."""
    from kb.db import make_engine, session_factory

    engine = make_engine(database_url)
    try:
        factory = session_factory(engine)
        return load_corrections(factory), load_danger_corrections(factory)
    finally:
        engine.dispose()
