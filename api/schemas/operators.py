"""What operators send and get back: triage, suggestions and search."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, Field

from api.schemas.common import Message, Strict


# --- operators -----------------------------------------------------------------------------------

class TextRequest(Strict):
    text: Message


class IssueScoreOut(BaseModel):
    id: str
    name: str
    score: float


class UrgencyReasonOut(BaseModel):
    source: str
    code: str
    detail: str


class UrgencyOut(BaseModel):
    level: Literal["low", "normal", "high", "emergency"]
    reasons: list[UrgencyReasonOut]


class ReferralOut(BaseModel):
    target: str
    name: str
    contact: str
    reason: str
    evidence: list[str]
    score: float = Field(description="Rule weight x issue-type score: orders the referrals; not a probability.")


class DeadlineOut(BaseModel):
    id: str
    name: str
    note: str
    basis: str | None
    starts: date | None
    due: date | None
    days_left: int | None
    unverified: bool


class DangerReasonOut(BaseModel):
    code: str
    detail: str


class DangerOut(BaseModel):
    level: Literal["none", "passive", "now"] = Field(description="none; passive (suicidal thoughts, no danger now: "
                                                                 "ask directly, 12356 first); now (110/120 first).")
    kind: str | None = None
    probability: float = Field(description="The danger-now detector's probability.")
    check: bool = Field(default=False, description="level none, but close to the line: ask the caller one safety "
                                                   "question (a worker is shown where to find support).")
    check_kind: str | None = Field(default=None, description="With check: the kind of danger the detector leans to "
                                                               "(the safety question and the worker's note follow it).")
    reasons: list[DangerReasonOut] = Field(default_factory=list, description="Cue words, and the context that "
                                                                             "made them not count (hyperbole, past, news).")


class TriageOut(BaseModel):
    text_masked: str
    pii: list[str]
    issue_types: list[IssueScoreOut]
    labels: list[str]
    abstain: bool
    abstain_reason: str | None
    urgency: UrgencyOut
    entities: dict[str, Any] = Field(description="platforms, roles, districts, money, dates, durations, vehicles, injuries")
    deadlines: list[DeadlineOut]
    referrals: list[ReferralOut]
    model_version: str | None
    danger: DangerOut | None = None


class Suggestion(BaseModel):
    entry_id: int
    version: int = Field(description="The published revision shown.")
    slug: str
    kind: str
    title: str
    reply: str = Field(description="Suggested reply in the operator's voice.")
    steps: list[str]
    evidence: list[str]
    legal_basis: list[str]
    referrals: list[str]
    as_of: date = Field(description="When this revision was published.")
    review_by: date | None
    unverified: list[str]
    score: float | None = Field(description="The reranker's probability that the entry answers the note (x its "
                                            "feedback standing); suggestions are ordered by it.")
    tier: Literal["confident", "likely", "none"] = Field(description="How sure the answer is: confident, likely "
                                                                     "(show as a hedge), none (do not rely on it).")
    good_enough: bool = Field(description="tier is confident or likely.")
    standing: float = Field(default=1.0, description="The multiplier its feedback standing applied to the score "
                                                     "(bounded to 0.95-1.05).")
    pinned: Literal["safety"] | None = Field(default=None, description="Why it is shown first whatever its score: "
                                             "'safety', crisis support for a note about self-harm or what to do "
                                             "right now in another danger. The rest follow "
                                             "by score.")


class EmergencyContact(BaseModel):
    name: str
    number: str
    when: str


class IndexInfo(BaseModel):
    """The search-index build that answered: every hit of one response comes from this one complete build."""

    build: str | None = Field(default=None, description="The build's id (its directory name).")
    entries: int = Field(description="Entries the build holds.")


class ClarifyOptionOut(BaseModel):
    need: str = Field(description="An issue type id or `who:<counterparty>`: send it back as `need` to re-run the "
                                  "question with that need.")
    label: str
    entry_id: int


class ClarifyOut(BaseModel):
    question: str
    options: list[ClarifyOptionOut]


class SuggestResponse(BaseModel):
    triage: TriageOut
    suggestions: list[Suggestion]
    tier: Literal["confident", "likely", "none"] = Field(description="The first suggestion's tier.")
    confidence: float | None = Field(description="Probability that the first suggestion answers the note.")
    banner: bool = Field(description="No suggestion is at least likely: warn the operator.")
    clarify: ClarifyOut | None = None
    no_good_answer: bool = Field(description="tier is none.")
    reason: str | None
    referral: ReferralOut | None
    referrals: list[ReferralOut]
    deadlines: list[DeadlineOut]
    emergency_contacts: list[EmergencyContact]
    guidance: str | None = Field(default=None, description="For a crisis: what to do first (ask directly about suicide).")
    index: IndexInfo | None = None


class SearchRequest(Strict):
    query: Message
    k: int = Field(default=5, ge=1, le=20)
    mode: Literal["hybrid", "bm25", "dense"] | None = Field(default=None, description="Default: hybrid when the index "
                                                                                  "has vectors, else bm25.")


class SearchHit(BaseModel):
    entry_id: int
    slug: str
    title: str
    kind: str
    version: int
    score: float | None
    tier: Literal["confident", "likely", "none"] = "none"
    retrievers: list[str]


class SearchResponse(BaseModel):
    abstain: bool
    tier: Literal["confident", "likely", "none"] = "none"
    confidence: float | None = None
    reason: str | None
    hits: list[SearchHit]
    index: IndexInfo | None = None
