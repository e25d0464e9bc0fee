"""What a knowledge-base entry holds, validated with pydantic (ids from the taxonomy)."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from triage.taxonomy import issue_types, referral_targets

Kind = Literal["procedure", "faq", "past_case", "statute"]
EditableKind = Literal["procedure", "faq", "past_case"]
Status = Literal["draft", "in_review", "published", "archived"]
Jurisdiction = Literal["national", "广东", "江门"]
STATUSES: tuple[str, ...] = ("draft", "in_review", "published", "archived")

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]
Short = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
Id = Annotated[str, StringConstraints(min_length=1, max_length=40)]
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
    referrals: list[Id] = Field(default_factory=list, max_length=19)
    legal_basis: list[LegalRef] = Field(default_factory=list, max_length=30)
    issue_types: list[Id] = Field(min_length=1, max_length=16)
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
