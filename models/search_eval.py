"""`jishibang eval search`: ranking and answer decisions for BM25, dense and hybrid, side by side.

The query set (kb/eval/*.jsonl) was written separately from the entries, in workers' and operators' words;
each query lists every entry that answers it (``acceptable``, ``preferred`` first) or none (off-topic, noise).
Queries go through the one query path (kb.query) and, when a triage model is given, carry triage's issue
types, exactly as the service searches them. Reported per mode: acceptable@1 and @3, preferred@1, MRR of the
first acceptable entry, the tier mix, wrong confident answers, and off-topic queries answered.
The real-data check runs the 500 lawbench consultations against the imported statutes and reports recall@5
of the laws the lawyers cited.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from tqdm import tqdm

from kb.query import from_triage, prepare_query
from kb.search import Searcher, TriageView
from models.answer_eval import LAWBENCH_QUESTIONS
from models.answer_training import acceptable_slugs
from triage.pipeline import TriageResult


def load_queries(folder: str = "eval") -> list[dict[str, Any]]:
    """The query files of ``kb/<folder>`` (top level only: kb/eval/blind is read by `eval answers`)."""
    root = resources.files("kb").joinpath(folder)
    out = []
    for p in sorted(root.iterdir(), key=lambda p: p.name):
        if p.name.endswith(".jsonl"):
            out += [json.loads(line) for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]
    return out


def evaluate(searcher: Searcher, queries: list[dict[str, Any]], k: int = 10,
             analyse: Callable[[Sequence[str]], list[TriageResult]] | None = None) -> dict[str, Any]:
    texts = [q.get("query", q.get("text", "")) for q in queries]
    triaged: list[TriageResult | None] = []
    if analyse is not None:
        for i in tqdm(range(0, len(texts), 64), desc="triage", leave=False):
            triaged += analyse(texts[i:i + 64])
    else:
        triaged = [None] * len(texts)
    prepared = [from_triage(r) if r is not None else prepare_query(t) for t, r in zip(texts, triaged)]
    vectors = ([searcher.encode_query([p.text])[0] for p in prepared] if searcher.encode_query else None)
    labels = [acceptable_slugs(q) for q in queries]
    report: dict[str, Any] = {"queries": len(queries), "on_topic": sum(1 for a, _ in labels if a),
                              "off_topic": sum(1 for a, _ in labels if not a)}
    missing = {s for a, _ in labels for s in a} - {e.slug for e in searcher.build.entries}
    report["acceptable_not_indexed"] = sorted(missing)
    for mode in searcher.modes:
        hit1 = hit3 = pref1 = rr = 0.0
        tiers = {"confident": 0, "likely": 0, "none": 0}
        confident_wrong = confident_right = likely_right = off_confident = off_likely = 0
        for i, q in enumerate(tqdm(queries, desc=f"eval {mode}", leave=False)):
            acceptable, preferred = labels[i]
            res = searcher.search(prepared[i], k=k, mode=mode, triage=TriageView.of(triaged[i]),
                                  query_vector=vectors[i] if vectors is not None else None)
            slugs = [h.slug for h in res.hits]
            if not acceptable:
                off_confident += int(res.tier == "confident")
                off_likely += int(res.tier == "likely")
                continue
            tiers[res.tier] += 1
            rank = next((r for r, s in enumerate(slugs) if s in acceptable), None)
            hit1 += int(rank == 0)
            hit3 += int(rank is not None and rank < 3)
            pref1 += int(bool(slugs) and slugs[0] == preferred)
            rr += 1.0 / (rank + 1) if rank is not None else 0.0
            confident_right += int(res.tier == "confident" and rank == 0)
            confident_wrong += int(res.tier == "confident" and rank != 0)
            likely_right += int(res.tier == "likely" and rank == 0)
        n_on, n_off = report["on_topic"], report["off_topic"]
        confident = confident_right + confident_wrong + off_confident

        def share(x: float, n: int) -> float | None:
            return round(x / n, 4) if n else None

        report[mode] = {
            "acceptable@1": share(hit1, n_on), "acceptable@3": share(hit3, n_on), "preferred@1": share(pref1, n_on),
            "mrr": share(rr, n_on),
            "tiers_on_topic": {t: share(v, n_on) for t, v in tiers.items()},
            "answered_right": share(confident_right + likely_right, n_on),
            "confident_right": share(confident_right, n_on),
            "confident_wrong_share_of_confident": share(confident_wrong + off_confident, confident),
            "off_topic_confident": share(off_confident, n_off), "off_topic_likely": share(off_likely, n_off),
        }
    return report


def new_entries(searcher: Searcher, analyse: Callable[[Sequence[str]], list[TriageResult]] | None = None,
                mode: str = "hybrid", k: int = 3) -> dict[str, Any]:
    """How an entry fares the day it is published, before the ranking model is refitted: every entry in turn is
    searched with no remembered question naming it (QueryMemory.without), by its own questions (title, question,
    paraphrases) as asked verbatim, and by each with that row left out of the index (a paraphrase the entry does not
    hold). Reported beside the same searches with the memory as fitted."""
    if searcher.memory is None or mode not in searcher.modes:
        return {"skipped": "no answered-question memory or no dense index"}
    rows = searcher.build.rows
    entries = searcher.build.entries
    asked = [(t, int(p)) for t, p, f in zip(rows.texts, rows.entry_pos, rows.field) if f == "question"]
    triaged: list[TriageResult | None] = []
    if analyse is not None:
        for i in tqdm(range(0, len(asked), 64), desc="triage of entry questions", leave=False):
            triaged += analyse([t for t, _ in asked[i:i + 64]])
    else:
        triaged = [None] * len(asked)
    prepared = [from_triage(r) if r is not None else prepare_query(t) for (t, _), r in zip(asked, triaged)]
    by_entry: dict[int, list[int]] = {}
    for i, (_, pos) in enumerate(asked):
        by_entry.setdefault(pos, []).append(i)
    fitted = searcher.memory
    counts = {f"{memory} {how}": {"first": 0, "top3": 0, "answered": 0, "confident": 0, "likely": 0, "n": 0}
              for memory in ("fitted", "new") for how in ("verbatim", "left_out")}
    try:
        for pos, entry in enumerate(tqdm(entries, desc="entries as if new", leave=False)):
            for memory, mem in (("fitted", fitted), ("new", fitted.without(entry.slug))):
                searcher.memory = mem
                for i in by_entry.get(pos, []):
                    for how, exclude in (("verbatim", None), ("left_out", asked[i][0])):
                        res = searcher.search(prepared[i], k=k, mode=mode, triage=TriageView.of(triaged[i]),
                                              exclude_text=exclude)
                        slugs = [h.slug for h in res.hits]
                        c = counts[f"{memory} {how}"]
                        c["n"] += 1
                        c["first"] += int(slugs[:1] == [entry.slug])
                        c["top3"] += int(entry.slug in slugs[:3])
                        c["answered"] += int(slugs[:1] == [entry.slug] and res.tier != "none")
                        c["confident"] += int(res.tier == "confident")
                        c["likely"] += int(res.tier == "likely")
    finally:
        searcher.memory = fitted
    return {"entries": len(entries), "mode": mode,
            **{name: {key: round(v / c["n"], 4) for key, v in c.items() if key != "n"} | {"n": c["n"]}
               for name, c in counts.items()}}


_LAW = re.compile(r"《([^》]+)》")


def _law_key(name: str) -> str:
    return name.replace("中华人民共和国", "").strip()


def statute_recall(statute_searcher: Searcher, shared_dir: Path, k: int = 5) -> dict[str, Any]:
    """Recall@k of the cited law among statute hits, over consultations whose cited law we imported."""
    path = shared_dir / LAWBENCH_QUESTIONS
    if not path.exists():
        return {"skipped": "lawbench consultations not found"}
    laws = {_law_key(e.title.split(" ")[0]) for e in statute_searcher.build.entries}
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    usable = []
    for r in rows:
        cited = {_law_key(m) for m in _LAW.findall(r.get("legal_basis", "") or "")}
        cited &= laws
        if cited:
            usable.append((r["question"], cited))
    prepared = [prepare_query(q) for q, _ in usable]
    vectors = statute_searcher.encode_query([p.text for p in prepared]) if statute_searcher.encode_query else None
    out: dict[str, Any] = {"consultations": len(rows), "with_imported_cited_law": len(usable), "k": k}
    for mode in statute_searcher.modes:
        found = 0
        for i, (_, cited) in enumerate(tqdm(usable, desc=f"statutes {mode}", leave=False)):
            res = statute_searcher.search(prepared[i], k=k, mode=mode,
                                          query_vector=vectors[i] if vectors is not None else None)
            hit_laws = {_law_key(h.title.split(" ")[0]) for h in res.hits}
            found += int(bool(hit_laws & cited))
        out[mode] = {"recall@5": round(found / len(usable), 4) if usable else None}
    return out
