"""What every resource's bodies share: the bounded text types, ids and roles, and ``Strict`` (unknown
fields refused, no control characters)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, WithJsonSchema, field_validator
from pydantic_core import PydanticCustomError

from kb.schema import IssueTypeId, unprintable
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


class Created(BaseModel):
    id: int
