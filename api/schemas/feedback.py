"""Operators' feedback on suggestions and on the danger-now flag: POST /v1/feedback."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from api.schemas.common import MAX_TEXT, IssueType, Strict


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
