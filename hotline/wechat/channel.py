"""One received WeChat message: handled once (WeChat retries the same MsgId), masked before anything is
stored, triaged, and then answered from published entries when the match is good (the worker-facing
``Assistant.faq``), or acknowledged and queued for the operators as a case. Emergencies are answered at once
with 110/120/12356 and flagged. Consecutive messages of one user within the window join one conversation
and one case.

The reply normally goes back as WeChat's passive reply; when the request's time budget runs out first, the
request answers "success" and the reply goes out through the outbox (``Delivery`` hands it over safely).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from hotline.assist import Assistant, Contacts
from hotline.cases import CaseStore
from hotline.tables import Case
from hotline.wechat import replies
from hotline.wechat.messages import Inbound
from hotline.wechat.outbound import Outbox, aware
from hotline.wechat.tables import WeChatConversation, WeChatInbound, WeChatMessage
from kb.db import transaction
from kb.tables import utcnow
from triage.pii import mask

log = logging.getLogger("jishibang.wechat")

URGENCY_RANK = {"low": 0, "normal": 1, "high": 2, "emergency": 3}


class Delivery:
    """Hands the reply from the thread that computed it to the request that waits for it, unless the request
    gave up first (its time budget ran out); then the thread sends it through the outbox instead. Exactly
    one of the two ever delivers it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._done = False
        self._abandoned = False
        self._reply: str | None = None

    def fulfil(self, reply: str | None) -> bool:
        """True when the waiting request will deliver ``reply``; False when it has given up."""
        with self._lock:
            if self._abandoned:
                return False
            self._done, self._reply = True, reply
            return True

    def take(self) -> tuple[bool, str | None]:
        """(True, reply) when the reply is ready; otherwise (False, None), and the request has given up."""
        with self._lock:
            if self._done:
                return True, self._reply
            self._abandoned = True
            return False, None


@dataclass(frozen=True, slots=True)
class Received:
    """What the dedupe table says about a delivery: the first one, or a retry (with the stored reply)."""

    first: bool
    state: str
    reply: str | None


@dataclass(frozen=True, slots=True)
class Reply:
    text: str
    conversation_id: int | None
    message_id: int | None


