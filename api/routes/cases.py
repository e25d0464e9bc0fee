"""Cases: saved calls and WeChat conversations, their follow-up, dispatch to a platform's sub-line,
and multi-agency consultation. Enterprises see only what was routed to their platform."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Query

from api.context import Runtime
from api.errors import ApiError
from api.routes.deps import PathId, link, runtime
from api.schemas import (CaseCreate, CaseList, CaseOut, CaseUpdate, ConsultationCreate, DispatchCreate, DispatchOut, DispatchReply,
                         FollowUpCreate)
from api.security import ENTERPRISE, OPERATORS, allow
from hotline.accounts import Principal
from triage.referrals import targets
from triage.taxonomy import issue_types

router = APIRouter(prefix="/v1", tags=["cases"])


def _check_types(types: list[str] | None) -> None:
    bad = [t for t in types or [] if t not in issue_types()]
    if bad:
        raise ApiError(422, "unknown_issue_type", f"unknown issue types {bad}", f"未知的问题类型：{bad}")


def _check_referral(target: str | None) -> None:
    if target is not None and target not in targets():
        raise ApiError(422, "unknown_referral", f"unknown referral target {target!r}", f"未知的转介对象：{target}")


def _full(rt: Runtime, case_id: int) -> dict:
    case = rt.cases.get(case_id)
    case["feedback"] = rt.feedback.for_case(case_id)
    return case


_CASE = "/v1/cases/{case_id}"
_NEXT = {"case_id": "$response.body#/id"}


@router.post("/cases", response_model=CaseOut, status_code=201, responses={201: {"links": {
    "GetCase": link("GET", _CASE, **_NEXT), "UpdateCase": link("PATCH", _CASE, **_NEXT),
    "AddFollowUp": link("POST", _CASE + "/followups", **_NEXT), "Dispatch": link("POST", _CASE + "/dispatch", **_NEXT),
    "Consult": link("POST", _CASE + "/consultations", **_NEXT)}}})
def create_case(body: CaseCreate, who: Principal = Depends(allow(*OPERATORS)), rt: Runtime = Depends(runtime)) -> dict:
    """Operators, staff, admin: save a call or conversation. The text is triaged and masked; issue types,
    urgency and referral default to triage's."""
    _check_types(body.issue_types)
    _check_referral(body.referral)
    result = rt.assistant.triage(body.text)
    ents = result.entities
    case = rt.cases.create(
        channel=body.channel, operator=who.name, text=result.text_masked, call_id=body.call_id,
        issue_types=body.issue_types if body.issue_types is not None else result.labels,
        urgency=body.urgency or result.urgency.level,
        referral=body.referral if body.referral is not None else (result.referrals[0].target if result.referrals else None),
        district=ents.districts[0] if ents.districts else None,
        platform=ents.platforms[0] if ents.platforms else None,
    )
    return _full(rt, case["id"])


@router.get("/cases", response_model=CaseList)
def list_cases(status: Literal["open", "referred", "dispatched", "escalated", "closed"] | None = None,
               channel: Literal["phone", "wechat", "web"] | None = None,
               urgency: Literal["low", "normal", "high", "emergency"] | None = None,
               issue_type: str | None = Query(default=None, max_length=40),
               limit: int = Query(default=50, ge=1, le=500), offset: int = Query(default=0, ge=0, le=10**7),
               _: Principal = Depends(allow(*OPERATORS)), rt: Runtime = Depends(runtime)) -> CaseList:
    """Operators, staff, admin: cases, newest first."""
    items, total = rt.cases.list(status=status, channel=channel, urgency=urgency, issue_type=issue_type,
                                 limit=limit, offset=offset)
    return CaseList(total=total, items=[CaseOut(**c) for c in items])


