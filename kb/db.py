"""Database engine and sessions. SQLite by default (WAL, synchronous FULL, foreign keys on); any
SQLAlchemy URL works, PostgreSQL included. Schema changes go through Alembic migrations."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker


def make_engine(url: str, pool_size: int = 5, wait_for_disk: bool = True) -> Engine:
    """``wait_for_disk=False``: commits return once the database has the write, without waiting for it to reach
    the disk (SQLite synchronous=NORMAL on this engine's connections; PostgreSQL synchronous_commit=off). A
    crash of this process loses nothing; a power cut may lose the last moments of such writes. For logs whose
    write would otherwise cost a request an fsync (the question log)."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
            # SQLAlchemy's 'begin' event below issues BEGIN, not pysqlite's implicit transactions.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            # FULL: an acknowledged write survives a crash and a power cut; NORMAL (WAL): a crash of the process.
            cur.execute("PRAGMA synchronous=FULL" if wait_for_disk else "PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn) -> None:  # type: ignore[no-untyped-def]
            # Write transactions take the write lock at BEGIN, so concurrent writers queue instead of
            # failing when a read lock is upgraded; reads stay deferred and run beside a writer (WAL).
            immediate = conn.get_execution_options().get(WRITE_OPTION)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    engine = create_engine(url, pool_size=pool_size, max_overflow=10, pool_pre_ping=True)
    if not wait_for_disk:
        @event.listens_for(engine, "connect")
        def _async_commit(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("SET synchronous_commit = off")
            cur.close()
            dbapi_conn.commit()
    return engine


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


WRITE_OPTION = "jishibang_write"


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work that writes: commit on success, roll back on any error."""
    with factory() as session, session.begin():
        session.connection(execution_options={WRITE_OPTION: True})
        yield session


def migrate(url: str) -> None:
    """Bring the schema to the newest Alembic revision (idempotent)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    command.upgrade(cfg, "head")


def aware_utc(ts: datetime) -> datetime:
    """A stored timestamp with its zone: SQLite hands timestamps back naive, and every one was written in UTC."""
    return ts if ts.tzinfo else ts.replace(tzinfo=timezone.utc)
