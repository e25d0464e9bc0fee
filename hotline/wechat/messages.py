"""The XML WeChat posts (接收普通消息 / 接收事件推送) and the passive reply it accepts (被动回复用户消息).

Untrusted XML is parsed with defusedxml (no DTDs, no entities, no external references); replies are built
with ElementTree, which escapes text itself.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from xml.etree.ElementTree import Element, ParseError, SubElement, tostring

import defusedxml.ElementTree as SafeXml
from defusedxml import DefusedXmlException

from hotline.wechat.errors import MalformedMessage

# An OpenID is 28 URL-safe characters today; allow some room, nothing else.
_OPENID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# WeChat cuts text replies longer than this (bytes of UTF-8); we stay under it and say where the rest is.
MAX_REPLY_BYTES = 2000
MEDIA_TYPES = ("image", "voice", "video", "shortvideo", "location", "link", "file")


@dataclass(frozen=True, slots=True)
class Inbound:
    """One message or event, as posted (after decryption in safe mode)."""

    to_user: str
    from_user: str  # the worker's OpenID for this account
    create_time: int
    msg_type: str
    msg_id: str | None
    content: str | None = None  # text messages
    event: str | None = None  # event pushes: subscribe, unsubscribe, CLICK ...
    recognition: str | None = None  # voice messages, when speech recognition is on
    title: str | None = None  # link messages

    @property
    def dedupe_key(self) -> str:
        """Messages are unique by MsgId; events carry none and are keyed by sender + CreateTime (as the
        platform recommends for retries). Hashed: the key never holds the OpenID in clear."""
        raw = f"msg:{self.msg_id}" if self.msg_id else f"evt:{self.from_user}:{self.create_time}"
        return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def _fields(body: bytes | str) -> dict[str, str]:
    try:
        root = SafeXml.fromstring(body, forbid_dtd=True)
    except (ParseError, DefusedXmlException, ValueError) as exc:
        raise MalformedMessage(f"not acceptable XML: {type(exc).__name__}") from None
    if root.tag != "xml":
        raise MalformedMessage("the root element is not <xml>")
    return {child.tag: (child.text or "").strip() for child in root if isinstance(child.tag, str)}


def encrypted_part(body: bytes | str) -> str:
    """The Encrypt field of a safe-mode post."""
    encrypt = _fields(body).get("Encrypt")
    if not encrypt:
        raise MalformedMessage("no Encrypt element in a safe-mode message")
    return encrypt


def parse(body: bytes | str) -> Inbound:
    """A message or event; MalformedMessage when required fields are missing or malformed."""
    f = _fields(body)
    missing = [k for k in ("ToUserName", "FromUserName", "CreateTime", "MsgType") if not f.get(k)]
    if missing:
        raise MalformedMessage(f"missing {', '.join(missing)}")
    if not _OPENID.match(f["FromUserName"]):
        raise MalformedMessage("FromUserName is not an OpenID")
    try:
        created = int(f["CreateTime"])
    except ValueError:
        raise MalformedMessage("CreateTime is not a number") from None
    msg_id = f.get("MsgId") or f.get("MsgID") or None
    if msg_id is not None and not msg_id.isdigit():
        raise MalformedMessage("MsgId is not a number")
    msg_type = f["MsgType"].lower()
    if msg_type == "text" and "Content" not in f:
        raise MalformedMessage("a text message without Content")
    return Inbound(to_user=f["ToUserName"][:64], from_user=f["FromUserName"], create_time=created,
                   msg_type=msg_type[:20], msg_id=msg_id, content=f.get("Content"), event=f.get("Event") or None,
                   recognition=f.get("Recognition") or None, title=f.get("Title") or None)


def _xml(fields: list[tuple[str, str]]) -> str:
    root = Element("xml")
    for tag, value in fields:
        SubElement(root, tag).text = value
    return tostring(root, encoding="unicode")


def text_reply(to_user: str, from_user: str, content: str, create_time: int) -> str:
    """A passive text reply (to the worker's OpenID, from the account's original id)."""
    return _xml([("ToUserName", to_user), ("FromUserName", from_user), ("CreateTime", str(create_time)),
                 ("MsgType", "text"), ("Content", fit(content))])


def encrypted_reply(encrypt: str, msg_signature: str, timestamp: str, nonce: str) -> str:
    """The safe-mode envelope of a passive reply."""
    return _xml([("Encrypt", encrypt), ("MsgSignature", msg_signature), ("TimeStamp", timestamp), ("Nonce", nonce)])


def fit(text: str, max_bytes: int = MAX_REPLY_BYTES, tail: str = "……") -> str:
    """``text`` cut (at a character boundary) so its UTF-8 stays within ``max_bytes``."""
    data = text.encode("utf-8")
    if len(data) <= max_bytes:
        return text
    room = max_bytes - len(tail.encode("utf-8"))
    return data[:room].decode("utf-8", errors="ignore") + tail
