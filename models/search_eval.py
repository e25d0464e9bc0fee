"""`jishibang eval search`: hit@1, hit@3, MRR and false answers for BM25, dense and hybrid, side by side.

The query set (kb/eval/*.jsonl) was written separately from the entries, in workers' and operators'
words; queries with no relevant entry measure the false-answer rate. The real-data check runs the 500
lawbench consultations against the imported statutes and reports recall@5 of the laws the lawyers cited.
"""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

from tqdm import tqdm

from kb.search import Searcher


def load_queries() -> list[dict[str, Any]]:
    folder = resources.files("kb").joinpath("eval")
    out = []
    for p in sorted(folder.iterdir(), key=lambda p: p.name):
        if p.name.endswith(".jsonl"):
            out += [json.loads(line) for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]
    return out


def evaluate(searcher: Searcher, queries: list[dict[str, Any]], k: int = 10) -> dict[str, Any]:
    texts = [q["query"] for q in queries]
    vectors = searcher.encode_query(texts) if searcher.encode_query else None
    report: dict[str, Any] = {"queries": len(queries), "on_topic": sum(1 for q in queries if q["relevant"]),
                              "off_topic": sum(1 for q in queries if not q["relevant"])}
    missing = {s for q in queries for s in q["relevant"]} - {e.slug for e in searcher.build.entries}
    report["relevant_not_indexed"] = sorted(missing)
    for mode in searcher.modes:
        hit1 = hit3 = rr = answered_right = abstained_on_topic = false_answers = 0
        for i, q in enumerate(tqdm(queries, desc=f"eval {mode}", leave=False)):
            res = searcher.search(q["query"], k=k, mode=mode, query_vector=vectors[i] if vectors is not None else None)
            slugs = [h.slug for h in res.hits]
            if not q["relevant"]:
                false_answers += int(not res.abstain)
                continue
            rank = next((r for r, s in enumerate(slugs) if s in q["relevant"]), None)
            hit1 += int(rank == 0)
            hit3 += int(rank is not None and rank < 3)
            rr += 1.0 / (rank + 1) if rank is not None else 0.0
            abstained_on_topic += int(res.abstain)
            answered_right += int(not res.abstain and rank == 0)
        n_on, n_off = report["on_topic"], report["off_topic"]
        report[mode] = {
            "hit@1": round(hit1 / n_on, 4), "hit@3": round(hit3 / n_on, 4), "mrr": round(rr / n_on, 4),
            "false_answer_rate_off_topic": round(false_answers / n_off, 4) if n_off else None,
            "abstain_rate_on_topic": round(abstained_on_topic / n_on, 4),
            "answered_and_right@1": round(answered_right / n_on, 4),
        }
    return report


_LAW = re.compile(r"《([^》]+)》")


def _law_key(name: str) -> str:
    return name.replace("中华人民共和国", "").strip()


def statute_recall(statute_searcher: Searcher, shared_dir: Path, k: int = 5) -> dict[str, Any]:
    """Recall@k of the cited law among statute hits, over consultations whose cited law we imported."""
    path = shared_dir / "data" / "lawbench_consultation_3-8" / "consultation_qa.jsonl"
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
    texts = [q for q, _ in usable]
    vectors = statute_searcher.encode_query(texts) if statute_searcher.encode_query else None
    out: dict[str, Any] = {"consultations": len(rows), "with_imported_cited_law": len(usable), "k": k}
    for mode in statute_searcher.modes:
        found = 0
        for i, (q, cited) in enumerate(tqdm(usable, desc=f"statutes {mode}", leave=False)):
            res = statute_searcher.search(q, k=k, mode=mode, query_vector=vectors[i] if vectors is not None else None)
            hit_laws = {_law_key(h.title.split(" ")[0]) for h in res.hits}
            found += int(bool(hit_laws & cited))
        out[mode] = {"recall@5": round(found / len(usable), 4) if usable else None}
    return out
