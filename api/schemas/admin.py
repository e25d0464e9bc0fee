"""Admin: users and API keys."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from api.schemas.common import Name, Platform, Role, Strict


# --- admin ---------------------------------------------------------------------------------------

class UserCreate(Strict):
    name: Name
    role: Role
    password: Annotated[str, Field(min_length=8, max_length=200, pattern=r"\S", description="Not only spaces.")]
    platform: Platform | None = None


class KeyCreate(Strict):
    role: Role
    platform: Platform | None = None
    label: Annotated[str, Field(max_length=100)] = ""


class KeyCreated(BaseModel):
    key: str = Field(description="Shown once; only its hash is stored.")
    role: Role
    platform: str | None
