"""One process at a time across machines: PostgreSQL advisory locks (a no-op on SQLite, whose writers queue anyway)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for ``name`` (PostgreSQL's advisory locks take a bigint)."""
    return int.from_bytes(hashlib.sha256(f"jishibang:{name}".encode()).digest()[:8], "big", signed=True)


@contextmanager
def advisory_lock(factory: sessionmaker[Session], name: str) -> Iterator[None]:
    """Hold the session-level advisory lock ``name`` for the block (waits for another holder to finish).

    Several API processes starting on an empty database would otherwise all seed it at once."""
    bind = factory.kw.get("bind")
    if bind is None or bind.dialect.name != "postgresql":
        yield
        return
    with bind.connect() as conn:
        key = lock_key(name)
        conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
        conn.commit()
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            conn.commit()
