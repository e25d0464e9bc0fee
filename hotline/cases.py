"""Case records: a call or WeChat conversation, its referral, the follow-up (回访), dispatch to a
platform's sub-line and multi-agency consultation (多部门会商).

Text is masked here, whatever the caller did before: no personal data reaches the database.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from hotline.errors import HotlineError, InvalidRequest, NotFound
from hotline.followups import china_today, schedule
from hotline.sealing import Sealer, normalise_phone
from hotline.tables import (Case, CaseNote, CaseReferral, Consultation, Dispatch, DispatchEvent, FollowUp, FollowUpPlan,
                            Question)
from kb.db import aware_utc, transaction
from triage.pii import mask

CHANNELS = ("phone", "wechat", "web")
CASE_STATUSES = ("open", "referred", "dispatched", "escalated", "closed")
DISPATCH_STATUSES = ("pending", "in_progress", "resolved", "rejected")
CLOSED_DISPATCH = ("resolved", "rejected")
REFERRAL_OUTCOMES = ("accepted", "declined", "resolved", "no_response")
URGENCY_ORDER = {"emergency": 0, "high": 1, "normal": 2, "low": 3}
# Who "saves" cases that no operator took: they wait in the team queue until someone takes them.
SYSTEM_OPERATORS = ("wechat", "worker")


class DispatchClosed(HotlineError):
    """A reply to a dispatch that was resolved or rejected: reopen it (with a reason) first."""


class UnknownPlatform(HotlineError):
    """A dispatch to a platform without a sub-line account."""

    def __init__(self, allowed: Collection[str]) -> None:
        super().__init__("no sub-line account for this platform; platforms with a sub-line: "
                         + (", ".join(allowed) or "none"))
        self.allowed = list(allowed)


def _masked(text: str | None) -> str:
    return mask(text).text if text else ""


def _utc(ts: datetime | None) -> str | None:
    if ts is None:
        return None
    return aware_utc(ts).isoformat()


def reference_of(case_id: int) -> str:
    """The reference a worker is shown for a hand-off (quoted when they call or write again)."""
    return f"W{case_id:06d}"



def case_dict(c: Case) -> dict[str, Any]:
    return {"id": c.id, "call_id": c.call_id, "channel": c.channel, "operator": c.operator, "assignee": c.assignee,
            "reference": reference_of(c.id) if c.channel == "web" else None, "has_callback": bool(c.callback_sealed),
            "text_masked": c.text_masked, "issue_types": list(c.issue_types), "urgency": c.urgency,
            "referral": c.referral, "district": c.district, "platform": c.platform, "status": c.status,
            "created_at": _utc(c.created_at), "updated_at": _utc(c.updated_at)}


def dispatch_dict(d: Dispatch, events: list[DispatchEvent] | None = None, now: datetime | None = None) -> dict[str, Any]:
    """A dispatch with its replies and reopenings (oldest first) and its reply clock: ``awaiting_reply`` until the
    sub-line answers after it was sent (or reopened), ``overdue`` once that wait passes ``due_at``."""
    events = events or []
    last_open = max([aware_utc(e.at) for e in events if e.kind == "reopen"], default=aware_utc(d.created_at))
    awaiting = d.status not in CLOSED_DISPATCH and not any(e.kind == "reply" and aware_utc(e.at) >= last_open for e in events)
    if not events and d.replied_at is not None:  # a reply recorded before events were kept
        awaiting = False
    due = aware_utc(d.due_at) if d.due_at else None
    now = now or datetime.now(timezone.utc)
    return {"id": d.id, "case_id": d.case_id, "platform": d.platform, "note": d.note, "status": d.status,
            "created_by": d.created_by, "created_at": _utc(d.created_at), "reply": d.reply,
            "replied_by": d.replied_by, "replied_at": _utc(d.replied_at), "due_at": _utc(due),
            "awaiting_reply": awaiting, "overdue": bool(awaiting and due is not None and due < now),
            "events": [{"id": e.id, "at": _utc(e.at), "by": e.by, "role": e.role, "kind": e.kind, "status": e.status,
                        "text": e.text} for e in events]}


def for_platform(d: dict[str, Any]) -> dict[str, Any]:
    """A dispatch as its sub-line sees it: who on the hotline sent or reopened it stays internal."""
    d["events"] = [e if e["role"] == "enterprise" else {**e, "by": "hotline"} for e in d["events"]]
    d["created_by"] = "hotline"
    return d


def _events(s: Session, dispatch_ids: list[int]) -> dict[int, list[DispatchEvent]]:
    out: dict[int, list[DispatchEvent]] = {i: [] for i in dispatch_ids}
    if dispatch_ids:
        for e in s.scalars(select(DispatchEvent).where(DispatchEvent.dispatch_id.in_(dispatch_ids))
                           .order_by(DispatchEvent.id)):
            out[e.dispatch_id].append(e)
    return out


def plan_dict(p: FollowUpPlan, today: date) -> dict[str, Any]:
    return {"id": p.id, "due_on": p.due_on.isoformat(), "reason": p.reason, "referral_id": p.referral_id,
            "created_at": _utc(p.created_at), "created_by": p.created_by, "done_at": _utc(p.done_at),
            "done_by": p.done_by, "followup_id": p.followup_id,
            "overdue": p.done_at is None and p.due_on < today, "due": p.done_at is None and p.due_on <= today}


def referral_dict(r: CaseReferral) -> dict[str, Any]:
    return {"id": r.id, "target": r.target, "at": _utc(r.at), "by": r.by, "note": r.note, "outcome": r.outcome,
            "outcome_note": r.outcome_note, "outcome_at": _utc(r.outcome_at), "outcome_by": r.outcome_by}


class CaseStore:
    def __init__(self, factory: sessionmaker[Session]) -> None:
        self.factory = factory

    def create(self, *, channel: str, operator: str, text: str, issue_types: list[str], urgency: str,
               referral: str | None = None, district: str | None = None, platform: str | None = None,
               call_id: str | None = None, status: str = "open") -> dict[str, Any]:
        if channel not in CHANNELS:
            raise InvalidRequest(f"unknown channel {channel!r}; allowed: {', '.join(CHANNELS)}",
                                 f"未知的渠道：{channel}；可选：{'、'.join(CHANNELS)}")
        if call_id and mask(call_id).spans:
            # An identifier is stored and shown as it is, so it cannot be masked: refuse a phone number as a call id.
            raise InvalidRequest("a call id must not be personal data (a phone number ...): use the switchboard's call id",
                                 "来电编号不能是个人信息（如手机号），请使用总机的来电编号")
        row = Case(call_id=call_id, channel=channel, operator=operator, text_masked=_masked(text),
                   issue_types=list(issue_types), urgency=urgency, referral=referral, district=district,
                   platform=platform, status="referred" if referral and status == "open" else status,
                   assignee=None if operator in SYSTEM_OPERATORS else operator)
        try:
            with transaction(self.factory) as s:
                s.add(row)
                s.flush()
                return case_dict(row)
        except IntegrityError:
            raise InvalidRequest(f"a case for call {call_id!r} already exists",
                                 f"来电 {call_id} 的个案已存在") from None

    def handoff(self, question_id: int, *, callback: str | None, note: str | None, sealer: Sealer) -> dict[str, Any]:
        """A worker on /ask asks a person to contact them about a question they asked: one case per question
        (channel ``web``, in the operators' queue), the question's masked text, its issue types and urgency;
        the call-back number sealed, the note masked. Asking twice returns the same case."""
        number = normalise_phone(callback) if callback else None
        with transaction(self.factory) as s:
            existing = s.scalar(select(Case).where(Case.question_id == question_id))
            if existing is not None:
                return {**case_dict(existing), "reference": reference_of(existing.id), "created": False}
            q = s.get(Question, question_id)
            if q is None or q.source != "worker":
                raise NotFound(f"no worker question {question_id}")
            text = q.text_masked + (f"\n补充：{_masked(note)}" if note and note.strip() else "")
            text += "\n（工人在自助页面请求工作人员联系" + ("，留了回电号码" if number else "，未留电话") + "）"
            row = Case(channel="web", operator="worker", text_masked=text, issue_types=list(q.issue_types or []),
                       urgency=q.urgency or "normal", status="open", question_id=question_id,
                       callback_sealed=sealer.seal(number) if number else None)
            s.add(row)
            try:
                s.flush()
            except IntegrityError:  # the same question handed off twice at once: the other request made it
                s.rollback()
                existing = s.scalar(select(Case).where(Case.question_id == question_id))
                assert existing is not None
                return {**case_dict(existing), "reference": reference_of(existing.id), "created": False}
            return {**case_dict(row), "reference": reference_of(row.id), "created": True}

    def callback(self, case_id: int, sealer: Sealer) -> str | None:
        """The worker's call-back number for the operators who call back (None when none was left)."""
        with self.factory() as s:
            c = self._case(s, case_id)
            return sealer.open(c.callback_sealed) if c.callback_sealed else None

    def update(self, case_id: int, *, referral: str | None = None, status: str | None = None,
               issue_types: list[str] | None = None, text: str | None = None) -> dict[str, Any]:
        if status is not None and status not in CASE_STATUSES:
            raise InvalidRequest(f"unknown status {status!r}; allowed: {', '.join(CASE_STATUSES)}",
                                 f"未知的个案状态：{status}；可选：{'、'.join(CASE_STATUSES)}")
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
        """The case with its follow-ups, dispatches and consultations, its notes, recorded referrals and 回访 plan.
        With ``platform`` (an enterprise caller), only a case routed to that platform is visible, and only its
        own dispatches (the hotline's notes, referrals and follow-ups stay internal)."""
        with self.factory() as s:
            c = self._case(s, case_id)
            dq = select(Dispatch).where(Dispatch.case_id == case_id).order_by(Dispatch.id)
            if platform is not None:
                dq = dq.where(Dispatch.platform == platform)
            rows = list(s.scalars(dq))
            events = _events(s, [d.id for d in rows])
            dispatches = [dispatch_dict(d, events[d.id]) for d in rows]
            if platform is not None:
                dispatches = [for_platform(d) for d in dispatches]
            if platform is not None and not dispatches:
                raise NotFound(f"no case {case_id}")
            out = case_dict(c)
            out["dispatches"] = dispatches
            if platform is not None:
                out["operator"] = "hotline"  # a sub-line sees the case, not who on the hotline took it
                out["assignee"] = None
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
                out["notes"] = [{"id": n.id, "at": _utc(n.at), "by": n.by, "text": n.text}
                                for n in s.scalars(select(CaseNote).where(CaseNote.case_id == case_id)
                                                   .order_by(CaseNote.id))]
                out["referrals"] = [referral_dict(r) for r in s.scalars(
                    select(CaseReferral).where(CaseReferral.case_id == case_id).order_by(CaseReferral.id))]
                today = china_today()
                plans = [plan_dict(p, today) for p in s.scalars(
                    select(FollowUpPlan).where(FollowUpPlan.case_id == case_id).order_by(FollowUpPlan.due_on,
                                                                                          FollowUpPlan.id))]
                out["followup_plan"] = plans
                out.update(_next_followup(plans))
            return out

    def list(self, *, status: str | None = None, channel: str | None = None, urgency: str | None = None,
             issue_type: str | None = None, limit: int = 50, offset: int = 0, assignee: str | None = None,
             unassigned: bool = False, open_only: bool = False, followup: str | None = None,
             sort: str = "newest") -> tuple[list[dict[str, Any]], int]:
        """Cases, newest first (``sort="priority"``: most urgent, then 回访 overdue or due, then oldest first).
        ``followup``: ``due`` (a 回访 due today or before, not done), ``overdue`` (before today) or ``planned``
        (any not done)."""
        q = select(Case)
        if status:
            q = q.where(Case.status == status)
        if channel:
            q = q.where(Case.channel == channel)
        if urgency:
            q = q.where(Case.urgency == urgency)
        if assignee:
            q = q.where(Case.assignee == assignee)
        if unassigned:
            q = q.where(Case.assignee.is_(None))
        if open_only:
            q = q.where(Case.status != "closed")
        today = china_today()
        with self.factory() as s:
            rows = [case_dict(c) for c in s.scalars(q.order_by(Case.id.desc()))]
            pending: dict[int, list[dict[str, Any]]] = {}
            for p in s.scalars(select(FollowUpPlan).where(FollowUpPlan.done_at.is_(None))
                               .order_by(FollowUpPlan.due_on, FollowUpPlan.id)):
                pending.setdefault(p.case_id, []).append(plan_dict(p, today))
        for r in rows:
            r.update(_next_followup(pending.get(r["id"], [])))
        if issue_type:  # JSON containment differs across databases; the filter is cheap at hotline scale
            rows = [r for r in rows if issue_type in r["issue_types"]]
        if followup == "due":
            rows = [r for r in rows if r["followup_due"]]
        elif followup == "overdue":
            rows = [r for r in rows if r["followup_overdue"]]
        elif followup == "planned":
            rows = [r for r in rows if r["next_followup_on"]]
        if sort == "priority":
            rows.sort(key=lambda r: (URGENCY_ORDER.get(r["urgency"], 9), not r["followup_overdue"],
                                     not r["followup_due"], r["id"]))
        return rows[offset:offset + limit], len(rows)

    def add_followup(self, case_id: int, by: str, accepted: bool | None, resolved: bool | None,
                     amount_recovered: float | None, notes: str, *, next_due: date | None = None) -> dict[str, Any]:
        """A 回访: it completes the earliest 回访 still planned; ``next_due`` plans the next one."""
        with transaction(self.factory) as s:
            c = self._case(s, case_id)
            f = FollowUp(case_id=case_id, by=by, accepted=accepted, resolved=resolved,
                         amount_recovered=amount_recovered, notes=_masked(notes))
            s.add(f)
            s.flush()
            plan = s.scalar(select(FollowUpPlan).where(FollowUpPlan.case_id == case_id, FollowUpPlan.done_at.is_(None))
                            .order_by(FollowUpPlan.due_on, FollowUpPlan.id).limit(1))
            now = datetime.now(timezone.utc)
            if plan is not None:
                plan.done_at, plan.done_by, plan.followup_id = now, by, f.id
            if resolved:
                c.status = "closed"
                for p in s.scalars(select(FollowUpPlan).where(FollowUpPlan.case_id == case_id,
                                                              FollowUpPlan.done_at.is_(None))):
                    p.done_at, p.done_by = now, by  # a closed case needs no further 回访
            elif next_due is not None:
                s.add(FollowUpPlan(case_id=case_id, due_on=next_due, reason="接线员安排的下次回访", created_by=by))
            c.updated_at = now
        return self.get(case_id)

    # --- the workspace: notes, who holds the case, referrals and the 回访 plan ------------------------

    def add_note(self, case_id: int, by: str, text: str) -> dict[str, Any]:
        """Append a note to a saved case (masked, timestamped; notes are never edited or removed)."""
        masked = _masked(text).strip()
        if not masked:
            raise InvalidRequest("a note needs some text",
                                 "备注不能为空")
        with transaction(self.factory) as s:
            c = self._case(s, case_id)
            s.add(CaseNote(case_id=case_id, by=by, text=masked))
            c.updated_at = datetime.now(timezone.utc)
        return self.get(case_id)

    def claim(self, case_id: int, by: str) -> dict[str, Any]:
        """Take the case from the team queue (or over from a colleague): it becomes one of ``by``'s open cases."""
        with transaction(self.factory) as s:
            c = self._case(s, case_id)
            if c.assignee != by:
                before = c.assignee
                c.assignee = by
                s.add(CaseNote(case_id=case_id, by=by, text=f"接手此个案（原由 {before} 跟进）" if before else "从待办队列接手此个案"))
                c.updated_at = datetime.now(timezone.utc)
        return self.get(case_id)

    def refer(self, case_id: int, target: str, by: str, note: str = "", today: date | None = None) -> dict[str, Any]:
        """Record "referred to ``target``": the case's referral and status follow, and a 回访 is planned after the
        body's typical time to act (sooner for an urgent case)."""
        today = today or china_today()
        with transaction(self.factory) as s:
            c = self._case(s, case_id)
            r = CaseReferral(case_id=case_id, target=target, by=by, note=_masked(note))
            s.add(r)
            s.flush()
            due, interval = schedule().due(target, c.urgency, today)
            s.add(FollowUpPlan(case_id=case_id, due_on=due, referral_id=r.id, created_by=by,
                               reason=(f"转介后 {interval.days} 天回访：{interval.basis}"
                                       + ("（时限待核实）" if interval.unverified else ""))[:300]))
            c.referral = target
            if c.status in ("open", "closed"):
                c.status = "referred"
            c.updated_at = datetime.now(timezone.utc)
        return self.get(case_id)

    def referral_outcome(self, case_id: int, referral_id: int, outcome: str, note: str, by: str) -> dict[str, Any]:
        if outcome not in REFERRAL_OUTCOMES:
            raise InvalidRequest(f"unknown outcome {outcome!r}; allowed: {', '.join(REFERRAL_OUTCOMES)}",
                                 f"未知的转介结果：{outcome}；可选：{'、'.join(REFERRAL_OUTCOMES)}")
        with transaction(self.factory) as s:
            c = self._case(s, case_id)
            r = s.get(CaseReferral, referral_id)
            if r is None or r.case_id != case_id:
                raise NotFound(f"no referral {referral_id} on case {case_id}")
            r.outcome, r.outcome_note, r.outcome_by = outcome, _masked(note), by
            r.outcome_at = c.updated_at = datetime.now(timezone.utc)
        return self.get(case_id)

    def plan_followup(self, case_id: int, due_on: date, reason: str, by: str) -> dict[str, Any]:
        with transaction(self.factory) as s:
            c = self._case(s, case_id)
            s.add(FollowUpPlan(case_id=case_id, due_on=due_on, reason=_masked(reason)[:300], created_by=by))
            c.updated_at = datetime.now(timezone.utc)
        return self.get(case_id)

    # --- dispatch to a platform's sub-line -------------------------------------------------------

    def dispatch(self, case_id: int, platform: str, note: str, by: str, *, allowed: Collection[str] | None = None,
                 sla_hours: float | None = None) -> dict[str, Any]:
        """Route the case to ``platform``'s sub-line. With ``allowed``, only those platforms (the ones with a
        sub-line account); ``sla_hours``: when the sub-line's reply is due."""
        if allowed is not None and platform not in allowed:
            raise UnknownPlatform(allowed)
        with transaction(self.factory) as s:
            c = self._case(s, case_id)
            now = datetime.now(timezone.utc)
            d = Dispatch(case_id=case_id, platform=_masked(platform)[:40], note=_masked(note), created_by=by,
                         created_at=now, due_at=now + timedelta(hours=sla_hours) if sla_hours else None)
            s.add(d)
            c.status = "dispatched"
            c.platform = c.platform or d.platform
            c.updated_at = now
            s.flush()
            return dispatch_dict(d, [], now)

    def queue(self, platform: str, status: str | None = None) -> list[dict[str, Any]]:
        """An enterprise's queue: the dispatches routed to its platform, each with the masked case text."""
        q = select(Dispatch, Case).join(Case, Case.id == Dispatch.case_id).where(Dispatch.platform == platform)
        if status:
            q = q.where(Dispatch.status == status)
        with self.factory() as s:
            pairs = list(s.execute(q.order_by(Dispatch.id.desc())))
            events = _events(s, [d.id for d, _c in pairs])
            out = []
            for d, c in pairs:
                item = for_platform(dispatch_dict(d, events[d.id]))
                item["case"] = {k: v for k, v in case_dict(c).items() if k not in ("operator", "assignee")}
                out.append(item)
            return out

    def dispatches(self, *, created_by: str | None = None) -> list[dict[str, Any]]:
        """Every dispatch (or those one operator sent), newest first, with their reply clocks."""
        q = select(Dispatch).order_by(Dispatch.id.desc())
        if created_by:
            q = q.where(Dispatch.created_by == created_by)
        with self.factory() as s:
            rows = list(s.scalars(q))
            events = _events(s, [d.id for d in rows])
            return [dispatch_dict(d, events[d.id]) for d in rows]

    def reply(self, dispatch_id: int, platform: str | None, by: str, reply: str, status: str) -> dict[str, Any]:
        """The sub-line's reply. ``platform`` None means a city-level user acting for it. A resolved or
        rejected dispatch takes no reply until it is reopened (:meth:`reopen`)."""
        if status not in DISPATCH_STATUSES[1:]:
            raise InvalidRequest(f"reply status must be one of {', '.join(DISPATCH_STATUSES[1:])}",
                                 f"回复状态应为：{'、'.join(DISPATCH_STATUSES[1:])}")
        with transaction(self.factory) as s:
            d = self._dispatch(s, dispatch_id, platform)
            if d.status in CLOSED_DISPATCH:
                raise DispatchClosed(f"dispatch {dispatch_id} is {d.status}: reopen it with a reason first")
            now = datetime.now(timezone.utc)
            d.reply, d.replied_by, d.status, d.replied_at = _masked(reply), by, status, now
            s.add(DispatchEvent(dispatch_id=d.id, at=now, by=by, role="enterprise", kind="reply", status=status,
                                text=d.reply))
            case = s.get(Case, d.case_id)
            if case is not None:
                case.updated_at = now
            s.flush()
            return dispatch_dict(d, _events(s, [d.id])[d.id], now)

    def reopen(self, dispatch_id: int, platform: str | None, by: str, role: str, reason: str,
               sla_hours: float | None = None) -> dict[str, Any]:
        """Reopen a resolved or rejected dispatch, saying why; its reply clock starts again."""
        text = _masked(reason).strip()
        if not text:
            raise InvalidRequest("say why the dispatch is reopened",
                                 "重新打开转办时请说明原因")
        with transaction(self.factory) as s:
            d = self._dispatch(s, dispatch_id, platform)
            if d.status not in CLOSED_DISPATCH:
                raise DispatchClosed(f"dispatch {dispatch_id} is {d.status}, not resolved or rejected: nothing to reopen")
            now = datetime.now(timezone.utc)
            d.status = "in_progress"
            if sla_hours:
                d.due_at = now + timedelta(hours=sla_hours)
            s.add(DispatchEvent(dispatch_id=d.id, at=now, by=by, role=role, kind="reopen", status="in_progress",
                                text=text))
            case = s.get(Case, d.case_id)
            if case is not None:
                case.updated_at = now
                if case.status == "closed":
                    case.status = "dispatched"
            s.flush()
            return dispatch_dict(d, _events(s, [d.id])[d.id], now)

    def fingerprint(self, case_id: int) -> tuple[Any, ...]:
        """Changes whenever anything shown in the case view changes (cheap: read by the case's live socket)."""
        with self.factory() as s:
            c = self._case(s, case_id)
            events = s.execute(select(func.count(DispatchEvent.id), func.max(DispatchEvent.id))
                               .join(Dispatch, Dispatch.id == DispatchEvent.dispatch_id)
                               .where(Dispatch.case_id == case_id)).one()
            dispatches = s.execute(select(func.count(Dispatch.id), func.max(Dispatch.id))
                                   .where(Dispatch.case_id == case_id)).one()
            return (_utc(c.updated_at), c.status, c.assignee, tuple(events), tuple(dispatches))

    @staticmethod
    def _dispatch(s: Session, dispatch_id: int, platform: str | None) -> Dispatch:
        d = s.get(Dispatch, dispatch_id)
        if d is None or (platform is not None and d.platform != platform):
            raise NotFound(f"no dispatch {dispatch_id}")
        return d

    # --- multi-agency consultation ---------------------------------------------------------------

    def consult(self, case_id: int, bodies: list[str], actions: list[str], follow_up_by: str, notes: str,
                by: str) -> dict[str, Any]:
        if not bodies:
            raise InvalidRequest("a consultation names the bodies involved",
                                 "会商记录需要写明参与的部门")
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


def _next_followup(plans: list[dict[str, Any]]) -> dict[str, Any]:
    """The list's view of a case's 回访: the next one not done, and whether one is due or overdue."""
    waiting = [p for p in plans if p["done_at"] is None]
    return {"next_followup_on": waiting[0]["due_on"] if waiting else None,
            "followup_due": any(p["due"] for p in waiting), "followup_overdue": any(p["overdue"] for p in waiting)}
