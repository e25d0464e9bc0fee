"""The seed: statute articles from the shared corpus and the entries the team wrote (kb/seed/*.jsonl).

Runs on `jishibang kb seed` and on first start; seeding twice changes nothing.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from kb.store import EntryStore
from kb.transfer import import_entries

STATUTE_FILE = Path("data") / "lawrefbook_laws" / "articles.jsonl"


def statute_rows(shared_dir: Path) -> list[dict[str, Any]]:
    path = shared_dir / STATUTE_FILE
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def seed_text() -> str:
    folder = resources.files("kb").joinpath("seed")
    parts = [p.read_text(encoding="utf-8") for p in sorted(folder.iterdir(), key=lambda p: p.name) if p.name.endswith(".jsonl")]
    return "".join(t if t.endswith("\n") else t + "\n" for t in parts)


def seed(store: EntryStore, shared_dir: Path) -> dict[str, int]:
    """Import statutes (once) and publish the seed entries that are not in the database yet."""
    added = store.import_statutes(statute_rows(shared_dir))
    text = seed_text()
    existing = {v.slug for v in store.list(limit=10**9)[0]}
    fresh = "".join(line + "\n" for line in text.splitlines() if line.strip() and json.loads(line)["slug"] not in existing)
    counts = import_entries(store, fresh, "jsonl", author="seed", default_status="published") if fresh else {"created": 0}
    return {"statutes_added": added, "entries_created": counts.get("created", 0), "entries_existing": len(existing)}
