"""Legal clocks a message starts (rules in ``triage/data/deadlines.yaml``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from triage.entities import Entities
from triage.lexicon import load_yaml
from triage.rules import first_match


@dataclass(frozen=True, slots=True)
class Deadline:
    id: str
    name: str
    note: str
    basis: str | None
    starts: date | None
    due: date | None
    days_left: int | None
    unverified: bool = False

    @property
    def is_close(self) -> bool:
        return self.days_left is not None and self.days_left <= urgent_within_days()


def urgent_within_days() -> int:
    return int(load_yaml("deadlines.yaml").get("urgent_within_days", 30))


def _basis(rule: dict) -> str | None:
    b = rule.get("basis")
    return f"{b['law']} {b['article']}" if b else None


def find(labels: list[str], normalised: str, entities: Entities, today: date) -> list[Deadline]:
    """Deadlines for the predicted issue types, with due dates when the message gives a date."""
    start = min((d.start for d in entities.dates if d.start <= today), default=None)
    out: list[Deadline] = []
    for rule in load_yaml("deadlines.yaml")["deadlines"]:
        if not set(rule["issue_types"]) & set(labels):
            continue
        if rule.get("cues") and not first_match(rule["cues"], normalised):
            gig = bool(entities.platforms or entities.roles)
            if not (rule.get("gig_worker") and gig):
                continue
        starts = start if rule["starts_from"] == "earliest_date" else None
        due = starts + timedelta(days=int(rule["days"])) if starts and rule.get("days") else None
        out.append(
            Deadline(
                id=rule["id"],
                name=rule["name"],
                note=rule["note"],
                basis=_basis(rule),
                starts=starts,
                due=due,
                days_left=(due - today).days if due else None,
                unverified=bool(rule.get("unverified", False)),
            )
        )
    return sorted(out, key=lambda d: (d.days_left is None, d.days_left if d.days_left is not None else 0))
