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
    worker_clock: bool = True  # the worker loses a right when it runs out (not an employer's or an office's duty)

    @property
    def is_close(self) -> bool:
        """Due within the urgent window or already passed: a reason for urgency when it is the worker's clock."""
        return self.worker_clock and self.days_left is not None and self.days_left <= urgent_within_days()


def urgent_within_days() -> int:
    return int(load_yaml("deadlines.yaml").get("urgent_within_days", 30))


def _basis(rule: dict) -> str | None:
    b = rule.get("basis")
    return f"{b['law']} {b['article']}" if b else None


# A date starts a clock only when it is precise to about a month ("去年四月", "三个月前", "上周三"): a whole year
# ("去年", "2023年开始") or a number read as a year ("交了2000押金") would put a due date anywhere in it.
CLOCK_DATE_SPAN_DAYS = 62
# Older than every clock by a wide margin: a misread number, or a matter whose clocks ran out long ago.
CLOCK_LOOKBACK_DAYS = 3 * 365
# "Now" is when the message is written, not when the harm happened.
NOW_WORDS = frozenset({"现在", "目前", "而家", "当前", "如今", "眼下", "此刻", "这会", "这时候"})


def clock_start(entities: Entities, today: date) -> date | None:
    """The earliest past date in the message precise enough to start a legal clock."""
    return min((d.start for d in entities.dates
                if d.start <= today and (d.end - d.start).days <= CLOCK_DATE_SPAN_DAYS
                and (today - d.start).days <= CLOCK_LOOKBACK_DAYS and d.text not in NOW_WORDS), default=None)


def find(labels: list[str], normalised: str, entities: Entities, today: date) -> list[Deadline]:
    """Deadlines for the predicted issue types, with due dates when the message gives a date."""
    start = clock_start(entities, today)
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
                worker_clock=bool(rule.get("worker_clock", True)),
            )
        )
    return sorted(out, key=lambda d: (d.days_left is None, d.days_left if d.days_left is not None else 0))
