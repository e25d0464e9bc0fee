"""Cases and the case workspace: notes, follow-ups (回访) and their plan, referrals with outcomes, dispatch
to platform sub-lines with their replies, multi-agency consultations."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints

from api.schemas.common import Channel, IssueType, Message, Note, Platform, Referral, Short, Strict


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


for _model in (CaseOut, DispatchOut):  # they name models defined further down
    _model.model_rebuild()
