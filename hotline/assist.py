"""The assistant: triage plus the knowledge base, for operators (suggested replies in the operator's
voice, the referral card, deadlines) and for workers (a plain answer from published entries, or a
plain "we have no good answer" with how to reach a person). Emergencies come first for both."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from hotline.feedback import QuestionLog
from kb.errors import NotFoundError
from kb.query import from_triage
from kb.search import Clarify, Hit, SearchResult, TriageView
from kb.service import IndexManager
from kb.store import EntryStore
from triage.danger import KIND_ISSUE_TYPE, Danger
from triage.pipeline import TriageResult, Triager

@dataclass(frozen=True, slots=True)
class EmergencyContact:
    name: str
    number: str
    when: str


POLICE = EmergencyContact("报警（公安）", "110", "有人正在伤害你、威胁你，或你处在危险中")
AMBULANCE = EmergencyContact("急救", "120", "受伤、流血、昏迷或身体突然很不舒服")
PSYCH = EmergencyContact("心理援助热线", "12356", "很难受、想伤害自己，想找人说说")
FIRE = EmergencyContact("火警", "119", "着火、冒烟、电池爆炸、有人被困")
EMERGENCY_CONTACTS = (POLICE, AMBULANCE, PSYCH)
# Who to call first for each kind of danger (triage.danger.RESPONSE): 110/120 first only for danger now;
# passive suicidal ideation gets 12356 and the hotline, never 110.
CONTACTS_FOR = {"passive": (PSYCH,), "self_harm": (PSYCH, POLICE, AMBULANCE), "violence": (POLICE, AMBULANCE),
                "injury": (AMBULANCE, POLICE), "fire_or_danger": (FIRE, POLICE, AMBULANCE)}
ASK_DIRECTLY = ("消极自杀意念：请先关心对方，直接问“你是不是有结束生命的想法？有没有具体的打算？”；"
                "有计划、工具或已经在危险地点的，立即拨打 110/120；没有的，转心理援助热线 12356，约定回访，并记录。")
SELF_HARM_GUIDE = "有自伤或自杀风险：保持通话，直接询问是否已经伤害自己、人在哪里；有危险立即拨打 110/120，并转 12356。"
SAFETY_CHECK = ("可能有轻生或危险的信号（未到紧急）：请顺着对方的话问一句“你现在安全吗？有没有想过伤害自己？”；"
                "有这种想法或正处在危险中的，按紧急情况处理（点“这是紧急情况”）。")
# The check band's question follows the kind of danger the detector leans to.
SAFETY_CHECK_FOR = {
    "injury": ("可能有急性伤情（未到紧急）：请先问清伤者现在怎样：是否清醒、出血多不多、能不能动、呼吸是否正常；"
               "有吐血、昏迷、大量出血或呼吸困难的，立即拨打 120（点“这是紧急情况”）。"),
    "violence": ("可能有人身危险（未到紧急）：请问一句“你现在安全吗？对方还在身边吗？”；"
                 "正受到伤害或威胁的，立即报警 110（点“这是紧急情况”）。"),
    "fire_or_danger": ("可能有现场危险（未到紧急）：请问清现场情况，先让对方离开危险的地方；"
                       "有火情、触电、被困等情况的，立即拨打 119 或 110（点“这是紧急情况”）。"),
}


def contacts_for(danger: Danger) -> tuple[EmergencyContact, ...]:
    return CONTACTS_FOR.get(danger.response or "", EMERGENCY_CONTACTS) if danger.level != "none" else ()


def operator_guidance(danger: Danger) -> str | None:
    if danger.level == "passive":
        return ASK_DIRECTLY
    if danger.response == "self_harm":
        return SELF_HARM_GUIDE
    if danger.check:
        return SAFETY_CHECK_FOR.get(danger.check_response or "", SAFETY_CHECK)
    return None


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
    issue_types: list[str]


@dataclass(frozen=True, slots=True)
class IndexInfo:
    """Which index build the hits came from (one complete build per answer)."""

    build: str | None
    entries: int


# A message about self-harm (passive, euphemistic or active; a child at risk) leads with the best crisis-support
# entry (an entry whose main issue type is mental_crisis), then the answer to the everyday question it came with:
# a worker who writes "押金被骗了，活着没意思" is answered about staying safe first, then about the deposit.
SUPPORT_FIRST = frozenset(k for k, t in KIND_ISSUE_TYPE.items() if t == "mental_crisis")
SUPPORT_NEED = "lead:mental_crisis"
FIRST_STEPS_FILE = Path(__file__).resolve().parent / "data" / "first_steps.yaml"


@lru_cache(maxsize=1)
def first_steps() -> dict[str, tuple[str, ...]]:
    """Danger kind -> the slugs of the entries that say what to do right now (hotline/data/first_steps.yaml)."""
    raw = yaml.safe_load(FIRST_STEPS_FILE.read_text(encoding="utf-8")) or {}
    return {kind: tuple(slugs) for kind, slugs in raw.items()}


def safety_need(danger: Danger) -> str | None:
    """The need whose best entry leads the suggestions for this danger, or None (no danger, or no such entries)."""
    if danger.level == "none" or danger.kind is None:
        return None
    # Danger now, and passive ideation (its own level): the listed entries; a kind in the check band pins nothing.
    slugs = first_steps().get(danger.kind) if danger.level in ("now", "passive") else None
    if slugs:
        return "slug:" + ",".join(slugs)
    return SUPPORT_NEED if danger.kind in SUPPORT_FIRST else None


@dataclass(frozen=True, slots=True)
class Suggestion:
    entry: PublishedEntry
    score: float | None  # the reranker's probability that the entry answers the text (None: no model)
    tier: str  # confident | likely | none
    standing: float
    # Why this one is shown first whatever its score ("safety": crisis support for a message about self-harm, or
    # what to do right now in another danger); None: placed by its score.
    pinned: str | None = None


@dataclass(frozen=True, slots=True)
class Suggestions:
    """What an operator sees for a note: triage, suggested replies in the order of their score, and
    whether to warn that none is good (``banner``: no suggestion is at least likely)."""

    triage: TriageResult
    suggestions: tuple[Suggestion, ...]
    tier: str
    confidence: float | None
    banner: bool
    reason: str | None
    clarify: Clarify | None
    emergency_contacts: tuple[EmergencyContact, ...]
    index: IndexInfo
    guidance: str | None = None  # for a crisis: what the operator should do first (ask directly about suicide)


@dataclass(frozen=True, slots=True)
class WorkerAnswer:
    """What a worker gets for a question: a confident answer, a hedged one (one or two entries, or one
    clarifying question), or a hand-off to a person; emergencies first in every case."""

    answer_id: int
    tier: str  # confident | likely | none
    answers: tuple[Suggestion, ...]  # one when confident, one or two when likely, none otherwise
    clarify: Clarify | None
    emergency: bool
    emergency_contacts: tuple[EmergencyContact, ...]
    message: str | None
    contacts: Contacts
    question_masked: str
    index: IndexInfo
    handoff: bool  # offer "请工作人员联系我" (nothing good, or only likely)
    out_of_scope: bool = False
    crisis: str | None = None  # "passive" (suicidal thoughts without danger now) or "now"; None otherwise
    support: str | None = None  # rest and support information for a worker who is venting

    @property
    def answered(self) -> bool:
        return self.tier != "none" and bool(self.answers)


HEDGE = "这些内容可能对你有帮助（不一定完全符合你的情况，如有疑问请联系工作人员）："
NO_ANSWER = "这个问题我们暂时没有把握准确回答，不想让你走弯路。请直接联系工会热线，或留下电话，由工作人员联系你。"
OUT_OF_SCOPE = "这个问题不在本热线的服务范围内，我们没有可靠的答案。可以拨打 12345 政务服务便民热线咨询。"
GREETING = "你好！请用一两句话说说你遇到的问题（比如：押金不退、工资拖欠、被封号、送餐受伤），我们会尽量帮你。"
NOT_A_QUESTION = "请用一两句话说说你遇到的问题（比如：押金不退、工资拖欠、被封号、送餐受伤），我们会尽量帮你。"
DANGER = "如果你或身边的人正处在危险中，请先打电话求助，安全第一。"
PASSIVE = ("听到你这么难受，我们很在意你，谢谢你愿意说出来。如果你有不想活下去、想伤害自己的念头，请现在就拨打心理援助热线 12356，"
           "那里有专业的人陪你说说话；也可以打工会热线找我们。你不是一个人。")
SUPPORT = "辛苦了，也要照顾好自己：累了先歇一歇，附近的工会驿站可以歇脚、喝水。心里压力大的时候，可以拨打心理援助热线 12356 聊一聊。"
# A worker's message in the check band that leans to a physical danger gets where to call, not rest advice.
SUPPORT_FOR = {
    "injury": "如果有人受伤：吐血、昏迷、大量出血、呼吸困难或不能动的，请马上拨打 120 急救电话。伤情稳定后，再来问后续怎么办。",
    "violence": "如果你现在不安全，或有人正在伤害、威胁你，请马上拨打 110 报警，先到人多的地方。",
    "fire_or_danger": "遇到火情、触电或被困等危险，请先离开危险的地方，拨打 119 或 110。",
}


def support_note(result: TriageResult) -> str | None:
    """Venting (死 as an intensifier, strain without danger) and the detector's safety-check band get rest and
    support information (12356 among it), never an emergency panel."""
    if result.danger.level != "none":
        return None
    if result.danger.check and result.danger.check_response in SUPPORT_FOR:
        return SUPPORT_FOR[result.danger.check_response]
    venting = any(r.code == "intensifier" for r in result.danger.reasons) or "mental_crisis" in result.labels
    return SUPPORT if venting or result.danger.check else None


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
        # An archive or flag made through this process drops the entry at once; one made by another process
        # reaches us with the index build that leaves it out (seconds later).
        store.listeners.append(self._forget)
        self._warm_build: str | None = None

    # --- pieces ----------------------------------------------------------------------------------

    def triage(self, text: str, now: datetime | None = None) -> TriageResult:
        return self._triager().analyse(text, now)

    def _forget(self, event: Any) -> None:
        if getattr(event, "action", None) in ("archive", "flag", "approve"):
            with self._lock:
                for key in [k for k in self._cache if k[0] == getattr(event, "entry_id", None)]:
                    del self._cache[key]

    def published(self, entry_id: int, version: int | None = None) -> PublishedEntry | None:
        """The live published revision of an entry, or None when it is no longer suggestible (archived,
        flagged or past review since the index was built). Revisions never change, so they are cached: a hit
        naming its version (every search hit does) costs no database read after the first time."""
        if version is not None:
            with self._lock:
                hit = self._cache.get((entry_id, version))
            if hit is not None:
                return hit if hit.review_by is None or hit.review_by >= self.store.today().isoformat() else None
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
            unverified=list(c.unverified), issue_types=list(c.issue_types),
        )
        with self._lock:
            self._cache[key] = entry
            while len(self._cache) > 1024:
                self._cache.popitem(last=False)
        return entry

    def search(self, result: TriageResult, k: int | None = None, need: str | None = None) -> SearchResult:
        """Search with the query triage prepared (kb.query), its issue types and the feedback standing."""
        return self.index.search(from_triage(result), k=k or self.k, triage=TriageView.of(result), need=need,
                                 standing=self.standing() if self.standing else None)

    def lookup(self, text: str, k: int = 5, mode: str | None = None) -> SearchResult:
        """A direct search (operators' /v1/search, the CLI): the same query path and triage's issue types."""
        result = self.triage(text)
        return self.index.search(from_triage(result), k=k, mode=mode, triage=TriageView.of(result))

    def warm(self, build: str | None) -> None:
        """Load every entry of an index build into the cache once (one query), so no suggestion waits on the
        database for an entry's content."""
        if build is None or build == self._warm_build:
            return
        self._warm_build = build
        searcher = self.index.searcher
        if searcher is None or searcher.build.path is None or searcher.build.path.name != build:
            return
        for doc in searcher.build.entries:
            self.published(doc.entry_id, doc.version)

    def _support_first(self, result: TriageResult, shown: tuple[Suggestion, ...], k: int,
                       tier: str) -> tuple[tuple[Suggestion, ...], str]:
        """(``shown`` led by the best safety entry: crisis support when the message is about self-harm
        (SUPPORT_FIRST), what to do right now for another danger now (first_steps); the answer's tier: at least
        likely once that entry leads)."""
        need = safety_need(result.danger)
        if need is None:
            return shown, tier
        support = self._suggestions(self.search(result, k=1, need=need))
        if not support:
            return shown, tier
        lead = support[0]
        lead = Suggestion(lead.entry, lead.score, lead.tier if lead.tier != "none" else "likely", lead.standing, "safety")
        rest = [s for s in shown if s.entry.entry_id != lead.entry.entry_id]
        return (lead, *rest)[:k], tier if tier != "none" else "likely"

    def _suggestions(self, found: SearchResult) -> tuple[Suggestion, ...]:
        self.warm(found.index_build)
        out = []
        for hit in found.hits:
            entry = self.published(hit.entry_id, hit.version)
            if entry is not None:
                out.append(Suggestion(entry, _score(hit), hit.tier, hit.standing))
        return tuple(out)

    # --- operators -------------------------------------------------------------------------------

    def suggest(self, text: str, now: datetime | None = None, record: bool = True, k: int | None = None) -> Suggestions:
        result = self.triage(text, now)
        found = self.search(result, k)
        suggestions = self._suggestions(found)
        suggestions, tier = self._support_first(result, suggestions, k or self.k, found.tier if suggestions else "none")
        if record:
            self._log("operator", result, found, answered=tier != "none", tier=tier)
        return Suggestions(
            triage=result, suggestions=suggestions, tier=tier, confidence=_finite(found.confidence),
            banner=not any(s.tier in ("confident", "likely") for s in suggestions),
            reason=(found.reason or "no published entry matches") if tier == "none" else None,
            clarify=found.clarify, emergency_contacts=contacts_for(result.danger),
            index=_index_info(found), guidance=operator_guidance(result.danger))

    # --- workers ---------------------------------------------------------------------------------

    def faq(self, question: str, now: datetime | None = None, need: str | None = None, record: bool = True) -> WorkerAnswer:
        """``need``: the issue type the worker chose in a clarifying question; ``record``: log the question
        (evaluations do not)."""
        result = self.triage(question, now)
        emergency = result.urgency.level == "emergency"
        found = self.search(result, k=3, need=need)
        out_of_scope = result.labels == ["out_of_scope"] and found.tier != "confident"
        tier = "none" if out_of_scope else found.tier
        hits = self._suggestions(found)
        if need and tier == "none" and hits and not found.degenerate and not out_of_scope:
            # The person chose this need in our clarifying question, which offered it because an entry answers it:
            # that entry, as a hedge, rather than "we are not sure" right after asking them to choose.
            tier = "likely"
        answers: tuple[Suggestion, ...] = ()
        if tier == "confident" and hits:
            answers = hits[:1]
        elif tier == "likely" and hits:
            # The best one or two: the second only when it is itself plausible.
            answers = tuple(h for i, h in enumerate(hits[:2]) if i == 0 or h.tier in ("confident", "likely"))
        if not need:
            # Crisis support first; the everyday answer after it only when it was itself offered.
            answers, tier = self._support_first(result, answers, 2, tier)
        if not answers:
            tier = "none"
        qid = self._log("worker", result, found, answered=tier != "none", tier=tier) if record else 0
        if result.danger.level == "passive":
            message = PASSIVE
        elif emergency:
            message = DANGER
        elif tier == "confident":
            message = None
        elif tier == "likely":
            message = found.clarify.question if found.clarify and not need else HEDGE
        elif found.degenerate == "greeting":
            message = GREETING
        elif found.degenerate:
            message = NOT_A_QUESTION
        elif out_of_scope:
            message = OUT_OF_SCOPE
        else:
            message = NO_ANSWER
        return WorkerAnswer(
            answer_id=qid, tier=tier, answers=answers, clarify=found.clarify if tier == "likely" and not need else None,
            emergency=emergency, emergency_contacts=contacts_for(result.danger), message=message,
            contacts=self.contacts, question_masked=result.text_masked, index=_index_info(found),
            handoff=tier != "confident", out_of_scope=out_of_scope,
            crisis=result.danger.level if result.danger.level != "none" else None, support=support_note(result))

    # --- helpers ---------------------------------------------------------------------------------

    def _log(self, source: str, result: TriageResult, found: SearchResult, answered: bool, tier: str) -> int:
        best = found.hits[0] if found.hits else None
        return self.questions.record(
            source=source, text=result.text_masked, answered=answered,
            best_entry_id=best.entry_id if best else None, best_score=_score(best) if best else None,
            issue_types=result.labels, urgency=result.urgency.level, tier=tier)


def _index_info(found: SearchResult) -> IndexInfo:
    return IndexInfo(found.index_build, found.index_entries or 0)


def _finite(x: float) -> float | None:
    return None if x != x else float(x)


def _score(hit: Hit | None) -> float | None:
    if hit is None or hit.score != hit.score:  # NaN: uncalibrated index
        return None
    return float(hit.score)
