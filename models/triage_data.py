"""The labelled triage corpus: our own messages plus real negatives, split stably into train/val/test.

The split is decided by a hash of each message's text, so a message never changes split when the
corpus grows and the test split is never seen in training or tuning.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from triage.taxonomy import issue_types, urgency_levels

SPLITS = ("train", "val", "test")


@dataclass(frozen=True, slots=True)
class Example:
    id: str
    text: str
    issue_types: tuple[str, ...]
    urgency: str
    referrals: tuple[str, ...] = ()
    source: str = "team"
    meta: dict[str, str] = field(default_factory=dict)

    @property
    def split(self) -> str:
        return split_of(self.text)


def split_of(text: str, val_pct: int = 15, test_pct: int = 15) -> str:
    bucket = int(hashlib.sha1(text.strip().encode("utf-8")).hexdigest()[:8], 16) % 100
    if bucket < test_pct:
        return "test"
    if bucket < test_pct + val_pct:
        return "val"
    return "train"


class CorpusError(ValueError):
    """A corpus line is malformed or uses labels outside the taxonomy."""


def _check(row: dict, where: str, source: str = "team") -> Example:
    labels = issue_types()
    types = row.get("issue_types") or []
    if not isinstance(row.get("text"), str) or not row["text"].strip():
        raise CorpusError(f"{where}: missing text")
    bad = [t for t in types if t not in labels]
    if not types or bad:
        raise CorpusError(f"{where}: issue_types {types} not in the taxonomy")
    if row.get("urgency") not in urgency_levels():
        raise CorpusError(f"{where}: urgency {row.get('urgency')!r} not in {urgency_levels()}")
    return Example(
        id=str(row.get("id") or where),
        text=row["text"].strip(),
        issue_types=tuple(dict.fromkeys(types)),
        urgency=row["urgency"],
        referrals=tuple(row.get("referrals") or ()),
        source=row.get("source", source),
        meta={k: str(row[k]) for k in ("style", "lang") if k in row},
    )


def read_jsonl(path: Path, source: str = "team") -> list[Example]:
    out = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    row = json.loads(line)
                except ValueError as exc:
                    raise CorpusError(f"{path.name}:{n}: not JSON ({exc})") from exc
                out.append(_check(row, f"{path.name}:{n}", source))
    return out


def team_corpus() -> list[Example]:
    """Every ``triage/data/corpus/*.jsonl`` file: ``team_*`` written by the team (source "team"), ``outside_*`` by
    people who never saw the rest of the corpus (source "outside")."""
    folder = resources.files("triage.data").joinpath("corpus")
    out: list[Example] = []
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        if entry.name.endswith(".jsonl"):
            with resources.as_file(entry) as path:
                out.extend(read_jsonl(path, "outside" if entry.name.startswith("outside") else "team"))
    return out


def gov_negatives(shared_dir: Path) -> list[Example]:
    """Real citizen messages outside labour matters (teddycup2020, research use), as out_of_scope.

    Labour and social-security messages are left out: they may belong to our types.
    """
    path = shared_dir / "data" / "teddycup2020_gov_messages" / "messages_labelled.jsonl"
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if row["label"] == "劳动和社会保障":
            continue
        text = f"{row['title']}。{row['detail']}".strip()[:600]
        out.append(Example(f"gov-{row['msg_id']}", text, ("out_of_scope",), "normal", ("citizen_hotline",), "teddycup2020"))
    return out


def retired_corpus() -> list[Example]:
    """The retired blind answer sets (models/retired_sets.py) as outside-written corpus rows: their writers'
    issue types and urgency (rows labelled with no issue type, such as some greetings, are left out)."""
    from models.retired_sets import retired_answer_rows

    return [_check(row, f"kb/eval/{name} {row['id']}", "outside") for name, row in retired_answer_rows()
            if row.get("issue_types")]


def load_corpus(shared_dir: Path | None) -> list[Example]:
    examples = team_corpus() + retired_corpus() + (gov_negatives(shared_dir) if shared_dir else [])
    seen: set[str] = set()
    unique = []
    for ex in examples:  # exact duplicates would leak between splits' statistics
        if ex.text not in seen:
            seen.add(ex.text)
            unique.append(ex)
    return unique


def by_split(examples: Iterable[Example]) -> dict[str, list[Example]]:
    out: dict[str, list[Example]] = {s: [] for s in SPLITS}
    for ex in examples:
        out[ex.split].append(ex)
    return out


def data_hash(examples: Iterable[Example]) -> str:
    h = hashlib.sha256()
    for ex in sorted(examples, key=lambda e: e.id):
        h.update(json.dumps([ex.id, ex.text, ex.issue_types, ex.urgency, ex.referrals], ensure_ascii=False).encode())
    return h.hexdigest()[:16]
