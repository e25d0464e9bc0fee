"""Admin: users, API keys and the audit log."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query

from api.errors import ApiError
from api.routes.deps import AccountsDep, AuditDep, PathId, link
from api.schemas import KeyCreate, KeyCreated, Name, UserCreate
from api.security import ADMIN, STAFF, allow
from hotline.accounts import Principal

router = APIRouter(prefix="/v1/admin", tags=["admin"])


@router.get("/users")
def users(accounts: AccountsDep, _: Principal = Depends(allow(*ADMIN))) -> list[dict]:
    """Admin: every user (no password hashes)."""
    return accounts.users()


@router.post("/users", status_code=201, responses={201: {"links": {
    "Disable": link("POST", "/v1/admin/users/{name}/disable", name="$response.body#/name")}}})
def add_user(body: UserCreate, accounts: AccountsDep, audit: AuditDep,
             who: Principal = Depends(allow(*ADMIN))) -> dict:
    """Admin: a new user."""
    user = accounts.add_user(body.name, body.role, body.password, body.platform)
    audit.record(who.name, who.role, "add_user", f"user:{user.name}", detail={"role": user.role, "platform": user.platform})
    return {"name": user.name, "role": user.role, "platform": user.platform}


@router.post("/users/{name}/disable", status_code=204, responses={409: {"description": "An admin's own account."}})
def disable_user(name: Name, accounts: AccountsDep, audit: AuditDep,
                 who: Principal = Depends(allow(*ADMIN))) -> None:
    """Admin: disable a user and revoke their sign-ins (not oneself: that would lock the last admin out)."""
    if name == who.name:
        raise ApiError(409, "self_disable", "you cannot disable your own account", "不能停用自己的账号")
    accounts.set_active(name, False)
    audit.record(who.name, who.role, "disable_user", f"user:{name}")


@router.get("/keys", responses={200: {"links": {
    "Revoke": link("DELETE", "/v1/admin/keys/{key_id}", key_id="$response.body#/0/id")}}})
def keys(accounts: AccountsDep, _: Principal = Depends(allow(*ADMIN))) -> list[dict]:
    """Admin: API keys (prefix only; the key itself is never stored)."""
    return accounts.keys()


@router.post("/keys", response_model=KeyCreated, status_code=201)
def add_key(body: KeyCreate, accounts: AccountsDep, audit: AuditDep,
            who: Principal = Depends(allow(*ADMIN))) -> KeyCreated:
    """Admin: a new API key, shown once."""
    key = accounts.add_key(body.role, who.name, body.platform, body.label)
    audit.record(who.name, who.role, "add_key", f"key:{key[:10]}", detail={"role": body.role, "platform": body.platform})
    return KeyCreated(key=key, role=body.role, platform=body.platform if body.role == "enterprise" else None)


@router.delete("/keys/{key_id}", status_code=204)
def revoke_key(key_id: PathId, accounts: AccountsDep, audit: AuditDep,
               who: Principal = Depends(allow(*ADMIN))) -> None:
    """Admin: revoke an API key."""
    accounts.revoke_key(key_id)
    audit.record(who.name, who.role, "revoke_key", f"key:{key_id}")


@router.get("/audit")
def audit(audit: AuditDep, target: str | None = Query(default=None, max_length=80),
          actor: str | None = Query(default=None, max_length=64),
          limit: int = Query(default=100, ge=1, le=1000), offset: int = Query(default=0, ge=0, le=10**7),
          _: Principal = Depends(allow(*STAFF))) -> list[dict]:
    """Staff, admin: who did what, when, to which version (newest first)."""
    return audit.events(target, actor, limit, offset)
