"""Request and response bodies of /v1: every field typed and bounded (they make the OpenAPI schema)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from kb.schema import EntryContent

MAX_TEXT = 5000  # the same bound triage enforces

Message = Annotated[str, Field(min_length=1, max_length=MAX_TEXT, description="Call note or message (any length up to 5,000 characters).")]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=r"^[\w.@\-\u4e00-\u9fff]+$")]
Short = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Note = Annotated[str, Field(max_length=4000)]
IssueType = Annotated[str, StringConstraints(min_length=1, max_length=40)]
Platform = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
Role = Literal["operator", "staff", "admin", "enterprise"]
Channel = Literal["phone", "wechat", "web"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- auth ----------------------------------------------------------------------------------------

class LoginRequest(Strict):
    name: Name
    password: Annotated[str, Field(min_length=1, max_length=200)]


class LoginResponse(BaseModel):
    token: str
    expires_at: datetime
    name: str
    role: Role
    platform: str | None = None


class Me(BaseModel):
    name: str
    role: Role
    platform: str | None = None
    via: Literal["token", "key"]


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
    score: float | None = Field(description="Calibrated probability that the entry answers the note.")
    good_enough: bool


class EmergencyContact(BaseModel):
    name: str
    number: str
    when: str


class SuggestResponse(BaseModel):
    triage: TriageOut
    suggestions: list[Suggestion]
    no_good_answer: bool
    reason: str | None
    referral: ReferralOut | None
    referrals: list[ReferralOut]
    deadlines: list[DeadlineOut]
    emergency_contacts: list[EmergencyContact]


class SearchRequest(Strict):
    query: Message
    k: int = Field(default=5, ge=1, le=20)
    mode: Literal["hybrid", "bm25", "dense"] = "hybrid"


class SearchHit(BaseModel):
    entry_id: int
    slug: str
    title: str
    kind: str
    version: int
    score: float | None
    retrievers: list[str]


class SearchResponse(BaseModel):
    abstain: bool
    reason: str | None
    hits: list[SearchHit]


# --- cases ---------------------------------------------------------------------------------------

class CaseCreate(Strict):
    text: Message
    channel: Channel = "phone"
    call_id: Annotated[str, StringConstraints(max_length=64, pattern=r"^[A-Za-z0-9_\-]{1,64}$")] | None = None
    issue_types: list[IssueType] | None = Field(default=None, max_length=16, description="Default: triage's labels.")
    urgency: Literal["low", "normal", "high", "emergency"] | None = None
    referral: Annotated[str, StringConstraints(max_length=40)] | None = None


class CaseUpdate(Strict):
    referral: Annotated[str, StringConstraints(max_length=40)] | None = None
    status: Literal["open", "referred", "dispatched", "escalated", "closed"] | None = None
    issue_types: list[IssueType] | None = Field(default=None, max_length=16)


class FollowUpCreate(Strict):
    accepted: bool | None = None
    resolved: bool | None = None
    amount_recovered: float | None = Field(default=None, ge=0, le=1e9)
    notes: Note = ""


class DispatchCreate(Strict):
    platform: Platform
    note: Note = ""


class DispatchReply(Strict):
    reply: Annotated[str, Field(min_length=1, max_length=4000)]
    status: Literal["in_progress", "resolved", "rejected"] = "in_progress"


class ConsultationCreate(Strict):
    bodies: list[Short] = Field(min_length=1, max_length=20)
    actions: list[Annotated[str, Field(min_length=1, max_length=500)]] = Field(default_factory=list, max_length=30)
    follow_up_by: Short
    notes: Note = ""


class CaseOut(BaseModel):
    id: int
    call_id: str | None
    channel: str
    operator: str
    text_masked: str
    issue_types: list[str]
    urgency: str
    referral: str | None
    district: str | None
    platform: str | None
    status: str
    created_at: datetime
    updated_at: datetime
    dispatches: list[dict[str, Any]] = Field(default_factory=list)
    followups: list[dict[str, Any]] = Field(default_factory=list)
    consultations: list[dict[str, Any]] = Field(default_factory=list)
    feedback: list[dict[str, Any]] = Field(default_factory=list)


class CaseList(BaseModel):
    total: int
    items: list[CaseOut]


# --- feedback ------------------------------------------------------------------------------------

class FeedbackCreate(Strict):
    event: Literal["shown", "copied", "helpful", "wrong", "corrected"]
    entry_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    entry_version: int | None = Field(default=None, ge=1, le=2**31 - 1)
    case_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    query: Annotated[str, Field(max_length=MAX_TEXT)] | None = None
    corrected_issue_types: list[IssueType] | None = Field(default=None, max_length=16)


class Created(BaseModel):
    id: int


# --- workers -------------------------------------------------------------------------------------

class AskRequest(Strict):
    question: Annotated[str, Field(min_length=1, max_length=2000, description="The worker's question.")]


class WhereToGo(BaseModel):
    name: str
    contact: str


class FaqAnswer(BaseModel):
    entry_id: int
    version: int
    title: str
    text: str
    steps: list[str]
    evidence: list[str]
    legal_basis: list[str]
    as_of: date
    where_to_go: list[WhereToGo]
    score: float | None


class Contact(BaseModel):
    hotline: str
    wechat: str


class AskResponse(BaseModel):
    answer_id: int = Field(description="Send it back with 'was this helpful?'.")
    answered: bool
    emergency: bool
    emergency_contacts: list[EmergencyContact]
    message: str | None
    answer: FaqAnswer | None
    contact: Contact
    question_masked: str


class AskFeedback(Strict):
    answer_id: int = Field(ge=1, le=2**31 - 1)
    helpful: bool


# --- staff: entries ------------------------------------------------------------------------------

class EntryOut(BaseModel):
    id: int
    slug: str
    kind: str
    status: str
    version: int
    published_version: int | None
    title: str
    issue_types: list[str]
    jurisdiction: str
    review_by: date | None
    flagged_outdated: bool
    flag_reason: str | None
    content: EntryContent
    author: str
    created_at: datetime
    updated_at: datetime


class EntrySummary(BaseModel):
    id: int
    slug: str
    kind: str
    status: str
    version: int
    published_version: int | None
    title: str
    issue_types: list[str]
    review_by: date | None
    flagged_outdated: bool
    author: str
    updated_at: datetime


class EntryList(BaseModel):
    total: int
    items: list[EntrySummary]


class EntryCreate(Strict):
    content: EntryContent
    comment: Annotated[str, Field(max_length=1000)] | None = None


class EntryEdit(Strict):
    version: int | None = Field(default=None, ge=1, le=2**31 - 1,
                                description="The version being edited (or send If-Match); a stale one gets 409.")
    content: EntryContent
    comment: Annotated[str, Field(max_length=1000)] | None = None


class EntryAction(Strict):
    version: int | None = Field(default=None, ge=1, le=2**31 - 1)
    comment: Annotated[str, Field(max_length=1000)] | None = None


class Rollback(Strict):
    to_version: int = Field(ge=1, le=2**31 - 1)
    version: int | None = Field(default=None, ge=1, le=2**31 - 1)


class RevisionOut(BaseModel):
    entry_id: int
    version: int
    action: str
    status: str
    content: EntryContent
    author: str
    comment: str | None
    created_at: datetime


class ImportResult(BaseModel):
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    model_config = ConfigDict(extra="allow")


class DraftFromGap(Strict):
    question_ids: list[int] = Field(min_length=1, max_length=200)
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)] | None = None
    issue_types: list[IssueType] | None = Field(default=None, max_length=16)


# --- admin ---------------------------------------------------------------------------------------

class UserCreate(Strict):
    name: Name
    role: Role
    password: Annotated[str, Field(min_length=8, max_length=200)]
    platform: Platform | None = None


class KeyCreate(Strict):
    role: Role
    platform: Platform | None = None
    label: Annotated[str, Field(max_length=100)] = ""


class KeyCreated(BaseModel):
    key: str = Field(description="Shown once; only its hash is stored.")
    role: Role
    platform: str | None
