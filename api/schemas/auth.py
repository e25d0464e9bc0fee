"""Signing in: POST /v1/auth/login and GET /v1/auth/me."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from api.schemas.common import Name, Role, Strict


# --- auth ----------------------------------------------------------------------------------------

class LoginRequest(Strict):
    name: Name
    password: Annotated[str, Field(min_length=1, max_length=200)]


class LoginResponse(BaseModel):
    token: str
    expires_at: datetime
    name: str
    role: Role
    platform: str | None = None


class Me(BaseModel):
    name: str
    role: Role
    platform: str | None = None
    via: Literal["token", "key"]
