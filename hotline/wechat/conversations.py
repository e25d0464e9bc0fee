"""The operators' side of WeChat: conversations to answer (the ones waiting for a person first), one
conversation with its messages, case and deliveries, a reply (queued for the customer-service API), close."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session, sessionmaker

from hotline.cases import CaseStore
from hotline.errors import NotFound
from hotline.tables import Case
from hotline.wechat.errors import OutsideWindow
from hotline.wechat.outbound import Outbox, aware
from hotline.wechat.tables import WeChatConversation, WeChatMessage
from kb.db import transaction
from kb.tables import utcnow
from triage.pii import mask


def worker_alias(openid: str) -> str:
    """How operators tell users apart without seeing the OpenID."""
    return "微信用户 " + hashlib.sha256(openid.encode("utf-8")).hexdigest()[:6]


class Conversations:
    def __init__(self, factory: sessionmaker[Session], outbox: Outbox, cases: CaseStore,
                 reply_window: timedelta = timedelta(hours=48), nudge: Callable[[], None] = lambda: None,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.factory, self.outbox, self.cases = factory, outbox, cases
        self.reply_window, self.nudge, self.clock = reply_window, nudge, clock

    def _summary(self, c: WeChatConversation, last: WeChatMessage | None) -> dict[str, Any]:
        last_in = aware(c.last_inbound_at)
        reachable = last_in is not None and self.clock() - last_in <= self.reply_window
        return {"id": c.id, "worker": worker_alias(c.openid), "status": c.status, "urgency": c.urgency,
                "needs_reply": c.needs_reply, "case_id": c.case_id, "message_count": c.message_count,
                "started_at": aware(c.started_at), "last_message_at": aware(c.last_message_at),
                "last_inbound_at": last_in, "can_reply": reachable and self.outbox.enabled,
                "last_text": last.text_masked[:120] if last else None,
                "last_author": last.author if last else None}

    def list(self, status: str | None = "open", needs_reply: bool | None = None, case_id: int | None = None,
             limit: int = 50, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        """Waiting for a person first, emergencies first among them, then the most recent."""
        q = select(WeChatConversation)
        if status:
            q = q.where(WeChatConversation.status == status)
        if needs_reply is not None:
            q = q.where(WeChatConversation.needs_reply == needs_reply)
        if case_id is not None:
            q = q.where(WeChatConversation.case_id == case_id)
        order = (WeChatConversation.needs_reply.desc(),
                 case((WeChatConversation.urgency == "emergency", 0), else_=1),
                 WeChatConversation.last_message_at.desc(), WeChatConversation.id.desc())
        with self.factory() as s:
            total = int(s.scalar(select(func.count()).select_from(q.subquery())) or 0)
            convs = list(s.scalars(q.order_by(*order).limit(limit).offset(offset)))
            latest = {}
            if convs:
                newest = (select(func.max(WeChatMessage.id))
                          .where(WeChatMessage.conversation_id.in_([c.id for c in convs]))
                          .group_by(WeChatMessage.conversation_id))
                rows = s.scalars(select(WeChatMessage).where(WeChatMessage.id.in_(newest)))
                latest = {m.conversation_id: m for m in rows}
            return [self._summary(c, latest.get(c.id)) for c in convs], total

    def get(self, conversation_id: int) -> dict[str, Any]:
        with self.factory() as s:
            c = self._conv(s, conversation_id)
            msgs = list(s.scalars(select(WeChatMessage).where(WeChatMessage.conversation_id == conversation_id)
                                  .order_by(WeChatMessage.id)))
            out = self._summary(c, msgs[-1] if msgs else None)
        deliveries = {d["id"]: d for d in self.outbox.for_conversation(conversation_id)}
        out["messages"] = [{"id": m.id, "at": aware(m.at), "direction": m.direction, "kind": m.kind,
                            "author": m.author, "text": m.text_masked,
                            "delivery": _delivery(deliveries.get(m.outbox_id)) if m.outbox_id else None}
                           for m in msgs]
        out["outbox"] = list(deliveries.values())
        out["case"] = self.cases.get(out["case_id"]) if out["case_id"] else None
        return out

    def reply(self, conversation_id: int, text: str, by: str) -> dict[str, Any]:
        """Queue an operator's reply; the sender delivers it (the record keeps the masked text)."""
        now = self.clock()
        with transaction(self.factory) as s:
            c = self._conv(s, conversation_id, lock=True)
            last_in = aware(c.last_inbound_at)
            if last_in is None or now - last_in > self.reply_window:
                raise OutsideWindow("the user last wrote more than 48 hours ago; WeChat will not deliver")
            row = self.outbox.add(s, c.id, c.openid, text, "operator", by)
            s.add(WeChatMessage(conversation_id=c.id, at=now, direction="out", kind="text", author=by,
                                text_masked=mask(text).text, outbox_id=row.id))
            c.message_count += 1
            c.last_message_at = now
            c.needs_reply = False
            if c.case_id is not None:
                kase = s.get(Case, c.case_id, with_for_update=True)
                if kase is not None:
                    if kase.operator == "wechat":  # the first person to answer takes the case
                        kase.operator = by
                    kase.updated_at = now
            outbox_id = row.id
        self.nudge()
        return next(d for d in self.outbox.for_conversation(conversation_id) if d["id"] == outbox_id)

    def close(self, conversation_id: int) -> dict[str, Any]:
        with transaction(self.factory) as s:
            c = self._conv(s, conversation_id, lock=True)
            c.status, c.needs_reply = "closed", False
        return self.get(conversation_id)

    @staticmethod
    def _conv(s: Session, conversation_id: int, lock: bool = False) -> WeChatConversation:
        c = s.get(WeChatConversation, conversation_id, with_for_update=lock)
        if c is None:
            raise NotFound(f"no WeChat conversation {conversation_id}")
        return c


def _delivery(d: dict[str, Any] | None) -> dict[str, Any] | None:
    if d is None:
        return None
    return {"outbox_id": d["id"], "state": d["state"], "attempts": d["attempts"], "last_error": d["last_error"],
            "sent_at": d["sent_at"]}
