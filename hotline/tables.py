"""Tables of the hotline's records (same declarative base and database as the knowledge base)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kb.tables import Base, utcnow


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    platform: Mapped[str | None] = mapped_column(String(40), nullable=True)  # enterprise users only
    password_hash: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SignIn(Base):
    """A sign-in token (stored as its SHA-256, never in clear) with its expiry."""

    __tablename__ = "sign_ins"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))  # shown in listings so a key can be recognised
    role: Mapped[str] = mapped_column(String(20))
    platform: Mapped[str | None] = mapped_column(String(40), nullable=True)
    label: Mapped[str] = mapped_column(String(100), default="")
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class AuditEvent(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(64), index=True)
    role: Mapped[str] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(40))
    target: Mapped[str] = mapped_column(String(80))  # e.g. entry:12, user:4, case:9
    version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Case(Base):
    """One call or WeChat conversation. Only masked text is ever stored."""

    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    channel: Mapped[str] = mapped_column(String(20), index=True)
    operator: Mapped[str] = mapped_column(String(64))
    text_masked: Mapped[str] = mapped_column(Text)
    issue_types: Mapped[list[str]] = mapped_column(JSON)
    urgency: Mapped[str] = mapped_column(String(20), index=True)
    referral: Mapped[str | None] = mapped_column(String(40), nullable=True)
    district: Mapped[str | None] = mapped_column(String(20), nullable=True, index=True)
    platform: Mapped[str | None] = mapped_column(String(40), nullable=True, index=True)
    # The station (站点) the case is about, when known: early-warning alerts count cases per station too.
    station: Mapped[str | None] = mapped_column(String(60), nullable=True, index=True)
    status: Mapped[str] = mapped_column(String(20), default="open", index=True)
    # A worker's hand-off from /ask: the question it came from (one case per question) and the call-back number,
    # sealed (hotline/sealing.py): the only place a raw number is kept, and only for the call-back.
    question_id: Mapped[int | None] = mapped_column(Integer, nullable=True, unique=True)
    callback_sealed: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Who holds the case now (migration 0006): its operator, or whoever took it from the team queue.
    assignee: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)


class FollowUp(Base):
    """回访: what came of the referral, recorded later."""

    __tablename__ = "case_followups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    by: Mapped[str] = mapped_column(String(64))
    accepted: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    resolved: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    amount_recovered: Mapped[float | None] = mapped_column(Float, nullable=True)
    notes: Mapped[str] = mapped_column(Text, default="")


class Dispatch(Base):
    """A case routed to a platform company's sub-line; its reply flows back to the dispatcher."""

    __tablename__ = "dispatches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    platform: Mapped[str] = mapped_column(String(40), index=True)
    note: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    reply: Mapped[str | None] = mapped_column(Text, nullable=True)
    replied_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    replied_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # When the sub-line's reply is due (migration 0006): created_at + the SLA for the case's urgency.
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Consultation(Base):
    """多部门会商: the bodies involved, the actions agreed and who follows up."""

    __tablename__ = "consultations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    bodies: Mapped[list[str]] = mapped_column(JSON)
    actions: Mapped[list[str]] = mapped_column(JSON)
    follow_up_by: Mapped[str] = mapped_column(String(100))
    notes: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Feedback(Base):
    """What happened to one suggestion or answer; credited to the entry (and the case when there is one)."""

    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    source: Mapped[str] = mapped_column(String(20))  # operator | worker
    actor: Mapped[str] = mapped_column(String(64))
    event: Mapped[str] = mapped_column(String(20), index=True)
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("entries.id", ondelete="SET NULL"), nullable=True, index=True)
    entry_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="SET NULL"), nullable=True, index=True)
    question_id: Mapped[int | None] = mapped_column(ForeignKey("questions.id", ondelete="SET NULL"), nullable=True)
    query_masked: Mapped[str | None] = mapped_column(Text, nullable=True)
    corrected_issue_types: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)


