"""`jishibang bench search`: search latency and reindex time, printed as JSON.

- Seed KB: the real index (BM25 + e5), p50/p95 per query without the query embedding (BM25 path)
  and with it (hybrid: encode + BM25 + faiss + fusion), over the written query set.
- Synthetic KB of N entries (default 100,000): entries recombined from seed sentences so BM25 sees
  realistic token statistics. Their vectors are random unit vectors: faiss speed does not depend on
  content, and encoding 600k texts on 2 CPU cores would take hours. Query vectors are real e5 vectors.
- Reindex time for 1,000 and 10,000 entries with vectors already cached (the incremental path).
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import psutil

from kb import index as idx
from kb.search import Searcher
from models.bench_triage import _percentiles


def _stage(msg: str) -> None:
    """Progress on stderr (stdout carries the JSON): the 100k build takes minutes."""
    print(f"[bench search] {time.strftime('%H:%M:%S')} {msg}", file=sys.stderr, flush=True)


def synthetic_docs(seed_docs: list[idx.DocEntry], n: int, rng: random.Random) -> list[idx.DocEntry]:
    sentences = [q for d in seed_docs for q in d.questions]
    answers = [d.answer for d in seed_docs]
    out = []
    for i in range(n):
        base = seed_docs[i % len(seed_docs)]
        qs = tuple(rng.sample(sentences, 3)) + (f"{rng.choice(sentences)} 第{i}号",)
        out.append(idx.DocEntry(10_000_000 + i, f"synthetic-{i}", base.kind, f"{base.title} #{i}", base.issue_types,
                                base.jurisdiction, "published", 1, qs, rng.choice(answers)))
    return out


class RandomVectors:
    """Stand-in encoder for synthetic rows: deterministic random unit vectors of the model's width."""

    def __init__(self, dim: int, seed: int = 0) -> None:
        self.dim = dim
        self.rng = np.random.default_rng(seed)

    def __call__(self, texts: list[str]) -> np.ndarray:
        v = self.rng.standard_normal((len(texts), self.dim)).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)


def _time_queries(fn: Callable[[str], Any], queries: list[str]) -> dict[str, float]:
    for q in queries[:10]:
        fn(q)
    ms = []
    for q in queries:
        t0 = time.perf_counter()
        fn(q)
        ms.append((time.perf_counter() - t0) * 1000)
    return _percentiles(ms)


def bench_search(seed_searcher: Searcher, queries: list[str], encode_query: Callable[[list[str]], np.ndarray],
                 n_synthetic: int = 100_000, hnsw_above: int = 50_000) -> dict[str, Any]:
    proc = psutil.Process()
    report: dict[str, Any] = {"queries": len(queries)}
    _stage(f"timing {len(queries)} queries on the seed KB")
    report["seed_kb"] = {
        "entries": len(seed_searcher.build.entries), "rows": len(seed_searcher.build.rows.texts),
        "without_embedding_bm25": _time_queries(lambda q: seed_searcher.search(q, mode="bm25"), queries),
        "with_embedding_hybrid": _time_queries(lambda q: seed_searcher.search(q, mode="hybrid"), queries),
    }
    rng = random.Random(11)
    seed_docs = seed_searcher.build.entries
    dim = seed_searcher.build.dim or 384
    vectors = RandomVectors(dim)
    for n in (1_000, 10_000):
        _stage(f"reindex timing, {n} synthetic entries")
        docs = synthetic_docs(seed_docs, n, rng)
        cache = idx.VectorCache(None)
        idx.build(docs, vectors, vectors, cache)  # fill the cache: the measured build is the incremental path
        t0 = time.perf_counter()
        idx.build(docs, vectors, vectors, cache)
        report[f"reindex_{n}_entries_seconds"] = round(time.perf_counter() - t0, 2)
    rss_before = proc.memory_info().rss
    docs = synthetic_docs(seed_docs, n_synthetic, rng)
    _stage(f"building the {n_synthetic}-entry index (BM25 + faiss); this takes minutes")
    t0 = time.perf_counter()
    big = idx.build(docs, vectors, vectors, idx.VectorCache(None), hnsw_above=hnsw_above,
                    progress=lambda stage, done, total: _stage(f"{stage} {done}/{total}") if done == total else None)
    _stage(f"built in {time.perf_counter() - t0:.0f} s; timing queries")
    build_s = time.perf_counter() - t0
    qvecs = {q: v for q, v in zip(queries, encode_query(queries))}
    searcher = Searcher(big, lambda texts: np.vstack([qvecs[t] for t in texts]), None)
    report["synthetic_kb"] = {
        "entries": n_synthetic, "rows": len(big.rows.texts), "index_type": big.manifest["index_type"],
        "build_seconds": round(build_s, 1),
        "without_embedding_bm25": _time_queries(lambda q: searcher.search(q, mode="bm25"), queries),
        "hybrid_with_precomputed_query_vector": _time_queries(
            lambda q: searcher.search(q, mode="hybrid", query_vector=qvecs[q]), queries),
        "index_memory_mb": round((proc.memory_info().rss - rss_before) / 2**20, 1),
    }
    report["query_embedding_only"] = _time_queries(lambda q: encode_query([q]), queries)
    report["peak_rss_mb"] = round(proc.memory_info().rss / 2**20, 1)
    return report
