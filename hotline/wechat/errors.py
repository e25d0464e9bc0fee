"""Errors of the WeChat channel; the API maps them to HTTP statuses (and WeChat only ever sees 200s
for genuine deliveries)."""

from __future__ import annotations


class WeChatError(Exception):
    """Base class."""


class NotConfigured(WeChatError):
    """The channel (or the sending half of it) has no credentials in the settings."""


class BadSignature(WeChatError):
    """The signature does not match: not from WeChat, or a different token."""


class StaleTimestamp(WeChatError):
    """The timestamp lies outside the accepted window: a replayed (or badly clocked) request."""


class MalformedMessage(WeChatError):
    """Not the XML WeChat sends: unparsable, a DTD or entities, or required fields missing."""


class BadCiphertext(WeChatError):
    """The encrypted part does not decrypt: not base64, wrong length, bad PKCS#7 padding."""


class WrongAppId(BadCiphertext):
    """It decrypts, but the message was sealed for another app id."""


class SealError(WeChatError):
    """A queued outbound text cannot be unsealed (the app secret changed since it was queued)."""


class OutsideWindow(WeChatError):
    """The customer-service API only reaches a user who wrote within the last 48 hours."""


class ApiFailure(WeChatError):
    """The customer-service API (or the network to it) refused a call."""

    def __init__(self, detail: str, errcode: int | None = None, transient: bool = True) -> None:
        super().__init__(detail)
        self.detail, self.errcode, self.transient = detail, errcode, transient
