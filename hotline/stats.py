"""Figures for the dashboard: cases over time by issue type, urgency, channel and district; referral
outcomes; the entries that help most; feedback totals; and the workspace: open cases, 回访 due, dispatches
waiting on a platform, the worker channel week by week."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hotline.cases import CaseStore
from hotline.followups import CHINA, china_today
from hotline.tables import Case, Feedback, FollowUp, Question
from kb.db import aware_utc

DIMENSIONS = ("issue_type", "urgency", "channel", "district")



def _bucket(ts: datetime, interval: str) -> str:
    d = aware_utc(ts).date()
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


# --- the workspace dashboard: what needs doing now, and the worker channel week by week -------------------

URGENCIES = ("emergency", "high", "normal", "low")


def _monday(d: date) -> date:
    return d - timedelta(days=d.weekday())


def workspace_figures(factory: sessionmaker[Session], cases: CaseStore, operator: str | None = None,
                      weeks: int = 12, now: datetime | None = None) -> dict[str, Any]:
    """Open cases by urgency, 回访 due and overdue, dispatches awaiting a sub-line's reply (and those past their
    SLA). With ``operator``: only the cases they hold and the dispatches they sent (an operator's own figures)."""
    now = now or datetime.now(timezone.utc)
    today = china_today(now)
    open_cases, _n = cases.list(open_only=True, assignee=operator, limit=10**6)
    by_urgency = Counter(c["urgency"] for c in open_cases)
    due = [c for c in open_cases if c["followup_due"]]
    overdue = [c for c in open_cases if c["followup_overdue"]]
    sent = cases.dispatches(created_by=operator)
    awaiting = [d for d in sent if d["awaiting_reply"]]
    late = [d for d in awaiting if d["overdue"]]

    def brief(c: dict[str, Any]) -> dict[str, Any]:
        return {k: c[k] for k in ("id", "urgency", "status", "channel", "assignee", "next_followup_on", "reference")}

    def late_brief(d: dict[str, Any]) -> dict[str, Any]:
        due_at = datetime.fromisoformat(d["due_at"])
        return {"id": d["id"], "case_id": d["case_id"], "platform": d["platform"], "created_at": d["created_at"],
                "due_at": d["due_at"], "hours_over": round((now - due_at).total_seconds() / 3600, 1)}

    unassigned = 0 if operator else sum(1 for c in open_cases if not c["assignee"])
    return {
        "scope": "mine" if operator else "team", "operator": operator, "today": today.isoformat(),
        "open_cases": {"total": len(open_cases), "unassigned": unassigned,
                       "by_urgency": {u: by_urgency.get(u, 0) for u in URGENCIES}},
        "followups": {"due": len(due), "overdue": len(overdue),
                      "cases": [brief(c) for c in sorted(due, key=lambda c: c["next_followup_on"] or "")[:20]]},
        "dispatches": {"awaiting": len(awaiting), "beyond_sla": len(late),
                       "late": [late_brief(d) for d in sorted(late, key=lambda d: d["due_at"])[:20]]},
        "worker_weeks": worker_weeks(factory, weeks, today),
    }


def worker_weeks(factory: sessionmaker[Session], weeks: int, today: date) -> list[dict[str, Any]]:
    """Per week (Monday first, China time): worker questions asked and answered, the answer rate, hand-offs."""
    first = _monday(today) - timedelta(weeks=weeks - 1)
    since = datetime.combine(first, datetime.min.time(), CHINA).astimezone(timezone.utc)
    rows = {first + timedelta(weeks=i): {"asked": 0, "answered": 0, "handoffs": 0} for i in range(weeks)}
    with factory() as s:
        questions = list(s.execute(select(Question.at, Question.answered)
                                   .where(Question.source == "worker", Question.at >= since)))
        handoffs = list(s.scalars(select(Case.created_at).where(Case.question_id.is_not(None), Case.created_at >= since)))
    for at, answered in questions:
        week = rows.get(_monday(aware_utc(at).astimezone(CHINA).date()))
        if week is not None:
            week["asked"] += 1
            week["answered"] += int(bool(answered))
    for at in handoffs:
        week = rows.get(_monday(aware_utc(at).astimezone(CHINA).date()))
        if week is not None:
            week["handoffs"] += 1
    return [{"week": w.isoformat(), **v, "answer_rate": round(v["answered"] / v["asked"], 3) if v["asked"] else None}
            for w, v in sorted(rows.items())]
