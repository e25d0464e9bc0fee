"""Users, sign-in tokens and API keys.

Passwords are hashed with argon2 (argon2-cffi); tokens and keys are random and stored only as their
SHA-256, so a copy of the database does not let anyone sign in.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from hotline.errors import AuthError, InvalidRequest, NotFound
from hotline.tables import ApiKey, SignIn, User
from kb.db import aware_utc, transaction
from kb.schema import PERSONAL_KINDS
from triage.pii import detect, mask

ROLES = ("operator", "staff", "admin", "enterprise")
_hasher = PasswordHasher()
# Checked against when the name is unknown, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a signed-in user or an API key."""

    name: str
    role: str
    platform: str | None = None
    via: str = "token"  # token | key


def _personal(text: str | None) -> bool:
    """A number that is someone's (phone, ID, card, plate): never acceptable as a name shown everywhere."""
    return bool(text) and any(s.kind in PERSONAL_KINDS | {"landline"} for s in detect(text or ""))


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()



def check_role(role: str, platform: str | None) -> str | None:
    if role not in ROLES:
        raise InvalidRequest(f"unknown role {role!r}; allowed: {', '.join(ROLES)}",
                                 f"未知的角色：{role}；可选：{'、'.join(ROLES)}")
    if role == "enterprise" and not platform:
        raise InvalidRequest("an enterprise account needs its platform (e.g. 美团)",
                                 "企业账号需要填写所属平台（例如 美团）")
    return platform if role == "enterprise" else None


class Accounts:
    def __init__(self, factory: sessionmaker[Session], token_hours: float = 12.0) -> None:
        self.factory = factory
        self.token_ttl = timedelta(hours=token_hours)

    def add_user(self, name: str, role: str, password: str, platform: str | None = None) -> Principal:
        platform = check_role(role, platform)
        if _personal(name) or _personal(platform):
            # A name is shown in cases, audit and pages as it is, so it cannot be masked: refuse it instead.
            raise InvalidRequest("a user name or platform must not be personal data (a phone number, ID number ...)",
                                 "用户名或平台名不能是个人信息（手机号、身份证号等）")
        if len(password) < 8:
            raise InvalidRequest("password must be at least 8 characters",
                                 "密码至少 8 位")
        try:
            with transaction(self.factory) as s:
                s.add(User(name=name, role=role, platform=platform, password_hash=_hasher.hash(password)))
        except IntegrityError:
            raise InvalidRequest(f"a user named {name!r} already exists",
                                 f"用户名 {name} 已存在") from None
        return Principal(name, role, platform)

    def users(self) -> list[dict[str, object]]:
        with self.factory() as s:
            return [{"name": u.name, "role": u.role, "platform": u.platform, "active": u.active,
                     "created_at": aware_utc(u.created_at)} for u in s.scalars(select(User).order_by(User.id))]

    def has_users(self) -> bool:
        with self.factory() as s:
            return s.scalar(select(User.id).limit(1)) is not None

    def set_active(self, name: str, active: bool) -> None:
        with transaction(self.factory) as s:
            user = s.scalar(select(User).where(User.name == name))
            if user is None:
                raise NotFound(f"no user {name!r}")
            user.active = active
            if not active:
                for sign_in in s.scalars(select(SignIn).where(SignIn.user_id == user.id)):
                    sign_in.revoked = True

    def sign_in(self, name: str, password: str) -> tuple[str, datetime, Principal]:
        """A new bearer token for the user, valid for the configured hours."""
        with self.factory() as s:
            user = s.scalar(select(User).where(User.name == name))
        try:
            _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
        except (VerificationError, InvalidHashError):
            raise AuthError("wrong name or password") from None
        if user is None or not user.active:
            raise AuthError("wrong name or password")
        token = "jst_" + secrets.token_urlsafe(32)
        expires = datetime.now(timezone.utc) + self.token_ttl
        with transaction(self.factory) as s:
            s.add(SignIn(token_hash=_digest(token), user_id=user.id, expires_at=expires))
            if _hasher.check_needs_rehash(user.password_hash):
                s.get(User, user.id).password_hash = _hasher.hash(password)  # type: ignore[union-attr]
        return token, expires, Principal(user.name, user.role, user.platform)

    def sign_out(self, token: str) -> None:
        with transaction(self.factory) as s:
            row = s.scalar(select(SignIn).where(SignIn.token_hash == _digest(token)))
            if row is not None:
                row.revoked = True

    def add_key(self, role: str, created_by: str, platform: str | None = None, label: str = "") -> str:
        """A new API key, returned once (only its hash is kept)."""
        platform = check_role(role, platform)
        if _personal(platform):
            raise InvalidRequest("a platform must not be personal data (a phone number, ID number ...)",
                                 "平台名不能是个人信息（手机号、身份证号等）")
        key = "jsk_" + secrets.token_urlsafe(32)
        with transaction(self.factory) as s:
            s.add(ApiKey(key_hash=_digest(key), prefix=key[:10], role=role, platform=platform, label=mask(label).text[:100],
                         created_by=created_by))
        return key

    def keys(self) -> list[dict[str, object]]:
        with self.factory() as s:
            return [{"id": k.id, "prefix": k.prefix, "role": k.role, "platform": k.platform, "label": k.label,
                     "created_by": k.created_by, "created_at": aware_utc(k.created_at), "revoked": k.revoked}
                    for k in s.scalars(select(ApiKey).order_by(ApiKey.id))]

    def revoke_key(self, key_id: int) -> None:
        with transaction(self.factory) as s:
            row = s.get(ApiKey, key_id)
            if row is None:
                raise NotFound(f"no API key {key_id}")
            row.revoked = True

    def resolve(self, bearer: str) -> Principal:
        """The principal behind a sign-in token or an API key."""
        digest = _digest(bearer)
        with self.factory() as s:
            if bearer.startswith("jsk_"):
                key = s.scalar(select(ApiKey).where(ApiKey.key_hash == digest))
                if key is None or key.revoked:
                    raise AuthError("unknown or revoked API key")
                return Principal(f"key:{key.prefix}", key.role, key.platform, via="key")
            # The sign-in and its user in one query: this runs on every signed-in request.
            found = s.execute(select(SignIn, User).outerjoin(User, User.id == SignIn.user_id)
                              .where(SignIn.token_hash == digest)).first()
            row, user = (found[0], found[1]) if found is not None else (None, None)
            if row is None or row.revoked:
                raise AuthError("unknown or revoked token")
            if aware_utc(row.expires_at) <= datetime.now(timezone.utc):
                raise AuthError("token expired: sign in again")
            if user is None or not user.active:
                raise AuthError("account disabled")
            return Principal(user.name, user.role, user.platform)
