"""Entries with immutable revisions and optimistic concurrency.

Every write names the version it edits. The UPDATE only matches that version, so of several writers
that read the same version exactly one succeeds and the others get :class:`ConflictError`; on SQLite
and PostgreSQL alike, with no lock held between read and write.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import text, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from kb import workflow
from kb.db import aware_utc, transaction
from kb.errors import ConflictError, DuplicateError, NotFoundError, PersonalDataError, WorkflowError
from kb.schema import EntryContent, personal_data_in
from kb.tables import Entry, EntryRevision, Statute, utcnow
from triage.pii import mask


# Revisions that write content: their authors may not approve it when a second approver is required.
CONTENT_ACTIONS = ("create", "edit", "rollback", "import")


@dataclass(frozen=True, slots=True)
class EntryView:
    id: int
    slug: str
    kind: str
    status: str
    version: int
    published_version: int | None
    title: str
    issue_types: list[str]
    jurisdiction: str
    review_by: date | None
    flagged_outdated: bool
    flag_reason: str | None
    content: EntryContent
    author: str
    created_at: datetime
    updated_at: datetime

    def suggestible(self, today: date) -> bool:
        """Shown to operators and workers: published, not archived, not outdated, not past review."""
        return (
            self.published_version is not None
            and self.status != "archived"
            and not self.flagged_outdated
            and (self.review_by is None or self.review_by >= today)
        )


@dataclass(frozen=True, slots=True)
class RevisionView:
    entry_id: int
    version: int
    action: str
    status: str
    content: EntryContent
    author: str
    comment: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ChangeEvent:
    entry_id: int
    action: str
    version: int
    published_version: int | None
    status: str



def _view(row: Entry) -> EntryView:
    return EntryView(
        id=row.id, slug=row.slug, kind=row.kind, status=row.status, version=row.version,
        published_version=row.published_version, title=row.title, issue_types=list(row.issue_types),
        jurisdiction=row.jurisdiction, review_by=row.review_by, flagged_outdated=row.flagged_outdated,
        flag_reason=row.flag_reason, content=EntryContent.model_validate(row.content), author=row.author,
        created_at=aware_utc(row.created_at), updated_at=aware_utc(row.updated_at),
    )


def _rev_view(row: EntryRevision) -> RevisionView:
    return RevisionView(row.entry_id, row.version, row.action, row.status, EntryContent.model_validate(row.content),
                        row.author, row.comment, aware_utc(row.created_at))


def _check_personal(content: EntryContent) -> None:
    found = personal_data_in(content)
    if found:
        raise PersonalDataError(found)


def _masked(comment: str | None) -> str | None:
    # Review comments are free text: masked like case notes before they are stored.
    return mask(comment).text if comment else comment


def _dump(content: EntryContent) -> dict[str, Any]:
    return content.model_dump(mode="json")


class EntryStore:
    """Create, edit, move through the workflow, and read the history of entries."""

    def __init__(self, factory: sessionmaker[Session], today: Callable[[], date] = date.today) -> None:
        self.factory = factory
        self.today = today
        self.listeners: list[Callable[[ChangeEvent], None]] = []

    # --- reads ------------------------------------------------------------------------------------

    def get(self, entry_id: int) -> EntryView:
        with self.factory() as s:
            row = s.get(Entry, entry_id)
            if row is None:
                raise NotFoundError(f"no entry {entry_id}")
            return _view(row)

    def get_by_slug(self, slug: str) -> EntryView:
        with self.factory() as s:
            row = s.scalar(select(Entry).where(Entry.slug == slug))
            if row is None:
                raise NotFoundError(f"no entry with slug {slug!r}")
            return _view(row)

    def ping(self) -> None:
        """A trivial query: raises when the database does not answer (readiness)."""
        with self.factory() as s:
            s.execute(text("SELECT 1"))

    def list(self, status: str | None = None, kind: str | None = None, issue_type: str | None = None,
             text: str | None = None, limit: int = 50, offset: int = 0) -> tuple[list[EntryView], int]:
        q = select(Entry)
        if status:
            q = q.where(Entry.status == status)
        if kind:
            q = q.where(Entry.kind == kind)
        if text:
            q = q.where(Entry.title.contains(text) | Entry.slug.contains(text))
        with self.factory() as s:
            rows = [_view(r) for r in s.scalars(q.order_by(Entry.id))]
        if issue_type:  # JSON containment differs across databases; filter here (the KB is small)
            rows = [r for r in rows if issue_type in r.issue_types]
        return rows[offset : offset + limit], len(rows)

    def revision(self, entry_id: int, version: int) -> RevisionView:
        with self.factory() as s:
            row = s.scalar(select(EntryRevision).where(EntryRevision.entry_id == entry_id, EntryRevision.version == version))
            if row is None:
                raise NotFoundError(f"entry {entry_id} has no version {version}")
            return _rev_view(row)

    def history(self, entry_id: int) -> list[RevisionView]:
        self.get(entry_id)
        with self.factory() as s:
            rows = s.scalars(select(EntryRevision).where(EntryRevision.entry_id == entry_id).order_by(EntryRevision.version))
            return [_rev_view(r) for r in rows]

    def published_content(self, entry: EntryView) -> EntryContent | None:
        if entry.published_version is None:
            return None
        if entry.published_version == entry.version:
            return entry.content
        return self.revision(entry.id, entry.published_version).content

    def diff(self, entry_id: int, a: int, b: int) -> dict[str, Any]:
        """Field-by-field differences between two revisions, with a line diff for text fields."""
        ra, rb = self.revision(entry_id, a).content, self.revision(entry_id, b).content
        da, db = _dump(ra), _dump(rb)
        changes = {}
        for key in da.keys() | db.keys():
            if da.get(key) != db.get(key):
                before, after = da.get(key), db.get(key)
                change: dict[str, Any] = {"before": before, "after": after}
                if isinstance(before, str) and isinstance(after, str):
                    change["unified"] = "\n".join(
                        difflib.unified_diff(before.splitlines(), after.splitlines(), f"v{a}", f"v{b}", lineterm="")
                    )
                changes[key] = change
        return {"entry_id": entry_id, "from": a, "to": b, "changes": dict(sorted(changes.items()))}

    def statute_keys(self) -> set[tuple[str, str]] | None:
        """(law, article) pairs that legal-basis links may point to; None when none are imported yet."""
        with self.factory() as s:
            keys = {(law, art) for law, art in s.execute(select(Statute.law, Statute.article))}
        return keys or None

    # --- writes -----------------------------------------------------------------------------------

    def create(self, content: EntryContent, author: str, status: str = "draft", comment: str | None = None) -> EntryView:
        if status not in ("draft", "published"):
            raise WorkflowError(f"a new entry starts as draft (or published when seeded), not {status}")
        _check_personal(content)
        comment = _masked(comment)
        if status == "published":
            self._check_publishable(content)
        now = utcnow()
        try:
            with transaction(self.factory) as s:
                row = Entry(
                    slug=content.slug, kind=content.kind, status=status, version=1,
                    published_version=1 if status == "published" else None, title=content.title,
                    issue_types=content.issue_types, jurisdiction=content.jurisdiction, review_by=content.review_by,
                    flagged_outdated=False, content=_dump(content), author=author, created_at=now, updated_at=now,
                )
                s.add(row)
                s.flush()
                s.add(EntryRevision(entry_id=row.id, version=1, action="create", status=status, content=_dump(content),
                                    author=author, comment=comment, created_at=now))
                view = _view(row)
        except IntegrityError as exc:
            raise DuplicateError(f"an entry with slug {content.slug!r} already exists") from exc
        self._emit(view, "create")
        return view

    def update(self, entry_id: int, expected_version: int, content: EntryContent, author: str,
               comment: str | None = None) -> EntryView:
        """A new revision with ``content``; the working copy becomes a draft (the published one stays live)."""
        _check_personal(content)

        def change(row: Entry) -> dict[str, Any]:
            if row.status == "archived":
                raise WorkflowError("an archived entry cannot be edited: restore it first")
            if content.slug != row.slug:
                raise WorkflowError("the slug of an entry cannot change")
            return {"status": "draft", "content": _dump(content)}

        return self._write(entry_id, expected_version, "edit", author, comment, change)

    def writers(self, entry_id: int, upto_version: int | None = None) -> set[str]:
        """Who wrote the content under review: authors of content revisions since the last approval (up to
        ``upto_version``)."""
        q = select(EntryRevision.version, EntryRevision.action, EntryRevision.author).where(
            EntryRevision.entry_id == entry_id)
        if upto_version is not None:
            q = q.where(EntryRevision.version <= upto_version)
        with self.factory() as s:
            revs = list(s.execute(q.order_by(EntryRevision.version)))
        last_approval = max((v for v, action, _a in revs if action == "approve"), default=0)
        return {a for v, action, a in revs if v > last_approval and action in CONTENT_ACTIONS}

    def unique_slug(self, base: str) -> str:
        """``base``, or ``base-2``, ``base-3`` ... whichever no entry has yet."""
        from kb.slugs import numbered

        with self.factory() as s:
            taken = set(s.scalars(select(Entry.slug).where(Entry.slug.like(f"{base}%"))))
        n = 1
        slug = base
        while slug in taken:
            n += 1
            slug = numbered(base, n)
        return slug

    def transition(self, entry_id: int, expected_version: int, action: str, author: str,
                   comment: str | None = None, *, second_approver: bool = False) -> EntryView:
        """Move the entry through the workflow. ``second_approver``: approving needs someone who did not write
        the version under review (the four-eyes rule; the API turns it on from the settings)."""
        if action == "approve" and second_approver and author in self.writers(entry_id, expected_version):
            raise WorkflowError("a second person must approve: you wrote this version")

        def change(row: Entry) -> dict[str, Any]:
            t = workflow.check(action, row.status, comment)
            values: dict[str, Any] = {"status": t.target}
            if action == "approve":
                self._check_publishable(EntryContent.model_validate(row.content))
                values["published_version"] = row.version + 1
                values["flagged_outdated"] = False
                values["flag_reason"] = None
            if action == "archive":
                values["published_version"] = None
            return values

        return self._write(entry_id, expected_version, action, author, comment, change)

    def rollback(self, entry_id: int, to_version: int, expected_version: int, author: str) -> EntryView:
        """A new revision whose content is that of ``to_version`` (history is never rewritten)."""
        old = self.revision(entry_id, to_version).content
        return self._write(entry_id, expected_version, "rollback", author, f"rollback to version {to_version}",
                           lambda row: {"status": "draft" if row.status != "archived" else "archived",
                                        "content": _dump(old)})

    def flag_outdated(self, entry_id: int, expected_version: int, author: str, reason: str) -> EntryView:
        """Hold an entry back from suggestions until someone reviews it (approve clears the flag)."""
        reason = _masked(reason) or ""
        return self._write(entry_id, expected_version, "flag", author, reason,
                           lambda row: {"flagged_outdated": True, "flag_reason": reason[:500]})

    def import_many(self, plan: list[tuple[EntryContent, str]], author: str) -> dict[str, int]:
        """Create or revise many entries in ONE transaction: all rows land or none do.

        An existing entry (same slug) gets a new revision only when its content or status differs.
        """
        for content, _status in plan:
            _check_personal(content)
        keys = self.statute_keys()
        problems = []
        for content, status in plan:
            if status == "published":
                found = workflow.publish_problems(content, self.today(), keys, check_review_date=False)
                problems += [f"{content.slug}: {p}" for p in found]
        if problems:
            raise WorkflowError("cannot publish", problems)
        counts = {"created": 0, "updated": 0, "unchanged": 0}
        touched: list[tuple[int, str]] = []
        now = utcnow()
        with transaction(self.factory) as s:
            for content, status in plan:
                body = _dump(content)
                row = s.scalar(select(Entry).where(Entry.slug == content.slug))
                published = status == "published"
                if row is None:
                    row = Entry(slug=content.slug, kind=content.kind, status=status, version=1,
                                published_version=1 if published else None, title=content.title,
                                issue_types=content.issue_types, jurisdiction=content.jurisdiction,
                                review_by=content.review_by, flagged_outdated=False, content=body, author=author,
                                created_at=now, updated_at=now)
                    s.add(row)
                    s.flush()
                    s.add(EntryRevision(entry_id=row.id, version=1, action="import", status=status, content=body,
                                        author=author, comment=None, created_at=now))
                    counts["created"] += 1
                elif row.content == body and row.status == status:
                    counts["unchanged"] += 1
                    continue
                else:
                    row.version += 1
                    row.status, row.content, row.updated_at = status, body, now
                    row.title, row.issue_types = content.title, content.issue_types
                    row.jurisdiction, row.review_by = content.jurisdiction, content.review_by
                    row.published_version = row.version if published else (None if status == "archived" else row.published_version)
                    s.add(EntryRevision(entry_id=row.id, version=row.version, action="import", status=status,
                                        content=body, author=author, comment=None, created_at=now))
                    counts["updated"] += 1
                touched.append((row.id, "import"))
        for entry_id, action in touched:
            self._emit(self.get(entry_id), action)
        return counts

    def _check_publishable(self, content: EntryContent) -> None:
        problems = workflow.publish_problems(content, self.today(), self.statute_keys())
        if problems:
            raise WorkflowError("cannot publish", problems)

    def _write(self, entry_id: int, expected_version: int, action: str, author: str, comment: str | None,
               change: Callable[[Entry], dict[str, Any]]) -> EntryView:
        now = utcnow()
        comment = _masked(comment)
        with transaction(self.factory) as s:
            row = s.get(Entry, entry_id)
            if row is None:
                raise NotFoundError(f"no entry {entry_id}")
            if row.version != expected_version:
                raise ConflictError(entry_id, expected_version, row.version)
            values = change(row)
            new_version = expected_version + 1
            if "content" in values:
                c = EntryContent.model_validate(values["content"])
                values.update(title=c.title, issue_types=c.issue_types, jurisdiction=c.jurisdiction, review_by=c.review_by)
            # The version check is in the WHERE clause: a writer that lost the race updates nothing.
            result = s.execute(
                update(Entry)
                .where(Entry.id == entry_id, Entry.version == expected_version)
                .values(version=new_version, updated_at=now, **values)
                .execution_options(synchronize_session=False)
            )
            if result.rowcount != 1:
                current = s.scalar(select(Entry.version).where(Entry.id == entry_id)) or -1
                raise ConflictError(entry_id, expected_version, current)
            s.add(EntryRevision(entry_id=entry_id, version=new_version, action=action,
                                status=values.get("status", row.status), content=values.get("content", row.content),
                                author=author, comment=comment, created_at=now))
        view = self.get(entry_id)
        self._emit(view, action)
        return view

    def _emit(self, view: EntryView, action: str) -> None:
        event = ChangeEvent(view.id, action, view.version, view.published_version, view.status)
        for listener in self.listeners:
            listener(event)

    # --- statutes ---------------------------------------------------------------------------------

    def import_statutes(self, rows: Iterable[dict[str, Any]]) -> int:
        """Load statute articles once (read-only afterwards). Returns how many were added."""
        with transaction(self.factory) as s:
            if s.scalar(select(func.count()).select_from(Statute)):
                return 0
            n = 0
            for r in rows:
                if not r.get("article"):
                    continue  # documents without article numbering cannot be cited by article
                s.add(Statute(source_id=r["id"], law=r["law"], part=r.get("part", ""), article=r["article"],
                              chapter=r.get("chapter", ""), version_date=r.get("version_date", ""),
                              source_path=r.get("source_path", ""), text=r["text"]))
                n += 1
            return n

    def statute(self, law: str, article: str) -> dict[str, Any]:
        with self.factory() as s:
            row = s.scalar(select(Statute).where(Statute.law == law, Statute.article == article).limit(1))
            if row is None:
                raise NotFoundError(f"no article {law} {article} among imported statutes")
            return {"law": row.law, "article": row.article, "chapter": row.chapter, "part": row.part,
                    "version_date": row.version_date, "text": row.text, "source_path": row.source_path}

    def statutes(self) -> list[dict[str, Any]]:
        with self.factory() as s:
            return [{"id": r.id, "law": r.law, "part": r.part, "article": r.article, "chapter": r.chapter, "text": r.text}
                    for r in s.scalars(select(Statute).order_by(Statute.id))]
