"""Cases: saved calls and WeChat conversations, their follow-up, dispatch to a platform's sub-line,
and multi-agency consultation. Enterprises see only what was routed to their platform."""

from __future__ import annotations

import asyncio
from typing import Literal

from fastapi import APIRouter, Depends, Query, Request, WebSocket
from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocketDisconnect

from api.context import Runtime
from api.errors import ApiError
from api.routes.deps import AuditDep, CasesDep, MAX_ID, PathId, Rt, StoreDep, WeChatDep, link
from api.routes.live import _authenticate
from api.schemas import (CaseCreate, CaseList, CaseNoteCreate, CaseOut, CaseUpdate, ChannelsOut, ConsultationCreate,
                         DispatchCreate, DispatchOut, DispatchReopen, DispatchReply, FollowUpCreate, FollowUpPlanCreate,
                         ReferralCreate, ReferralOutcome, SubLine, SubLines)
from api.security import ENTERPRISE, OPERATORS, allow
from api.settings import Settings
from hotline import sublines
from hotline.accounts import Principal
from hotline.cases import DispatchClosed, UnknownPlatform
from hotline.errors import NotFound
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


def _view(rt: Runtime, case_id: int) -> dict:
    """The operators' case view: everything, with a worker's call-back number (only here)."""
    case = _full(rt, case_id)
    if case.get("has_callback"):
        case["callback"] = rt.cases.callback(case_id, rt.sealer)
    return case


def settings(request: Request) -> Settings:
    return request.app.state.jishibang.settings


_STATUS_ZH = {"pending": "待处理", "in_progress": "处理中", "resolved": "已解决", "rejected": "不予处理"}


def _closed(exc: DispatchClosed) -> ApiError:
    reopen = "reopen it" in str(exc)
    return ApiError(409, "dispatch_closed" if reopen else "dispatch_open", str(exc),
                    "该转办已办结（已解决或不予处理），不能再答复；如需继续处理，请先填写理由重新打开" if reopen
                    else "该转办尚未办结，无需重新打开")


_CASE = "/v1/cases/{case_id}"
_NEXT = {"case_id": "$response.body#/id"}


@router.post("/cases", response_model=CaseOut, status_code=201, responses={201: {"links": {
    "GetCase": link("GET", _CASE, **_NEXT), "UpdateCase": link("PATCH", _CASE, **_NEXT),
    "AddFollowUp": link("POST", _CASE + "/followups", **_NEXT), "Dispatch": link("POST", _CASE + "/dispatch", **_NEXT),
    "Consult": link("POST", _CASE + "/consultations", **_NEXT)}}})
def create_case(body: CaseCreate, rt: Rt, who: Principal = Depends(allow(*OPERATORS))) -> dict:
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
def list_cases(cases: CasesDep, status: Literal["open", "referred", "dispatched", "escalated",
               "closed"] | None = None,
               channel: Literal["phone", "wechat", "web"] | None = None,
               urgency: Literal["low", "normal", "high", "emergency"] | None = None,
               issue_type: str | None = Query(default=None, max_length=40),
               limit: int = Query(default=50, ge=1, le=500), offset: int = Query(default=0, ge=0, le=10**7),
               mine: bool = Query(default=False, description="Only the cases I hold."),
               unassigned: bool = Query(default=False, description="Only cases nobody holds yet (WeChat, hand-offs)."),
               open_only: bool = Query(default=False, alias="open", description="Leave out closed cases."),
               followup: Literal["due", "overdue", "planned"] | None = Query(
                   default=None, description="due: a 回访 due today or before; overdue: before today; planned: any."),
               sort: Literal["newest", "priority"] = Query(
                   default="newest", description="priority: most urgent first, then 回访 overdue, then due, oldest first."),
               who: Principal = Depends(allow(*OPERATORS))) -> CaseList:
    """Operators, staff, admin: cases, newest first; ``mine`` for my open cases, the team queue without it."""
    items, total = cases.list(status=status, channel=channel, urgency=urgency, issue_type=issue_type,
                                 limit=limit, offset=offset, assignee=who.name if mine else None,
                                 unassigned=unassigned, open_only=open_only, followup=followup, sort=sort)
    return CaseList(total=total, items=[CaseOut(**c) for c in items])


