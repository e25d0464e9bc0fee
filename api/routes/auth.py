"""Sign in and out; who am I."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.security import HTTPAuthorizationCredentials

from api.routes.deps import AccountsDep
from api.schemas import LoginRequest, LoginResponse, Me
from api.security import ANY_SIGNED_IN, _bearer, allow, rate_limited
from hotline.accounts import Principal

router = APIRouter(prefix="/v1/auth", tags=["auth"])


@router.post("/login", response_model=LoginResponse, dependencies=[Depends(rate_limited("login"))],
             responses={401: {"description": "Wrong name or password"}, 429: {"description": "Too many attempts"}})
def login(body: LoginRequest, accounts: AccountsDep) -> LoginResponse:
    """Anyone: exchange a name and password for a bearer token that expires (attempts are rate-limited)."""
    token, expires, who = accounts.sign_in(body.name, body.password)
    return LoginResponse(token=token, expires_at=expires, name=who.name, role=who.role, platform=who.platform)  # type: ignore[arg-type]


@router.post("/logout", status_code=204)
def logout(request: Request, accounts: AccountsDep, who: Principal = Depends(allow(*ANY_SIGNED_IN)),
           credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> None:
    """Signed-in users: revoke the token used for this call."""
    if credentials and who.via == "token":
        accounts.sign_out(credentials.credentials)


@router.get("/me", response_model=Me)
def me(who: Principal = Depends(allow(*ANY_SIGNED_IN))) -> Me:
    """Signed-in users and API keys: the caller's name, role and platform."""
    return Me(name=who.name, role=who.role, platform=who.platform, via=who.via)  # type: ignore[arg-type]
