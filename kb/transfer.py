"""Import and export of entries as JSONL or CSV.

Export writes each entry's current content and status; importing that file reproduces the entries
without loss. Import validates every row first and reports bad rows by line; if any row is bad,
nothing is written.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from typing import Any, Literal

from pydantic import ValidationError

from kb.errors import ImportRowError
from kb.schema import STATUSES, EntryContent, personal_data_in, unprintable
from kb.store import EntryStore, EntryView

Format = Literal["jsonl", "csv"]
# CSV cells hold these fields as JSON text; the rest are plain strings.
_JSON_FIELDS = ("paraphrases", "steps", "evidence", "referrals", "legal_basis", "issue_types", "unverified", "sources", "case")
COLUMNS = ("slug", "status", "kind", "title", "question", "paraphrases", "operator_answer", "worker_answer", "steps",
           "evidence", "referrals", "legal_basis", "issue_types", "jurisdiction", "effective_from", "review_by",
           "unverified", "sources", "case")


def _row(view: EntryView) -> dict[str, Any]:
    return {"status": view.status, **view.content.model_dump(mode="json")}


def export_entries(store: EntryStore, fmt: Format, status: str | None = None) -> str:
    views, _ = store.list(status=status, limit=10**9)
    rows = [_row(v) for v in views]
    if fmt == "jsonl":
        return "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: json.dumps(r[k], ensure_ascii=False) if k in _JSON_FIELDS else ("" if r[k] is None else r[k])
                         for k in COLUMNS})
    return out.getvalue()


def _parse(text: str, fmt: Format) -> Iterable[tuple[int, dict[str, Any] | str]]:
    """(line number, row) pairs; a row is an error message when the line cannot be read."""
    if fmt == "jsonl":
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError as exc:
                yield n, f"not valid JSON ({exc.args[0]})"
                continue
            except RecursionError:
                yield n, "not valid JSON (nested too deeply)"
                continue
            yield n, obj if isinstance(obj, dict) else "not a JSON object"
        return
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        yield from _csv_rows(reader)
    except csv.Error as exc:  # a stray carriage return, a NUL ...: the file is not CSV
        yield max(reader.line_num, 1), f"not valid CSV ({exc})"


def _csv_rows(reader: csv.DictReader) -> Iterable[tuple[int, dict[str, Any] | str]]:
    missing = [c for c in ("slug", "kind", "title") if c not in (reader.fieldnames or [])]
    if missing:
        yield 1, f"CSV header lacks columns {missing}"
        return
    for record in reader:
        n = reader.line_num
        row: dict[str, Any] = {}
        try:
            for k, v in record.items():
                if k is None:
                    raise ValueError("more cells than header columns")
                if k in _JSON_FIELDS:
                    row[k] = json.loads(v) if v not in ("", None) else None
                else:
                    row[k] = v if v != "" else None
        except ValueError as exc:
            yield n, f"bad cell ({exc})"
            continue
        except RecursionError:
            yield n, "bad cell (JSON nested too deeply)"
            continue
        yield n, {k: v for k, v in row.items() if v is not None}


def import_entries(store: EntryStore, text: str, fmt: Format, author: str, default_status: str = "draft") -> dict[str, int]:
    """Create new entries and add revisions to changed ones; all rows or none."""
    plan: list[tuple[EntryContent, str]] = []
    errors: list[tuple[int, str]] = []
    seen: set[str] = set()
    for n, row in _parse(text, fmt):
        if isinstance(row, str):
            errors.append((n, row))
            continue
        where = unprintable(row)
        if where:
            errors.append((n, f"{where}: text contains control characters or invalid Unicode"))
            continue
        status = row.pop("status", None) or default_status
        if status not in STATUSES:
            errors.append((n, f"status {status!r} not in {STATUSES}"))
            continue
        try:
            content = EntryContent.model_validate(row)
        except ValidationError as exc:
            first = exc.errors()[0]
            errors.append((n, f"{'.'.join(map(str, first['loc'])) or 'row'}: {first['msg']}"))
            continue
        personal = personal_data_in(content)
        if personal:
            errors.append((n, "personal data in " + ", ".join(personal)))
            continue
        if content.slug in seen:
            errors.append((n, f"slug {content.slug!r} appears twice in the file"))
            continue
        seen.add(content.slug)
        plan.append((content, status))
    if errors:
        raise ImportRowError(errors)
    return store.import_many(plan, author)
