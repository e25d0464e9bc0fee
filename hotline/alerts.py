"""Early warning: one issue type rising at one platform, district or station (collective disputes start so).

Rule. Cases are counted per day (China time, UTC+8) for every pair (issue type x platform),
(issue type x district) and (issue type x station); a case counts once for each of its issue types, and a
case without a platform, district or station is left out of that dimension. For the as-of day D:

    n        = cases in the last 7 days (D and the 6 days before)
    baseline = cases in the 28 days before those (D-34 ... D-7)
    expected = max(baseline, 1) x 7 / 28      (a pair never seen before counts as one case in 28 days)
    p        = P(X >= n) for X ~ Poisson(expected)      (scipy.stats.poisson.sf(n - 1, expected))
    alert when n >= 5 and p < 0.01

The one-sided Poisson upper tail asks how surprising this week's count is if the pair kept its recent
rate; the minimum count keeps one-off pairs (2 cases where there were none) quiet. Each alert carries
its counts, expected count, p-value, the rule, the day-by-day series and the (masked) cases behind it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

from scipy.special import pdtrc  # the Poisson survival function (scipy.stats.poisson.sf), without scipy.stats
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hotline.tables import Case
from kb.db import aware_utc

CHINA = timezone(timedelta(hours=8))
DIMENSIONS = ("platform", "district", "station")
WINDOW_DAYS = 7
BASELINE_DAYS = 28
MIN_COUNT = 5
ALPHA = 0.01


@dataclass(frozen=True, slots=True)
class Rule:
    window_days: int = WINDOW_DAYS
    baseline_days: int = BASELINE_DAYS
    min_count: int = MIN_COUNT
    alpha: float = ALPHA

    def describe(self) -> dict[str, Any]:
        w, b = self.window_days, self.baseline_days
        return {
            "text": (f"n = cases in the last {w} days; expected = max(cases in the {b} days before, 1) x {w}/{b}; "
                     f"alert when n >= {self.min_count} and the one-sided Poisson upper tail P(X >= n | expected) "
                     f"< {self.alpha:g}"),
            "text_zh": (f"近 {w} 天的案件数 n 与此前 {b} 天的水平比较：期望值 = max(此前 {b} 天案件数, 1) × {w}/{b}；"
                        f"当 n ≥ {self.min_count} 且泊松分布单侧上尾概率 P(X ≥ n) < {self.alpha:g} 时预警"),
            "window_days": w, "baseline_days": b, "min_count": self.min_count, "alpha": self.alpha,
            "dimensions": [f"issue_type x {d}" for d in DIMENSIONS], "timezone": "UTC+8",
        }


@dataclass(frozen=True, slots=True)
class Alert:
    dimension: str
    value: str
    issue_type: str
    count: int
    baseline: int
    expected: float
    p_value: float
    case_ids: list[int]
    daily: list[dict[str, Any]]
    cases: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"dimension": self.dimension, "value": self.value, "issue_type": self.issue_type,
                "count": self.count, "baseline": self.baseline, "expected": round(self.expected, 3),
                "ratio": round(self.count / self.expected, 2), "p_value": float(f"{self.p_value:.3g}"),
                "case_ids": self.case_ids, "daily": self.daily, "cases": self.cases}


def _local_day(ts: datetime) -> date:
    return aware_utc(ts).astimezone(CHINA).date()


def today() -> date:
    return datetime.now(CHINA).date()


def p_value(count: int, expected: float) -> float:
    """P(X >= count) for X ~ Poisson(expected)."""
    return float(pdtrc(count - 1, expected)) if count > 0 else 1.0


def detect(factory: sessionmaker[Session], as_of: date | None = None, rule: Rule = Rule(),
           case_examples: int = 50) -> dict[str, Any]:
    """Alerts for the ``rule.window_days`` days ending on ``as_of`` (default: today in China), strongest first."""
    as_of = as_of or today()
    first = as_of - timedelta(days=rule.window_days + rule.baseline_days - 1)
    window_start = as_of - timedelta(days=rule.window_days - 1)
    # Cases from the day before ``first`` (UTC+8 midnight is 16:00 UTC the day before), filtered by local day.
    since = datetime.combine(first, datetime.min.time(), CHINA).astimezone(timezone.utc)
    until = datetime.combine(as_of + timedelta(days=1), datetime.min.time(), CHINA).astimezone(timezone.utc)
    with factory() as s:
        rows = list(s.execute(select(Case.id, Case.created_at, Case.issue_types, Case.platform, Case.district,
                                     Case.station).where(Case.created_at >= since, Case.created_at < until)))
    # (dimension, value, issue type) -> day -> case ids
    days: dict[tuple[str, str, str], dict[date, list[int]]] = defaultdict(lambda: defaultdict(list))
    for cid, created, types, platform, district, station in rows:
        day = _local_day(created)
        if not first <= day <= as_of:
            continue
        for dim, value in (("platform", platform), ("district", district), ("station", station)):
            if not value:
                continue
            for t in dict.fromkeys(types or []):
                days[(dim, value, t)][day].append(int(cid))
    alerts = []
    for (dim, value, issue_type), by_day in days.items():
        recent = sorted(cid for d, ids in by_day.items() if d >= window_start for cid in ids)
        n = len(recent)
        if n < rule.min_count:
            continue
        baseline = sum(len(ids) for d, ids in by_day.items() if d < window_start)
        expected = max(baseline, 1) * rule.window_days / rule.baseline_days
        p = p_value(n, expected)
        if p >= rule.alpha:
            continue
        daily = [{"date": (first + timedelta(days=i)).isoformat(), "count": len(by_day.get(first + timedelta(days=i), []))}
                 for i in range(rule.window_days + rule.baseline_days)]
        alerts.append(Alert(dim, value, issue_type, n, baseline, expected, p, recent, daily))
    alerts.sort(key=lambda a: (a.p_value, -a.count, a.dimension, a.value, a.issue_type))
    out = [a.to_dict() for a in alerts]
    if out and case_examples:
        wanted = {cid for a in alerts for cid in a.case_ids}
        with factory() as s:
            found = {c.id: c for c in s.scalars(select(Case).where(Case.id.in_(wanted)))}
        for a, d in zip(alerts, out):
            shown = sorted((found[cid] for cid in a.case_ids if cid in found), key=lambda c: (aware_utc(c.created_at), c.id),
                           reverse=True)  # newest first
            d["cases"] = [_case_brief(c) for c in shown[:case_examples]]
    return {"as_of": as_of.isoformat(), "window": [window_start.isoformat(), as_of.isoformat()],
            "baseline": [first.isoformat(), (window_start - timedelta(days=1)).isoformat()],
            "rule": rule.describe(), "pairs_checked": len(days), "alerts": out}



def _case_brief(c: Case) -> dict[str, Any]:
    """A case as an alert shows it: its text was masked when it was stored."""
    created = aware_utc(c.created_at)
    text = c.text_masked
    return {"id": c.id, "created_at": created.isoformat(), "text_masked": text if len(text) <= 200 else text[:200] + "…",
            "issue_types": list(c.issue_types), "platform": c.platform, "district": c.district,
            "station": c.station, "urgency": c.urgency, "status": c.status}


def record_run(factory: sessionmaker[Session], as_of: date | None = None, rule: Rule = Rule()) -> dict[str, Any]:
    """The nightly run (a ``jishibang worker`` job): detect for ``as_of`` and keep the report, one row per day.

    Idempotent: running it again for the same day replaces that day's report (the cases may have changed)."""
    from hotline.tables import AlertRun
    from kb.db import transaction
    from kb.tables import utcnow

    report = detect(factory, as_of, rule)
    day = date.fromisoformat(report["as_of"])
    with transaction(factory) as s:
        row = s.scalars(select(AlertRun).where(AlertRun.as_of == day)).first()
        if row is None:
            row = AlertRun(as_of=day)
            s.add(row)
        row.ran_at, row.alerts, row.pairs_checked = utcnow(), len(report["alerts"]), report["pairs_checked"]
        row.report = report
    return {"as_of": report["as_of"], "alerts": len(report["alerts"]), "pairs_checked": report["pairs_checked"]}
