"""Online, consistent backups of the whole database (knowledge base and hotline records) and restore.

SQLite: the SQLite backup API copies the live file page by page under a read transaction (writers keep
working), and the copy must pass ``PRAGMA integrity_check``. Other databases (PostgreSQL): a portable
JSON-lines snapshot of every table read in one REPEATABLE READ transaction. Restore replaces every row.
"""

from __future__ import annotations

import base64
import json
import sqlite3
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Date, DateTime, Engine, LargeBinary, MetaData, Table, delete, insert, select, text

SNAPSHOT_MAGIC = "jishibang-backup"


def _metadata() -> MetaData:
    import hotline.tables  # noqa: F401  (registers the hotline tables on the shared metadata: a backup is of both)
    from kb.tables import Base

    return Base.metadata


def _sqlite_path(engine: Engine) -> Path | None:
    if engine.url.get_backend_name() != "sqlite" or not engine.url.database or engine.url.database == ":memory:":
        return None
    return Path(engine.url.database)


def integrity_ok(path: Path) -> bool:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()


def table_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t.name: int(conn.execute(select(text("count(*)")).select_from(t)).scalar() or 0)
                for t in _metadata().sorted_tables}


def backup(engine: Engine, target: Path) -> dict[str, Any]:
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    source = _sqlite_path(engine)
    if source is not None:
        src = sqlite3.connect(source)
        dst = sqlite3.connect(partial)
        try:
            src.backup(dst)  # consistent: one snapshot of the live file, writers are not blocked for long
        finally:
            dst.close()
            src.close()
        if not integrity_ok(partial):
            partial.unlink()
            raise RuntimeError("the backup copy failed its integrity check; the live database is untouched")
        kind = "sqlite"
    else:
        _snapshot(engine, partial)
        kind = "snapshot"
    partial.replace(target)
    return {"path": str(target), "kind": kind, "bytes": target.stat().st_size}


def _encode(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value


def _snapshot(engine: Engine, path: Path) -> None:
    meta = _metadata()
    with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn, conn.begin(), \
            open(path, "w", encoding="utf-8") as out:
        out.write(json.dumps({"format": SNAPSHOT_MAGIC, "version": 1,
                              "tables": [t.name for t in meta.sorted_tables]}) + "\n")
        for table in meta.sorted_tables:
            for row in conn.execute(select(table).order_by(*table.primary_key.columns)).mappings():
                out.write(json.dumps({"t": table.name, "r": {k: _encode(v) for k, v in row.items()}},
                                     ensure_ascii=False) + "\n")


def _decode(table: Table, row: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for name, value in row.items():
        col_type = table.c[name].type
        if value is not None and isinstance(col_type, DateTime):
            value = datetime.fromisoformat(value)
        elif value is not None and isinstance(col_type, Date):
            value = date.fromisoformat(value)
        elif value is not None and isinstance(col_type, LargeBinary):
            value = base64.b64decode(value)
        out[name] = value
    return out


def restore(engine: Engine, source: Path) -> dict[str, Any]:
    """Replace every row of the database with the backup's (the schema must be migrated already)."""
    with open(source, "rb") as f:
        head = f.read(16)
    meta = _metadata()
    if head.startswith(b"SQLite format 3"):
        if not integrity_ok(source):
            raise RuntimeError(f"{source} fails its integrity check: not restored")
        target = _sqlite_path(engine)
        if target is not None:
            src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
            dst = sqlite3.connect(target, timeout=30)
            try:
                src.backup(dst)  # the live file takes the backup's pages in one step
            finally:
                dst.close()
                src.close()
            return {"restored_from": str(source), "kind": "sqlite"}
        rows_by_table = _read_sqlite(source, meta)
    else:
        rows_by_table = _read_snapshot(source, meta)
    _replace_rows(engine, meta, rows_by_table)
    return {"restored_from": str(source), "kind": "rows", "rows": sum(len(v) for v in rows_by_table.values())}


def _read_sqlite(path: Path, meta: MetaData) -> dict[str, list[dict[str, Any]]]:
    from sqlalchemy import create_engine

    src = create_engine(f"sqlite:///{path}")
    try:
        with src.connect() as conn:
            return {t.name: [dict(r) for r in conn.execute(select(t)).mappings()] for t in meta.sorted_tables}
    finally:
        src.dispose()


def _read_snapshot(path: Path, meta: MetaData) -> dict[str, list[dict[str, Any]]]:
    with open(path, encoding="utf-8") as f:
        header = json.loads(f.readline())
        if header.get("format") != SNAPSHOT_MAGIC:
            raise RuntimeError(f"{path} is neither a SQLite database nor a jishibang snapshot")
        rows: dict[str, list[dict[str, Any]]] = {t.name: [] for t in meta.sorted_tables}
        for line in f:
            item = json.loads(line)
            table = meta.tables[item["t"]]
            rows[table.name].append(_decode(table, item["r"]))
    return rows


def _replace_rows(engine: Engine, meta: MetaData, rows: dict[str, list[dict[str, Any]]]) -> None:
    with engine.begin() as conn:
        for table in reversed(meta.sorted_tables):
            conn.execute(delete(table))
        for table in meta.sorted_tables:
            batch = rows.get(table.name) or []
            for i in range(0, len(batch), 500):
                conn.execute(insert(table), batch[i:i + 500])
        if engine.url.get_backend_name() == "postgresql":
            for table in meta.sorted_tables:  # keep new ids after the restored ones
                if "id" in table.c:
                    conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                                      f"COALESCE((SELECT MAX(id) FROM {table.name}), 0) + 1, false)"))
