"""A SIMULATED case history for demos and the case-trends notebook. It is not hotline data.

What is simulated (:func:`simulate_case_history`), reproducible from ``seed``:

- ``weeks`` weeks (default 12) of cases ending on ``end`` (default 2026-11-29); ``per_day`` cases on a
  weekday on average (Poisson), 60% of that on a weekend.
- Each case is one message of the team-written labelled corpus (``triage/data/corpus``; written by the
  team, not real calls), drawn at random; its issue types, urgency and referral are that message's
  labels (no model runs). District and platform come from the entity gazetteers on the text; a case
  that names no district gets one of the seven Jiangmen districts at random (weighted by population,
  roughly).
- Two scripted changes, so the charts have something to show: year-end wage arrears (``pay_settlement``
  and ``labor_relation`` messages 2.5x as likely in the last four weeks), and a platform rule change in
  week 6 (``platform_rules`` 3x for that week).
- Follow-ups (回访): a referred case older than a week gets one with probability 0.7; whether the body
  accepted it and whether it was resolved are drawn from the per-target rates in ``OUTCOME_RATES``
  (invented for illustration); a resolved money matter recovers the first amount its text names.

Cases and follow-ups are written through the real :class:`hotline.cases.CaseStore` (so text is masked),
then dated in the past in one transaction.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from hotline.cases import CaseStore
from hotline.tables import Case, FollowUp
from kb.db import transaction
from models.triage_data import Example, team_corpus
from triage.entities import extract
from triage.normalize import normalize

SIMULATED = "simulated case history (models/case_history.py): not real hotline data"

# (accepted, resolved given accepted) per first referral target; invented for illustration.
OUTCOME_RATES: dict[str, tuple[float, float]] = {
    "labor_inspection": (0.85, 0.65), "labor_arbitration": (0.80, 0.55), "union_lawyer": (0.95, 0.60),
    "legal_aid": (0.85, 0.50), "injury_recognition": (0.80, 0.55), "social_security_office": (0.90, 0.70),
    "platform_enterprise": (0.70, 0.45), "mediation": (0.85, 0.60), "police": (0.90, 0.50),
    "traffic_police": (0.90, 0.60), "union_hardship": (0.95, 0.75), "mental_health": (0.95, 0.80),
    "citizen_hotline": (0.90, 0.60), "market_regulation": (0.80, 0.50),
}
DEFAULT_RATES = (0.80, 0.50)
MONEY_TYPES = {"pay_settlement", "deposit_refund", "labor_relation", "social_insurance"}
DISTRICT_WEIGHTS = {"蓬江区": 0.30, "江海区": 0.12, "新会区": 0.22, "台山市": 0.11, "开平市": 0.10,
                    "鹤山市": 0.09, "恩平市": 0.06}
SEASONAL = {"pay_settlement": 2.5, "labor_relation": 2.5}


def _weight(ex: Example, week: int, weeks: int) -> float:
    w = 1.0
    if week >= weeks - 4 and any(t in SEASONAL for t in ex.issue_types):
        w *= max(SEASONAL[t] for t in ex.issue_types if t in SEASONAL)
    if week == min(5, weeks - 1) and "platform_rules" in ex.issue_types:
        w *= 3.0
    return w


def simulate_case_history(factory: sessionmaker[Session], weeks: int = 12, per_day: float = 6.0, seed: int = 7,
                          end: date = date(2026, 11, 29)) -> dict[str, Any]:
    """Write a simulated case history into the database ``factory`` opens; returns what was written."""
    rng = random.Random(seed)
    corpus = [e for e in team_corpus() if e.issue_types != ("out_of_scope",)]
    cases = CaseStore(factory)
    start = end - timedelta(days=7 * weeks - 1)
    dated_cases: list[tuple[int, datetime]] = []
    dated_followups: list[tuple[int, datetime]] = []
    by_type: Counter[str] = Counter()
    for day in range(7 * weeks):
        today = start + timedelta(days=day)
        week = day // 7
        rate = per_day * (0.6 if today.weekday() >= 5 else 1.0)
        weights = [_weight(e, week, weeks) for e in corpus]
        for _ in range(poisson_draw(rng, rate * sum(weights) / len(weights))):
            ex = rng.choices(corpus, weights)[0]
            at = datetime.combine(today, time(8 + rng.randrange(12), rng.randrange(60)), tzinfo=timezone.utc)
            ents = extract(normalize(ex.text), at.replace(tzinfo=None))
            district = ents.districts[0] if ents.districts else rng.choices(list(DISTRICT_WEIGHTS),
                                                                            list(DISTRICT_WEIGHTS.values()))[0]
            referral = ex.referrals[0] if ex.referrals else None
            case = cases.create(channel=rng.choice(("phone", "phone", "wechat")), operator="sim-operator",
                                text=ex.text, issue_types=list(ex.issue_types), urgency=ex.urgency,
                                referral=referral, district=district,
                                platform=ents.platforms[0] if ents.platforms else None)
            dated_cases.append((case["id"], at))
            by_type.update(ex.issue_types)
            if referral and (end - today).days > 7 and rng.random() < 0.7:
                p_acc, p_res = OUTCOME_RATES.get(referral, DEFAULT_RATES)
                accepted = rng.random() < p_acc
                resolved = accepted and rng.random() < p_res
                amount = None
                if resolved and ents.money and set(ex.issue_types) & MONEY_TYPES:
                    amount = ents.money[0].value
                done = cases.add_followup(case["id"], "sim-operator", accepted, resolved, amount, "模拟回访")
                dated_followups.append((done["followups"][-1]["id"], at + timedelta(days=rng.randint(5, 7))))
    with transaction(factory) as s:  # dated in the past, as if recorded on those days
        for cid, at in dated_cases:
            s.execute(update(Case).where(Case.id == cid).values(created_at=at, updated_at=at))
        for fid, at in dated_followups:
            s.execute(update(FollowUp).where(FollowUp.id == fid).values(at=at))
    return {"label": SIMULATED, "start": start.isoformat(), "end": end.isoformat(), "weeks": weeks,
            "cases": len(dated_cases), "followups": len(dated_followups), "by_issue_type": dict(by_type.most_common()),
            "now": datetime.combine(end + timedelta(days=1), time(0), tzinfo=timezone.utc)}


def poisson_draw(rng: random.Random, lam: float) -> int:
    """Knuth's method: fine for the small daily rates used here."""
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1
