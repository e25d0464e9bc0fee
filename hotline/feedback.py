"""Feedback on suggestions and answers, and the log of questions asked (the raw material of gaps)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from hotline.errors import InvalidRequest, NotFound
from hotline.tables import Feedback, Question
from kb.db import aware_utc, transaction
from triage.pii import mask

# "emergency" / "not_emergency": the operator's verdict on the danger-now flag ("这是紧急情况" / "不是紧急情况"); they
# join the crisis corpus's training split through the promotion gate (models/feedback_data.py).
OPERATOR_EVENTS = ("shown", "copied", "helpful", "wrong", "corrected", "emergency", "not_emergency")
DANGER_EVENTS = ("emergency", "not_emergency")
WORKER_EVENTS = ("helpful", "unhelpful")
SOURCES = ("operator", "worker")


class FeedbackLog:
    def __init__(self, factory: sessionmaker[Session]) -> None:
        self.factory = factory

    def record(self, *, source: str, actor: str, event: str, entry_id: int | None = None,
               entry_version: int | None = None, case_id: int | None = None, question_id: int | None = None,
               query: str | None = None, corrected_issue_types: list[str] | None = None) -> int:
        allowed = OPERATOR_EVENTS if source == "operator" else WORKER_EVENTS
        if event not in allowed:
            raise InvalidRequest(f"unknown {source} event {event!r}; allowed: {', '.join(allowed)}",
                                 f"未知的反馈类型：{event}；可选：{'、'.join(allowed)}")
        if event == "corrected" and not corrected_issue_types:
            raise InvalidRequest("a correction names the right issue types",
                                 "纠正时请选择正确的问题类型")
        if event in DANGER_EVENTS and not (query and query.strip()) and case_id is None:
            raise InvalidRequest("a danger correction names the message: its text (query) or its case",
                                 "紧急情况的判断需要附上消息内容或个案")
        if event not in ("corrected", *DANGER_EVENTS) and entry_id is None and question_id is None:
            raise InvalidRequest("feedback names the entry (or the answered question) it is about",
                                 "反馈需要指明针对的条目或问题")
        row = Feedback(source=source, actor=actor, event=event, entry_id=entry_id, entry_version=entry_version,
                       case_id=case_id, question_id=question_id, query_masked=mask(query).text if query else None,
                       corrected_issue_types=corrected_issue_types)
        try:
            with transaction(self.factory) as s:
                s.add(row)
                if question_id is not None and source == "worker":
                    q = s.get(Question, question_id)
                    if q is None:
                        raise NotFound(f"no answer {question_id}")
                    q.helpful = event == "helpful"
                s.flush()
                return row.id
        except IntegrityError:  # a foreign key that names nothing
            raise NotFound("the entry, case or answer named in the feedback does not exist") from None

    def by_entry(self) -> dict[int, dict[str, int]]:
        """Counts of each event per entry: the standing an entry has earned."""
        q = (select(Feedback.entry_id, Feedback.event, func.count(Feedback.id))
             .where(Feedback.entry_id.is_not(None)).group_by(Feedback.entry_id, Feedback.event))
        out: dict[int, dict[str, int]] = {}
        with self.factory() as s:
            for entry_id, event, n in s.execute(q):
                out.setdefault(int(entry_id), {})[event] = int(n)
        return out

    def for_case(self, case_id: int) -> list[dict[str, Any]]:
        with self.factory() as s:
            return [{"id": f.id, "at": aware_utc(f.at), "event": f.event, "entry_id": f.entry_id, "actor": f.actor,
                     "corrected_issue_types": f.corrected_issue_types}
                    for f in s.scalars(select(Feedback).where(Feedback.case_id == case_id).order_by(Feedback.id))]

    def corrections(self) -> list[dict[str, Any]]:
        """Operator corrections: masked text with the right issue types (labelled examples for retraining)."""
        with self.factory() as s:
            return [{"text": f.query_masked, "issue_types": f.corrected_issue_types, "at": f.at}
                    for f in s.scalars(select(Feedback).where(Feedback.event == "corrected").order_by(Feedback.id))
                    if f.query_masked]

    def totals(self) -> dict[str, int]:
        with self.factory() as s:
            return {f"{src}:{ev}": int(n) for src, ev, n in
                    s.execute(select(Feedback.source, Feedback.event, func.count(Feedback.id))
                              .group_by(Feedback.source, Feedback.event))}


class QuestionLog:
    def __init__(self, factory: sessionmaker[Session]) -> None:
        self.factory = factory

    def record(self, *, source: str, text: str, answered: bool, best_entry_id: int | None, best_score: float | None,
               issue_types: list[str], urgency: str | None, tier: str | None = None) -> int:
        if source not in SOURCES:
            raise InvalidRequest(f"unknown source {source!r}",
                                 f"未知的来源：{source}")
        # One INSERT ... RETURNING rather than the ORM's unit of work: this runs on every suggestion and answer.
        with transaction(self.factory) as s:
            return int(s.execute(insert(Question).values(
                source=source, text_masked=mask(text).text, answered=answered, best_entry_id=best_entry_id,
                best_score=best_score, issue_types=list(issue_types), urgency=urgency, tier=tier,
            ).returning(Question.id)).scalar_one())

    def unanswered(self, since: datetime | None = None, include_unhelpful: bool = True,
                   limit: int = 2000) -> list[dict[str, Any]]:
        """Questions that got no good answer or only a hedged one (tier likely), or whose answer the worker found
        unhelpful, not yet drafted."""
        q = select(Question).where(Question.drafted_entry_id.is_(None))
        cond = Question.answered.is_(False) | (Question.tier == "likely")
        if include_unhelpful:
            cond = cond | Question.helpful.is_(False)
        q = q.where(cond)
        if since is not None:
            q = q.where(Question.at >= since)
        with self.factory() as s:
            return [{"id": r.id, "at": r.at, "source": r.source, "text": r.text_masked, "best_score": r.best_score,
                     "issue_types": list(r.issue_types or [])}
                    for r in s.scalars(q.order_by(Question.id.desc()).limit(limit))]

    def best_entry(self, question_id: int) -> int | None:
        """The entry a worker's question was answered with (None when it was not answered)."""
        with self.factory() as s:
            row = s.get(Question, question_id)
            if row is None:
                raise NotFound(f"no answer {question_id}")
            return row.best_entry_id if row.answered else None

    def mark_drafted(self, question_ids: list[int], entry_id: int) -> None:
        with transaction(self.factory) as s:
            for q in s.scalars(select(Question).where(Question.id.in_(question_ids))):
                q.drafted_entry_id = entry_id

    def texts(self, question_ids: list[int]) -> list[dict[str, Any]]:
        with self.factory() as s:
            return [{"id": r.id, "text": r.text_masked, "issue_types": list(r.issue_types or [])}
                    for r in s.scalars(select(Question).where(Question.id.in_(question_ids)).order_by(Question.id))]

    def counts(self) -> dict[str, int]:
        with self.factory() as s:
            total = int(s.scalar(select(func.count(Question.id))) or 0)
            answered = int(s.scalar(select(func.count(Question.id)).where(Question.answered.is_(True))) or 0)
            helpful = int(s.scalar(select(func.count(Question.id)).where(Question.helpful.is_(True))) or 0)
            unhelpful = int(s.scalar(select(func.count(Question.id)).where(Question.helpful.is_(False))) or 0)
        return {"asked": total, "answered": answered, "helpful": helpful, "unhelpful": unhelpful}



def utcnow() -> datetime:
    return datetime.now(timezone.utc)
