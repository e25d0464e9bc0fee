"""The crisis corpus of the danger-now detector: emergencies and hard negatives written for it.

``triage/data/crisis/*.jsonl`` (see its GUIDELINES.md): about 990 emergencies across nine kinds and 1,960 hard
negatives (hyperbole, idioms, events that are over, news, quoted speech, threats to a job, strain without
danger ...), in WeChat and call-note styles, Cantonese and traditional forms, by three authors who did not see
each other's files (``positives_c`` / ``negatives_c``: the third, 2026-12-05), and 230 chit-chat messages
(``negatives_d``, a fourth author: weather, poems, greetings; without them "今天几号" scored as a euphemism), and
a fifth author's 448 negatives and 148 emergencies that look alike on the surface (``negatives_e`` /
``positives_e``: denials, hunger and heat, hyperbole, strain; quiet passive ideation, half-denials, heat stroke).
Three more authors (2026-12-06, ``negatives_f`` / ``positives_f``) wrote 570 legal and practical consultations in
the public's own style (long, run-on, heavy words in ordinary use: a relative who died, a fight that is over, a
resignation refused) and 120 emergencies hidden in the same style: real consultations written by the public were
flagged far more often than anything the earlier authors wrote (23 of 500 lawbench questions, all without a cue word).
Another author (2026-12-06, ``negatives_g``) wrote 150 short everyday messages (2-14 characters: 今晚吃啥好, 我到楼下了,
麻烦你了): with nothing else in them to weigh, such words had become danger signs (9 of 160 flagged, 50 checked).
Split by a hash of the text like the triage corpus (70/15/15), so a message never changes split and the test
split is never trained on.
Operators' "这是紧急情况 / 不是紧急情况" corrections join the training split only (models/feedback_data.py).
The retired blind crisis sets (models/retired_sets.py: ~890 emergencies and ~1,800 negatives by ten more writers)
join the corpus, split the same way.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources

from models.retired_sets import retired_crisis_rows
from models.triage_data import SPLITS, Example, split_of
from triage.danger import KINDS


@dataclass(frozen=True, slots=True)
class CrisisExample:
    id: str
    text: str
    emergency: bool
    kind: str | None  # one of triage.danger.KINDS for emergencies (None when unknown), a negative kind otherwise
    source: str = "crisis"

    @property
    def split(self) -> str:
        return split_of(self.text)


def load_crisis(retired: bool = True) -> list[CrisisExample]:
    """The crisis corpus; ``retired``: with the retired blind crisis sets (models/retired_sets.py)."""
    folder = resources.files("triage.data").joinpath("crisis")
    rows: list[tuple[str, dict]] = []
    for p in sorted(folder.iterdir(), key=lambda p: p.name):
        if p.name.endswith(".jsonl"):
            rows += [(f"{p.name} line {n}", json.loads(line))
                     for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if line.strip()]
    if retired:
        rows += [(f"triage/eval/{name} {row['id']}", row) for name, row in retired_crisis_rows()]
    out: list[CrisisExample] = []
    seen: set[str] = set()
    for where, row in rows:
        emergency = row["label"] == "emergency"
        kind = row.get("kind")
        if emergency and kind not in KINDS:
            raise ValueError(f"{where}: emergency kind {kind!r} not in {KINDS}")
        if row["text"] in seen:
            continue
        seen.add(row["text"])
        out.append(CrisisExample(str(row["id"]), row["text"], emergency, kind))
    return out


def from_corpus(examples: Iterable[Example]) -> list[CrisisExample]:
    """The triage corpus as danger examples: an emergency when its urgency is (kind unknown)."""
    return [CrisisExample(e.id, e.text, e.urgency == "emergency", None, e.source) for e in examples]


def by_split(examples: Iterable[CrisisExample]) -> dict[str, list[CrisisExample]]:
    out: dict[str, list[CrisisExample]] = {s: [] for s in SPLITS}
    for ex in examples:
        out[ex.split].append(ex)
    return out


def crisis_hash(examples: Iterable[CrisisExample]) -> str:
    h = hashlib.sha256()
    for ex in sorted(examples, key=lambda e: e.id):
        h.update(json.dumps([ex.id, ex.text, ex.emergency, ex.kind], ensure_ascii=False).encode())
    return h.hexdigest()[:16]
