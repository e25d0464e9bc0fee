"""`jishibang bench triage`: per-message latency of the full triage pipeline, one message at a time,
with the embedding features (the current model) and without them (the TF-IDF-only side model)."""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from models.registry import triage_root
from models.triage_data import by_split, load_corpus
from triage import classifier as artifact
from triage.embedder import Embedder
from triage.pipeline import Triager


def _percentiles(ms: list[float]) -> dict[str, float]:
    a = np.asarray(ms)
    return {"p50_ms": round(float(np.percentile(a, 50)), 2), "p95_ms": round(float(np.percentile(a, 95)), 2),
            "p99_ms": round(float(np.percentile(a, 99)), 2), "mean_ms": round(float(a.mean()), 2)}


def _time(triager: Triager, texts: list[str]) -> dict[str, Any]:
    for t in texts[:20]:  # warm-up: jieba, jionlp and torch first calls
        triager.analyse(t)
    ms = []
    for t in texts:
        t0 = time.perf_counter()
        triager.analyse(t)
        ms.append((time.perf_counter() - t0) * 1000)
    return {"messages": len(texts), **_percentiles(ms)}


def bench_triage(model_dir: Path, embedding_model: str, shared_dir: Path, n: int = 500,
                 embedder_options: dict[str, Any] | None = None) -> dict[str, Any]:
    root = triage_root(model_dir)
    examples = load_corpus(shared_dir)
    split = by_split(examples)
    texts = [e.text for e in split["test"] + split["val"]][:n]
    while len(texts) < n:
        texts += texts[: n - len(texts)]
    embedder = Embedder(embedding_model, **(embedder_options or {}))
    report: dict[str, Any] = {"cpu_count": os.cpu_count(), "machine": platform.machine(), "messages": n,
                              "mean_chars": round(float(np.mean([len(t) for t in texts])), 1)}
    current = artifact.current_version(root)
    versions = {v["version"]: v for v in artifact.list_versions(root)}
    tfidf = next((v for v in sorted(versions, reverse=True) if versions[v]["variant"] == "tfidf"), None)
    for label, version in (("with_embedding", current), ("without_embedding", tfidf)):
        if version is None:
            report[label] = None
            continue
        model = artifact.load(root, version)
        if model.needs_encoder:
            embedder.warm_up()
            model.attach_encoder(embedder.encode_queries)
        report[label] = {"version": version, "variant": model.variant, **_time(Triager(model), texts)}
    if report.get("with_embedding") and report["with_embedding"]["variant"] == "tfidf":
        report["note"] = "the current model does not use embeddings"
    report["peak_rss_mb"] = round(psutil.Process().memory_info().rss / 2**20, 1)
    return report
