"""Staff: gaps (questions nobody answered well, clustered) and the dashboard's figures."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Literal

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from api.context import Runtime
from api.errors import ApiError
from api.routes.cases import _check_types
from api.routes.deps import CasesDep, FeedbackDep, QuestionsDep, Rt, StoreDep, cpu_bound, link
from api.routes.entries import _out
from api.schemas import (DraftFromGap, EntryOut, GapNearest, GapParaphrases, GapQuestions, NearEntry,
                         ParaphrasesAddedOut)
from api.security import OPERATORS, STAFF, allow
from hotline import alerts, gaps
from hotline.accounts import Principal
from hotline.stats import case_stats, entry_stats, workspace_figures
from triage.errors import TextError

router = APIRouter(prefix="/v1", tags=["staff: gaps and stats"])
NEAREST_ON_LIST = 25  # clusters that come with their nearest entries; the others on request (POST /v1/gaps/nearest)


@router.get("/gaps", responses={200: {"links": {
    "Draft": link("POST", "/v1/gaps/draft", {"question_ids": "$response.body#/clusters/0/question_ids"})}}})
def list_gaps(request: Request, rt: Rt, days: int = Query(default=90, ge=1, le=3650),
              source: Literal["worker", "operator"] | None = None,
              _: Principal = Depends(allow(*STAFF))) -> dict:
    """Staff, admin: unanswered (or unhelpful) questions clustered by meaning, largest first, each with
    its key terms, count and example questions."""
    since = datetime.now(timezone.utc) - timedelta(days=days)
    questions = [q for q in rt.questions.unanswered(since=since) if source is None or q["source"] == source]
    clusters = gaps.cluster(questions, _gap_vectors(request, rt))
    out = [c.to_dict() for c in clusters]
    for c in out[:NEAREST_ON_LIST]:
        try:
            c["nearest"] = _nearest(rt, c["examples"][0]).model_dump(mode="json") if c["examples"] else None
        except TextError:  # a question triage cannot read (only punctuation ...): no neighbours to show
            c["nearest"] = None
    return {"questions": len(questions), "clusters": out}


def _nearest(rt: Runtime, text: str, k: int = 3) -> GapNearest:
    """The existing (published) entries closest to a gap's most typical question: staff check them before
    writing a new entry, and can add the questions to one as paraphrases instead."""
    found = rt.assistant.lookup(text, k=k)
    return GapNearest(query=text, entries=[NearEntry(entry_id=h.entry_id, slug=h.slug, title=h.title,
                                                     score=None if h.score != h.score else h.score, tier=h.tier)
                                           for h in found.hits[:k]])


@router.post("/gaps/nearest", response_model=GapNearest, responses={404: {"description": "None of these questions exist."}})
async def gap_nearest(body: GapQuestions, request: Request, rt: Rt,
                      _: Principal = Depends(allow(*STAFF))) -> GapNearest:
    """Staff, admin: the existing entries nearest to these questions (the first one's wording is searched)."""
    questions = await run_in_threadpool(rt.questions.texts, body.question_ids)
    if not questions:
        raise ApiError(404, "not_found", "none of these questions exist", "找不到这些问题")
    return await cpu_bound(request, _nearest, rt, questions[0]["text"])


@router.post("/gaps/paraphrases", response_model=ParaphrasesAddedOut, status_code=201,
             responses={404: {"description": "No such entry, or none of these questions exist."},
                        409: {"description": "The entry changed meanwhile."}})
def gap_paraphrases(body: GapParaphrases, rt: Rt,
                    who: Principal = Depends(allow(*STAFF))) -> ParaphrasesAddedOut:
    """Staff, admin: add a gap's questions to an existing entry as paraphrases. The entry's working copy becomes a
    new draft revision that goes through the normal review; the published revision stays live until approved."""
    questions = rt.questions.texts(body.question_ids)
    if not questions:
        raise ApiError(404, "not_found", "none of these questions exist", "找不到这些问题")
    done = gaps.add_as_paraphrases(rt.store, body.entry_id, questions, who.name)
    if done.added:
        rt.questions.mark_drafted([q["id"] for q in questions], done.entry.id)
        rt.audit.record(who.name, who.role, "gap_paraphrases", f"entry:{done.entry.id}", done.entry.version,
                        {"questions": len(done.added)})
    return ParaphrasesAddedOut(entry=_out(done.entry), added=done.added, skipped=done.skipped)


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
def draft_from_gap(body: DraftFromGap, rt: Rt, who: Principal = Depends(allow(*STAFF))) -> EntryOut:
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
def stats(feedback: FeedbackDep, questions: QuestionsDep, store: StoreDep, days: int = Query(default=90,
          ge=1, le=3650), interval: Literal["day", "week", "month"] = "day",
          _: Principal = Depends(allow(*STAFF))) -> dict:
    """Staff, admin: cases by issue type, urgency, channel and district over time; referral outcomes;
    top entries; feedback and worker-question totals."""
    views, _n = store.list(limit=10**6)
    out = case_stats(store.factory, days=days, interval=interval)
    out["top_entries"] = entry_stats(store.factory, {v.id: v.title for v in views})
    out["feedback"] = feedback.totals()
    out["questions"] = questions.counts()
    return out


@router.get("/dashboard")
def dashboard(cases: CasesDep, store: StoreDep, scope: Literal["team", "mine"] | None = Query(
                  default=None, description="Staff and admin: team (default) or mine. Operators: always mine."),
              weeks: int = Query(default=12, ge=1, le=104),
              who: Principal = Depends(allow(*OPERATORS))) -> dict:
    """Operators, staff, admin: what needs doing now: open cases by urgency, 回访 due and overdue, dispatches
    awaiting a platform's reply (and those past their SLA); the worker channel week by week (questions, answer
    rate, hand-offs to a person); the early-warning alerts. Operators see their own cases and dispatches."""
    mine = who.role == "operator" or scope == "mine"
    out = workspace_figures(store.factory, cases, operator=who.name if mine else None, weeks=weeks)
    found = alerts.detect(store.factory, case_examples=0)
    out["alerts"] = [{k: a[k] for k in ("dimension", "value", "issue_type", "count", "baseline", "expected", "ratio",
                                         "p_value")} for a in found["alerts"][:20]]
    out["alerts_window"] = found["window"]
    return out
