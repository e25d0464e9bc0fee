"""Paraphrases from traffic: real questions that reached an entry through positive feedback, proposed as
new paraphrases of that entry for staff to accept or reject.

Where they come from (the feedback log, read from a cursor so each row is looked at once):
- a worker marked an answer helpful: the worker's (masked) question, for the entry that answered it;
- an operator copied an entry or marked it helpful: the (masked) call note sent with the feedback.

What is kept out: text with personal data (any masking placeholder such as [手机号], or anything the masker
still finds), fewer than ``min_chars`` letters or more than ``max_chars`` characters, and duplicates: the
same normalised text (full-width, traditional, Cantonese folded; punctuation and spaces dropped) as the
entry's title, question or a paraphrase, in the working copy or the published revision, or as an earlier
proposal; or an embedding cosine of at least ``near_duplicate`` (0.99) to any of them. On the e5 model the
evaluation queries, written apart from the entries, reach 0.985 to their entry's nearest question at the
99th percentile, while the same sentence with a particle or a 请问 added stays above 0.997. A repeat of a
pending proposal counts as another vote for it (``times``). A paraphrase is one question: a call note or
story longer than ``max_chars`` (120; the seed entries' paraphrases are under 15 characters at the 99th
percentile) is left out.

Accepting adds the text to the entry's working copy as a new draft revision through the knowledge-base
store, like any edit: it reaches search only after review and approval (kb/workflow.py).
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from hotline.errors import InvalidRequest, NotFound
from hotline.tables import Feedback, LearningCursor, ParaphraseProposal, Question
from kb.db import aware_utc, transaction
from kb.errors import NotFoundError, WorkflowError
from kb.schema import EntryContent
from kb.store import EntryStore, EntryView
from triage.normalize import normalize
from triage.pii import PLACEHOLDERS, mask

EncodeFn = Callable[[list[str]], np.ndarray]
log = logging.getLogger("jishibang.learning")
CURSOR = "paraphrase_proposals"
STATUSES = ("proposed", "accepted", "rejected")
MAX_PARAPHRASES = 40  # EntryContent's limit
_NOT_WORD = re.compile(r"[\W_]+")
_PLACEHOLDER = re.compile("|".join(re.escape(p) for p in PLACEHOLDERS.values()))


def dedupe_key(text: str) -> str:
    """The text as compared for duplicates: normalised, letters and digits only.

    >>> dedupe_key("點解押金仲未退？") == dedupe_key("为什么押金还未退")
    True
    """
    return _NOT_WORD.sub("", normalize(text))


@dataclass(frozen=True, slots=True)
class Candidate:
    entry_id: int
    text: str
    source: str  # operator | worker
    feedback_id: int | None = None


def proposal_dict(p: ParaphraseProposal) -> dict[str, Any]:
    return {"id": p.id, "entry_id": p.entry_id, "text": p.text, "source": p.source, "feedback_id": p.feedback_id,
            "times": p.times, "nearest": p.nearest, "status": p.status, "created_at": _utc(p.created_at),
            "decided_by": p.decided_by, "decided_at": _utc(p.decided_at), "comment": p.comment,
            "entry_version": p.entry_version}


def _utc(ts: datetime | None) -> str | None:
    if ts is None:
        return None
    return aware_utc(ts).isoformat()


class ParaphraseProposals:
    def __init__(self, factory: sessionmaker[Session], store: EntryStore, encode: EncodeFn | None = None, *,
                 near_duplicate: float = 0.99, min_chars: int = 6, max_chars: int = 120, batch: int = 500) -> None:
        self.factory = factory
        self.store = store
        self.encode = encode
        self.near_duplicate = near_duplicate
        self.min_chars = min_chars
        self.max_chars = max_chars
        self.batch = batch
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()  # text -> vector (entry texts repeat)
        self._sync_lock = threading.Lock()

    # --- from the feedback log ----------------------------------------------------------------------

    def sync(self) -> dict[str, int]:
        """Propose from the feedback recorded since the last sync; returns what became of each candidate."""
        counts: dict[str, int] = {}
        with self._sync_lock:
            while True:
                position, candidates, last = self._read_after_cursor()
                if last == position:
                    break
                for c in candidates:
                    outcome = self.propose(c)
                    counts[outcome] = counts.get(outcome, 0) + 1
                self._move_cursor(position, last)
        return counts

    def _read_after_cursor(self) -> tuple[int, list[Candidate], int]:
        with self.factory() as s:
            position = int(s.scalar(select(LearningCursor.position).where(LearningCursor.name == CURSOR)) or 0)
            rows = list(s.execute(
                select(Feedback.id, Feedback.source, Feedback.event, Feedback.entry_id, Feedback.query_masked,
                       Question.text_masked)
                .outerjoin(Question, Question.id == Feedback.question_id)
                .where(Feedback.id > position).order_by(Feedback.id).limit(self.batch)))
        out = []
        for fid, source, event, entry_id, query, question in rows:
            if entry_id is None:
                continue
            if source == "worker" and event == "helpful" and question:
                out.append(Candidate(int(entry_id), question, "worker", int(fid)))
            elif source == "operator" and event in ("copied", "helpful") and query:
                out.append(Candidate(int(entry_id), query, "operator", int(fid)))
        return position, out, int(rows[-1][0]) if rows else position

    def _move_cursor(self, old: int, new: int) -> None:
        with transaction(self.factory) as s:
            row = s.get(LearningCursor, CURSOR)
            if row is None:
                s.add(LearningCursor(name=CURSOR, position=new))
            elif row.position < new:  # another process may have moved it further already
                row.position = new

    # --- one candidate -------------------------------------------------------------------------------

    def check(self, text: str) -> str | None:
        """Why ``text`` cannot be a paraphrase (None when it can)."""
        if _PLACEHOLDER.search(text) or mask(text).spans:
            return "personal_data"
        if len(text) > self.max_chars:
            return "too_long"
        if len(dedupe_key(text)) < self.min_chars:
            return "too_short"
        return None

    def propose(self, candidate: Candidate) -> str:
        """Store ``candidate`` as a proposal unless it is unusable or a duplicate; returns the outcome:
        proposed | repeated | personal_data | too_long | too_short | known | decided | near_duplicate | no_entry."""
        text = re.sub(r"\s+", " ", candidate.text).strip()
        why = self.check(text)
        if why:
            return why
        try:
            view = self.store.get(candidate.entry_id)
        except NotFoundError:
            return "no_entry"
        key = dedupe_key(text)
        known = self._entry_texts(view)
        if key in {dedupe_key(t) for t in known}:
            return "known"
        with self.factory() as s:
            others = list(s.scalars(select(ParaphraseProposal).where(ParaphraseProposal.entry_id == view.id)))
        same = next((p for p in others if p.text_norm == key), None)
        if same is not None:
            return self._repeat(same.id) if same.status == "proposed" else "decided"
        nearest = None
        if self.encode is not None:
            try:
                vec = self._vectors_of([text])[0]
                known_sims = self._vectors_of(known) @ vec if known else None
                other_sims = self._vectors_of([p.text for p in others]) @ vec if others else None
            except Exception as exc:  # no model: the normalised-text check above still holds
                log.warning("paraphrase near-duplicate check skipped: %s", type(exc).__name__)
                known_sims = other_sims = None
            if known_sims is not None:
                nearest = float(known_sims.max())
                if nearest >= self.near_duplicate:
                    return "near_duplicate"
            if other_sims is not None:
                i = int(other_sims.argmax())
                if other_sims[i] >= self.near_duplicate:
                    return self._repeat(others[i].id) if others[i].status == "proposed" else "decided"
        try:
            with transaction(self.factory) as s:
                s.add(ParaphraseProposal(entry_id=view.id, text=text, text_norm=key[:300], source=candidate.source,
                                         feedback_id=candidate.feedback_id, times=1,
                                         nearest=round(nearest, 4) if nearest is not None else None,
                                         status="proposed"))
        except IntegrityError:  # the same text proposed at the same moment by another process
            return "repeated"
        return "proposed"

    def _repeat(self, proposal_id: int) -> str:
        with transaction(self.factory) as s:
            s.execute(update(ParaphraseProposal).where(ParaphraseProposal.id == proposal_id)
                      .values(times=ParaphraseProposal.times + 1))
        return "repeated"

    def _entry_texts(self, view: EntryView) -> list[str]:
        texts = list(view.content.search_questions())
        published = self.store.published_content(view)
        if published is not None:
            texts += [t for t in published.search_questions() if t not in texts]
        return texts

    def _vectors_of(self, texts: list[str]) -> np.ndarray:
        assert self.encode is not None
        missing = list(dict.fromkeys(t for t in texts if t not in self._vectors))
        if missing:
            for t, v in zip(missing, self.encode(missing)):
                self._vectors[t] = np.asarray(v, dtype=np.float32)
            while len(self._vectors) > 20_000:
                self._vectors.popitem(last=False)
        return np.stack([self._vectors[t] for t in texts])

    # --- staff ---------------------------------------------------------------------------------------

    def list(self, status: str | None = "proposed", entry_id: int | None = None, limit: int = 50,
             offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        if status is not None and status not in STATUSES:
            raise InvalidRequest(f"unknown status {status!r}; allowed: {', '.join(STATUSES)}",
                                 f"未知的状态：{status}；可选：{'、'.join(STATUSES)}")
        q = select(ParaphraseProposal)
        n = select(func.count(ParaphraseProposal.id))
        if status is not None:
            q, n = q.where(ParaphraseProposal.status == status), n.where(ParaphraseProposal.status == status)
        if entry_id is not None:
            q, n = q.where(ParaphraseProposal.entry_id == entry_id), n.where(ParaphraseProposal.entry_id == entry_id)
        # Most asked first, then the newest.
        q = q.order_by(ParaphraseProposal.times.desc(), ParaphraseProposal.id.desc()).limit(limit).offset(offset)
        with self.factory() as s:
            return [proposal_dict(p) for p in s.scalars(q)], int(s.scalar(n) or 0)

    def get(self, proposal_id: int) -> dict[str, Any]:
        with self.factory() as s:
            p = s.get(ParaphraseProposal, proposal_id)
            if p is None:
                raise NotFound(f"no paraphrase proposal {proposal_id}")
            return proposal_dict(p)

    def accept(self, proposal_id: int, actor: str, text: str | None = None) -> tuple[dict[str, Any], EntryView]:
        """Add the proposal (or staff's edited ``text``) to its entry's working copy: a new draft revision
        that goes through review and approval like any edit."""
        proposal = self.get(proposal_id)
        text = re.sub(r"\s+", " ", text).strip() if text is not None else proposal["text"]
        why = self.check(text)
        if why:
            raise InvalidRequest(f"this text cannot be a paraphrase: {why.replace('_', ' ')}",
                                 "这段文字不能作为同义问法（可能含个人信息或过长）")
        self._claim(proposal_id, "accepted", actor)  # one staff member wins a double click or a race
        try:
            view = self.store.get(proposal["entry_id"])
            if view.status == "archived":
                raise WorkflowError("an archived entry cannot be edited: restore it first")
            content = view.content
            if dedupe_key(text) in {dedupe_key(t) for t in content.search_questions()}:
                raise InvalidRequest("the entry already has this question or paraphrase",
                                 "该条目已有这个问法")
            if len(content.paraphrases) >= MAX_PARAPHRASES:
                raise InvalidRequest(f"the entry already has {MAX_PARAPHRASES} paraphrases: remove one first",
                                 f"该条目已有 {MAX_PARAPHRASES} 个同义问法，请先删除一个")
            new = EntryContent.model_validate({**content.model_dump(mode="json"),
                                               "paraphrases": [*content.paraphrases, text]})
            edited = self.store.update(view.id, view.version, new, actor,
                                       f"paraphrase from traffic (proposal {proposal_id})")
        except BaseException:
            self._unclaim(proposal_id)
            raise
        with transaction(self.factory) as s:
            row = s.get(ParaphraseProposal, proposal_id)
            assert row is not None
            row.entry_version = edited.version
            if text != row.text:
                row.comment = f"accepted as edited: {text}"[:500]
            out = proposal_dict(row)
        return out, edited

    def reject(self, proposal_id: int, actor: str, comment: str | None = None) -> dict[str, Any]:
        self.get(proposal_id)
        self._claim(proposal_id, "rejected", actor, comment)
        return self.get(proposal_id)

    def _claim(self, proposal_id: int, status: str, actor: str, comment: str | None = None) -> None:
        with transaction(self.factory) as s:
            done = s.execute(update(ParaphraseProposal)
                             .where(ParaphraseProposal.id == proposal_id, ParaphraseProposal.status == "proposed")
                             .values(status=status, decided_by=actor, decided_at=datetime.now(timezone.utc),
                                     comment=mask(comment).text[:500] if comment else None)
                             .execution_options(synchronize_session=False))
            if done.rowcount != 1:
                current = s.scalar(select(ParaphraseProposal.status).where(ParaphraseProposal.id == proposal_id))
                raise InvalidRequest(f"proposal {proposal_id} is already {current}",
                                 f"建议 {proposal_id} 已经处理过（{current}）")

    def _unclaim(self, proposal_id: int) -> None:
        with transaction(self.factory) as s:
            s.execute(update(ParaphraseProposal).where(ParaphraseProposal.id == proposal_id)
                      .values(status="proposed", decided_by=None, decided_at=None, comment=None)
                      .execution_options(synchronize_session=False))

    def counts(self) -> dict[str, int]:
        with self.factory() as s:
            return {st: int(n) for st, n in s.execute(select(ParaphraseProposal.status, func.count(ParaphraseProposal.id))
                                                       .group_by(ParaphraseProposal.status))}
