"""Sealing personal data that must be kept for a purpose (a worker's call-back number): Fernet authenticated
encryption with a key derived from the deployment's secret (settings ``secret_key``, or a key file created in
the data dir on first use). Sealed values are opaque in the database, its backups and the personal-data scan;
only the case view decrypts them, for the operators who call back."""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from hotline.errors import InvalidRequest


class Sealer:
    def __init__(self, secret: str) -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                   info=b"jishibang personal-data seal v1").derive(secret.encode("utf-8"))
        self._fernet = Fernet(base64.urlsafe_b64encode(key))

    def seal(self, text: str) -> str:
        return self._fernet.encrypt(text.encode("utf-8")).decode("ascii")

    def open(self, sealed: str) -> str | None:
        """The value, or None when it was sealed under another secret (it cannot be read, and is not guessed)."""
        try:
            return self._fernet.decrypt(sealed.encode("ascii")).decode("utf-8")
        except (InvalidToken, ValueError):
            return None


def secret_from(configured: str | None, data_dir: Path) -> str:
    """The configured secret, else one kept in ``data_dir/secret.key`` (created once, readable by the owner only)."""
    if configured:
        return configured
    path = data_dir / "secret.key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(secrets.token_urlsafe(32), encoding="utf-8")
        os.chmod(tmp, 0o600)
        try:
            os.link(tmp, path)  # the first writer wins; another process's key is never overwritten
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
    return path.read_text(encoding="utf-8").strip()


def normalise_phone(raw: str) -> str:
    """A call-back number as digits (mobile or landline with area code), or InvalidRequest."""
    digits = "".join(ch for ch in raw if ch.isdigit())
    if not 7 <= len(digits) <= 15:
        raise InvalidRequest("the call-back number must have 7 to 15 digits",
                                 "回电号码应为 7 到 15 位数字")
    return digits
