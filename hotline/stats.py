"""Figures for the dashboard: cases over time by issue type, urgency, channel and district; referral
outcomes; the entries that help most; feedback totals."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hotline.tables import Case, Feedback, FollowUp

DIMENSIONS = ("issue_type", "urgency", "channel", "district")


def _aware(ts: datetime) -> datetime:
    return ts if ts.tzinfo else ts.replace(tzinfo=timezone.utc)


def _bucket(ts: datetime, interval: str) -> str:
    d = _aware(ts).date()
    if interval == "week":
        d = d - timedelta(days=d.weekday())
    elif interval == "month":
        d = d.replace(day=1)
    return d.isoformat()


def case_stats(factory: sessionmaker[Session], days: int = 90, interval: str = "day",
               now: datetime | None = None) -> dict[str, Any]:
    now = now or datetime.now(timezone.utc)
    since = now - timedelta(days=days)
    series: dict[str, dict[str, Counter[str]]] = {d: defaultdict(Counter) for d in DIMENSIONS}
    totals: dict[str, Counter[str]] = {d: Counter() for d in DIMENSIONS}
    with factory() as s:
        cases = list(s.execute(select(Case.id, Case.created_at, Case.issue_types, Case.urgency, Case.channel,
                                      Case.district, Case.referral).where(Case.created_at >= since)))
        followups = list(s.execute(select(FollowUp.case_id, FollowUp.accepted, FollowUp.resolved,
                                          FollowUp.amount_recovered).order_by(FollowUp.id)))
    referral_of = {}
    for cid, created, types, urgency, channel, district, referral in cases:
        b = _bucket(created, interval)
        values = {"issue_type": list(types) or ["(none)"], "urgency": [urgency], "channel": [channel],
                  "district": [district or "(unknown)"]}
        for dim, vals in values.items():
            for v in vals:
                series[dim][b][v] += 1
                totals[dim][v] += 1
        referral_of[cid] = referral or "(none)"
    # The latest follow-up of each case is its outcome.
    latest = {cid: (acc, res, amt) for cid, acc, res, amt in followups if cid in referral_of}
    outcomes: dict[str, dict[str, float]] = defaultdict(lambda: {"cases": 0, "followed_up": 0, "accepted": 0,
                                                                "resolved": 0, "amount_recovered": 0.0})
    for cid, target in referral_of.items():
        o = outcomes[target]
        o["cases"] += 1
        if cid in latest:
            acc, res, amt = latest[cid]
            o["followed_up"] += 1
            o["accepted"] += int(bool(acc))
            o["resolved"] += int(bool(res))
            o["amount_recovered"] += float(amt or 0)
    return {
        "since": since.date().isoformat(), "interval": interval, "cases": len(cases),
        "totals": {d: dict(totals[d].most_common()) for d in DIMENSIONS},
        "series": {d: [{"bucket": b, "counts": dict(c)} for b, c in sorted(series[d].items())] for d in DIMENSIONS},
        "referral_outcomes": [{"referral": t, **o} for t, o in sorted(outcomes.items(), key=lambda kv: -kv[1]["cases"])],
    }


def entry_stats(factory: sessionmaker[Session], titles: dict[int, str], limit: int = 10) -> list[dict[str, Any]]:
    """Entries ranked by how often they helped (copied or marked helpful), with their wrong marks."""
    counts: dict[int, Counter[str]] = defaultdict(Counter)
    with factory() as s:
        for entry_id, event in s.execute(select(Feedback.entry_id, Feedback.event).where(Feedback.entry_id.is_not(None))):
            counts[int(entry_id)][event] += 1
    rows = [{"entry_id": eid, "title": titles.get(eid, f"#{eid}"), **dict(c),
             "helped": c["copied"] + c["helpful"]} for eid, c in counts.items()]
    rows.sort(key=lambda r: (-r["helped"], r["entry_id"]))
    return rows[:limit]