class Channel:
    def __init__(self, factory: sessionmaker[Session], assistant: Assistant, cases: CaseStore, outbox: Outbox,
                 contacts: Contacts, window: timedelta, nudge: Callable[[], None] = lambda: None,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.factory, self.assistant, self.cases, self.outbox = factory, assistant, cases, outbox
        self.contacts, self.window, self.nudge, self.clock = contacts, window, nudge, clock

    # --- once per MsgId ------------------------------------------------------------------------------

    def claim(self, msg: Inbound) -> Received:
        try:
            with transaction(self.factory) as s:
                s.add(WeChatInbound(dedupe_key=msg.dedupe_key, received_at=self.clock(), state="processing"))
            return Received(True, "processing", None)
        except IntegrityError:
            with self.factory() as s:
                row = s.scalar(select(WeChatInbound).where(WeChatInbound.dedupe_key == msg.dedupe_key))
            if row is None:  # released meanwhile (the first delivery failed): let WeChat try again later
                return Received(False, "processing", None)
            return Received(False, row.state, row.reply if row.state == "replied" else None)

    def _settle(self, msg: Inbound, state: str, reply: str | None) -> None:
        with transaction(self.factory) as s:
            s.execute(update(WeChatInbound).where(WeChatInbound.dedupe_key == msg.dedupe_key)
                      .values(state=state, reply=reply).execution_options(synchronize_session=False))

    def _release(self, msg: Inbound) -> None:
        with transaction(self.factory) as s:
            s.execute(delete(WeChatInbound).where(WeChatInbound.dedupe_key == msg.dedupe_key))

    def prune(self, older_than: timedelta) -> int:
        """Forget deliveries older than WeChat's retry horizon (minutes); keeps the dedupe table small."""
        with transaction(self.factory) as s:
            cutoff = self.clock() - older_than
            return s.execute(delete(WeChatInbound).where(WeChatInbound.received_at < cutoff)).rowcount

    # --- one message ---------------------------------------------------------------------------------

    def process(self, msg: Inbound, delivery: Delivery) -> None:
        """Handle a claimed message and hand its reply to ``delivery`` (or to the outbox when too late)."""
        try:
            reply = self._respond(msg)
        except Exception as exc:  # nothing was stored reliably: say so, and let a resend be handled afresh
            log.error("official account: message not handled: %s", type(exc).__name__)
            self._release(msg)
            delivery.fulfil(replies.not_saved(self.contacts))
            return
        if reply is None:
            delivery.fulfil(None)
            self._settle(msg, "replied", None)
        elif delivery.fulfil(reply.text):
            self._settle(msg, "replied", reply.text)
        else:
            self._defer(msg, reply)

    def _defer(self, msg: Inbound, reply: Reply) -> None:
        """The passive reply came too late: send the same text through the customer-service API."""
        if reply.conversation_id is None or not self.outbox.enabled:
            log.warning("official account: reply too late and no way to send it later (sending %s)",
                        "configured" if self.outbox.enabled else "not configured")
            self._settle(msg, "deferred", None)
            return
        log.info("official account: answer missed the reply budget; it goes out through the outbox")
        with transaction(self.factory) as s:
            row = self.outbox.add(s, reply.conversation_id, msg.from_user, reply.text, "auto", "assistant")
            if reply.message_id is not None:
                s.execute(update(WeChatMessage).where(WeChatMessage.id == reply.message_id)
                          .values(outbox_id=row.id).execution_options(synchronize_session=False))
        self._settle(msg, "deferred", None)
        self.nudge()

    def _respond(self, msg: Inbound) -> Reply | None:
        if msg.msg_type == "event":
            event = (msg.event or "").lower()
            if event == "subscribe":
                return Reply(replies.welcome(self.contacts), None, None)
            if event == "unsubscribe":
                self._close_all(msg.from_user)
            return None  # menu clicks, scans, location reports: nothing to say
        words = msg.content if msg.msg_type == "text" else msg.recognition if msg.msg_type == "voice" else None
        if words is not None and words.strip():
            return self._text(msg, words)
        return self._media(msg)

    def _text(self, msg: Inbound, words: str) -> Reply:
        masked = mask(words).text
        try:
            faq = self.assistant.faq(words)
        except Exception as exc:  # a text triage refuses (too long ...) or a model failure: a person reads it
            log.warning("official account: message not analysed (%s): queued for operators", type(exc).__name__)
            faq = None
        emergency = bool(faq and faq.emergency)
        tier = faq.tier if faq is not None else "none"
        conv_id, case_id = self._record_inbound(msg, "text" if msg.msg_type == "text" else "voice", masked)
        if emergency or tier != "confident":
            # Not a confident answer: the message is a case in the operators' queue (a likely answer is
            # still sent, and a person checks it).
            joined = case_id is not None
            self._case_for(conv_id, case_id, masked, emergency, words=words)
            if emergency:
                text_out = replies.emergency(faq, self.contacts)
            elif tier == "likely" and faq is not None:
                text_out = replies.likely(faq, self.contacts)
            else:
                text_out = replies.joined(self.contacts) if joined else replies.queued(self.contacts)
            needs_reply = emergency or tier == "none"
        else:
            assert faq is not None
            if case_id is not None:  # an answered follow-up still belongs to the case being handled
                self._append_to_case(case_id, masked, "normal")
            text_out = replies.answer(faq.answers[0].entry, self.contacts)
            if faq.support:
                text_out += "\n" + faq.support
            needs_reply = False
        msg_id = self._record_reply(conv_id, text_out, needs_reply, "emergency" if emergency else None)
        return Reply(text_out, conv_id, msg_id)

    def _media(self, msg: Inbound) -> Reply:
        name = replies.MEDIA_NAMES.get(msg.msg_type, "消息")
        note = f"[{name}]"
        if msg.msg_type == "link" and msg.title:
            note += " " + mask(msg.title).text[:200]
        conv_id, case_id = self._record_inbound(msg, msg.msg_type, note)
        # Locations and media are not kept: only that something was sent (the operator asks for details).
        self._case_for(conv_id, case_id, note, False)
        text_out = replies.media(msg.msg_type, self.contacts)
        msg_id = self._record_reply(conv_id, text_out, True, None)
        return Reply(text_out, conv_id, msg_id)

    # --- conversations and cases ---------------------------------------------------------------------

    def _conversation(self, s: Session, openid: str, now: datetime) -> WeChatConversation:
        """The user's open conversation if its last message is within the window, else a new one."""
        if s.get_bind().dialect.name == "postgresql":
            # Two messages of one user on two workers: one waits, then joins the conversation the other made.
            s.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": "wechat:" + openid})
        conv = s.scalar(select(WeChatConversation)
                        .where(WeChatConversation.openid == openid, WeChatConversation.status == "open")
                        .order_by(WeChatConversation.id.desc()).limit(1).with_for_update())
        if conv is None or aware(conv.last_message_at) < now - self.window:  # type: ignore[operator]
            conv = WeChatConversation(openid=openid, status="open", urgency="normal", needs_reply=False,
                                      message_count=0, started_at=now, last_message_at=now, last_inbound_at=now)
            s.add(conv)
            s.flush()
        return conv

    def _record_inbound(self, msg: Inbound, kind: str, masked: str) -> tuple[int, int | None]:
        now = self.clock()
        with transaction(self.factory) as s:
            conv = self._conversation(s, msg.from_user, now)
            s.add(WeChatMessage(conversation_id=conv.id, at=now, direction="in", kind=kind[:20], author="worker",
                                text_masked=masked))
            conv.message_count += 1
            conv.last_message_at = conv.last_inbound_at = now
            return conv.id, conv.case_id

    def _record_reply(self, conv_id: int, text_out: str, needs_reply: bool, urgency: str | None) -> int:
        now = self.clock()
        with transaction(self.factory) as s:
            conv = s.get(WeChatConversation, conv_id, with_for_update=True)  # counters: no lost updates
            assert conv is not None
            row = WeChatMessage(conversation_id=conv_id, at=now, direction="out", kind="text", author="assistant",
                                text_masked=mask(text_out).text)
            s.add(row)
            conv.message_count += 1
            conv.last_message_at = now
            conv.needs_reply = conv.needs_reply or needs_reply
            if urgency and URGENCY_RANK.get(urgency, 0) > URGENCY_RANK.get(conv.urgency, 0):
                conv.urgency = urgency
            s.flush()
            return row.id

    def _case_for(self, conv_id: int, case_id: int | None, masked: str, emergency: bool,
                  words: str | None = None) -> int:
        """The conversation's case: the new text appended to it, or a new case in the operators' queue
        (issue types, urgency, referral, district and platform from triage of ``words`` when given)."""
        if case_id is not None:
            self._append_to_case(case_id, masked, "emergency" if emergency else "normal")
            return case_id
        fields: dict[str, Any] = {"issue_types": [], "urgency": "emergency" if emergency else "normal"}
        if words is not None:
            try:  # the embedding is cached from the answer just computed, so this is cheap
                result = self.assistant.triage(words)
                ents = result.entities
                fields = {"issue_types": result.labels, "urgency": result.urgency.level,
                          "referral": result.referrals[0].target if result.referrals else None,
                          "district": ents.districts[0] if ents.districts else None,
                          "platform": ents.platforms[0] if ents.platforms else None}
                if emergency:
                    fields["urgency"] = "emergency"
            except Exception as exc:
                log.warning("official account: case saved without triage (%s)", type(exc).__name__)
        case = self.cases.create(channel="wechat", operator="wechat", text=masked, **fields)
        with transaction(self.factory) as s:
            linked = s.execute(update(WeChatConversation)
                               .where(WeChatConversation.id == conv_id, WeChatConversation.case_id.is_(None))
                               .values(case_id=case["id"]).execution_options(synchronize_session=False)).rowcount
            if linked:
                return int(case["id"])
            # Another message of the same conversation made the case meanwhile: keep that one.
            s.execute(delete(Case).where(Case.id == case["id"]))
            winner = s.get(WeChatConversation, conv_id)
            assert winner is not None and winner.case_id is not None
            other = winner.case_id
        self._append_to_case(other, masked, fields["urgency"])
        return other

    def _append_to_case(self, case_id: int, masked: str, urgency: str) -> None:
        with transaction(self.factory) as s:
            case = s.get(Case, case_id, with_for_update=True)  # two follow-ups at once both land
            if case is None:
                return
            case.text_masked = f"{case.text_masked}\n{mask(masked).text}"
            if URGENCY_RANK.get(urgency, 0) > URGENCY_RANK.get(case.urgency, 0):
                case.urgency = urgency
            if case.status == "closed":  # the worker wrote again: back in the queue
                case.status = "open"
            case.updated_at = self.clock()

    def _close_all(self, openid: str) -> None:
        """An unfollow: the user can no longer be reached, so nothing is left for an operator to answer."""
        with transaction(self.factory) as s:
            s.execute(update(WeChatConversation)
                      .where(WeChatConversation.openid == openid, WeChatConversation.status == "open")
                      .values(status="closed", needs_reply=False).execution_options(synchronize_session=False))
