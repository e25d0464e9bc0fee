"""The audit log: who did what to which record, and which version, for staff and admin actions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hotline.tables import AuditEvent
from kb.db import aware_utc, transaction
from triage.pii import mask


class AuditLog:
    def __init__(self, factory: sessionmaker[Session]) -> None:
        self.factory = factory

    def record(self, actor: str, role: str, action: str, target: str, version: int | None = None,
               detail: dict[str, Any] | None = None) -> None:
        with transaction(self.factory) as s:
            s.add(AuditEvent(actor=actor, role=role, action=action, target=mask(target).text[:80], version=version,
                             detail=_masked(detail or {})))

    def events(self, target: str | None = None, actor: str | None = None, limit: int = 100,
               offset: int = 0) -> list[dict[str, Any]]:
        q = select(AuditEvent).order_by(AuditEvent.id.desc())
        if target:
            q = q.where(AuditEvent.target == target)
        if actor:
            q = q.where(AuditEvent.actor == actor)
        with self.factory() as s:
            return [_row(e) for e in s.scalars(q.limit(limit).offset(offset))]


def _masked(value: Any) -> Any:
    """Every string in a detail, however nested (a list of consulted bodies ...), masked."""
    if isinstance(value, str):
        return mask(value).text
    if isinstance(value, dict):
        return {k: _masked(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_masked(v) for v in value]
    return value


def _row(e: AuditEvent) -> dict[str, Any]:
    at: datetime = aware_utc(e.at)
    return {"id": e.id, "at": at, "actor": e.actor, "role": e.role, "action": e.action, "target": e.target,
            "version": e.version, "detail": e.detail}
