"""Tables of the knowledge base (SQLAlchemy 2 typed mappings). Migrations live in kb/migrations."""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

from sqlalchemy import JSON, Boolean, Date, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[str]: JSON}


class Entry(Base):
    """The current state of one entry. ``version`` is the latest revision; every write names it."""

    __tablename__ = "entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[str] = mapped_column(String(20), index=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    version: Mapped[int] = mapped_column(Integer)
    # The revision workers and operators see; an edit of a published entry stays a draft until published.
    published_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    title: Mapped[str] = mapped_column(String(300))
    issue_types: Mapped[list[str]] = mapped_column(JSON)
    jurisdiction: Mapped[str] = mapped_column(String(20))
    review_by: Mapped[date | None] = mapped_column(Date, nullable=True)
    flagged_outdated: Mapped[bool] = mapped_column(Boolean, default=False)
    flag_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    content: Mapped[dict[str, Any]] = mapped_column(JSON)
    author: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class EntryRevision(Base):
    """An immutable snapshot: written once per change, never updated."""

    __tablename__ = "entry_revisions"
    __table_args__ = (UniqueConstraint("entry_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("entries.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(30))  # create | edit | submit | approve | reject | publish | archive | rollback
    status: Mapped[str] = mapped_column(String(20))
    content: Mapped[dict[str, Any]] = mapped_column(JSON)
    author: Mapped[str] = mapped_column(String(100))
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Statute(Base):
    """A law article imported read-only from the statute corpus; legal-basis links resolve here."""

    __tablename__ = "statutes"
    __table_args__ = (UniqueConstraint("law", "article", "source_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[str] = mapped_column(String(40), index=True)
    law: Mapped[str] = mapped_column(String(200), index=True)
    part: Mapped[str] = mapped_column(String(50), default="")
    article: Mapped[str] = mapped_column(String(40), index=True)
    chapter: Mapped[str] = mapped_column(String(200), default="")
    version_date: Mapped[str] = mapped_column(String(20), default="")
    source_path: Mapped[str] = mapped_column(String(300), default="")
    text: Mapped[str] = mapped_column(Text)
