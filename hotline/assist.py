"""The assistant: triage plus the knowledge base, for operators (suggested replies in the operator's
voice, the referral card, deadlines) and for workers (a plain answer from published entries, or a
plain "we have no good answer" with how to reach a person). Emergencies come first for both."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hotline.feedback import QuestionLog
from kb.errors import NotFoundError
from kb.search import Hit, SearchResult
from kb.service import IndexManager
from kb.store import EntryStore
from triage.normalize import normalize
from triage.pipeline import TriageResult, Triager
from triage.referrals import targets as referral_targets

EMERGENCY_CONTACTS = (
    {"name": "报警（公安）", "number": "110", "when": "有人正在伤害你、威胁你，或你处在危险中"},
    {"name": "急救", "number": "120", "when": "受伤、流血、昏迷或身体突然很不舒服"},
    {"name": "心理援助热线", "number": "12356", "when": "很难受、想伤害自己，想找人说说"},
)


@dataclass(frozen=True, slots=True)
class Contacts:
    """How a worker reaches a person (from settings; never invented in code)."""

    hotline: str
    wechat: str


@dataclass(frozen=True, slots=True)
class PublishedEntry:
    entry_id: int
    version: int
    slug: str
    kind: str
    title: str
    operator_answer: str
    worker_answer: str
    steps: list[str]
    evidence: list[str]
    referrals: list[str]
    legal_basis: list[str]
    as_of: str
    review_by: str | None
    unverified: list[str]


class Assistant:
    def __init__(self, triager: Callable[[], Triager], index: IndexManager, store: EntryStore,
                 questions: QuestionLog, contacts: Contacts, k: int = 3,
                 standing: Callable[[], Mapping[int, float]] | None = None) -> None:
        """``standing``: the entries' feedback multipliers (hotline/standing.py), read on every search."""
        self._triager = triager
        self.standing = standing
        self.index = index
        self.store = store
        self.questions = questions
        self.contacts = contacts
        self.k = k
        self._cache: OrderedDict[tuple[int, int], PublishedEntry] = OrderedDict()
        self._lock = threading.Lock()

    # --- pieces ----------------------------------------------------------------------------------

    def triage(self, text: str, now: datetime | None = None) -> TriageResult:
        return self._triager().analyse(text, now)

    def published(self, entry_id: int) -> PublishedEntry | None:
        """The live published revision of an entry, or None when it is no longer suggestible (archived,
        flagged or past review since the index was built). Revisions never change, so they are cached."""
        try:
            view = self.store.get(entry_id)
        except NotFoundError:
            return None
        if not view.suggestible(self.store.today()) or view.published_version is None:
            return None
        key = (entry_id, view.published_version)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
        rev = self.store.revision(entry_id, view.published_version)
        c = rev.content
        entry = PublishedEntry(
            entry_id=entry_id, version=rev.version, slug=c.slug, kind=c.kind, title=c.title,
            operator_answer=c.operator_answer, worker_answer=c.worker_answer, steps=list(c.steps),
            evidence=list(c.evidence), referrals=list(c.referrals), legal_basis=[r.label() for r in c.legal_basis],
            as_of=rev.created_at.date().isoformat(), review_by=view.review_by.isoformat() if view.review_by else None,
            unverified=list(c.unverified),
        )
        with self._lock:
            self._cache[key] = entry
            while len(self._cache) > 1024:
                self._cache.popitem(last=False)
        return entry

    def search(self, result: TriageResult, k: int | None = None) -> SearchResult:
        # Search the normalised masked text: the embedding of the same string was just computed by
        # triage, so the embedder's cache answers it.
        return self.index.search(normalize(result.text_masked), k=k or self.k, issue_types=result.labels or None,
                                 standing=self.standing() if self.standing else None)

    # --- operators -------------------------------------------------------------------------------

    def suggest(self, text: str, now: datetime | None = None, record: bool = True, k: int | None = None) -> dict[str, Any]:
        result = self.triage(text, now)
        found = self.search(result, k)
        suggestions = []
        for hit in found.hits:
            entry = self._entry_for(hit)
            if entry is None:
                continue
            suggestions.append({
                "entry_id": entry.entry_id, "version": entry.version, "slug": entry.slug, "kind": entry.kind,
                "title": entry.title, "reply": entry.operator_answer, "steps": entry.steps, "evidence": entry.evidence,
                "legal_basis": entry.legal_basis, "referrals": entry.referrals, "as_of": entry.as_of,
                "review_by": entry.review_by, "unverified": entry.unverified, "score": _score(hit),
                "standing": hit.standing,
                "good_enough": not found.abstain and hit is found.hits[0],
            })
        no_good = found.abstain or not suggestions
        triage = result.to_dict()
        emergency = result.urgency.level == "emergency"
        if record:
            self._log("operator", result, found, answered=not no_good)
        return {
            "triage": triage,
            "suggestions": suggestions,
            "no_good_answer": no_good,
            "reason": (found.reason or "no published entry matches") if no_good else None,
            "referral": triage["referrals"][0] if triage["referrals"] else None,
            "referrals": triage["referrals"],
            "deadlines": triage["deadlines"],
            "emergency_contacts": list(EMERGENCY_CONTACTS) if emergency else [],
            "index": _index_info(found),
        }

    # --- workers ---------------------------------------------------------------------------------

    def faq(self, question: str, now: datetime | None = None) -> dict[str, Any]:
        result = self.triage(question, now)
        emergency = result.urgency.level == "emergency"
        out_of_scope = result.labels == ["out_of_scope"]
        found = self.search(result, k=3)
        best = None
        if not found.abstain and found.hits and not out_of_scope:
            best = self._entry_for(found.hits[0])
        answered = best is not None
        qid = self._log("worker", result, found, answered=answered)
        targets = referral_targets()
        answer = None
        if best is not None:
            answer = {
                "entry_id": best.entry_id, "version": best.version, "title": best.title, "text": best.worker_answer,
                "steps": best.steps, "evidence": best.evidence, "legal_basis": best.legal_basis, "as_of": best.as_of,
                "where_to_go": [{"name": targets[t]["name"], "contact": targets[t]["contact"]}
                                for t in best.referrals if t in targets],
                "score": _score(found.hits[0]),
            }
        if emergency:
            message = "如果你或身边的人正处在危险中，请先打电话求助，安全第一。"
        elif answered:
            message = None
        elif out_of_scope:
            message = "这个问题不在本热线的服务范围内，我们没有可靠的答案。可以拨打 12345 政务服务便民热线咨询。"
        else:
            message = "这个问题我们暂时没有把握准确回答，不想让你走弯路。请直接联系工会热线，由工作人员帮你。"
        return {
            "answer_id": qid,
            "answered": answered,
            "emergency": emergency,
            "emergency_contacts": list(EMERGENCY_CONTACTS) if emergency else [],
            "message": message,
            "answer": answer,
            "contact": {"hotline": self.contacts.hotline, "wechat": self.contacts.wechat},
            "question_masked": result.text_masked,
            "index": _index_info(found),
        }

    # --- helpers ---------------------------------------------------------------------------------

    def _entry_for(self, hit: Hit) -> PublishedEntry | None:
        return self.published(hit.entry_id)

    def _log(self, source: str, result: TriageResult, found: SearchResult, answered: bool) -> int:
        best = found.hits[0] if found.hits else None
        return self.questions.record(
            source=source, text=result.text_masked, answered=answered,
            best_entry_id=best.entry_id if best else None, best_score=_score(best) if best else None,
            issue_types=result.labels, urgency=result.urgency.level)


def _index_info(found: SearchResult) -> dict[str, Any]:
    """Which index build the hits came from (one complete build per answer)."""
    return {"build": found.index_build, "entries": found.index_entries or 0}


def _score(hit: Hit | None) -> float | None:
    if hit is None or hit.score != hit.score:  # NaN: uncalibrated index
        return None
    return float(hit.score)
