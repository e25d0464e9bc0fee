"""Tables of the WeChat channel (same declarative base and database; migration 0004_wechat_channel).

Only masked text is stored. The one exception is an outbound text waiting to be sent: it is sealed
(encrypted with a key derived from the app secret) and erased once it is sent or has finally failed.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from kb.tables import Base, utcnow


class WeChatConversation(Base):
    """Consecutive messages of one user (OpenID) within the conversation window; at most one case."""

    __tablename__ = "wechat_conversations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    openid: Mapped[str] = mapped_column(String(64), index=True)
    # Purging the case (retention) takes its conversation along.
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), nullable=True, index=True)
    status: Mapped[str] = mapped_column(String(20), default="open", index=True)  # open | closed
    urgency: Mapped[str] = mapped_column(String(20), default="normal")
    needs_reply: Mapped[bool] = mapped_column(Boolean, default=False, index=True)  # a person should answer
    message_count: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_message_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    # The customer-service API reaches a user only within 48 hours of their last message.
    last_inbound_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class WeChatMessage(Base):
    """One message in a conversation, either way: the worker's (masked), the assistant's, an operator's."""

    __tablename__ = "wechat_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("wechat_conversations.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    direction: Mapped[str] = mapped_column(String(4))  # in | out
    kind: Mapped[str] = mapped_column(String(20))  # text, image, voice, location ...
    author: Mapped[str] = mapped_column(String(64))  # worker | assistant | the operator's name
    text_masked: Mapped[str] = mapped_column(Text)
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("wechat_outbox.id", ondelete="SET NULL"), nullable=True)


class WeChatInbound(Base):
    """One delivery of a message, keyed so WeChat's retries of it are handled once."""

    __tablename__ = "wechat_inbound"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 of MsgId or sender+CreateTime
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    state: Mapped[str] = mapped_column(String(20), default="processing")  # processing | replied | deferred
    reply: Mapped[str | None] = mapped_column(Text, nullable=True)  # our own text (no worker data)


class WeChatOutbound(Base):
    """A text queued for the customer-service API, with its delivery state."""

    __tablename__ = "wechat_outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("wechat_conversations.id", ondelete="CASCADE"), index=True)
    openid: Mapped[str] = mapped_column(String(64))
    sealed: Mapped[str | None] = mapped_column(Text, nullable=True)  # erased once final
    text_masked: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(20))  # operator | auto (an answer too late for the passive reply)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    state: Mapped[str] = mapped_column(String(20), default="queued", index=True)  # queued | sending | sent | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    claim: Mapped[str | None] = mapped_column(String(32), nullable=True)  # which sender holds it
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(300), nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class WeChatSendAttempt(Base):
    """Every call made to deliver an outbox row, and what came of it."""

    __tablename__ = "wechat_send_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    outbox_id: Mapped[int] = mapped_column(ForeignKey("wechat_outbox.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    attempt: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(20))  # sent | retry | failed
    detail: Mapped[str] = mapped_column(String(300), default="")


class WeChatToken(Base):
    """The current access_token, shared by every API worker (a new one makes the old one lapse after a
    few minutes, so workers fetching their own would keep invalidating each other's)."""

    __tablename__ = "wechat_tokens"

    app_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    access_token: Mapped[str] = mapped_column(Text)  # sealed, like queued text
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    fetched_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
