"""Request and response bodies of /v1: every field typed and bounded (they make the OpenAPI schema)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, WithJsonSchema, field_validator
from pydantic_core import PydanticCustomError

from kb.schema import EntryContent, IssueTypeId, unprintable
from triage.referrals import targets

MAX_TEXT = 5000  # the same bound triage enforces

Message = Annotated[str, Field(min_length=1, max_length=MAX_TEXT, description="Call note or message (any length up to 5,000 characters).")]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=r"^[\w.@\-\u4e00-\u9fff]+$")]
Short = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Note = Annotated[str, Field(max_length=4000)]
IssueType = IssueTypeId  # checked against the taxonomy by the routes (422 unknown_issue_type)
Referral = Annotated[str, StringConstraints(max_length=40), WithJsonSchema({"type": "string", "enum": list(targets())})]
Platform = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
Role = Literal["operator", "staff", "admin", "enterprise"]
Channel = Literal["phone", "wechat", "web"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("*")
    @classmethod
    def _printable(cls, value: Any) -> Any:
        where = unprintable(value)
        if where:
            raise PydanticCustomError("control_chars", "text contains control characters or invalid Unicode",
                                      {"where": where})
        return value


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


# --- cases ---------------------------------------------------------------------------------------

class CaseCreate(Strict):
    text: Message
    channel: Channel = "phone"
    call_id: Annotated[str, StringConstraints(max_length=64, pattern=r"^[A-Za-z0-9_\-]{1,64}$")] | None = None
    issue_types: list[IssueType] | None = Field(default=None, max_length=16, description="Default: triage's labels.")
    urgency: Literal["low", "normal", "high", "emergency"] | None = None
    referral: Referral | None = None


class CaseUpdate(Strict):
    referral: Referral | None = None
    status: Literal["open", "referred", "dispatched", "escalated", "closed"] | None = None
    issue_types: list[IssueType] | None = Field(default=None, max_length=16)


class FollowUpCreate(Strict):
    accepted: bool | None = None
    resolved: bool | None = None
    amount_recovered: float | None = Field(default=None, ge=0, le=1e9)
    notes: Note = ""
    next_due: date | None = Field(default=None, ge=date(2000, 1, 1), le=date(2100, 12, 31),
                                  description="Plan the next 回访 on this day (ignored when resolved).")


class DispatchCreate(Strict):
    platform: Platform
    note: Note = ""


class DispatchReply(Strict):
    reply: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]
    status: Literal["in_progress", "resolved", "rejected"] = "in_progress"


class DispatchOut(BaseModel):
    id: int
    case_id: int
    platform: str
    note: str
    status: Literal["pending", "in_progress", "resolved", "rejected"]
    created_by: str
    created_at: datetime
    reply: str | None
    replied_by: str | None
    replied_at: datetime | None
    due_at: datetime | None = Field(default=None, description="When the sub-line's reply is due (its SLA).")
    awaiting_reply: bool = Field(default=False, description="No reply since it was sent or reopened.")
    overdue: bool = Field(default=False, description="Awaiting a reply past due_at.")
    events: list[DispatchEventOut] = Field(default_factory=list, description="Replies and reopenings, oldest first.")


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
    reference: str | None = Field(default=None, description="A worker's hand-off reference (channel web).")
    has_callback: bool = False
    callback: str | None = Field(default=None, description="The number a worker left for a call-back (operators' "
                                                          "case view only; stored sealed).")
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
    assignee: str | None = Field(default=None, description="Who holds the case (none: waiting in the team queue).")
    notes: list[CaseNoteOut] = Field(default_factory=list, description="Additions after saving, oldest first.")
    referrals: list[CaseReferralOut] = Field(default_factory=list, description="Referrals recorded, with outcomes.")
    followup_plan: list[FollowUpPlanOut] = Field(default_factory=list, description="回访 planned, by due day.")
    next_followup_on: date | None = Field(default=None, description="The next 回访 not done yet.")
    followup_due: bool = Field(default=False, description="A 回访 is due today or earlier.")
    followup_overdue: bool = Field(default=False, description="A 回访 was due before today.")


class CaseList(BaseModel):
    total: int
    items: list[CaseOut]


# --- feedback ------------------------------------------------------------------------------------

class FeedbackCreate(Strict):
    event: Literal["shown", "copied", "helpful", "wrong", "corrected", "emergency", "not_emergency"] = Field(
        description="emergency / not_emergency: the operator's verdict on the danger-now flag (text in `query` or "
                    "`case_id`); it becomes training data for the detector behind the promotion gate.")
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
    need: Annotated[str, StringConstraints(max_length=40, pattern=r"^(who:)?[a-z_]{2,36}$")] | None = Field(
        default=None, description="The option chosen in a clarifying question (its `need`: an issue type id or "
                                  "`who:<counterparty>`): only entries for that need are offered.")


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
    tier: Literal["confident", "likely", "none"] = "confident"


class Contact(BaseModel):
    hotline: str
    wechat: str


class AskResponse(BaseModel):
    answer_id: int = Field(description="Send it back with 'was this helpful?' or with a hand-off request.")
    answered: bool = Field(description="An entry is offered (tier confident or likely).")
    tier: Literal["confident", "likely", "none"] = Field(description="confident: the answer; likely: a hedged answer "
                                                                     "or a clarifying question; none: hand over to a person.")
    emergency: bool
    emergency_contacts: list[EmergencyContact]
    message: str | None = Field(description="What to say above the answer (a hedge, a clarifying question, or why "
                                            "there is no answer).")
    answer: FaqAnswer | None = Field(description="The first entry offered (confident or likely).")
    answers: list[FaqAnswer] = Field(default_factory=list, description="One entry when confident, one or two when likely.")
    clarify: ClarifyOut | None = None
    handoff: bool = Field(default=False, description="Offer 'ask a person to contact me' (POST /v1/faq/handoff).")
    crisis: Literal["passive", "now"] | None = Field(default=None, description="passive: suicidal thoughts without "
                                                     "danger now (a warm message, 12356 and the hotline, not 110).")
    support: str | None = Field(default=None, description="Rest and support information for someone venting.")
    contact: Contact
    question_masked: str
    index: IndexInfo | None = None


class HandoffRequest(Strict):
    answer_id: int = Field(ge=1, le=2**31 - 1, description="The answer_id of the question to hand over.")
    callback: Annotated[str, StringConstraints(strip_whitespace=True, max_length=30,
                                               pattern=r"^[0-9+\-\s()]{7,30}$")] | None = Field(
        default=None, description="Optional number to call back (kept sealed, only for the call-back).")
    note: Annotated[str, Field(max_length=500)] | None = Field(default=None, description="Anything to add.")


class HandoffResponse(BaseModel):
    reference: str = Field(description="Quote it when you call or write again.")
    case_id: int
    created: bool = Field(description="False when this question was already handed over (the same case).")
    message: str


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
    question_ids: list[Annotated[int, Field(ge=1, le=2**31 - 1)]] = Field(min_length=1, max_length=200)
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)] | None = None
    issue_types: list[IssueType] | None = Field(default=None, max_length=16)


# --- staff: the learning loop (standing, paraphrase proposals, early-warning alerts) -------------

class StandingOut(BaseModel):
    entry_id: int
    slug: str | None
    title: str | None
    positive: int = Field(description="Operator copied/helpful and worker helpful votes.")
    negative: int = Field(description="Operator wrong and worker unhelpful votes.")
    votes: int
    shown: int = Field(description="Exposures reported by operators (not votes).")
    mean: float = Field(description="Posterior mean of the helpful rate (Beta prior on the global rate).")
    low: float = Field(description="Lower end of the 95% credible interval.")
    high: float = Field(description="Upper end of the 95% credible interval.")
    multiplier: float = Field(description="Applied to the entry's fused search score; bounded.")
    flagged: bool = Field(description="Confidently unhelpful: listed for review.")


class StandingList(BaseModel):
    rule: dict[str, Any]
    total: int
    items: list[StandingOut]


class ParaphraseOut(BaseModel):
    id: int
    entry_id: int
    entry_slug: str | None = None
    entry_title: str | None = None
    text: str = Field(description="The masked question, as it would be added.")
    source: Literal["operator", "worker"]
    times: int = Field(description="How often this question was credited to the entry.")
    nearest: float | None = Field(description="Cosine to the entry's closest existing question (lower: newer wording).")
    status: Literal["proposed", "accepted", "rejected"]
    created_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    comment: str | None
    entry_version: int | None = Field(description="The draft revision an accept created.")


class ParaphraseList(BaseModel):
    total: int
    items: list[ParaphraseOut]
    synced: dict[str, int] = Field(description="What the feedback read for this listing became (proposed, repeated, skipped ...).")


class ParaphraseAccept(Strict):
    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)] | None = Field(
        default=None, description="Staff's edited wording (default: the proposal as it is).")


class ParaphraseReject(Strict):
    comment: Annotated[str, Field(max_length=500)] | None = None


class ParaphraseAccepted(BaseModel):
    proposal: ParaphraseOut
    entry: EntryOut


class AlertCase(BaseModel):
    id: int
    created_at: datetime
    text_masked: str
    issue_types: list[str]
    platform: str | None
    district: str | None
    station: str | None
    urgency: str
    status: str


class AlertOut(BaseModel):
    dimension: Literal["platform", "district", "station"]
    value: str
    issue_type: str
    count: int = Field(description="Cases in the last 7 days.")
    baseline: int = Field(description="Cases in the 28 days before.")
    expected: float = Field(description="max(baseline, 1) x 7 / 28.")
    ratio: float = Field(description="count / expected.")
    p_value: float = Field(description="One-sided Poisson upper tail P(X >= count | expected).")
    case_ids: list[int]
    daily: list[dict[str, Any]] = Field(description="Cases per day over the 35 days, oldest first.")
    cases: list[AlertCase] = Field(description="The newest cases behind the alert (masked text).")


class AlertsOut(BaseModel):
    as_of: date
    window: list[date]
    baseline: list[date]
    rule: dict[str, Any]
    pairs_checked: int
    alerts: list[AlertOut]


# --- admin ---------------------------------------------------------------------------------------

class UserCreate(Strict):
    name: Name
    role: Role
    password: Annotated[str, Field(min_length=8, max_length=200, pattern=r"\S", description="Not only spaces.")]
    platform: Platform | None = None


class KeyCreate(Strict):
    role: Role
    platform: Platform | None = None
    label: Annotated[str, Field(max_length=100)] = ""


class KeyCreated(BaseModel):
    key: str = Field(description="Shown once; only its hash is stored.")
    role: Role
    platform: str | None


# --- the case workspace: notes, referrals, the 回访 plan, dispatch replies, sub-lines -----------------

class DispatchEventOut(BaseModel):
    id: int
    at: datetime
    by: str
    role: str
    kind: Literal["reply", "reopen"]
    status: str = Field(description="The dispatch's status after this event.")
    text: str


class CaseNoteOut(BaseModel):
    id: int
    at: datetime
    by: str
    text: str


class CaseReferralOut(BaseModel):
    id: int
    target: str
    at: datetime
    by: str
    note: str
    outcome: Literal["accepted", "declined", "resolved", "no_response"] | None
    outcome_note: str | None
    outcome_at: datetime | None
    outcome_by: str | None


class FollowUpPlanOut(BaseModel):
    id: int
    due_on: date
    reason: str
    referral_id: int | None
    created_at: datetime
    created_by: str
    done_at: datetime | None
    done_by: str | None
    followup_id: int | None
    due: bool = Field(description="Not done and due today or earlier.")
    overdue: bool = Field(description="Not done and due before today.")


class CaseNoteCreate(Strict):
    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)] = Field(
        description="What came up after saving; masked before it is stored.")


class ReferralCreate(Strict):
    target: Referral
    note: Note = ""


class ReferralOutcome(Strict):
    outcome: Literal["accepted", "declined", "resolved", "no_response"]
    note: Note = ""


class FollowUpPlanCreate(Strict):
    due_on: date = Field(ge=date(2000, 1, 1), le=date(2100, 12, 31))
    reason: Annotated[str, Field(max_length=300)] = ""


class DispatchReopen(Strict):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)] = Field(
        description="Why a resolved or rejected dispatch needs more work.")


class SubLine(BaseModel):
    platform: str
    accounts: int = Field(description="Active enterprise users and keys that answer for it.")


class SubLines(BaseModel):
    items: list[SubLine]


class ChannelsOut(BaseModel):
    wechat_receiving: bool = Field(description="The WeChat channel is configured (wechat_token): messages arrive.")
    wechat_sending: bool = Field(description="Operator replies can be sent (app id and secret set).")


class NewEntryContent(EntryContent):
    """A new entry's content: the slug may be left out (it is made from the title's pinyin)."""

    slug: Annotated[str, StringConstraints(max_length=120, pattern=r"^[a-z0-9][a-z0-9-]{1,118}[a-z0-9]$")] | None = None  # type: ignore[assignment]

    @field_validator("slug", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value


class SlugSuggestion(BaseModel):
    slug: str = Field(description="The title's pinyin, unique among entries.")


class NewEntry(Strict):
    """POST /v1/entries: a new draft (the slug is optional: made from the title when left out)."""

    content: NewEntryContent
    comment: Annotated[str, Field(max_length=1000)] | None = None


for _model in (CaseOut, DispatchOut):  # they name models defined further down
    _model.model_rebuild()


class GapQuestions(Strict):
    question_ids: list[Annotated[int, Field(ge=1, le=2**31 - 1)]] = Field(min_length=1, max_length=200)


class GapParaphrases(GapQuestions):
    entry_id: int = Field(ge=1, le=2**31 - 1, description="The existing entry that answers these questions.")


class NearEntry(BaseModel):
    entry_id: int
    slug: str
    title: str
    score: float | None = Field(description="The search's probability that the entry answers the gap's questions.")
    tier: Literal["confident", "likely", "none"]


class GapNearest(BaseModel):
    query: str = Field(description="The question searched for (the cluster's most typical).")
    entries: list[NearEntry]


class ParaphrasesAddedOut(BaseModel):
    entry: EntryOut
    added: list[str]
    skipped: list[str] = Field(description="Already among the entry's questions, or past its 40 paraphrases.")
