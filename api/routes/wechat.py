"""The WeChat Official Account channel: /v1/wechat, where WeChat's servers verify the URL (GET) and post
messages (POST), public but signature-checked; and the operators' conversations (list, read, reply, close).

WeChat waits 5 seconds for an answer and then retries; the reply is computed in the model slots and
handed back when it is ready within the budget, else the request answers "success" and the reply goes
out through the customer-service API (the outbox)."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from api.context import Runtime
from api.errors import ApiError
from api.routes.deps import AuditDep, PathId, Rt, WeChatDep, cpu_bound
from api.schemas import CaseOut, Strict
from api.security import OPERATORS, allow
from hotline.accounts import Principal
from hotline.wechat import errors as wx
from hotline.wechat.channel import Delivery
from hotline.wechat.service import WeChat

log = logging.getLogger("jishibang.api")
router = APIRouter(prefix="/v1/wechat", tags=["wechat"])

# (status, code, English, Chinese) for each refusal; WeChat itself only ever gets 200s for genuine posts.
_REFUSALS: dict[type[Exception], tuple[int, str, str, str]] = {
    wx.NotConfigured: (503, "wechat_not_configured", "the WeChat channel is not configured", "微信公众号渠道未配置"),
    wx.BadSignature: (403, "bad_signature", "signature does not match", "签名校验失败"),
    wx.StaleTimestamp: (403, "stale_timestamp", "timestamp outside the accepted window (replay?)", "时间戳超出允许范围（疑似重放）"),
    wx.MalformedMessage: (400, "malformed_xml", "not a WeChat XML message", "不是有效的微信 XML 消息"),
    wx.WrongAppId: (400, "wrong_app_id", "message sealed for another app id", "消息不属于本公众号（AppID 不符）"),
    wx.BadCiphertext: (400, "bad_ciphertext", "the encrypted message does not decrypt", "加密消息无法解密"),
    wx.OutsideWindow: (409, "outside_reply_window",
                       "the user last wrote more than 48 hours ago; WeChat will not deliver",
                       "用户最后一次留言已超过 48 小时，微信不允许再发客服消息"),
}


def _refusal(exc: wx.WeChatError) -> ApiError:
    for kind in type(exc).__mro__:
        if kind in _REFUSALS:
            status, code, en, zh = _REFUSALS[kind]
            detail = str(exc) if kind is not wx.NotConfigured else en
            return ApiError(status, code, detail or en, zh)
    return ApiError(400, "wechat_error", str(exc) or "refused", "请求被拒绝")


def _service(rt: Runtime) -> WeChat:
    return rt.wechat


def from_wechat() -> None:
    """Public: WeChat's servers call these routes; the signature in the query is the check."""


from_wechat.roles = ("anonymous",)  # type: ignore[attr-defined]  # read by the access-matrix test

Param = Annotated[str | None, Query(max_length=128)]


@router.get("", response_class=PlainTextResponse, dependencies=[Depends(from_wechat)],
            responses={403: {"description": "Bad signature or stale timestamp."},
                       503: {"description": "wechat_token is not set."}})
def handshake(rt: Rt, signature: Param = None, timestamp: Param = None, nonce: Param = None,
              echostr: Annotated[str | None, Query(max_length=256)] = None) -> PlainTextResponse:
    """WeChat's URL check (接入指南): echo `echostr` when the signature over token, timestamp and nonce matches."""
    try:
        _service(rt).verify_handshake(signature, timestamp, nonce, time.time())
    except wx.WeChatError as exc:
        raise _refusal(exc) from None
    return PlainTextResponse(echostr or "", headers={"X-Content-Type-Options": "nosniff"})


_SUCCESS = "success"  # WeChat's "received, nothing to say" (no retry, nothing shown to the user)


@router.post("", dependencies=[Depends(from_wechat)],
             openapi_extra={"requestBody": {"required": True, "content": {"application/xml": {
                 "schema": {"type": "string", "maxLength": 65536}}}}},
             responses={200: {"content": {"application/xml": {}, "text/plain": {}},
                              "description": "The passive reply XML, or `success`."},
                        400: {"description": "Malformed XML, wrong app id, bad ciphertext."},
                        403: {"description": "Bad signature or stale timestamp."}, 413: {"description": "Too large."}})
