"""Staff: gaps (questions nobody answered well, clustered) and the dashboard's figures."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Literal

from fastapi import APIRouter, Depends, Query, Request

from api.context import Runtime
from api.errors import ApiError
from api.routes.cases import _check_types
from api.routes.deps import link, runtime
from api.routes.entries import _out
from api.schemas import DraftFromGap, EntryOut
from api.security import STAFF, allow
from hotline import gaps
from hotline.accounts import Principal
from hotline.stats import case_stats, entry_stats

router = APIRouter(prefix="/v1", tags=["staff: gaps and stats"])


@router.get("/gaps", responses={200: {"links": {
    "Draft": link("POST", "/v1/gaps/draft", {"question_ids": "$response.body#/clusters/0/question_ids"})}}})
def list_gaps(request: Request, days: int = Query(default=90, ge=1, le=3650),
              source: Literal["worker", "operator"] | None = None,
              _: Principal = Depends(allow(*STAFF)), rt: Runtime = Depends(runtime)) -> dict:
    """Staff, admin: unanswered (or unhelpful) questions clustered by meaning, largest first, each with
    its key terms, count and example questions."""
    since = datetime.now(timezone.utc) - timedelta(days=days)
    questions = [q for q in rt.questions.unanswered(since=since) if source is None or q["source"] == source]
    clusters = gaps.cluster(questions, _gap_vectors(request, rt))
    return {"questions": len(questions), "clusters": [c.to_dict() for c in clusters]}


def _gap_vectors(request: Request, rt: Runtime) -> gaps.VectorCache:
    """One cache of question vectors per process (and per embedding model)."""
    held = getattr(request.app.state, "gap_vectors", None)
    if held is None or held[0] is not rt.embedder:
        held = (rt.embedder, gaps.VectorCache(rt.embedder.encode_queries))
        request.app.state.gap_vectors = held
    return held[1]


@router.post("/gaps/draft", response_model=EntryOut, status_code=201,
             responses={404: {"description": "None of these questions exist."},
                        409: {"description": "These questions were drafted into an entry today already."}})
def draft_from_gap(body: DraftFromGap, who: Principal = Depends(allow(*STAFF)), rt: Runtime = Depends(runtime)) -> EntryOut:
    """Staff, admin: a new draft entry from a gap cluster's questions (they become its paraphrases)."""
    _check_types(body.issue_types)
    questions = rt.questions.texts(body.question_ids)
    if not questions:
        raise ApiError(404, "not_found", "none of these questions exist", "找不到这些问题")
    view = gaps.draft_from_questions(rt.store, questions, who.name, body.issue_types, body.title)
    rt.questions.mark_drafted([q["id"] for q in questions], view.id)
    rt.audit.record(who.name, who.role, "draft_from_gap", f"entry:{view.id}", view.version,
                    {"questions": len(questions)})
    return _out(view)


@router.get("/stats")
def stats(days: int = Query(default=90, ge=1, le=3650), interval: Literal["day", "week", "month"] = "day",
          _: Principal = Depends(allow(*STAFF)), rt: Runtime = Depends(runtime)) -> dict:
    """Staff, admin: cases by issue type, urgency, channel and district over time; referral outcomes;
    top entries; feedback and worker-question totals."""
    views, _n = rt.store.list(limit=10**6)
    out = case_stats(rt.store.factory, days=days, interval=interval)
    out["top_entries"] = entry_stats(rt.store.factory, {v.id: v.title for v in views})
    out["feedback"] = rt.feedback.totals()
    out["questions"] = rt.questions.counts()
    return out
