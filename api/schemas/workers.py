"""Workers asking the FAQ: answers by tier, clarifying questions, hand-off to a person, 'was this helpful?'."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from api.schemas.common import Strict
from api.schemas.operators import ClarifyOut, EmergencyContact, IndexInfo


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
    pinned: Literal["safety"] | None = Field(default=None, description="'safety': crisis support shown first for a "
                                             "question about self-harm, or what to do right now in another danger, "
                                             "before the answer to the question asked.")


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