@router.get("/cases/{case_id}", response_model=CaseOut)
def get_case(case_id: PathId, rt: Rt, who: Principal = Depends(allow(*OPERATORS, *ENTERPRISE))) -> dict:
    """Operators, staff, admin: the case with follow-ups, dispatches, consultations and feedback.
    Enterprise: only a case routed to its own platform, and only its own dispatches."""
    if who.role == "enterprise":
        return rt.cases.get(case_id, platform=who.platform or "")
    return _view(rt, case_id)


@router.patch("/cases/{case_id}", response_model=CaseOut)
def update_case(case_id: PathId, body: CaseUpdate, rt: Rt, _: Principal = Depends(allow(*OPERATORS))) -> dict:
    """Operators, staff, admin: pick the referral, correct issue types, change status."""
    _check_types(body.issue_types)
    _check_referral(body.referral)
    rt.cases.update(case_id, referral=body.referral, status=body.status, issue_types=body.issue_types)
    return _full(rt, case_id)


@router.post("/cases/{case_id}/followups", response_model=CaseOut, status_code=201)
def add_followup(case_id: PathId, body: FollowUpCreate, rt: Rt,
                 who: Principal = Depends(allow(*OPERATORS))) -> dict:
    """Operators, staff, admin: the outcome of the referral (回访). It completes the earliest 回访 planned;
    ``next_due`` plans the next one; ``resolved`` closes the case."""
    rt.cases.add_followup(case_id, who.name, body.accepted, body.resolved, body.amount_recovered, body.notes,
                          next_due=body.next_due)
    return _full(rt, case_id)


@router.post("/cases/{case_id}/dispatch", response_model=DispatchOut, status_code=201, responses={
    422: {"description": "Unknown platform (no sub-line account), or the body does not validate."}, 201: {"links": {
    "Reply": link("POST", "/v1/dispatches/{dispatch_id}/reply", dispatch_id="$response.body#/id")}}})
def dispatch(case_id: PathId, body: DispatchCreate, audit: AuditDep, cases: CasesDep, store: StoreDep,
             who: Principal = Depends(allow(*OPERATORS)), conf: Settings = Depends(settings)) -> dict:
    """Operators, staff, admin: route the case to a platform company's sub-line (its queue). Only a platform
    with a sub-line account (GET /v1/platforms) is accepted; the reply is due within the SLA for the case's
    urgency."""
    case = cases.get(case_id)
    try:
        d = cases.dispatch(case_id, body.platform, body.note, who.name, allowed=sublines.platforms(store.factory),
                              sla_hours=conf.dispatch_sla(case["urgency"]))
    except UnknownPlatform as exc:
        names = "、".join(exc.allowed) or "（暂无）"
        raise ApiError(422, "unknown_platform", str(exc), f"该平台没有企业分线账号，不能转办。可转办的平台：{names}",
                       {"platforms": exc.allowed}) from None
    audit.record(who.name, who.role, "dispatch", f"case:{case_id}", detail={"platform": body.platform, "dispatch": d["id"]})
    return d


@router.post("/cases/{case_id}/consultations", response_model=CaseOut, status_code=201)
def consult(case_id: PathId, body: ConsultationCreate, rt: Rt,
            who: Principal = Depends(allow(*OPERATORS))) -> dict:
    """Operators, staff, admin: escalate to a multi-agency consultation (多部门会商)."""
    rt.cases.consult(case_id, body.bodies, body.actions, body.follow_up_by, body.notes, who.name)
    rt.audit.record(who.name, who.role, "consult", f"case:{case_id}", detail={"bodies": body.bodies})
    return _full(rt, case_id)


