"""Staff and the learning loop: entries' standing from feedback, paraphrase proposals, early-warning alerts."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints

from api.schemas.common import Strict
from api.schemas.entries import EntryOut


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
