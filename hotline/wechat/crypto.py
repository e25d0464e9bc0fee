"""WeChat's message security, from the platform's 消息加解密说明 / 接入指南:

- signature = SHA-1 hex of the sorted concatenation of [token, timestamp, nonce] (the GET handshake and
  plaintext POSTs); safe mode signs [token, timestamp, nonce, Encrypt] as msg_signature.
- safe mode: AESKey = base64decode(EncodingAESKey + "=") (32 bytes), AES-256-CBC with IV = AESKey[:16],
  plaintext = 16 random bytes + 4-byte big-endian XML length + XML + app id, PKCS#7-padded to 32 bytes.

Also the outbox seal: queued outbound text is kept encrypted at rest (Fernet, key derived from the app secret)
so the database never holds an operator's verbatim words, only their masked record.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from hotline.wechat.errors import BadCiphertext, BadSignature, SealError, StaleTimestamp, WrongAppId

BLOCK_BITS = 256  # WeChat pads to 32-byte blocks (AES itself works in 16)


def signature(*parts: str) -> str:
    """SHA-1 hex of the parts sorted as strings and joined."""
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()


def check_signature(given: str | None, *parts: str) -> None:
    """Raise BadSignature unless ``given`` is the signature of ``parts`` (constant-time comparison)."""
    if not given or not hmac.compare_digest(given.lower().encode("utf-8"), signature(*parts).encode("ascii")):
        raise BadSignature("signature does not match")


def check_fresh(timestamp: str | None, now: float, window_seconds: float) -> None:
    """Raise StaleTimestamp unless ``timestamp`` (Unix seconds) is within the window of ``now``: a captured
    request replayed later is refused even though its signature is genuine."""
    try:
        sent = int(timestamp or "")
    except ValueError:
        raise StaleTimestamp("timestamp is not a number") from None
    if abs(now - sent) > window_seconds:
        raise StaleTimestamp(f"timestamp {abs(now - sent):.0f} s away from the server clock")


def aes_key(encoding_aes_key: str) -> bytes:
    """The 32-byte AES key from the 43-character EncodingAESKey."""
    if len(encoding_aes_key) != 43 or not encoding_aes_key.isalnum() or not encoding_aes_key.isascii():
        raise ValueError("EncodingAESKey must be 43 letters and digits (as shown in the WeChat console)")
    key = base64.b64decode(encoding_aes_key + "=")
    if len(key) != 32:  # pragma: no cover - 43 base64 characters always decode to 32 bytes
        raise ValueError("EncodingAESKey does not decode to 32 bytes")
    return key


class SafeMode:
    """Encrypt and decrypt message bodies for one app (安全模式)."""

    def __init__(self, encoding_aes_key: str, app_id: str) -> None:
        self.key = aes_key(encoding_aes_key)
        self.iv = self.key[:16]
        self.app_id = app_id.encode("utf-8")

    def _cipher(self) -> Cipher:
        return Cipher(algorithms.AES(self.key), modes.CBC(self.iv))

    def encrypt(self, xml: str, random_prefix: bytes | None = None) -> str:
        """Base64 ciphertext of ``xml``. ``random_prefix`` (16 bytes) only for known-answer tests."""
        prefix = os.urandom(16) if random_prefix is None else random_prefix
        if len(prefix) != 16:
            raise ValueError("the random prefix is 16 bytes")
        body = xml.encode("utf-8")
        padder = padding.PKCS7(BLOCK_BITS).padder()
        plain = padder.update(prefix + struct.pack(">I", len(body)) + body + self.app_id) + padder.finalize()
        enc = self._cipher().encryptor()
        return base64.b64encode(enc.update(plain) + enc.finalize()).decode("ascii")

    def decrypt(self, encrypted: str) -> str:
        """The XML inside ``encrypted``; BadCiphertext or WrongAppId when it is not genuine."""
        try:
            raw = base64.b64decode(encrypted, validate=True)
        except (binascii.Error, ValueError):
            raise BadCiphertext("the Encrypt field is not base64") from None
        if not raw or len(raw) % 16:
            raise BadCiphertext("ciphertext length is not a whole number of AES blocks")
        dec = self._cipher().decryptor()
        plain = dec.update(raw) + dec.finalize()
        unpadder = padding.PKCS7(BLOCK_BITS).unpadder()
        try:
            content = unpadder.update(plain) + unpadder.finalize()
        except ValueError:
            raise BadCiphertext("bad PKCS#7 padding") from None
        if len(content) < 20:
            raise BadCiphertext("decrypted content too short")
        (length,) = struct.unpack(">I", content[16:20])
        if 20 + length > len(content):
            raise BadCiphertext("declared XML length exceeds the content")
        xml, app_id = content[20:20 + length], content[20 + length:]
        if not hmac.compare_digest(app_id, self.app_id):
            raise WrongAppId("message sealed for another app id")
        try:
            return xml.decode("utf-8")
        except UnicodeDecodeError:
            raise BadCiphertext("decrypted XML is not UTF-8") from None


class OutboxSeal:
    """Authenticated encryption of queued outbound text, keyed from the app secret (HKDF-SHA256)."""

    def __init__(self, app_secret: str) -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                   info=b"jishibang wechat outbox v1").derive(app_secret.encode("utf-8"))
        self._fernet = Fernet(base64.urlsafe_b64encode(key))

    def seal(self, text: str) -> str:
        return self._fernet.encrypt(text.encode("utf-8")).decode("ascii")

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode("ascii")).decode("utf-8")
        except (InvalidToken, ValueError):
            raise SealError("queued text cannot be unsealed with the current app secret") from None
