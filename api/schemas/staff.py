"""Staff and the knowledge gaps: questions nobody answered well, their nearest entries, a draft or
paraphrases from them."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from api.schemas.common import IssueType, Strict
from api.schemas.entries import EntryOut


# --- staff: gaps ---------------------------------------------------------------------------------

class DraftFromGap(Strict):
    question_ids: list[Annotated[int, Field(ge=1, le=2**31 - 1)]] = Field(min_length=1, max_length=200)
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)] | None = None
    issue_types: list[IssueType] | None = Field(default=None, max_length=16)


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
