"""Retention: cases older than N days are deleted with everything recorded about them (follow-ups,
dispatches, consultations, the feedback given on them), and so are old asked questions and their
feedback. Entries and their history are knowledge, not personal records, and are kept."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from hotline.tables import Case, Consultation, Dispatch, Feedback, FollowUp, Question
from kb.db import transaction


def purge(factory: sessionmaker[Session], older_than_days: int, now: datetime | None = None) -> dict[str, int]:
    if older_than_days < 1:
        raise ValueError("keep at least one day")
    cutoff = (now or datetime.now(timezone.utc)) - timedelta(days=older_than_days)
    with transaction(factory) as s:
        case_ids = list(s.scalars(select(Case.id).where(Case.created_at < cutoff)))
        question_ids = list(s.scalars(select(Question.id).where(Question.at < cutoff)))
        counts = {
            "feedback": s.execute(delete(Feedback).where(
                Feedback.case_id.in_(case_ids) | Feedback.question_id.in_(question_ids) |
                ((Feedback.at < cutoff) & Feedback.case_id.is_(None)))).rowcount,
            "followups": s.execute(delete(FollowUp).where(FollowUp.case_id.in_(case_ids))).rowcount,
            "dispatches": s.execute(delete(Dispatch).where(Dispatch.case_id.in_(case_ids))).rowcount,
            "consultations": s.execute(delete(Consultation).where(Consultation.case_id.in_(case_ids))).rowcount,
            "cases": s.execute(delete(Case).where(Case.id.in_(case_ids))).rowcount,
            "questions": s.execute(delete(Question).where(Question.id.in_(question_ids))).rowcount,
        }
    return counts
