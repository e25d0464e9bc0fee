"""Staff editing knowledge-base entries: versions, history, the review workflow, import."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from api.schemas.common import Strict
from kb.schema import EntryContent


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