@router.get("/enterprise/queue")
def enterprise_queue(cases: CasesDep, status: Literal["pending", "in_progress", "resolved",
                     "rejected"] | None = None,
                     platform: str | None = Query(default=None, max_length=40),
                     who: Principal = Depends(allow(*ENTERPRISE, "staff", "admin"))) -> list[dict]:
    """Enterprise: the cases routed to its platform. Staff and admin: any platform's queue (?platform=)."""
    if who.role == "enterprise":
        platform = who.platform
    if not platform:
        raise ApiError(422, "platform_required", "name the platform (?platform=)", "请指定平台")
    return cases.queue(platform, status)


@router.post("/dispatches/{dispatch_id}/reply", response_model=DispatchOut,
             responses={409: {"description": "The dispatch is resolved or rejected: reopen it first."}})
def reply(dispatch_id: PathId, body: DispatchReply, audit: AuditDep, cases: CasesDep,
          who: Principal = Depends(allow(*ENTERPRISE))) -> dict:
    """Enterprise: answer a case routed to its platform; the reply and status flow back to the dispatcher.
    A resolved or rejected dispatch is read-only (409) until it is reopened with a reason."""
    try:
        d = cases.reply(dispatch_id, who.platform or "", who.name, body.reply, body.status)
    except DispatchClosed as exc:
        raise _closed(exc) from None
    audit.record(who.name, who.role, "dispatch_reply", f"dispatch:{dispatch_id}", detail={"status": body.status})
    return d


# --- the case workspace: notes, who holds the case, referrals, the 回访 plan ----------------------------

@router.post("/cases/{case_id}/notes", response_model=CaseOut, status_code=201)
def add_note(case_id: PathId, body: CaseNoteCreate, rt: Rt,
             who: Principal = Depends(allow(*OPERATORS))) -> dict:
    """Operators, staff, admin: add to a saved case (append-only; masked and timestamped)."""
    rt.cases.add_note(case_id, who.name, body.text)
    rt.audit.record(who.name, who.role, "case_note", f"case:{case_id}")
    return _view(rt, case_id)


@router.post("/cases/{case_id}/claim", response_model=CaseOut)
def claim(case_id: PathId, rt: Rt, who: Principal = Depends(allow(*OPERATORS))) -> dict:
    """Operators, staff, admin: take the case from the team queue (or over from a colleague)."""
    rt.cases.claim(case_id, who.name)
    rt.audit.record(who.name, who.role, "claim", f"case:{case_id}")
    return _view(rt, case_id)


@router.post("/cases/{case_id}/referrals", response_model=CaseOut, status_code=201)
def refer(case_id: PathId, body: ReferralCreate, rt: Rt, who: Principal = Depends(allow(*OPERATORS))) -> dict:
    """Operators, staff, admin: record "referred to X"; a 回访 is planned after X's typical time to act
    (hotline/data/followups.yaml; sooner for an urgent case)."""
    _check_referral(body.target)
    rt.cases.refer(case_id, body.target, who.name, body.note)
    rt.audit.record(who.name, who.role, "refer", f"case:{case_id}", detail={"target": body.target})
    return _view(rt, case_id)


@router.post("/cases/{case_id}/referrals/{referral_id}/outcome", response_model=CaseOut)
def referral_outcome(case_id: PathId, referral_id: PathId, body: ReferralOutcome,
                     rt: Rt, who: Principal = Depends(allow(*OPERATORS))) -> dict:
    """Operators, staff, admin: what came of a referral (accepted, declined, resolved, no response)."""
    rt.cases.referral_outcome(case_id, referral_id, body.outcome, body.note, who.name)
    rt.audit.record(who.name, who.role, "referral_outcome", f"case:{case_id}", detail={"outcome": body.outcome})
    return _view(rt, case_id)


