"""Operators mid-call: triage, suggestions, search, and the live WebSocket."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from api.routes.deps import AssistantDep, IndexDep, cpu_bound
from api.errors import ApiError
from api.present import search_out, suggest_out, triage_out
from api.schemas import SearchRequest, SearchResponse, SuggestResponse, TextRequest, TriageOut
from api.security import OPERATORS, allow
from hotline.accounts import Principal

router = APIRouter(prefix="/v1", tags=["operators"])


@router.post("/triage", response_model=TriageOut)
async def triage(body: TextRequest, request: Request, assistant: AssistantDep,
                 _: Principal = Depends(allow(*OPERATORS))) -> TriageOut:
    """Operators, staff, admin: issue types, urgency, entities, deadlines and referrals for one text."""
    return triage_out(await cpu_bound(request, assistant.triage, body.text))


@router.post("/suggest", response_model=SuggestResponse)
async def suggest(body: TextRequest, request: Request, assistant: AssistantDep,
                  _: Principal = Depends(allow(*OPERATORS))) -> SuggestResponse:
    """Operators, staff, admin: triage plus suggested replies with sources, in the order of their score, each
    with its tier; the referral card and deadlines. ``banner`` says plainly when no suggestion is at least likely."""
    return suggest_out(await cpu_bound(request, assistant.suggest, body.text))


@router.post("/search", response_model=SearchResponse)
async def search(body: SearchRequest, request: Request, assistant: AssistantDep, index: IndexDep,
                 _: Principal = Depends(allow(*OPERATORS))) -> SearchResponse:
    """Operators, staff, admin: search the published knowledge base directly."""
    searcher = index.searcher
    if body.mode and searcher is not None and body.mode not in searcher.modes:
        raise ApiError(422, "mode_unavailable", f"mode {body.mode!r} is not available: this index supports "
                       f"{', '.join(searcher.modes)}", f"当前索引不支持检索方式 {body.mode}，可用：{'、'.join(searcher.modes)}")
    found = await cpu_bound(request, lambda: assistant.lookup(body.query, k=body.k, mode=body.mode))
    return search_out(found)
