"""Situation tags of a text: the counterparty, the stage of the problem, and what is asked.

Two entries on one topic answer different situations (a deposit held by the employer vs. by a rental shop;
an injury before vs. after recognition; an arbitration won vs. lost). The tags come from
``triage/data/situations.yaml`` (regular expressions staff can read); the reranker compares a query's tags
with an entry's, and the referral rules use the counterparty to choose the door.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import yaml

CATEGORIES = ("counterparty", "stage", "ask")


@dataclass(frozen=True, slots=True)
class Situation:
    counterparty: frozenset[str]
    stage: frozenset[str]
    ask: frozenset[str]

    def of(self, category: str) -> frozenset[str]:
        return getattr(self, category)


@lru_cache(maxsize=1)
def _patterns() -> dict[str, list[tuple[str, re.Pattern[str]]]]:
    data = yaml.safe_load(resources.files("triage.data").joinpath("situations.yaml").read_text(encoding="utf-8"))
    out: dict[str, list[tuple[str, re.Pattern[str]]]] = {}
    for category in CATEGORIES:
        out[category] = [(tag, re.compile("|".join(f"(?:{p})" for p in words), re.I))
                         for tag, words in (data.get(category) or {}).items()]
    return out


def situation_hash() -> str:
    """Of the tag file, for the ranking model's manifest (a changed file needs a refit)."""
    import hashlib

    return hashlib.sha256(resources.files("triage.data").joinpath("situations.yaml").read_bytes()).hexdigest()[:16]


def situation(normalised: str) -> Situation:
    found = {c: frozenset(tag for tag, rx in _patterns()[c] if rx.search(normalised)) for c in CATEGORIES}
    return Situation(found["counterparty"], found["stage"], found["ask"])


def compare(query: Situation, entry: Situation) -> list[float]:
    """Per category: [the entry shares a tag with the query, both have tags but none shared, the query has
    tags the entry does not speak to at all]."""
    out: list[float] = []
    for c in CATEGORIES:
        q, e = query.of(c), entry.of(c)
        out += [float(bool(q & e)), float(bool(q) and bool(e) and not (q & e)), float(bool(q) and not e)]
    return out


COMPARE_FEATURES = tuple(f"{c}_{kind}" for c in CATEGORIES for kind in ("match", "conflict", "unspoken"))