@router.post("/cases/{case_id}/followup-plan", response_model=CaseOut, status_code=201)
def plan_followup(case_id: PathId, body: FollowUpPlanCreate, rt: Rt,
                  who: Principal = Depends(allow(*OPERATORS))) -> dict:
    """Operators, staff, admin: plan a 回访 on a day."""
    rt.cases.plan_followup(case_id, body.due_on, body.reason, who.name)
    return _view(rt, case_id)


@router.post("/dispatches/{dispatch_id}/reopen", response_model=DispatchOut,
             responses={409: {"description": "The dispatch is not resolved or rejected."}})
def reopen(dispatch_id: PathId, body: DispatchReopen, audit: AuditDep, cases: CasesDep,
           who: Principal = Depends(allow(*ENTERPRISE, *OPERATORS)), conf: Settings = Depends(settings)) -> dict:
    """Enterprise (its own platform's), operators, staff, admin: reopen a resolved or rejected dispatch with the
    reason; the reply clock starts again."""
    platform = (who.platform or "") if who.role == "enterprise" else None
    try:
        d = cases.reopen(dispatch_id, platform, who.name, who.role, body.reason,
                            sla_hours=conf.dispatch_sla_hours)
    except DispatchClosed as exc:
        raise _closed(exc) from None
    audit.record(who.name, who.role, "dispatch_reopen", f"dispatch:{dispatch_id}")
    return d


@router.get("/platforms", response_model=SubLines)
def platforms(store: StoreDep, _: Principal = Depends(allow(*OPERATORS))) -> SubLines:
    """Operators, staff, admin: the platforms a case can be dispatched to (those with a sub-line account)."""
    return SubLines(items=[SubLine(platform=p, accounts=n) for p, n in sublines.platforms(store.factory).items()])


@router.get("/channels", response_model=ChannelsOut)
def channels(wechat: WeChatDep, _: Principal = Depends(allow(*OPERATORS))) -> ChannelsOut:
    """Operators, staff, admin: which channels are on (the console says when WeChat is not configured)."""
    return ChannelsOut(wechat_receiving=wechat.receiving, wechat_sending=wechat.sender is not None)


# --- the case view, live ----------------------------------------------------------------------------

CASE_POLL_SECONDS = 1.0


@router.websocket("/cases/{case_id}/live")
async def case_live(ws: WebSocket, case_id: str) -> None:
    """Operators, staff, admin: the case view, pushed whenever it changes (a platform's reply, a colleague's
    note). Protocol: the client sends ``{"type": "auth", "token"}``; the server sends ``{"type": "case",
    "case": {...}}`` at once and after every change, ``{"type": "error", ...}`` and closes when the case is gone."""
    await ws.accept()
    cid = int(case_id) if case_id.isdigit() and len(case_id) <= 10 else 0
    if not 1 <= cid <= MAX_ID:
        await ws.send_json({"type": "error", "code": "bad_case_id", "message": "a case id is a number",
                            "message_zh": "个案编号应为数字"})
        await ws.close(code=4400)
        return
    if await _authenticate(ws) is None:
        return
    rt: Runtime = ws.app.state.jishibang.runtime
    closed = asyncio.Event()

    async def listen() -> None:  # client frames are not needed; watching them tells when the socket closes
        try:
            while (await ws.receive())["type"] != "websocket.disconnect":
                pass
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            closed.set()

    listener = asyncio.create_task(listen())
    last = None
    try:
        while not closed.is_set():
            try:
                seen = await run_in_threadpool(rt.cases.fingerprint, cid)
                if seen != last:
                    view = CaseOut(**await run_in_threadpool(_view, rt, cid)).model_dump(mode="json")
                    await ws.send_json({"type": "case", "case": view})
                    last = seen
            except NotFound:
                await ws.send_json({"type": "error", "code": "not_found", "message": f"no case {cid}",
                                    "message_zh": "找不到该个案"})
                await ws.close(code=4404)
                break
            try:
                await asyncio.wait_for(closed.wait(), timeout=CASE_POLL_SECONDS)
            except asyncio.TimeoutError:
                pass
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        listener.cancel()
