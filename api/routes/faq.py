"""Workers' self-service: anonymous, published entries only, rate-limited per client."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from api.context import Runtime
from api.present import ask_out
from api.routes.deps import AssistantDep, CasesDep, Rt, SealerDep, cpu_bound
from api.schemas import AskFeedback, AskRequest, AskResponse, Created, HandoffRequest, HandoffResponse
from api.security import rate_limited

router = APIRouter(prefix="/v1/faq", tags=["workers"])

_LIMITED = {429: {"description": "Too many questions from this client; see Retry-After."}}
_NO_ANSWER = {404: {"description": "No answer with this answer_id."}}


@router.post("/ask", response_model=AskResponse, dependencies=[Depends(rate_limited("faq"))], responses=_LIMITED)
async def ask(body: AskRequest, request: Request, assistant: AssistantDep) -> AskResponse:
    """Anyone: from published entries only, a confident answer, a hedged one (one or two entries, or one
    clarifying question whose options are sent back as ``need``), or a hand-off to a person. Emergencies get
    110/120/12356 first."""
    return ask_out(await cpu_bound(request, assistant.faq, body.question, None, body.need))


@router.post("/handoff", response_model=HandoffResponse, status_code=201,
             dependencies=[Depends(rate_limited("faq"))], responses={**_LIMITED, **_NO_ANSWER})
def handoff(body: HandoffRequest, cases: CasesDep, sealer: SealerDep) -> HandoffResponse:
    """Anyone: "请工作人员联系我" for a question asked on /ask: creates one case (channel web) in the operators'
    queue, with an optional call-back number kept sealed; returns the reference to quote."""
    case = cases.handoff(body.answer_id, callback=body.callback, note=body.note, sealer=sealer)
    when = "工作人员会尽快联系你" + ("（按你留的电话回电）" if body.callback or case["has_callback"] else "；你也可以直接拨打热线")
    return HandoffResponse(reference=case["reference"], case_id=case["id"], created=case["created"],
                           message=f"已转给工作人员，{when}。你的编号：{case['reference']}，再联系时请报这个编号。")


@router.post("/feedback", response_model=Created, status_code=201, dependencies=[Depends(rate_limited("faq"))],
             responses={**_LIMITED, **_NO_ANSWER})
def was_it_helpful(body: AskFeedback, rt: Rt) -> Created:
    """Anyone: "was this helpful?" for an answer (by its answer_id)."""
    fid = rt.feedback.record(source="worker", actor="anonymous", event="helpful" if body.helpful else "unhelpful",
                             question_id=body.answer_id, entry_id=_entry_of(rt, body.answer_id))
    return Created(id=fid)


def _entry_of(rt: Runtime, answer_id: int) -> int | None:
    return rt.questions.best_entry(answer_id)
