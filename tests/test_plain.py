"""triage.pipeline.plain: the response form of a triage result, equal to dataclasses.asdict plus the conversion
it replaced (lists for tuples, ISO strings for dates) on nested values of every kind; tests/test_triage_model.py
checks a real result."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

from triage.pipeline import plain


def _reference(obj: Any) -> Any:
    def convert(x: Any) -> Any:
        if isinstance(x, dict):
            return {k: convert(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [convert(v) for v in x]
        if isinstance(x, date):
            return x.isoformat()
        return x

    return convert(asdict(obj))


@dataclass(frozen=True, slots=True)
class Leaf:
    when: date
    names: tuple[str, ...]
    score: float | None = None


@dataclass
class Node:
    leaves: list[Leaf]
    by_key: dict[str, Leaf] = field(default_factory=dict)
    nested: tuple[Leaf, ...] = ()
    note: str | None = None


def test_plain_equals_asdict_and_the_conversion_it_replaced() -> None:
    leaf = Leaf(date(2026, 12, 5), ("a", "b"), 0.5)
    node = Node([leaf, Leaf(date(2025, 1, 1), ())], {"k": leaf}, (leaf,), None)
    assert plain(node) == _reference(node)
    assert list(plain(node)) == list(_reference(node))  # field order kept: it is the JSON's order