class Question(Base):
    """A question asked (worker FAQ or operator suggest) and how well it was answered: the raw material of gaps."""

    __tablename__ = "questions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    source: Mapped[str] = mapped_column(String(20), index=True)
    text_masked: Mapped[str] = mapped_column(Text)
    answered: Mapped[bool] = mapped_column(Boolean, index=True)
    best_entry_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    best_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    issue_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    urgency: Mapped[str | None] = mapped_column(String(20), nullable=True)
    helpful: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    drafted_entry_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    tier: Mapped[str | None] = mapped_column(String(12), nullable=True)  # confident / likely / none


class ParaphraseProposal(Base):
    """A real (masked) question that reached an entry through positive feedback, proposed as a new
    paraphrase of that entry; staff accept it (a new draft revision of the entry) or reject it."""

    __tablename__ = "paraphrase_proposals"
    __table_args__ = (UniqueConstraint("entry_id", "text_norm"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("entries.id", ondelete="CASCADE"), index=True)
    text: Mapped[str] = mapped_column(String(300))
    text_norm: Mapped[str] = mapped_column(String(300))  # the dedupe key (normalised, no punctuation)
    source: Mapped[str] = mapped_column(String(20))  # operator | worker
    feedback_id: Mapped[int | None] = mapped_column(ForeignKey("feedback.id", ondelete="SET NULL"), nullable=True)
    times: Mapped[int] = mapped_column(Integer, default=1)  # how often this question was credited to the entry
    nearest: Mapped[float | None] = mapped_column(Float, nullable=True)  # cosine to the entry's closest question
    status: Mapped[str] = mapped_column(String(20), default="proposed", index=True)  # proposed | accepted | rejected
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    decided_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    comment: Mapped[str | None] = mapped_column(String(500), nullable=True)
    entry_version: Mapped[int | None] = mapped_column(Integer, nullable=True)  # the draft revision an accept made


class LearningCursor(Base):
    """How far a learning job has read an append-only log (the id of the last feedback row it processed)."""

    __tablename__ = "learning_cursors"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, default=0)


# --- the WeChat channel (tables in hotline/wechat/tables.py, registered on the same metadata) -----
from hotline.wechat import tables as _wechat_tables  # noqa: E402,F401


# --- the case workspace (migration 0006): who holds a case, its notes, referrals, 回访 plan, dispatch replies ----

class CaseNote(Base):
    """An addition to a saved case (append-only: never edited or deleted), masked and timestamped."""

    __tablename__ = "case_notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    by: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)


class CaseReferral(Base):
    """"Referred to X" as the operator recorded it, and later what came of it."""

    __tablename__ = "case_referrals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    target: Mapped[str] = mapped_column(String(40))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    by: Mapped[str] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(Text, default="")
    outcome: Mapped[str | None] = mapped_column(String(20), nullable=True)  # accepted | declined | resolved | no_response
    outcome_note: Mapped[str | None] = mapped_column(Text, nullable=True)
    outcome_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    outcome_by: Mapped[str | None] = mapped_column(String(64), nullable=True)


class FollowUpPlan(Base):
    """A 回访 due on a day (China time): from a referral's typical duration, or set by the operator."""

    __tablename__ = "followup_plans"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    due_on: Mapped[date] = mapped_column(Date, index=True)
    reason: Mapped[str] = mapped_column(String(300))
    referral_id: Mapped[int | None] = mapped_column(ForeignKey("case_referrals.id", ondelete="SET NULL"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(64))
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True, index=True)
    done_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    followup_id: Mapped[int | None] = mapped_column(ForeignKey("case_followups.id", ondelete="SET NULL"), nullable=True)


class DispatchEvent(Base):
    """Each reply of a platform's sub-line to a dispatch, and each reopening (with its reason), in order."""

    __tablename__ = "dispatch_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dispatch_id: Mapped[int] = mapped_column(ForeignKey("dispatches.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    by: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(20))  # reply | reopen
    status: Mapped[str] = mapped_column(String(20))  # the dispatch's status after this event
    text: Mapped[str] = mapped_column(Text)


class AlertRun(Base):
    """One nightly early-warning run (``jishibang worker``): the alerts for one as-of day, kept as computed."""

    __tablename__ = "alert_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    as_of: Mapped[date] = mapped_column(Date, unique=True)
    ran_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    alerts: Mapped[int] = mapped_column(Integer)
    pairs_checked: Mapped[int] = mapped_column(Integer)
    report: Mapped[dict[str, Any]] = mapped_column(JSON)
