"""What a knowledge-base entry holds, validated with pydantic (ids from the taxonomy)."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, WithJsonSchema, field_validator, model_validator

from triage.pii import detect
from triage.taxonomy import issue_types, referral_targets

Kind = Literal["procedure", "faq", "past_case", "statute"]
EditableKind = Literal["procedure", "faq", "past_case"]
Status = Literal["draft", "in_review", "published", "archived"]
Jurisdiction = Literal["national", "广东", "江门"]
STATUSES: tuple[str, ...] = ("draft", "in_review", "published", "archived")

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]
Short = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
Id = Annotated[str, StringConstraints(min_length=1, max_length=40)]
# The taxonomy's ids, named in the JSON schema so clients (and the API fuzzer) know the allowed values.
IssueTypeId = Annotated[Id, WithJsonSchema({"type": "string", "enum": list(issue_types())})]
ReferralId = Annotated[Id, WithJsonSchema({"type": "string", "enum": list(referral_targets())})]
Slug = Annotated[str, StringConstraints(max_length=120, pattern=r"^[a-z0-9][a-z0-9-]{1,118}[a-z0-9]$")]


class LegalRef(BaseModel):
    """A statute article, e.g. 中华人民共和国劳动合同法 第八十四条; resolves to an imported article."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    law: Short
    article: Annotated[str, StringConstraints(max_length=40, pattern=r"^第[零〇一二三四五六七八九十百千]+条(之[一二三四五六七八九十]+)?$")]

    def label(self) -> str:
        return f"{self.law} {self.article}"


class PastCase(BaseModel):
    model_config = ConfigDict(extra="forbid")
    situation: Text
    actions: list[Short] = Field(default_factory=list, max_length=20)
    outcome: Text


class EntryContent(BaseModel):
    """The editable body of an entry. Every change to it makes a new immutable revision."""

    model_config = ConfigDict(extra="forbid")

    slug: Slug
    kind: EditableKind
    title: Short
    question: Text
    paraphrases: list[Short] = Field(default_factory=list, max_length=40)
    operator_answer: Text
    worker_answer: Text
    steps: list[Text] = Field(default_factory=list, max_length=30)
    evidence: list[Short] = Field(default_factory=list, max_length=30)
    referrals: list[ReferralId] = Field(default_factory=list, max_length=19)
    legal_basis: list[LegalRef] = Field(default_factory=list, max_length=30)
    issue_types: list[IssueTypeId] = Field(min_length=1, max_length=16)
    jurisdiction: Jurisdiction = "national"
    effective_from: date | None = None
    review_by: date | None = None
    unverified: list[Text] = Field(default_factory=list, max_length=30)
    sources: list[Short] = Field(default_factory=list, max_length=30)
    case: PastCase | None = None

    @field_validator("issue_types")
    @classmethod
    def _known_types(cls, value: list[str]) -> list[str]:
        bad = [t for t in value if t not in issue_types()]
        if bad:
            raise ValueError(f"unknown issue types {bad}; allowed: {issue_types()}")
        return list(dict.fromkeys(value))

    @field_validator("referrals")
    @classmethod
    def _known_referrals(cls, value: list[str]) -> list[str]:
        bad = [t for t in value if t not in referral_targets()]
        if bad:
            raise ValueError(f"unknown referral targets {bad}; allowed: {referral_targets()}")
        return list(dict.fromkeys(value))

    @model_validator(mode="after")
    def _dates_and_case(self) -> EntryContent:
        if self.effective_from and self.review_by and self.review_by < self.effective_from:
            raise ValueError("review_by is before effective_from")
        if self.kind == "past_case" and self.case is None:
            raise ValueError("a past_case entry needs its case (situation, actions, outcome)")
        return self

    def search_questions(self) -> list[str]:
        """The texts people ask: title, question and each paraphrase (indexed one by one)."""
        return list(dict.fromkeys([self.title, self.question, *self.paraphrases]))

    def search_answer(self) -> str:
        return self.worker_answer + "\n" + self.operator_answer


ARTICLE_RE = re.compile(r"第[零〇一二三四五六七八九十百千]+条")


# Personal data that never belongs in knowledge-base content, which workers read: a mobile, ID or bank card
# number or a plate is always someone's (agencies publish landlines and hotline numbers, which are fine).
PERSONAL_KINDS = frozenset({"mobile", "id_card", "bank_card", "plate"})


def personal_data_in(content: EntryContent) -> list[str]:
    """The fields of ``content`` holding personal data, as "field: kind" (the values are not repeated)."""
    found: list[str] = []

    def walk(value: Any, path: str) -> None:
        if isinstance(value, str):
            kinds = sorted({s.kind for s in detect(value) if s.kind in PERSONAL_KINDS})
            found.extend(f"{path}: {k}" for k in kinds)
        elif isinstance(value, BaseModel):
            for k in type(value).model_fields:
                walk(getattr(value, k), f"{path}.{k}" if path else k)
        elif isinstance(value, (list, tuple)):
            for i, v in enumerate(value):
                walk(v, f"{path}.{i}")

    walk(content, "")
    return found


# C0/C1 controls (tab, newline and carriage return allowed) and unpaired surrogates: nobody types them, pages
# cannot show them and PostgreSQL refuses NUL in text, so input holding them is refused rather than stored.
_UNPRINTABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def unprintable(value: Any, path: str = "") -> str | None:
    """Where (a dotted path) the first string in ``value`` holds a control character or an unpaired
    surrogate; None when every string in it is plain text. Walks lists, dicts and pydantic models."""
    if isinstance(value, str):
        return (path or "text") if _UNPRINTABLE.search(value) else None
    if isinstance(value, BaseModel):
        items = [(k, getattr(value, k)) for k in type(value).model_fields]
    elif isinstance(value, dict):
        items = [(str(k), k) for k in value] + [(str(k), v) for k, v in value.items()]
    elif isinstance(value, (list, tuple)):
        items = [(str(i), v) for i, v in enumerate(value)]
    else:
        return None
    for key, item in items:
        found = unprintable(item, f"{path}.{key}" if path else key)
        if found:
            return found
    return None
