"""The one place where domain results become response bodies (api/schemas/)."""

from __future__ import annotations

from api.schemas import (AskResponse, ClarifyOptionOut, ClarifyOut, Contact, EmergencyContact, FaqAnswer, IndexInfo,
                         SearchHit, SearchResponse, SuggestResponse, Suggestion, TriageOut, WhereToGo)
from hotline import assist
from kb.search import Clarify, SearchResult
from triage.pipeline import TriageResult
from triage.referrals import targets as referral_targets


def triage_out(result: TriageResult) -> TriageOut:
    return TriageOut.model_validate(result.to_dict())


def clarify_out(clarify: Clarify | None) -> ClarifyOut | None:
    if clarify is None:
        return None
    return ClarifyOut(question=clarify.question, options=[ClarifyOptionOut(need=o.need, label=o.label,
                                                                           entry_id=o.entry_id) for o in clarify.options])


def index_out(info: assist.IndexInfo) -> IndexInfo:
    return IndexInfo(build=info.build, entries=info.entries)


def contacts_out(contacts: tuple[assist.EmergencyContact, ...]) -> list[EmergencyContact]:
    return [EmergencyContact(name=c.name, number=c.number, when=c.when) for c in contacts]


def suggestion_out(s: assist.Suggestion) -> Suggestion:
    e = s.entry
    return Suggestion(entry_id=e.entry_id, version=e.version, slug=e.slug, kind=e.kind, title=e.title,
                      reply=e.operator_answer, steps=e.steps, evidence=e.evidence, legal_basis=e.legal_basis,
                      referrals=e.referrals, as_of=e.as_of, review_by=e.review_by, unverified=e.unverified,  # type: ignore[arg-type]
                      score=s.score, tier=s.tier, good_enough=s.tier in ("confident", "likely"), standing=s.standing,
                      pinned=s.pinned)  # type: ignore[arg-type]


def suggest_out(out: assist.Suggestions) -> SuggestResponse:
    tri = triage_out(out.triage)
    return SuggestResponse(
        triage=tri, suggestions=[suggestion_out(s) for s in out.suggestions], tier=out.tier,
        confidence=out.confidence, banner=out.banner, clarify=clarify_out(out.clarify),
        no_good_answer=out.tier == "none", reason=out.reason,
        referral=tri.referrals[0] if tri.referrals else None, referrals=tri.referrals, deadlines=tri.deadlines,
        emergency_contacts=contacts_out(out.emergency_contacts), guidance=out.guidance, index=index_out(out.index))


def faq_answer_out(s: assist.Suggestion) -> FaqAnswer:
    e = s.entry
    targets = referral_targets()
    return FaqAnswer(entry_id=e.entry_id, version=e.version, title=e.title, text=e.worker_answer, steps=e.steps,
                     evidence=e.evidence, legal_basis=e.legal_basis, as_of=e.as_of,  # type: ignore[arg-type]
                     where_to_go=[WhereToGo(name=targets[t]["name"], contact=targets[t]["contact"])
                                  for t in e.referrals if t in targets],
                     score=s.score, tier=s.tier, pinned=s.pinned)  # type: ignore[arg-type]


def ask_out(out: assist.WorkerAnswer) -> AskResponse:
    answers = [faq_answer_out(s) for s in out.answers]
    return AskResponse(
        answer_id=out.answer_id, answered=out.answered, tier=out.tier, emergency=out.emergency,
        emergency_contacts=contacts_out(out.emergency_contacts), message=out.message,
        answer=answers[0] if answers else None, answers=answers, clarify=clarify_out(out.clarify),
        handoff=out.handoff, crisis=out.crisis, support=out.support,  # type: ignore[arg-type]
        contact=Contact(hotline=out.contacts.hotline, wechat=out.contacts.wechat),
        question_masked=out.question_masked, index=index_out(out.index))


def search_out(found: SearchResult) -> SearchResponse:
    def score(x: float) -> float | None:
        return None if x != x else x

    return SearchResponse(
        abstain=found.abstain, tier=found.tier, confidence=score(found.confidence), reason=found.reason,
        hits=[SearchHit(entry_id=h.entry_id, slug=h.slug, title=h.title, kind=h.kind, version=h.version,
                        score=score(h.score), tier=h.tier, retrievers=h.retrievers) for h in found.hits],
        index=IndexInfo(build=found.index_build, entries=found.index_entries or 0))
