"""Case records: a call or WeChat conversation, its referral, the follow-up (回访), dispatch to a
platform's sub-line and multi-agency consultation (多部门会商).

Text is masked here, whatever the caller did before: no personal data reaches the database.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from hotline.errors import InvalidRequest, NotFound
from hotline.tables import Case, Consultation, Dispatch, FollowUp
from kb.db import transaction
from triage.pii import mask

CHANNELS = ("phone", "wechat", "web")
CASE_STATUSES = ("open", "referred", "dispatched", "escalated", "closed")
DISPATCH_STATUSES = ("pending", "in_progress", "resolved", "rejected")


def _masked(text: str | None) -> str:
    return mask(text).text if text else ""


def _utc(ts: datetime | None) -> str | None:
    if ts is None:
        return None
    return (ts if ts.tzinfo else ts.replace(tzinfo=timezone.utc)).isoformat()


def case_dict(c: Case) -> dict[str, Any]:
    return {"id": c.id, "call_id": c.call_id, "channel": c.channel, "operator": c.operator,
            "text_masked": c.text_masked, "issue_types": list(c.issue_types), "urgency": c.urgency,
            "referral": c.referral, "district": c.district, "platform": c.platform, "status": c.status,
            "created_at": _utc(c.created_at), "updated_at": _utc(c.updated_at)}


def dispatch_dict(d: Dispatch) -> dict[str, Any]:
    return {"id": d.id, "case_id": d.case_id, "platform": d.platform, "note": d.note, "status": d.status,
            "created_by": d.created_by, "created_at": _utc(d.created_at), "reply": d.reply,
            "replied_by": d.replied_by, "replied_at": _utc(d.replied_at)}


class CaseStore:
    def __init__(self, factory: sessionmaker[Session]) -> None:
        self.factory = factory

    def create(self, *, channel: str, operator: str, text: str, issue_types: list[str], urgency: str,
               referral: str | None = None, district: str | None = None, platform: str | None = None,
               call_id: str | None = None, status: str = "open") -> dict[str, Any]:
        if channel not in CHANNELS:
            raise InvalidRequest(f"unknown channel {channel!r}; allowed: {', '.join(CHANNELS)}")
        if call_id and mask(call_id).spans:
            # An identifier is stored and shown as it is, so it cannot be masked: refuse a phone number as a call id.
            raise InvalidRequest("a call id must not be personal data (a phone number ...): use the switchboard's call id")
        row = Case(call_id=call_id, channel=channel, operator=operator, text_masked=_masked(text),
                   issue_types=list(issue_types), urgency=urgency, referral=referral, district=district,
                   platform=platform, status="referred" if referral and status == "open" else status)
        try:
            with transaction(self.factory) as s:
                s.add(row)
                s.flush()
                return case_dict(row)
        except IntegrityError:
            raise InvalidRequest(f"a case for call {call_id!r} already exists") from None

    def update(self, case_id: int, *, referral: str | None = None, status: str | None = None,
               issue_types: list[str] | None = None, text: str | None = None) -> dict[str, Any]:
        if status is not None and status not in CASE_STATUSES:
            raise InvalidRequest(f"unknown status {status!r}; allowed: {', '.join(CASE_STATUSES)}")
        with transaction(self.factory) as s:
            c = self._case(s, case_id)
            if referral is not None:
                c.referral = referral
                if c.status == "open":
                    c.status = "referred"
            if status is not None:
                c.status = status
            if issue_types is not None:
                c.issue_types = list(issue_types)
            if text is not None:
                c.text_masked = _masked(text)
            c.updated_at = datetime.now(timezone.utc)
            return case_dict(c)

    def get(self, case_id: int, platform: str | None = None) -> dict[str, Any]:
        """The case with its follow-ups, dispatches and consultations. With ``platform`` (an enterprise
        caller), only a case routed to that platform is visible, and only its own dispatches."""
        with self.factory() as s:
            c = self._case(s, case_id)
            dq = select(Dispatch).where(Dispatch.case_id == case_id).order_by(Dispatch.id)
            if platform is not None:
                dq = dq.where(Dispatch.platform == platform)
            dispatches = [dispatch_dict(d) for d in s.scalars(dq)]
            if platform is not None and not dispatches:
                raise NotFound(f"no case {case_id}")
            out = case_dict(c)
            out["dispatches"] = dispatches
            if platform is not None:
                out["operator"] = "hotline"  # a sub-line sees the case, not who on the hotline took it
            if platform is None:
                out["followups"] = [
                    {"id": f.id, "at": _utc(f.at), "by": f.by, "accepted": f.accepted, "resolved": f.resolved,
                     "amount_recovered": f.amount_recovered, "notes": f.notes}
                    for f in s.scalars(select(FollowUp).where(FollowUp.case_id == case_id).order_by(FollowUp.id))]
                out["consultations"] = [
                    {"id": k.id, "bodies": k.bodies, "actions": k.actions, "follow_up_by": k.follow_up_by,
                     "notes": k.notes, "created_by": k.created_by, "created_at": _utc(k.created_at)}
                    for k in s.scalars(select(Consultation).where(Consultation.case_id == case_id)
                                       .order_by(Consultation.id))]
            return out

    def list(self, *, status: str | None = None, channel: str | None = None, urgency: str | None = None,
             issue_type: str | None = None, limit: int = 50, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        q = select(Case)
        if status:
            q = q.where(Case.status == status)
        if channel:
            q = q.where(Case.channel == channel)
        if urgency:
            q = q.where(Case.urgency == urgency)
        with self.factory() as s:
            rows = [case_dict(c) for c in s.scalars(q.order_by(Case.id.desc()))]
        if issue_type:  # JSON containment differs across databases; the filter is cheap at hotline scale
            rows = [r for r in rows if issue_type in r["issue_types"]]
        return rows[offset:offset + limit], len(rows)

    def add_followup(self, case_id: int, by: str, accepted: bool | None, resolved: bool | None,
                     amount_recovered: float | None, notes: str) -> dict[str, Any]:
        with transaction(self.factory) as s:
            c = self._case(s, case_id)
            s.add(FollowUp(case_id=case_id, by=by, accepted=accepted, resolved=resolved,
                           amount_recovered=amount_recovered, notes=_masked(notes)))
            if resolved:
                c.status = "closed"
            c.updated_at = datetime.now(timezone.utc)
        return self.get(case_id)

    # --- dispatch to a platform's sub-line -------------------------------------------------------

    def dispatch(self, case_id: int, platform: str, note: str, by: str) -> dict[str, Any]:
        with transaction(self.factory) as s:
            c = self._case(s, case_id)
            d = Dispatch(case_id=case_id, platform=_masked(platform)[:40], note=_masked(note), created_by=by)
            s.add(d)
            c.status = "dispatched"
            c.platform = c.platform or d.platform
            c.updated_at = datetime.now(timezone.utc)
            s.flush()
            return dispatch_dict(d)

    def queue(self, platform: str, status: str | None = None) -> list[dict[str, Any]]:
        """An enterprise's queue: the dispatches routed to its platform, each with the masked case text."""
        q = select(Dispatch, Case).join(Case, Case.id == Dispatch.case_id).where(Dispatch.platform == platform)
        if status:
            q = q.where(Dispatch.status == status)
        with self.factory() as s:
            out = []
            for d, c in s.execute(q.order_by(Dispatch.id.desc())):
                item = dispatch_dict(d)
                item["case"] = {k: v for k, v in case_dict(c).items() if k != "operator"}
                out.append(item)
            return out

    def reply(self, dispatch_id: int, platform: str | None, by: str, reply: str, status: str) -> dict[str, Any]:
        """The sub-line's reply. ``platform`` None means a city-level user acting for it."""
        if status not in DISPATCH_STATUSES[1:]:
            raise InvalidRequest(f"reply status must be one of {', '.join(DISPATCH_STATUSES[1:])}")
        with transaction(self.factory) as s:
            d = s.get(Dispatch, dispatch_id)
            if d is None or (platform is not None and d.platform != platform):
                raise NotFound(f"no dispatch {dispatch_id}")
            d.reply, d.replied_by, d.status = _masked(reply), by, status
            d.replied_at = datetime.now(timezone.utc)
            s.flush()
            return dispatch_dict(d)

    # --- multi-agency consultation ---------------------------------------------------------------

    def consult(self, case_id: int, bodies: list[str], actions: list[str], follow_up_by: str, notes: str,
                by: str) -> dict[str, Any]:
        if not bodies:
            raise InvalidRequest("a consultation names the bodies involved")
        with transaction(self.factory) as s:
            c = self._case(s, case_id)
            s.add(Consultation(case_id=case_id, bodies=[_masked(b) for b in bodies], actions=[_masked(a) for a in actions],
                               follow_up_by=_masked(follow_up_by)[:100], notes=_masked(notes), created_by=by))
            c.status = "escalated"
            c.updated_at = datetime.now(timezone.utc)
        return self.get(case_id)

    def count(self) -> int:
        with self.factory() as s:
            return int(s.scalar(select(func.count(Case.id))) or 0)

    @staticmethod
    def _case(s: Session, case_id: int) -> Case:
        c = s.get(Case, case_id)
        if c is None:
            raise NotFound(f"no case {case_id}")
        return c