async def receive(request: Request, rt: Rt, signature: Param = None, timestamp: Param = None,
                  nonce: Param = None,
                  openid: Param = None, encrypt_type: Annotated[str | None, Query(max_length=16)] = None,
                  msg_signature: Param = None) -> Response:
    """A message or event from WeChat (plaintext, compatible or safe mode). Answered once per MsgId: a retry
    gets the stored reply, or `success` while the first delivery is still being handled."""
    svc = _service(rt)
    body = await request.body()
    now = time.time()
    try:
        msg, encrypted = svc.open_post(body, sig=signature, timestamp=timestamp, nonce=nonce,
                                       encrypt_type=encrypt_type, msg_signature=msg_signature, now=now)
    except wx.WeChatError as exc:
        err = _refusal(exc)
        log.warning("official account: post refused: %s", err.code)
        raise err from None
    seen = await run_in_threadpool(svc.channel.claim, msg)
    if not seen.first:
        return _answer(svc, msg, seen.reply, encrypted)
    delivery = Delivery()
    task = asyncio.ensure_future(cpu_bound(request, svc.channel.process, msg, delivery))
    _keep(task)
    try:
        await asyncio.wait_for(asyncio.shield(task), timeout=svc.config.reply_budget_seconds)
    except TimeoutError:
        pass
    except asyncio.CancelledError:  # the request is gone (WeChat hung up): the reply goes through the outbox
        delivery.take()
        raise
    ready, text = delivery.take()
    return _answer(svc, msg, text if ready else None, encrypted)


def _answer(svc: WeChat, msg: Any, text: str | None, encrypted: bool) -> Response:
    if not text:
        return PlainTextResponse(_SUCCESS)
    return Response(svc.render(msg, text, encrypted, time.time()), media_type="application/xml")


_RUNNING: set[asyncio.Future[Any]] = set()


def _keep(task: asyncio.Future[Any]) -> None:
    """Hold the task until it ends (it may outlive the request), and log a failure instead of losing it."""
    _RUNNING.add(task)

    def done(t: asyncio.Future[Any]) -> None:
        _RUNNING.discard(t)
        if not t.cancelled() and t.exception() is not None:
            log.error("official account: message task failed: %s", type(t.exception()).__name__)

    task.add_done_callback(done)


# --- the operators' side ----------------------------------------------------------------------------

class WeChatReply(Strict):
    # WeChat cuts text messages at about 2,000 bytes; 600 Chinese characters stay under that.
    text: Annotated[str, Field(min_length=1, max_length=600, description="The reply the worker will read.")]


class DeliveryOut(BaseModel):
    outbox_id: int
    state: Literal["queued", "sending", "sent", "failed"]
    attempts: int
    last_error: str | None = None
    sent_at: datetime | None = None


class MessageOut(BaseModel):
    id: int
    at: datetime
    direction: Literal["in", "out"]
    kind: str
    author: str
    text: str
    delivery: DeliveryOut | None = None


class AttemptOut(BaseModel):
    at: datetime
    attempt: int
    outcome: Literal["sent", "retry", "failed"]
    detail: str


class OutboxOut(BaseModel):
    id: int
    conversation_id: int
    kind: Literal["operator", "auto"]
    text: str
    created_by: str
    created_at: datetime
    state: Literal["queued", "sending", "sent", "failed"]
    attempts: int
    next_attempt_at: datetime | None = None
    last_error: str | None = None
    sent_at: datetime | None = None
    log: list[AttemptOut]


class ConversationSummary(BaseModel):
    id: int
    worker: str = Field(description="An alias; the OpenID is never shown.")
    status: Literal["open", "closed"]
    urgency: str
    needs_reply: bool
    case_id: int | None = None
    message_count: int
    started_at: datetime
    last_message_at: datetime
    last_inbound_at: datetime | None = None
    can_reply: bool = Field(description="Within 48 hours of the user's last message, and sending is configured.")
    last_text: str | None = None
    last_author: str | None = None


