"""Workers' self-service: anonymous, published entries only, rate-limited per client."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from api.context import Runtime
from api.routes.deps import cpu_bound, runtime
from api.schemas import AskFeedback, AskResponse, AskRequest, Created
from api.security import rate_limited

router = APIRouter(prefix="/v1/faq", tags=["workers"])

_LIMITED = {429: {"description": "Too many questions from this client; see Retry-After."}}
_NO_ANSWER = {404: {"description": "No answer with this answer_id."}}


@router.post("/ask", response_model=AskResponse, dependencies=[Depends(rate_limited("faq"))], responses=_LIMITED)
async def ask(body: AskRequest, request: Request, rt: Runtime = Depends(runtime)) -> dict:
    """Anyone: a plain answer from published entries, or a plain "no good answer" with how to reach a
    person. Emergencies get 110/120/12356 first."""
    return await cpu_bound(request, rt.assistant.faq, body.question)


@router.post("/feedback", response_model=Created, status_code=201, dependencies=[Depends(rate_limited("faq"))],
             responses={**_LIMITED, **_NO_ANSWER})
def was_it_helpful(body: AskFeedback, rt: Runtime = Depends(runtime)) -> Created:
    """Anyone: "was this helpful?" for an answer (by its answer_id)."""
    fid = rt.feedback.record(source="worker", actor="anonymous", event="helpful" if body.helpful else "unhelpful",
                             question_id=body.answer_id, entry_id=_entry_of(rt, body.answer_id))
    return Created(id=fid)


def _entry_of(rt: Runtime, answer_id: int) -> int | None:
    return rt.questions.best_entry(answer_id)