@router.get("/cases/{case_id}", response_model=CaseOut)
def get_case(case_id: PathId, who: Principal = Depends(allow(*OPERATORS, *ENTERPRISE)), rt: Runtime = Depends(runtime)) -> dict:
    """Operators, staff, admin: the case with follow-ups, dispatches, consultations and feedback.
    Enterprise: only a case routed to its own platform, and only its own dispatches."""
    if who.role == "enterprise":
        return rt.cases.get(case_id, platform=who.platform or "")
    return _full(rt, case_id)


@router.patch("/cases/{case_id}", response_model=CaseOut)
def update_case(case_id: PathId, body: CaseUpdate, _: Principal = Depends(allow(*OPERATORS)),
                rt: Runtime = Depends(runtime)) -> dict:
    """Operators, staff, admin: pick the referral, correct issue types, change status."""
    _check_types(body.issue_types)
    _check_referral(body.referral)
    rt.cases.update(case_id, referral=body.referral, status=body.status, issue_types=body.issue_types)
    return _full(rt, case_id)


@router.post("/cases/{case_id}/followups", response_model=CaseOut, status_code=201)
def add_followup(case_id: PathId, body: FollowUpCreate, who: Principal = Depends(allow(*OPERATORS)),
                 rt: Runtime = Depends(runtime)) -> dict:
    """Operators, staff, admin: the outcome of the referral (回访)."""
    rt.cases.add_followup(case_id, who.name, body.accepted, body.resolved, body.amount_recovered, body.notes)
    return _full(rt, case_id)


@router.post("/cases/{case_id}/dispatch", response_model=DispatchOut, status_code=201, responses={201: {"links": {
    "Reply": link("POST", "/v1/dispatches/{dispatch_id}/reply", dispatch_id="$response.body#/id")}}})
def dispatch(case_id: PathId, body: DispatchCreate, who: Principal = Depends(allow(*OPERATORS)),
             rt: Runtime = Depends(runtime)) -> dict:
    """Operators, staff, admin: route the case to a platform company's sub-line (its queue)."""
    d = rt.cases.dispatch(case_id, body.platform, body.note, who.name)
    rt.audit.record(who.name, who.role, "dispatch", f"case:{case_id}", detail={"platform": body.platform, "dispatch": d["id"]})
    return d


@router.post("/cases/{case_id}/consultations", response_model=CaseOut, status_code=201)
def consult(case_id: PathId, body: ConsultationCreate, who: Principal = Depends(allow(*OPERATORS)),
            rt: Runtime = Depends(runtime)) -> dict:
    """Operators, staff, admin: escalate to a multi-agency consultation (多部门会商)."""
    rt.cases.consult(case_id, body.bodies, body.actions, body.follow_up_by, body.notes, who.name)
    rt.audit.record(who.name, who.role, "consult", f"case:{case_id}", detail={"bodies": body.bodies})
    return _full(rt, case_id)


@router.get("/enterprise/queue")
def enterprise_queue(status: Literal["pending", "in_progress", "resolved", "rejected"] | None = None,
                     platform: str | None = Query(default=None, max_length=40),
                     who: Principal = Depends(allow(*ENTERPRISE, "staff", "admin")),
                     rt: Runtime = Depends(runtime)) -> list[dict]:
    """Enterprise: the cases routed to its platform. Staff and admin: any platform's queue (?platform=)."""
    if who.role == "enterprise":
        platform = who.platform
    if not platform:
        raise ApiError(422, "platform_required", "name the platform (?platform=)", "请指定平台")
    return rt.cases.queue(platform, status)


@router.post("/dispatches/{dispatch_id}/reply", response_model=DispatchOut)
def reply(dispatch_id: PathId, body: DispatchReply, who: Principal = Depends(allow(*ENTERPRISE)),
          rt: Runtime = Depends(runtime)) -> dict:
    """Enterprise: answer a case routed to its platform; the reply and status flow back to the dispatcher."""
    d = rt.cases.reply(dispatch_id, who.platform or "", who.name, body.reply, body.status)
    rt.audit.record(who.name, who.role, "dispatch_reply", f"dispatch:{dispatch_id}", detail={"status": body.status})
    return d
