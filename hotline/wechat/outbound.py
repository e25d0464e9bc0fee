"""Messages out: the customer-service message API (客服消息) and the outbox that feeds it.

- ``WeChatClient``: GET {base}/cgi-bin/token for an access_token (shared through the database, cached until
  shortly before expires_in, refreshed when the API says it is invalid or expired: 40001/40014/42001), and
  POST {base}/cgi-bin/message/custom/send.
- ``Outbox``: queued texts. A sender claims a row with one conditional UPDATE, so two API workers never
  send the same row; a sender that dies mid-send loses its lease and the row is retried.
- ``OutboxSender``: one round of sending, exponential back-off for transient failures, a maximum number of
  attempts; every attempt and the final state are recorded (the conversation view shows them).
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from hotline.wechat.crypto import OutboxSeal
from hotline.wechat.errors import ApiFailure, NotConfigured, SealError
from hotline.wechat.tables import WeChatOutbound, WeChatSendAttempt, WeChatToken
from kb.db import aware_utc, transaction
from kb.tables import utcnow
from triage.pii import mask

log = logging.getLogger("jishibang.wechat")

TOKEN_INVALID = {40001: "access_token invalid", 40014: "access_token not valid", 42001: "access_token expired"}
# Errors that another try will not fix: the message is marked failed at once.
PERMANENT = {
    40003: "not a valid OpenID for this account",
    43004: "the user has unfollowed the account",
    45015: "outside the 48-hour customer-service window (the user has not written since)",
    45047: "too many customer-service messages since the user last wrote",
    45002: "message too long",
    48001: "the account may not use the customer-service API (not verified, or no permission)",
}


def aware(ts: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; every stored time is UTC."""
    if ts is None:
        return None
    return aware_utc(ts)


