"""The WeChat channel put together: request checks (signature, replay window, safe-mode decryption), the
passive reply in the mode the message came in, and the background loop that sends the outbox."""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from hotline.assist import Assistant, Contacts
from hotline.cases import CaseStore
from hotline.wechat import messages
from hotline.wechat.channel import Channel
from hotline.wechat.conversations import Conversations
from hotline.wechat.crypto import OutboxSeal, SafeMode, check_fresh, check_signature, signature
from hotline.wechat.errors import BadCiphertext, NotConfigured
from hotline.wechat.messages import Inbound
from hotline.wechat.outbound import Outbox, OutboxSender, TokenStore, WeChatClient

log = logging.getLogger("jishibang.wechat")


@dataclass(frozen=True)
class WeChatConfig:
    """The channel's settings (read from the environment by api/settings.py, handed over here)."""

    token: str | None = None
    app_id: str | None = None
    app_secret: str | None = None
    aes_key: str | None = None
    api_base: str = "https://api.weixin.qq.com"
    conversation_minutes: float = 60
    reply_window_hours: float = 48
    reply_budget_seconds: float = 4.0
    replay_window_seconds: float = 300
    send_max_attempts: int = 6
    retry_base_seconds: float = 5.0
    retry_max_seconds: float = 600.0
    outbox_poll_seconds: float = 2.0
    http_timeout_seconds: float = 10.0


class WeChat:
    def __init__(self, config: WeChatConfig, factory: sessionmaker[Session], assistant: Assistant,
                 cases: CaseStore, contacts: Contacts) -> None:
        self.config = config
        if config.aes_key and not config.app_id:
            raise ValueError("wechat_aes_key needs wechat_app_id (the app id is checked in every message)")
        self.safe_mode = SafeMode(config.aes_key, config.app_id or "") if config.aes_key else None
        sending = bool(config.app_id and config.app_secret)
        seal = OutboxSeal(config.app_secret or "") if sending else None
        self.outbox = Outbox(factory, seal)
        self.client: WeChatClient | None = None
        self.sender: OutboxSender | None = None
        if seal is not None:
            self.client = WeChatClient(config.api_base, config.app_id or "", config.app_secret or "",
                                       TokenStore(factory, config.app_id or "", seal), config.http_timeout_seconds)
            self.sender = OutboxSender(self.outbox, self.client, config.send_max_attempts,
                                       config.retry_base_seconds, config.retry_max_seconds)
        self.channel = Channel(factory, assistant, cases, self.outbox, contacts,
                               timedelta(minutes=config.conversation_minutes), nudge=self.nudge)
        self.conversations = Conversations(factory, self.outbox, cases, timedelta(hours=config.reply_window_hours),
                                           nudge=self.nudge)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None

    @property
    def receiving(self) -> bool:
        return bool(self.config.token)

    def _token(self) -> str:
        if not self.config.token:
            raise NotConfigured("set wechat_token to receive messages")
        return self.config.token

    # --- requests from WeChat ------------------------------------------------------------------------

    def verify_handshake(self, sig: str | None, timestamp: str | None, nonce: str | None, now: float) -> None:
        check_signature(sig, self._token(), timestamp or "", nonce or "")
        check_fresh(timestamp, now, self.config.replay_window_seconds)

    def open_post(self, body: bytes, *, sig: str | None, timestamp: str | None, nonce: str | None,
                  encrypt_type: str | None, msg_signature: str | None, now: float) -> tuple[Inbound, bool]:
        """The message in a POST, after its checks; True when it came encrypted (the reply must be too)."""
        token = self._token()
        if (encrypt_type or "raw").lower() == "aes":
            if self.safe_mode is None:
                raise BadCiphertext("an encrypted message, but no wechat_aes_key is configured")
            encrypt = messages.encrypted_part(body)
            check_signature(msg_signature, token, timestamp or "", nonce or "", encrypt)
            check_fresh(timestamp, now, self.config.replay_window_seconds)
            return messages.parse(self.safe_mode.decrypt(encrypt)), True
        check_signature(sig, token, timestamp or "", nonce or "")
        check_fresh(timestamp, now, self.config.replay_window_seconds)
        return messages.parse(body), False

    def render(self, msg: Inbound, text: str, encrypted: bool, now: float) -> str:
        """The passive reply XML (sealed in safe mode, signed with a fresh timestamp and nonce)."""
        xml = messages.text_reply(msg.from_user, msg.to_user, text, int(now))
        if not encrypted or self.safe_mode is None:
            return xml
        timestamp, nonce = str(int(now)), str(secrets.randbelow(10**9))
        encrypt = self.safe_mode.encrypt(xml)
        return messages.encrypted_reply(encrypt, signature(self._token(), timestamp, nonce, encrypt), timestamp, nonce)

    # --- the outbox sender ---------------------------------------------------------------------------

    def nudge(self) -> None:
        """Wake the sender now (from any thread): an operator's reply should not wait for the next poll."""
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            try:
                loop.call_soon_threadsafe(wake.set)
            except RuntimeError:  # the loop has closed (shutdown)
                pass

    async def run(self, stop: asyncio.Event) -> None:
        """Send due outbox rows every poll interval (or at once when nudged); forget old deliveries."""
        self._loop, self._wake = asyncio.get_running_loop(), asyncio.Event()
        rounds = 0
        while not stop.is_set():
            self._wake.clear()
            try:
                if self.sender is not None:
                    await asyncio.to_thread(self.sender.run_once)
                if rounds % 300 == 0:
                    await asyncio.to_thread(self.channel.prune, timedelta(days=1))
            except Exception as exc:  # the loop must outlive a database hiccup
                log.error("official account: outbox round failed: %s", type(exc).__name__)
            rounds += 1
            waits = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())]
            _, pending = await asyncio.wait(waits, timeout=self.config.outbox_poll_seconds,
                                            return_when=asyncio.FIRST_COMPLETED)
            for w in pending:
                w.cancel()

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
