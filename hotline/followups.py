"""The 回访 schedule: when to call a worker back after a referral, from the body's typical time to act
(``hotline/data/followups.yaml``, which staff can read and edit). Days are China's calendar days."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from triage.referrals import targets as referral_targets

CHINA = timezone(timedelta(hours=8))
DATA = Path(__file__).resolve().parent / "data" / "followups.yaml"


@dataclass(frozen=True, slots=True)
class Interval:
    """How long after the referral the worker is called back, and why that long."""

    days: int
    basis: str
    unverified: bool = False


@dataclass(frozen=True, slots=True)
class Schedule:
    default: Interval
    urgent_cap_days: int
    emergency_days: int
    targets: dict[str, Interval]

    def interval(self, target: str | None, urgency: str | None = None) -> Interval:
        """The interval for ``target``; an urgent case is called back sooner (capped), an emergency next day."""
        base = self.targets.get(target or "", self.default)
        if urgency == "emergency" and base.days > self.emergency_days:
            return Interval(self.emergency_days, "紧急个案：次日回访确认安全", False)
        if urgency == "high" and base.days > self.urgent_cap_days:
            return Interval(self.urgent_cap_days, f"较急个案：{self.urgent_cap_days} 日内回访（{base.basis}）", base.unverified)
        return base

    def due(self, target: str | None, urgency: str | None, start: date) -> tuple[date, Interval]:
        interval = self.interval(target, urgency)
        return start + timedelta(days=interval.days), interval


def _interval(raw: Any, where: str) -> Interval:
    if not isinstance(raw, dict) or not isinstance(raw.get("days"), int) or not 0 < raw["days"] <= 365:
        raise ValueError(f"{DATA.name}: {where} needs days: a whole number from 1 to 365")
    return Interval(int(raw["days"]), str(raw.get("basis") or ""), bool(raw.get("unverified", False)))


def load(path: Path = DATA) -> Schedule:
    """Read and check the schedule: every target must be a referral target of the triage rules."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    known = referral_targets()
    unknown = sorted(set(raw.get("targets") or {}) - set(known))
    if unknown:
        raise ValueError(f"{path.name}: unknown referral targets {unknown}; allowed: {sorted(known)}")
    default = _interval({"days": raw.get("default_days", 7), "basis": "一般回访间隔"}, "default_days")
    return Schedule(default=default, urgent_cap_days=int(raw.get("urgent_cap_days", 3)),
                    emergency_days=int(raw.get("emergency_days", 1)),
                    targets={k: _interval(v, k) for k, v in (raw.get("targets") or {}).items()})


@lru_cache(maxsize=1)
def schedule() -> Schedule:
    return load()


def china_today(now: datetime | None = None) -> date:
    return (now or datetime.now(timezone.utc)).astimezone(CHINA).date()
