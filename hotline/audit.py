"""The audit log: who did what to which record, and which version, for staff and admin actions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hotline.tables import AuditEvent
from kb.db import transaction
from triage.pii import mask


class AuditLog:
    def __init__(self, factory: sessionmaker[Session]) -> None:
        self.factory = factory

    def record(self, actor: str, role: str, action: str, target: str, version: int | None = None,
               detail: dict[str, Any] | None = None) -> None:
        with transaction(self.factory) as s:
            s.add(AuditEvent(actor=actor, role=role, action=action, target=target, version=version,
                             detail={k: mask(v).text if isinstance(v, str) else v for k, v in (detail or {}).items()}))

    def events(self, target: str | None = None, actor: str | None = None, limit: int = 100,
               offset: int = 0) -> list[dict[str, Any]]:
        q = select(AuditEvent).order_by(AuditEvent.id.desc())
        if target:
            q = q.where(AuditEvent.target == target)
        if actor:
            q = q.where(AuditEvent.actor == actor)
        with self.factory() as s:
            return [_row(e) for e in s.scalars(q.limit(limit).offset(offset))]


def _row(e: AuditEvent) -> dict[str, Any]:
    at: datetime = e.at
    return {"id": e.id, "at": at, "actor": e.actor, "role": e.role, "action": e.action, "target": e.target,
            "version": e.version, "detail": e.detail}
