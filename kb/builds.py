"""Index builds recorded in the database, so machines that share no disk serve the same build.

A build is derived data: the published entries at given versions, embedded by one model and segmented
with one dictionary. Its *key* hashes exactly those three things (:func:`kb.index.content_key`), and its
name is ``build-<key>``: two machines that build the same entries call the result by the same name.

- :class:`BuildRegistry` records a finished build: one row in ``index_builds`` (name, key, the entries'
  versions, the embedding identity, the dictionary, its size and SHA-256) and its files in
  ``index_build_files``, in one transaction that ends with ``NOTIFY jishibang_index_builds``. A builder
  killed mid-build never commits, so no half build is ever recorded, and a reader checks every file's hash
  before it serves one.
- Every change that can alter what is published adds a row to ``index_build_requests``; its id is the
  *watermark*. A builder reads the watermark before it reads the entries, and records it as ``covers``:
  the build includes every change up to it. Machines serve the build that covers the most; a build is
  due while the newest request is above the newest build's ``covers``.
- :class:`BuildListener` is the thread in each API process that hears the NOTIFY (LISTEN on its own
  connection) and, as a fallback for lost notifications and dropped connections, polls. A machine that
  starts late or was cut off loads the newest build on its next look.

These tables are left out of backups (their own metadata): a restore is followed by a rebuild.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Integer, LargeBinary, String, delete, func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from kb import index as idx
from kb.db import transaction
from kb.tables import utcnow

log = logging.getLogger("jishibang.kb")

CHANNEL = "jishibang_index_builds"
CHUNK_BYTES = 8 * 1024 * 1024  # one row of index_build_files (PostgreSQL bytea is fine far above this)


class BuildsBase(DeclarativeBase):
    """Derived data: not part of the backed-up metadata (kb.backup reads kb.tables.Base only)."""

    type_annotation_map = {dict[str, Any]: JSON}


class IndexBuildRow(BuildsBase):
    __tablename__ = "index_builds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    key: Mapped[str] = mapped_column(String(64), index=True)
    covers: Mapped[int] = mapped_column(Integer, index=True)
    model_id: Mapped[str | None] = mapped_column(String(300), nullable=True)
    dictionary_hash: Mapped[str] = mapped_column(String(64))
    entry_versions: Mapped[dict[str, Any]] = mapped_column(JSON)
    entries: Mapped[int] = mapped_column(Integer)
    rows: Mapped[int] = mapped_column(Integer)
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    build_seconds: Mapped[float] = mapped_column(Float)
    built_by: Mapped[str] = mapped_column(String(200))
    built_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    files_pruned: Mapped[bool] = mapped_column(default=False)


class IndexBuildFile(BuildsBase):
    __tablename__ = "index_build_files"

    build_id: Mapped[int] = mapped_column(ForeignKey("index_builds.id", ondelete="CASCADE"), primary_key=True)
    path: Mapped[str] = mapped_column(String(200), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class IndexBuildRequest(BuildsBase):
    __tablename__ = "index_build_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    action: Mapped[str] = mapped_column(String(30))
    entry_id: Mapped[int | None] = mapped_column(Integer, nullable=True)


@dataclass(frozen=True, slots=True)
class BuildRecord:
    """One recorded build, as every machine sees it."""

    id: int
    name: str
    key: str
    covers: int
    model_id: str | None
    dictionary_hash: str
    entry_versions: dict[str, int]
    entries: int
    rows: int
    size_bytes: int
    sha256: str
    built_by: str
    built_at: datetime


class BuildMismatch(Exception):
    """A fetched build is not the recorded one (a file's hash or the manifest differs): never served."""


def build_name(key: str) -> str:
    return f"build-{key[:16]}"


def builder_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _record(row: IndexBuildRow) -> BuildRecord:
    return BuildRecord(row.id, row.name, row.key, row.covers, row.model_id, row.dictionary_hash,
                       {k: int(v) for k, v in row.entry_versions.items()}, row.entries, row.rows, row.size_bytes,
                       row.sha256, row.built_by, row.built_at)


def _files_digest(files: list[tuple[str, bytes]]) -> str:
    h = hashlib.sha256()
    for path, data in files:
        h.update(path.encode())
        h.update(b"\0")
        h.update(hashlib.sha256(data).digest())
    return h.hexdigest()


class BuildRegistry:
    """The builds every machine follows (PostgreSQL; the tables exist on SQLite too, for tests)."""

    def __init__(self, factory: sessionmaker[Session], keep: int = 5) -> None:
        self.factory = factory
        self.keep = keep  # builds whose files stay in the database (older ones keep their row only)

    @property
    def notifies(self) -> bool:
        bind = self.factory.kw.get("bind")
        return bind is not None and bind.dialect.name == "postgresql"

    # --- requests -------------------------------------------------------------------------------------

    def request(self, action: str, entry_id: int | None = None) -> int:
        """Note a change that may alter what is published; returns the new watermark."""
        with transaction(self.factory) as s:
            row = IndexBuildRequest(action=action[:30], entry_id=entry_id, at=utcnow())
            s.add(row)
            s.flush()
            return int(row.id)

    def watermark(self) -> int:
        with self.factory() as s:
            return int(s.scalar(select(func.max(IndexBuildRequest.id))) or 0)

    # --- recorded builds ------------------------------------------------------------------------------

    def newest(self, model_id: str | None, dictionary_hash: str) -> BuildRecord | None:
        """The build that covers the most changes, for these vectors and this dictionary."""
        with self.factory() as s:
            row = s.scalars(select(IndexBuildRow).where(
                IndexBuildRow.model_id.is_(None) if model_id is None else IndexBuildRow.model_id == model_id,
                IndexBuildRow.dictionary_hash == dictionary_hash, IndexBuildRow.files_pruned.is_(False))
                .order_by(IndexBuildRow.covers.desc(), IndexBuildRow.id.desc()).limit(1)).first()
            return _record(row) if row is not None else None

    def by_key(self, key: str) -> BuildRecord | None:
        with self.factory() as s:
            row = s.scalars(select(IndexBuildRow).where(IndexBuildRow.key == key, IndexBuildRow.files_pruned.is_(False))
                            .order_by(IndexBuildRow.id.desc()).limit(1)).first()
            return _record(row) if row is not None else None

    def due(self, model_id: str | None, dictionary_hash: str) -> bool:
        """A change was requested after the newest build's snapshot (or there is no build yet)."""
        newest = self.newest(model_id, dictionary_hash)
        return newest is None or self.watermark() > newest.covers

    def record(self, build: idx.IndexBuild, covers: int, built_by: str | None = None) -> BuildRecord:
        """Store a saved build (its files and manifest) and tell every listener, in one transaction.

        Idempotent: the same content recorded again only raises ``covers`` of the existing row."""
        if build.path is None:
            raise ValueError("save the build before recording it")
        key = idx.content_key(build.manifest)
        if build.path.name != build_name(key):
            raise ValueError(f"a recorded build is named by its content: {build_name(key)}, not {build.path.name}")
        existing = self.by_key(key)
        if existing is not None:
            return self._cover(existing, covers)
        files = [(rel, f.read_bytes()) for rel, f in idx.build_files(build.path)]
        m = build.manifest
        try:
            with transaction(self.factory) as s:
                row = IndexBuildRow(
                    name=build.path.name, key=key, covers=covers, model_id=m.get("model_id"),
                    dictionary_hash=m["dictionary_hash"], entry_versions=m["entry_versions"], entries=m["entries"],
                    rows=m["rows"], size_bytes=sum(len(d) for _, d in files), sha256=_files_digest(files),
                    build_seconds=float(m.get("build_seconds", 0.0)), built_by=(built_by or builder_id())[:200],
                    built_at=utcnow())
                s.add(row)
                s.flush()
                for rel, data in files:
                    for seq, start in enumerate(range(0, max(len(data), 1), CHUNK_BYTES)):
                        s.add(IndexBuildFile(build_id=row.id, path=rel, seq=seq, data=data[start:start + CHUNK_BYTES]))
                self._notify(s, row.name)
                recorded = _record(row)
        except IntegrityError:  # another builder recorded this very build first
            existing = self.by_key(key)
            if existing is None:
                raise
            return self._cover(existing, covers)
        log.info("index build recorded: %s (%d entries, %d rows, %.1f MB, covers request %d)", recorded.name,
                 recorded.entries, recorded.rows, recorded.size_bytes / 1e6, covers)
        self.prune()
        return recorded

    def _cover(self, rec: BuildRecord, covers: int) -> BuildRecord:
        if covers <= rec.covers:
            return rec
        with transaction(self.factory) as s:
            s.execute(update(IndexBuildRow).where(IndexBuildRow.id == rec.id, IndexBuildRow.covers < covers)
                      .values(covers=covers))
            self._notify(s, rec.name)
        return replace(rec, covers=covers)

    def _notify(self, s: Session, name: str) -> None:
        if self.notifies:
            s.execute(text("SELECT pg_notify(:channel, :name)"), {"channel": CHANNEL, "name": name})

    def fetch(self, rec: BuildRecord, root: Path) -> Path:
        """The recorded build as a local directory ``root/<name>``: written to a private temp directory,
        every file checked against the recorded hash, then renamed into place. Already there: reused."""
        target = root / rec.name
        if (target / "manifest.json").exists():
            return target
        with self.factory() as s:
            chunks = list(s.execute(select(IndexBuildFile.path, IndexBuildFile.seq, IndexBuildFile.data)
                                    .where(IndexBuildFile.build_id == rec.id)
                                    .order_by(IndexBuildFile.path, IndexBuildFile.seq)))
        parts: dict[str, list[bytes]] = {}
        for path, _seq, data in chunks:
            parts.setdefault(path, []).append(bytes(data))
        files = sorted((p, b"".join(d)) for p, d in parts.items())
        if _files_digest(files) != rec.sha256 or sum(len(d) for _, d in files) != rec.size_bytes:
            raise BuildMismatch(f"{rec.name}: the stored files do not match the recorded hash")
        root.mkdir(parents=True, exist_ok=True)
        tmp = root / f".{rec.name}.{os.getpid()}-{threading.get_ident()}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        for rel, data in files:
            dest = tmp / rel
            if ".." in Path(rel).parts:
                raise BuildMismatch(f"{rec.name}: a file path leaves the build directory: {rel}")
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(data)
        try:
            tmp.rename(target)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
            if not (target / "manifest.json").exists():
                raise
        return target

    def prune(self) -> int:
        """Drop the files of all but the newest ``keep`` builds (their rows stay, as history)."""
        with transaction(self.factory) as s:
            keep = list(s.scalars(select(IndexBuildRow.id).where(IndexBuildRow.files_pruned.is_(False))
                                  .order_by(IndexBuildRow.covers.desc(), IndexBuildRow.id.desc()).limit(self.keep)))
            old = list(s.scalars(select(IndexBuildRow.id).where(IndexBuildRow.files_pruned.is_(False),
                                                                IndexBuildRow.id.not_in(keep or [0]))))
            if old:
                s.execute(delete(IndexBuildFile).where(IndexBuildFile.build_id.in_(old)))
                s.execute(update(IndexBuildRow).where(IndexBuildRow.id.in_(old)).values(files_pruned=True))
            # Requests below the oldest kept build's snapshot are history nobody reads.
            floor = s.scalar(select(func.min(IndexBuildRow.covers)).where(IndexBuildRow.id.in_(keep or [0])))
            if floor:
                s.execute(delete(IndexBuildRequest).where(IndexBuildRequest.id < floor))
        return len(old)

    def history(self, limit: int = 20) -> list[BuildRecord]:
        with self.factory() as s:
            return [_record(r) for r in s.scalars(select(IndexBuildRow).order_by(IndexBuildRow.id.desc()).limit(limit))]


def psycopg_dsn(sqlalchemy_url: str) -> str:
    """A libpq connection string from a SQLAlchemy URL (``postgresql+psycopg://`` -> ``postgresql://``)."""
    from sqlalchemy.engine import make_url

    url = make_url(sqlalchemy_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


class BuildListener:
    """LISTEN for recorded builds on a connection of its own, and poll as the fallback.

    ``on_signal`` runs on this thread: after each notification, after every ``poll_seconds`` without one,
    and after (re)connecting, so a machine that missed notifications while cut off catches up at once."""

    def __init__(self, sqlalchemy_url: str, on_signal: Callable[[], None], poll_seconds: float = 10.0,
                 channel: str = CHANNEL) -> None:
        self.dsn = psycopg_dsn(sqlalchemy_url)
        self.on_signal = on_signal
        self.poll_seconds = poll_seconds
        self.channel = channel
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.connected = threading.Event()
        self.notifications = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="kb-build-listener", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _signal(self) -> None:
        try:
            self.on_signal()
        except Exception:  # keep listening: the next notification or poll tries again
            log.exception("following the recorded index builds failed")

    def _run(self) -> None:
        import psycopg

        backoff = 0.5
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.dsn, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {self.channel}")
                    self.connected.set()
                    backoff = 0.5
                    self._signal()  # catch up with whatever was recorded while we were not listening
                    while not self._stop.is_set():
                        got = 0
                        for _ in conn.notifies(timeout=min(self.poll_seconds, 1.0)):
                            got += 1
                            self.notifications += 1
                            break  # one look serves every notification queued so far
                        if got or self._due():
                            self._signal()
            except Exception as exc:  # the database went away: retry with back-off, then catch up
                self.connected.clear()
                log.warning("index build listener: %s; reconnecting in %.1f s", type(exc).__name__, backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 30.0)

    _last_poll = 0.0

    def _due(self) -> bool:
        import time

        now = time.monotonic()
        if now - self._last_poll >= self.poll_seconds:
            self._last_poll = now
            return True
        return False
