"""Staff: the learning loop. Entry standing earned from feedback (and the entries flagged for review),
paraphrases proposed from real questions (accept: a draft revision of the entry; reject), and
early-warning alerts (one issue type rising at one platform, district or station)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from fastapi import APIRouter, Depends, Path, Query
from starlette.concurrency import run_in_threadpool

from api.context import Runtime
from api.errors import ApiError
from api.routes.deps import AuditDep, ParaphrasesDep, Rt, StoreDep
from api.routes.entries import _out
from api.schemas import (AlertsOut, ParaphraseAccept, ParaphraseAccepted, ParaphraseList, ParaphraseOut,
                         ParaphraseReject, StandingList, StandingOut)
from api.security import STAFF, allow
from hotline import alerts
from hotline.accounts import Principal

router = APIRouter(prefix="/v1", tags=["staff: learning loop"])
Staff = Depends(allow(*STAFF))
ProposalId = Path(ge=1, le=2**31 - 1)


def _titles(rt: Runtime) -> dict[int, tuple[str, str]]:
    views, _n = rt.store.list(limit=10**6)
    return {v.id: (v.slug, v.title) for v in views}


def _standings(rt: Runtime, flagged_only: bool) -> StandingList:
    rt.standings.refresh(force=True)
    rows = rt.standings.flagged() if flagged_only else rt.standings.all()
    titles = _titles(rt)
    items = [StandingOut(**s.to_dict(), slug=titles.get(s.entry_id, (None, None))[0],
                         title=titles.get(s.entry_id, (None, None))[1]) for s in rows]
    return StandingList(rule=rt.standings.rule(), total=len(items), items=items)


@router.get("/standing", response_model=StandingList)
def standing(rt: Rt, _: Principal = Staff) -> StandingList:
    """Staff, admin: every entry with feedback: votes, exposures, the posterior helpful rate with its 95%
    credible interval, and the bounded multiplier its search score gets; with the rule."""
    return _standings(rt, flagged_only=False)


@router.get("/standing/flagged", response_model=StandingList)
def flagged(rt: Rt, _: Principal = Staff) -> StandingList:
    """Staff, admin: entries that keep failing (enough votes, confidently unhelpful): review them."""
    return _standings(rt, flagged_only=True)


def _proposal(p: dict, titles: dict[int, tuple[str, str]]) -> ParaphraseOut:
    slug, title = titles.get(p["entry_id"], (None, None))
    return ParaphraseOut(**p, entry_slug=slug, entry_title=title)


@router.get("/paraphrases", response_model=ParaphraseList)
async def list_paraphrases(rt: Rt, status: Literal["proposed", "accepted", "rejected"] = "proposed",
                           entry_id: int | None = Query(default=None, ge=1, le=2**31 - 1),
                           limit: int = Query(default=50, ge=1, le=500), offset: int = Query(default=0, ge=0, le=10**7),
                           _: Principal = Staff) -> ParaphraseList:
    """Staff, admin: questions proposed as new paraphrases (most asked first). Reads the feedback recorded
    since the last listing first (new helpful answers become proposals)."""
    synced = await run_in_threadpool(rt.paraphrases.sync)
    items, total = rt.paraphrases.list(status, entry_id, limit, offset)
    titles = _titles(rt)
    return ParaphraseList(total=total, items=[_proposal(p, titles) for p in items], synced=synced)


@router.post("/paraphrases/{proposal_id}/accept", response_model=ParaphraseAccepted)
def accept_paraphrase(body: ParaphraseAccept, audit: AuditDep, paraphrases: ParaphrasesDep,
                      proposal_id: int = ProposalId, who: Principal = Staff) -> ParaphraseAccepted:
    """Staff, admin: add the paraphrase (or your edited wording) to its entry: a new draft revision that is
    reviewed and approved like any edit before search sees it."""
    proposal, view = paraphrases.accept(proposal_id, who.name, body.text)
    audit.record(who.name, who.role, "accept_paraphrase", f"entry:{view.id}", view.version,
                    {"proposal": proposal_id})
    return ParaphraseAccepted(proposal=_proposal(proposal, {view.id: (view.slug, view.title)}), entry=_out(view))


@router.post("/paraphrases/{proposal_id}/reject", response_model=ParaphraseOut)
def reject_paraphrase(body: ParaphraseReject, rt: Rt, proposal_id: int = ProposalId,
                      who: Principal = Staff) -> ParaphraseOut:
    """Staff, admin: turn a proposal down (a near-duplicate of it is not proposed again)."""
    proposal = rt.paraphrases.reject(proposal_id, who.name, body.comment)
    rt.audit.record(who.name, who.role, "reject_paraphrase", f"entry:{proposal['entry_id']}", None,
                    {"proposal": proposal_id})
    return _proposal(proposal, _titles(rt))


@router.get("/alerts", response_model=AlertsOut)
def list_alerts(store: StoreDep, as_of: date | None = Query(default=None,
                description="The last day of the 7-day window (default: today, UTC+8)."),
                dimension: Literal["platform", "district", "station"] | None = None,
                _: Principal = Staff) -> dict:
    """Staff, admin: early-warning alerts: cases of one issue type at one platform, district or station well
    above their recent level, with the counts, the p-value, the rule and the (masked) cases behind them."""
    if as_of is not None and not date(2000, 1, 1) <= as_of <= date(2100, 12, 31):
        raise ApiError(422, "invalid_date", "as_of must be between 2000-01-01 and 2100-12-31",
                       "日期须在 2000-01-01 到 2100-12-31 之间")
    out = alerts.detect(store.factory, as_of)
    if dimension:
        out["alerts"] = [a for a in out["alerts"] if a["dimension"] == dimension]
    return out