class TokenStore:
    """The access_token in the database (sealed), so every API worker uses the same one."""

    def __init__(self, factory: sessionmaker[Session], app_id: str, seal: OutboxSeal,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.factory, self.app_id, self.seal, self.clock = factory, app_id, seal, clock

    def current(self) -> str | None:
        with self.factory() as s:
            row = s.get(WeChatToken, self.app_id)
            if row is None or aware(row.expires_at) <= self.clock():
                return None
            try:
                return self.seal.open(row.access_token)
            except SealError:  # sealed under an older app secret
                return None

    def save(self, token: str, expires_in: int) -> None:
        # Refresh a little before WeChat's own expiry (it reports 7200 s), never later than it.
        margin = min(300, max(expires_in // 10, 1))
        now = self.clock()
        values = {"access_token": self.seal.seal(token), "expires_at": now + timedelta(seconds=expires_in - margin),
                  "fetched_at": now}
        try:
            with transaction(self.factory) as s:
                row = s.get(WeChatToken, self.app_id)
                if row is None:
                    s.add(WeChatToken(app_id=self.app_id, **values))
                else:
                    for k, v in values.items():
                        setattr(row, k, v)
        except IntegrityError:  # another worker stored one at the same moment: theirs is as good
            pass


class WeChatClient:
    """The customer-service API client. Credentials come from settings; none is ever logged."""

    def __init__(self, base_url: str, app_id: str, app_secret: str, tokens: TokenStore, timeout: float = 10.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.app_id, self._secret, self.tokens = app_id, app_secret, tokens
        self.http = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout, transport=transport)
        self._lock = threading.Lock()
        # httpx logs every request URL at INFO, and these URLs carry the app secret or the access_token.
        for name in ("httpx", "httpcore"):
            logging.getLogger(name).setLevel(max(logging.getLogger(name).level, logging.WARNING))

    def close(self) -> None:
        self.http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            r = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ApiFailure(f"network: {type(exc).__name__}") from None
        if r.status_code != 200:
            raise ApiFailure(f"HTTP {r.status_code}")
        try:
            data = r.json()
        except ValueError:
            raise ApiFailure("the answer is not JSON") from None
        if not isinstance(data, dict):
            raise ApiFailure("the answer is not a JSON object")
        return data

    @staticmethod
    def _errcode(data: dict[str, Any]) -> int:
        try:
            return int(data.get("errcode", 0) or 0)
        except (TypeError, ValueError):
            return -1

    def access_token(self, stale: str | None = None) -> str:
        """The shared token; a new one when there is none, it has expired, or ``stale`` was just refused."""
        with self._lock:
            current = self.tokens.current()
            if current and current != stale:
                return current
            data = self._call("GET", "/cgi-bin/token", params={"grant_type": "client_credential",
                                                               "appid": self.app_id, "secret": self._secret})
            token, expires_in = data.get("access_token"), data.get("expires_in")
            if not isinstance(token, str) or not token:
                code = self._errcode(data)
                raise ApiFailure(f"token refused: errcode {code} {str(data.get('errmsg', ''))[:80]}".strip(), code)
            try:
                seconds = int(expires_in)
            except (TypeError, ValueError):
                seconds = 7200
            self.tokens.save(token, max(seconds, 60))
            return token

    def _send(self, token: str, openid: str, content: str) -> int:
        body = {"touser": openid, "msgtype": "text", "text": {"content": content}}
        data = self._call("POST", "/cgi-bin/message/custom/send", params={"access_token": token},
                          content=json.dumps(body, ensure_ascii=False).encode("utf-8"),
                          headers={"Content-Type": "application/json; charset=utf-8"})
        code = self._errcode(data)
        if code not in (0, *TOKEN_INVALID):
            detail = PERMANENT.get(code) or str(data.get("errmsg", ""))[:120]
            raise ApiFailure(f"errcode {code}: {detail}", code, transient=code not in PERMANENT)
        return code

    def send_text(self, openid: str, content: str) -> str:
        """Send one text message; returns a note for the record (e.g. that the token was refreshed)."""
        token = self.access_token()
        code = self._send(token, openid, content)
        if code == 0:
            return "ok"
        refreshed = self.access_token(stale=token)
        if self._send(refreshed, openid, content) in TOKEN_INVALID:
            raise ApiFailure(f"errcode {code}: {TOKEN_INVALID[code]} even after a refresh", code)
        return f"ok after refreshing the access_token (errcode {code}: {TOKEN_INVALID[code]})"


@dataclass(frozen=True, slots=True)
class Claimed:
    id: int
    conversation_id: int
    openid: str
    sealed: str | None
    attempts: int  # before this one
    claim: str


def outbox_dict(o: WeChatOutbound, attempts: list[WeChatSendAttempt]) -> dict[str, Any]:
    return {"id": o.id, "conversation_id": o.conversation_id, "kind": o.kind, "text": o.text_masked,
            "created_by": o.created_by, "created_at": aware(o.created_at), "state": o.state, "attempts": o.attempts,
            "next_attempt_at": aware(o.next_attempt_at) if o.state == "queued" else None,
            "last_error": o.last_error, "sent_at": aware(o.sent_at),
            "log": [{"at": aware(a.at), "attempt": a.attempt, "outcome": a.outcome, "detail": a.detail}
                    for a in attempts]}


class Outbox:
    def __init__(self, factory: sessionmaker[Session], seal: OutboxSeal | None,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.factory, self.seal, self.clock = factory, seal, clock

    @property
    def enabled(self) -> bool:
        return self.seal is not None

    def add(self, s: Session, conversation_id: int, openid: str, text: str, kind: str, by: str) -> WeChatOutbound:
        """Queue ``text`` inside the caller's transaction (sealed; the record keeps the masked text)."""
        if self.seal is None:
            raise NotConfigured("sending needs wechat_app_id and wechat_app_secret")
        row = WeChatOutbound(conversation_id=conversation_id, openid=openid, sealed=self.seal.seal(text),
                             text_masked=mask(text).text, kind=kind, created_by=by, created_at=self.clock(),
                             state="queued", attempts=0, next_attempt_at=self.clock())
        s.add(row)
        s.flush()
        return row

    def _due(self, now: datetime):  # type: ignore[no-untyped-def]
        return or_(and_(WeChatOutbound.state == "queued", WeChatOutbound.next_attempt_at <= now),
                   and_(WeChatOutbound.state == "sending", WeChatOutbound.lease_until < now))

    def claim(self, limit: int = 10, lease_seconds: float = 120.0) -> list[Claimed]:
        """Rows due now, each taken by one conditional UPDATE: whoever changes the row owns it."""
        now = self.clock()
        with self.factory() as s:
            ids = list(s.scalars(select(WeChatOutbound.id).where(self._due(now))
                                 .order_by(WeChatOutbound.next_attempt_at, WeChatOutbound.id).limit(limit)))
        out = []
        for oid in ids:
            token = secrets.token_hex(16)
            with transaction(self.factory) as s:
                taken = s.execute(
                    update(WeChatOutbound).where(WeChatOutbound.id == oid, self._due(now))
                    .values(state="sending", claim=token, lease_until=now + timedelta(seconds=lease_seconds))
                    .execution_options(synchronize_session=False)).rowcount
                if taken != 1:
                    continue  # another sender got there first
                row = s.get(WeChatOutbound, oid)
                assert row is not None
                out.append(Claimed(row.id, row.conversation_id, row.openid, row.sealed, row.attempts, token))
        return out

    def finish(self, c: Claimed, outcome: str, detail: str, retry_at: datetime | None = None) -> bool:
        """Record one attempt: 'sent', 'retry' (at ``retry_at``) or 'failed'. The verbatim text is erased once
        the row is final. False when the claim was lost meanwhile (nothing recorded)."""
        now = self.clock()
        with transaction(self.factory) as s:
            row = s.get(WeChatOutbound, c.id)
            if row is None or row.claim != c.claim:
                return False
            attempt = c.attempts + 1
            row.attempts, row.claim, row.lease_until = attempt, None, None
            if outcome == "sent":
                row.state, row.sent_at, row.sealed, row.last_error = "sent", now, None, None
            elif outcome == "retry":
                row.state, row.next_attempt_at, row.last_error = "queued", retry_at or now, detail[:300]
            else:
                row.state, row.sealed, row.last_error = "failed", None, detail[:300]
            s.add(WeChatSendAttempt(outbox_id=c.id, at=now, attempt=attempt, outcome=outcome, detail=detail[:300]))
        return True

    def for_conversation(self, conversation_id: int) -> list[dict[str, Any]]:
        with self.factory() as s:
            rows = list(s.scalars(select(WeChatOutbound).where(WeChatOutbound.conversation_id == conversation_id)
                                  .order_by(WeChatOutbound.id)))
            logs: dict[int, list[WeChatSendAttempt]] = {r.id: [] for r in rows}
            if rows:
                for a in s.scalars(select(WeChatSendAttempt).where(WeChatSendAttempt.outbox_id.in_(list(logs)))
                                   .order_by(WeChatSendAttempt.id)):
                    logs[a.outbox_id].append(a)
            return [outbox_dict(r, logs[r.id]) for r in rows]


class OutboxSender:
    """One round: claim due rows, send each, record the outcome; back-off base * 2^(n-1), capped."""

    def __init__(self, outbox: Outbox, client: WeChatClient, max_attempts: int = 6, base_delay: float = 5.0,
                 max_delay: float = 600.0) -> None:
        if outbox.seal is None:
            raise NotConfigured("the outbox has no seal")
        self.outbox, self.client, self.seal = outbox, client, outbox.seal
        self.max_attempts, self.base_delay, self.max_delay = max_attempts, base_delay, max_delay

    def delay(self, attempt: int) -> float:
        return min(self.base_delay * 2 ** (attempt - 1), self.max_delay)

    def run_once(self) -> int:
        done = 0
        for c in self.outbox.claim():
            attempt = c.attempts + 1
            try:
                if c.sealed is None:
                    raise SealError("nothing left to send")
                note = self.client.send_text(c.openid, self.seal.open(c.sealed))
            except SealError as exc:
                self.outbox.finish(c, "failed", str(exc))
            except ApiFailure as exc:
                self._failed(c, attempt, exc.detail, exc.transient)
            except Exception as exc:  # a bug or an unexpected answer: retried like a transient failure
                log.error("official account: send failed unexpectedly: %s", type(exc).__name__)
                self._failed(c, attempt, f"unexpected {type(exc).__name__}", True)
            else:
                self.outbox.finish(c, "sent", note)
            done += 1
        return done

    def _failed(self, c: Claimed, attempt: int, detail: str, transient: bool) -> None:
        if transient and attempt < self.max_attempts:
            wait = self.delay(attempt)
            self.outbox.finish(c, "retry", f"{detail}; next try in {wait:g} s",
                               self.outbox.clock() + timedelta(seconds=wait))
        else:
            reason = detail if not transient else f"{detail}; gave up after {attempt} attempts"
            self.outbox.finish(c, "failed", reason)
            log.warning("official account: outbox %d failed: %s", c.id, reason)