class ConversationOut(ConversationSummary):
    messages: list[MessageOut]
    outbox: list[OutboxOut]
    case: CaseOut | None = None


class ConversationList(BaseModel):
    total: int
    items: list[ConversationSummary]


def _wechat_call(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except wx.WeChatError as exc:
        raise _refusal(exc) from None


@router.get("/conversations", response_model=ConversationList)
def list_conversations(wechat: WeChatDep, status: Literal["open", "closed", "all"] = "open",
                       needs_reply: bool | None = None,
                       case_id: int | None = Query(default=None, ge=1, le=2**31 - 1),
                       limit: int = Query(default=50, ge=1, le=200), offset: int = Query(default=0, ge=0, le=10**7),
                       _: Principal = Depends(allow(*OPERATORS))) -> ConversationList:
    """Operators, staff, admin: WeChat conversations, those waiting for a person first (emergencies first)."""
    items, total = wechat.conversations.list(None if status == "all" else status, needs_reply, case_id,
                                                limit, offset)
    return ConversationList(total=total, items=[ConversationSummary(**i) for i in items])


@router.get("/conversations/{conversation_id}", response_model=ConversationOut)
def get_conversation(conversation_id: PathId, wechat: WeChatDep,
                     _: Principal = Depends(allow(*OPERATORS))) -> dict:
    """Operators, staff, admin: the messages (masked), the case, and every delivery attempt of each reply."""
    return wechat.conversations.get(conversation_id)


@router.post("/conversations/{conversation_id}/reply", response_model=OutboxOut, status_code=202,
             responses={409: {"description": "More than 48 hours since the user last wrote."},
                        503: {"description": "wechat_app_id / wechat_app_secret not set."}})
def reply(conversation_id: PathId, body: WeChatReply, audit: AuditDep, wechat: WeChatDep,
          who: Principal = Depends(allow(*OPERATORS))) -> dict:
    """Operators, staff, admin: reply to the worker. Queued (202) and sent through the customer-service API,
    retried with back-off; the attempts show on the conversation."""
    out = _wechat_call(wechat.conversations.reply, conversation_id, body.text, who.name)
    audit.record(who.name, who.role, "wechat_reply", f"wechat:{conversation_id}", detail={"outbox": out["id"]})
    return out


@router.post("/conversations/{conversation_id}/close", response_model=ConversationOut)
def close(conversation_id: PathId, audit: AuditDep, wechat: WeChatDep,
          who: Principal = Depends(allow(*OPERATORS))) -> dict:
    """Operators, staff, admin: nothing left to answer; a new message from the user starts a new conversation."""
    out = wechat.conversations.close(conversation_id)
    audit.record(who.name, who.role, "wechat_close", f"wechat:{conversation_id}")
    return out


# --- the outbox sender, run by the app's lifespan ----------------------------------------------------

class SenderHandle:
    def __init__(self, service: WeChat) -> None:
        self.service = service
        self.stop = asyncio.Event()
        self.task = asyncio.ensure_future(service.run(self.stop))


def start_sender(rt: Runtime) -> SenderHandle | None:
    """Start the background loop when the channel is configured at all (it also forgets old deliveries)."""
    svc = rt.wechat
    if not (svc.receiving or svc.sender is not None):
        return None
    log.info("official account: receiving %s, sending %s, safe mode %s", "on" if svc.receiving else "off",
             "on" if svc.sender is not None else "off", "on" if svc.safe_mode is not None else "off")
    if svc.receiving:
        try:  # load the triage model now: the first worker's message must fit in WeChat's 5 seconds too
            rt.assistant.triage("外卖骑手工资被扣了怎么办")
        except Exception as exc:  # the first message will load it (and may be answered through the outbox)
            log.warning("official account: triage model not warmed up: %s", type(exc).__name__)
    return SenderHandle(svc)


async def stop_sender(handle: SenderHandle | None) -> None:
    if handle is None:
        return
    handle.stop.set()
    try:
        await asyncio.wait_for(handle.task, timeout=15)
    except (TimeoutError, asyncio.CancelledError):
        handle.task.cancel()
    handle.service.close()
