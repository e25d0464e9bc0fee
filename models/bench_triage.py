"""`jishibang bench triage`: per-message latency of the full triage pipeline, one message at a time,
with the embedding features (the current model and the served encoder), with the same model on the fp32
encoder when the served one is quantised, and without embeddings (the TF-IDF-only side model).

The pipelines run interleaved, message by message in a rotating order, so a busy moment on the shared
machine hits them alike: compare the ratios of one run rather than figures of different runs.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
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


def _time_interleaved(runs: dict[str, Callable[[str], object]], texts: list[str]) -> dict[str, list[float]]:
    for run in runs.values():
        for t in texts[:20]:  # warm-up: jieba, jionlp and the encoder's first calls
            run(t)
    names = list(runs)
    ms: dict[str, list[float]] = {name: [] for name in names}
    for k, text in enumerate(texts):
        for j in range(len(names)):
            name = names[(k + j) % len(names)]
            t0 = time.perf_counter()
            runs[name](text)
            ms[name].append((time.perf_counter() - t0) * 1000)
    return ms


def bench_triage(model_dir: Path, embedding_model: str, shared_dir: Path, n: int = 500,
                 embedder_options: dict[str, Any] | None = None) -> dict[str, Any]:
    root = triage_root(model_dir)
    examples = load_corpus(shared_dir)
    split = by_split(examples)
    texts = [e.text for e in split["test"] + split["val"]][:n]
    while len(texts) < n:
        texts += texts[: n - len(texts)]
    options = dict(embedder_options or {})
    report: dict[str, Any] = {"cpu_count": os.cpu_count(), "machine": platform.machine(), "messages": n,
                              "mean_chars": round(float(np.mean([len(t) for t in texts])), 1)}
    current = artifact.current_version(root)
    versions = {v["version"]: v for v in artifact.list_versions(root)}
    # the TF-IDF model saved beside the current one (same training run), else the newest
    tfidf = (f"{current}-tfidf" if current and f"{current}-tfidf" in versions
             else next((v for v in sorted(versions, reverse=True) if versions[v]["variant"] == "tfidf"), None))
    runs: dict[str, Callable[[str], object]] = {}
    meta: dict[str, dict[str, Any]] = {}

    def add(label: str, version: str | None, encoder_options: dict[str, Any] | None) -> None:
        if version is None:
            return
        model = artifact.load(root, version)
        encoder = None
        if model.needs_encoder and encoder_options is not None:
            embedder = Embedder(embedding_model, **encoder_options)
            embedder.cache_size = 0  # every message is new to a live service; time the encoding
            embedder.warm_up()
            model.attach_encoder(embedder.encode_queries)
            encoder = f"{embedder.backend}/{embedder.variant}"
        runs[label] = Triager(model).analyse
        meta[label] = {"version": version, "variant": model.variant, "encoder": encoder}

    add("with_embedding", current, options)
    if meta.get("with_embedding", {}).get("encoder") and options.get("variant", "fp32") != "fp32":
        # the same classifier on fp32 vectors: its labels may differ a little, its latency is what fp32 costs
        add("with_embedding_fp32_encoder", current, {**options, "variant": "fp32"})
    add("without_embedding", tfidf, None)
    ms = _time_interleaved(runs, texts)
    for label in ("with_embedding", "with_embedding_fp32_encoder", "without_embedding"):
        report[label] = {**meta[label], "messages": n, **_percentiles(ms[label])} if label in runs else None
    if report.get("with_embedding") and report["with_embedding"]["variant"] == "tfidf":
        report["note"] = "the current model does not use embeddings"
    if report.get("with_embedding_fp32_encoder"):
        served, fp32 = report["with_embedding"], report["with_embedding_fp32_encoder"]
        report["served_over_fp32"] = {k: round(served[k] / fp32[k], 3) for k in ("p50_ms", "p95_ms", "mean_ms")}
    report["peak_rss_mb"] = round(psutil.Process().memory_info().rss / 2**20, 1)
    return report
