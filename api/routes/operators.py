"""Operators mid-call: triage, suggestions, search, and the live WebSocket."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from api.context import Runtime
from api.routes.deps import cpu_bound, runtime
from api.schemas import IndexInfo, SearchHit, SearchRequest, SearchResponse, SuggestResponse, TextRequest, TriageOut
from api.security import OPERATORS, allow
from hotline.accounts import Principal

router = APIRouter(prefix="/v1", tags=["operators"])


@router.post("/triage", response_model=TriageOut)
async def triage(body: TextRequest, request: Request, _: Principal = Depends(allow(*OPERATORS)),
                 rt: Runtime = Depends(runtime)) -> dict:
    """Operators, staff, admin: issue types, urgency, entities, deadlines and referrals for one text."""
    return (await cpu_bound(request, rt.assistant.triage, body.text)).to_dict()


@router.post("/suggest", response_model=SuggestResponse)
async def suggest(body: TextRequest, request: Request, _: Principal = Depends(allow(*OPERATORS)),
                  rt: Runtime = Depends(runtime)) -> dict:
    """Operators, staff, admin: triage plus suggested replies with sources, the referral card and deadlines.
    ``no_good_answer`` says plainly when no published entry is good enough."""
    return await cpu_bound(request, rt.assistant.suggest, body.text)


@router.post("/search", response_model=SearchResponse)
async def search(body: SearchRequest, request: Request, _: Principal = Depends(allow(*OPERATORS)),
                 rt: Runtime = Depends(runtime)) -> SearchResponse:
    """Operators, staff, admin: search the published knowledge base directly."""
    from triage.normalize import check_text

    query = check_text(body.query)
    found = await cpu_bound(request, lambda: rt.index.search(query, k=body.k, mode=body.mode))
    return SearchResponse(abstain=found.abstain, reason=found.reason, hits=[
        SearchHit(entry_id=h.entry_id, slug=h.slug, title=h.title, kind=h.kind, version=h.version,
                  score=None if h.score != h.score else h.score, retrievers=h.retrievers) for h in found.hits],
        index=IndexInfo(build=found.index_build, entries=found.index_entries or 0))
