"""WeChat's side, for the tests: a small real HTTP server on loopback that speaks the two endpoints of the
customer-service API (GET /cgi-bin/token, POST /cgi-bin/message/custom/send), and the platform's own
signing and sealing of pushed messages, written here from the protocol's rules (消息加解密说明), apart from
hotline/wechat/crypto.py so each checks the other.

The stand-in can expire every token it issued, fail the next N sends (an HTTP 503 or errcode -1), and refuse
an OpenID with a permanent errcode (45015: outside the 48-hour window) to exercise refresh, retry and giving up.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import struct
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

# --- the platform's signing and sealing ---------------------------------------------------------------


def sign(*parts: str) -> str:
    """sha1 over the parts sorted and concatenated (signature / msg_signature)."""
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def aes_key(encoding_aes_key: str) -> bytes:
    return base64.b64decode(encoding_aes_key + "=")


def seal(xml: str, encoding_aes_key: str, app_id: str, prefix: bytes | None = None, pad_to: int = 32) -> str:
    """random(16) + big-endian length(4) + xml + app id, PKCS#7 to 32-byte blocks, AES-256-CBC, IV = key[:16]."""
    key = aes_key(encoding_aes_key)
    body = xml.encode()
    plain = (prefix if prefix is not None else os.urandom(16)) + struct.pack(">I", len(body)) + body + app_id.encode()
    n = pad_to - len(plain) % pad_to
    plain += bytes([n]) * n
    enc = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(enc.update(plain) + enc.finalize()).decode()


def seal_raw(plain: bytes, encoding_aes_key: str) -> str:
    """Encrypt bytes exactly as given (no framing, no padding): for hand-made bad paddings."""
    key = aes_key(encoding_aes_key)
    enc = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(enc.update(plain) + enc.finalize()).decode()


def unseal(encrypted: str, encoding_aes_key: str) -> tuple[str, str]:
    """(xml, app id) of a sealed message (the reply the service sends back)."""
    key = aes_key(encoding_aes_key)
    dec = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    plain = dec.update(base64.b64decode(encrypted)) + dec.finalize()
    n = plain[-1]
    assert 1 <= n <= 32 and plain[-n:] == bytes([n]) * n, "bad padding in the reply"
    plain = plain[:-n]
    (length,) = struct.unpack(">I", plain[16:20])
    return plain[20:20 + length].decode(), plain[20 + length:].decode()


def text_message(openid: str, content: str, msg_id: int, create_time: int, to_user: str = "gh_jishibang01") -> str:
    return (f"<xml><ToUserName><![CDATA[{to_user}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{create_time}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>")


def event_message(openid: str, event: str, create_time: int, to_user: str = "gh_jishibang01") -> str:
    return (f"<xml><ToUserName><![CDATA[{to_user}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{create_time}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
            f"<Event><![CDATA[{event}]]></Event></xml>")


def image_message(openid: str, msg_id: int, create_time: int, to_user: str = "gh_jishibang01") -> str:
    return (f"<xml><ToUserName><![CDATA[{to_user}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{create_time}</CreateTime><MsgType><![CDATA[image]]></MsgType>"
            f"<PicUrl><![CDATA[http://mmbiz.example/pic]]></PicUrl><MediaId><![CDATA[media_1]]></MediaId>"
            f"<MsgId>{msg_id}</MsgId></xml>")


# --- the customer-service API stand-in --------------------------------------------------------------

@dataclass
class StandIn:
    app_id: str
    secret: str
    expires_in: int = 7200
    host: str = "127.0.0.1"
    tokens: dict[str, str] = field(default_factory=dict)  # token -> "valid" | "expired"
    token_calls: int = 0
    sent: list[dict[str, Any]] = field(default_factory=list)  # accepted messages: touser, content, token
    send_calls: int = 0
    refused: dict[str, int] = field(default_factory=dict)  # openid -> permanent errcode
    _failures: list[tuple[str, int]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __enter__(self) -> StandIn:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: Any) -> None:  # keep test output quiet
                pass

            def _reply(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body, ensure_ascii=False).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802
                url = urlsplit(self.path)
                if url.path != "/cgi-bin/token":
                    return self._reply(404, {"errcode": 404, "errmsg": "no such endpoint"})
                self._reply(200, standin._token(parse_qs(url.query)))

            def do_POST(self) -> None:  # noqa: N802
                url = urlsplit(self.path)
                if url.path != "/cgi-bin/message/custom/send":
                    return self._reply(404, {"errcode": 404, "errmsg": "no such endpoint"})
                length = int(self.headers.get("Content-Length") or 0)
                status, body = standin._send(parse_qs(url.query), self.rfile.read(length))
                self._reply(status, body)

        self._server = ThreadingHTTPServer((self.host, 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self._server.server_address[1]}"

    # --- controls ---

    def expire_tokens(self) -> None:
        with self._lock:
            for t in self.tokens:
                self.tokens[t] = "expired"

    def fail_next(self, n: int, how: str = "http", code: int = 503) -> None:
        """The next ``n`` sends fail: how="http" answers HTTP ``code``; how="errcode" answers errcode ``code``."""
        with self._lock:
            self._failures.extend([(how, code)] * n)

    def refuse(self, openid: str, errcode: int) -> None:
        with self._lock:
            self.refused[openid] = errcode

    def messages_to(self, openid: str) -> list[str]:
        with self._lock:
            return [m["content"] for m in self.sent if m["touser"] == openid]

    # --- the endpoints ---

    def _token(self, q: dict[str, list[str]]) -> dict[str, Any]:
        with self._lock:
            self.token_calls += 1
            if q.get("grant_type") != ["client_credential"]:
                return {"errcode": 40002, "errmsg": "invalid grant_type"}
            if q.get("appid") != [self.app_id]:
                return {"errcode": 40013, "errmsg": "invalid appid"}
            if q.get("secret") != [self.secret]:
                return {"errcode": 40125, "errmsg": "invalid appsecret"}
            token = "ACCESS_" + secrets.token_hex(24)
            self.tokens[token] = "valid"
            return {"access_token": token, "expires_in": self.expires_in}

    def _send(self, q: dict[str, list[str]], raw: bytes) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.send_calls += 1
            if self._failures:
                how, code = self._failures.pop(0)
                if how == "http":
                    return code, {"errcode": -1, "errmsg": "gateway error"}
                return 200, {"errcode": code, "errmsg": "system error"}
            token = (q.get("access_token") or [""])[0]
            state = self.tokens.get(token)
            if state is None:
                return 200, {"errcode": 40001, "errmsg": "invalid credential, access_token is invalid or not latest"}
            if state == "expired":
                return 200, {"errcode": 42001, "errmsg": "access_token expired"}
            try:
                body = json.loads(raw.decode("utf-8"))
                touser, content = body["touser"], body["text"]["content"]
                assert body["msgtype"] == "text" and isinstance(content, str) and content
            except (ValueError, KeyError, TypeError, AssertionError):
                return 200, {"errcode": 44002, "errmsg": "empty post data or bad json"}
            if touser in self.refused:
                return 200, {"errcode": self.refused[touser], "errmsg": "refused"}
            self.sent.append({"touser": touser, "content": content, "token": token})
            return 200, {"errcode": 0, "errmsg": "ok"}
