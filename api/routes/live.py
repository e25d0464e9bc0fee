"""Live assist over a WebSocket: the operator's growing note in, updated suggestions out.

Protocol (JSON text frames):
  client -> {"type": "auth", "token": "..."}            first frame, unless an Authorization header was sent
  client -> {"type": "note", "seq": 7, "text": "..."}   the whole note so far, as often as the operator types
  server -> {"type": "ready"}
  server -> {"type": "update", "seq": 7, "changed": ["suggestions", ...], "suggestions": [...], ...}
  server -> {"type": "unchanged", "seq": 7}             analysed; nothing differs from the last update
  server -> {"type": "error", "seq": 7, "code": ..., "message": ..., "message_zh": ...}

Only the newest note is analysed: notes that arrive while one is being analysed replace each other,
so a fast typist never builds a queue. Only the sections that changed are sent.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from api.present import suggest_out
from api.routes.deps import cpu_bound
from api.schemas import MAX_TEXT
from api.security import OPERATORS
from hotline.accounts import Principal
from hotline.assist import Suggestions
from hotline.errors import AuthError
from triage.errors import TextError

router = APIRouter(tags=["operators"])
log = logging.getLogger("jishibang.live")

MAX_FRAME = 64 * 1024
SECTIONS = ("triage", "suggestions", "no_good_answer", "banner", "tier", "clarify", "guidance", "referrals",
            "deadlines", "emergency_contacts")


def sections_of(out: Suggestions) -> dict[str, Any]:
    """What the console shows, with scores rounded so noise in the last digits does not count as a change."""
    result = suggest_out(out).model_dump(mode="json")
    t = result["triage"]
    triage = {
        "labels": t["labels"], "abstain": t["abstain"], "abstain_reason": t["abstain_reason"], "urgency": t["urgency"],
        "entities": t["entities"], "pii": t["pii"], "danger": t.get("danger"),
        "issue_types": [{**s, "score": round(s["score"], 2)} for s in t["issue_types"][:5]],
    }
    suggestions = [{**s, "score": None if s["score"] is None else round(s["score"], 2)} for s in result["suggestions"]]
    return {"triage": triage, "suggestions": suggestions, "no_good_answer": result["no_good_answer"],
            "banner": result["banner"], "tier": result["tier"], "clarify": result["clarify"],
            "guidance": result["guidance"],
            "referrals": result["referrals"], "deadlines": result["deadlines"],
            "emergency_contacts": result["emergency_contacts"]}


async def _authenticate(ws: WebSocket) -> Principal | None:
    accounts = ws.app.state.jishibang.runtime.accounts
    header = ws.headers.get("authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else None
    if token is None:
        try:
            first = json.loads(await asyncio.wait_for(ws.receive_text(), timeout=10))
            token = first.get("token") if isinstance(first, dict) and first.get("type") == "auth" else None
        except (asyncio.TimeoutError, ValueError, KeyError, RecursionError):  # RecursionError: JSON nested too deeply
            token = None
    if not token or not isinstance(token, str):
        await ws.send_json({"type": "error", "code": "unauthorized", "message": "send {\"type\": \"auth\", \"token\": ...} first",
                            "message_zh": "请先发送登录令牌"})
        await ws.close(code=4401)
        return None
    try:
        who = accounts.resolve(token)
    except UnicodeEncodeError:  # a JSON frame can carry unpaired surrogates; no token has them
        await ws.send_json({"type": "error", "code": "unauthorized", "message": "invalid token", "message_zh": "登录无效或已过期"})
        await ws.close(code=4401)
        return None
    except AuthError as exc:
        await ws.send_json({"type": "error", "code": "unauthorized", "message": str(exc), "message_zh": "登录无效或已过期"})
        await ws.close(code=4401)
        return None
    if who.role not in OPERATORS:
        await ws.send_json({"type": "error", "code": "forbidden", "message": f"role {who.role!r} may not use live assist",
                            "message_zh": "你的角色无权使用实时辅助"})
        await ws.close(code=4403)
        return None
    return who


@router.websocket("/v1/calls/{call_id}/live")
async def live(ws: WebSocket, call_id: str) -> None:
    """Operators, staff, admin."""
    await ws.accept()
    if len(call_id) > 64:
        await ws.close(code=4400)
        return
    if await _authenticate(ws) is None:
        return
    assistant = ws.app.state.jishibang.runtime.assistant
    latest: dict[str, Any] = {}
    wake = asyncio.Event()
    last_sent: dict[str, Any] = {}
    last_text: list[str | None] = [None]

    async def analyse() -> None:
        while True:
            await wake.wait()
            wake.clear()
            seq, text = latest["seq"], latest["text"]
            if text == last_text[0]:
                await ws.send_json({"type": "unchanged", "seq": seq})
                continue
            try:
                result = await cpu_bound(ws, assistant.suggest, text, None, False)
            except TextError as exc:
                await ws.send_json({"type": "error", "seq": seq, "code": exc.code, "message": exc.en, "message_zh": exc.zh})
                continue
            last_text[0] = text
            now = sections_of(result)
            changed = [k for k in SECTIONS if last_sent.get(k) != now[k]]
            if not changed:
                await ws.send_json({"type": "unchanged", "seq": seq})
                continue
            last_sent.update({k: now[k] for k in changed})
            await ws.send_json({"type": "update", "seq": seq, "changed": changed, **{k: now[k] for k in changed}})

    worker = asyncio.create_task(analyse())
    await ws.send_json({"type": "ready", "call_id": call_id})
    try:
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                break
            raw = message.get("text")
            if raw is None:  # a binary frame: json.loads decodes it strictly (bad UTF-8 is a bad frame)
                raw = message.get("bytes") or b""
            if len(raw) > MAX_FRAME:
                await ws.send_json({"type": "error", "code": "frame_too_large", "message": f"frame over {MAX_FRAME} bytes",
                                    "message_zh": "消息太大"})
                continue
            try:
                msg = json.loads(raw)
                seq = int(msg.get("seq", 0))
                text = msg["text"]
                if msg.get("type") != "note" or not isinstance(text, str):
                    raise ValueError
            except (ValueError, TypeError, KeyError, AttributeError, OverflowError, RecursionError):
                # OverflowError: "seq": Infinity; RecursionError: JSON nested too deeply
                await ws.send_json({"type": "error", "code": "bad_frame",
                                    "message": 'expected {"type": "note", "seq": N, "text": "..."}',
                                    "message_zh": "消息格式不对"})
                continue
            if len(text) > MAX_TEXT:
                await ws.send_json({"type": "error", "seq": seq, "code": "too_long",
                                    "message": f"note over {MAX_TEXT} characters", "message_zh": f"记录超过 {MAX_TEXT} 字"})
                continue
            latest.update(seq=seq, text=text)
            wake.set()
            if worker.done():  # the analyser stopped (socket closed while sending)
                break
    except WebSocketDisconnect:
        pass
    finally:
        worker.cancel()
