"""`jishibang bench load`: a sustained, open-loop load of mixed /v1/suggest and /v1/faq/ask over real HTTP.

Requests leave at a fixed rate whether or not earlier ones have answered (open loop), so a slow server
shows up as latency and backlog instead of quietly lowering the load; latency is measured from each
request's scheduled time for the same reason. The command starts `jishibang serve --workers N` on a
temporary data dir (the `bench api` helpers), prints progress every minute to stderr, and reports as
JSON: requests, errors by kind, p50/p95/p99 per endpoint, the achieved rate, and the RSS of the server
processes (the uvicorn supervisor and each worker) at the start, every minute and at the end."""

from __future__ import annotations

import asyncio
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil

from api.bench_api import Server, _run, load_texts

SUGGEST, FAQ = "/v1/suggest", "/v1/faq/ask"


def _stage(msg: str) -> None:
    print(f"[bench load] {msg}", file=sys.stderr, flush=True)


def endpoint_of(i: int, suggest_share: float) -> str:
    """The endpoint of request ``i``: suggest exactly ``suggest_share`` of the time, evenly spread."""
    return SUGGEST if math.floor((i + 1) * suggest_share) > math.floor(i * suggest_share) else FAQ


def server_rss(pid: int) -> dict[str, Any]:
    """RSS of a `jishibang serve` process tree in MB: the total, the supervisor, each worker, and
    multiprocessing's helper (the resource tracker) apart."""
    root = psutil.Process(pid)
    rss: dict[int, float] = {}
    helpers: set[int] = set()
    for p in [root, *root.children(recursive=True)]:
        try:
            rss[p.pid] = p.memory_info().rss / 2**20
            if "resource_tracker" in " ".join(p.cmdline()):
                helpers.add(p.pid)
        except psutil.NoSuchProcess:
            continue
    children = sorted(p for p in rss if p != pid)
    return {"total_mb": round(sum(rss.values()), 1), "supervisor_mb": round(rss.get(pid, 0.0), 1),
            "workers_mb": {str(p): round(rss[p], 1) for p in children if p not in helpers},
            "helpers_mb": {str(p): round(rss[p], 1) for p in children if p in helpers}}


def _percentiles(values: list[float]) -> dict[str, float | int | None]:
    if not values:
        return {"n": 0, "p50_ms": None, "p95_ms": None, "p99_ms": None, "max_ms": None}
    a = np.asarray(values)
    return {"n": len(values), "p50_ms": round(float(np.percentile(a, 50)), 1),
            "p95_ms": round(float(np.percentile(a, 95)), 1), "p99_ms": round(float(np.percentile(a, 99)), 1),
            "max_ms": round(float(a.max()), 1)}


class Load:
    """The run's tallies, shared by the request tasks and the per-minute monitor."""

    def __init__(self) -> None:
        self.latencies: dict[str, list[tuple[float, float]]] = {SUGGEST: [], FAQ: []}  # (finished at, ms)
        self.errors: dict[str, int] = {}
        self.sent = 0
        self.done = 0
        self.send_lag_ms: list[float] = []

    def error(self, path: str, kind: str) -> None:
        key = f"{path} {kind}"
        self.errors[key] = self.errors.get(key, 0) + 1


async def drive(url: str, token: str, rate: float, seconds: float, suggest_share: float, notes: list[str],
                questions: list[str], pid: int | None, progress_seconds: float = 60.0) -> dict[str, Any]:
    """Send ``rate`` requests a second for ``seconds`` on a fixed schedule; return the tallies and RSS samples."""
    load = Load()
    total = int(rate * seconds)
    limits = httpx.Limits(max_connections=1024, max_keepalive_connections=256)
    samples: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()

    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        async def one(i: int, at: float) -> None:
            path = endpoint_of(i, suggest_share)
            load.send_lag_ms.append((loop.time() - at) * 1000)
            try:
                if path == SUGGEST:
                    r = await client.post(path, json={"text": notes[i % len(notes)]},
                                          headers={"Authorization": f"Bearer {token}"})
                else:
                    r = await client.post(path, json={"question": questions[i % len(questions)]})
                if r.status_code == 200:
                    load.latencies[path].append((loop.time(), (loop.time() - at) * 1000))
                else:
                    load.error(path, str(r.status_code))
            except httpx.HTTPError as exc:
                load.error(path, type(exc).__name__)
            finally:
                load.done += 1

        async def monitor(start: float) -> None:
            minute = 0
            while True:
                await asyncio.sleep(max(0.0, start + (minute + 1) * progress_seconds - loop.time()))
                minute += 1
                since = start + (minute - 1) * progress_seconds
                recent = {p: [ms for t, ms in v if t >= since] for p, v in load.latencies.items()}
                sample = {"t_s": round(loop.time() - start, 1), "sent": load.sent, "done": load.done,
                          "errors": sum(load.errors.values()),
                          "p95_ms": {p: _percentiles(v)["p95_ms"] for p, v in recent.items()}}
                if pid is not None:
                    sample["rss"] = await asyncio.to_thread(server_rss, pid)
                samples.append(sample)
                rss = f", server RSS {sample['rss']['total_mb']} MB" if "rss" in sample else ""
                _stage(f"{sample['t_s']:.0f} s: {load.sent} sent, {load.done} done, {sample['errors']} errors, "
                       f"p95 suggest {sample['p95_ms'][SUGGEST]} ms, faq {sample['p95_ms'][FAQ]} ms{rss}")

        start = loop.time()
        watcher = asyncio.create_task(monitor(start))
        tasks = []
        for i in range(total):
            at = start + i / rate
            delay = at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i, at)))
            load.sent += 1
        sent_s = loop.time() - start
        await asyncio.gather(*tasks)
        elapsed = loop.time() - start
        watcher.cancel()
    ok = sum(len(v) for v in load.latencies.values())
    return {
        "requests": {"scheduled": total, "sent": load.sent, "ok": ok, "errors": sum(load.errors.values())},
        "errors_by_kind": dict(sorted(load.errors.items())),
        "target_rate_rps": rate,
        # The last request leaves one interval before the schedule ends.
        "achieved_rate_rps": {"sent": round(load.sent / (sent_s + 1 / rate), 2),
                              "answered_ok": round(ok / max(elapsed, sent_s + 1 / rate), 2)},
        "elapsed_s": round(elapsed, 1),
        "send_lag_ms": _percentiles(load.send_lag_ms),
        "latency_ms": {p: _percentiles([ms for _, ms in v]) for p, v in load.latencies.items()},
        "per_interval": samples,
    }


def bench_load(model_dir: Path, seed_index: Path | None, minutes: float = 10.0, rate: float = 20.0,
               suggest_share: float = 0.5, workers: int = 2, url: str | None = None, token: str | None = None,
               progress_seconds: float = 60.0, warmup_seconds: float = 5.0) -> dict[str, Any]:
    notes, questions = load_texts()
    server = None
    if url is None:
        _stage(f"starting the service: uvicorn, {workers} workers, temporary data dir")
        t0 = time.perf_counter()
        server = Server(workers, model_dir, seed_index)
        _stage(f"ready in {time.perf_counter() - t0:.1f} s")
        url, token = server.url, server.token
    assert token is not None, "with --url, give --token (an operator token or API key)"
    pid = server.proc.pid if server else None
    report: dict[str, Any] = {"url": url, "workers": workers if server else None, "cpu_count": os.cpu_count(),
                              "minutes": minutes, "rate_rps": rate, "suggest_share": suggest_share}
    try:
        # Warm-up: each worker loads its lazily-built parts (the triage model) before RSS is first read.
        if warmup_seconds > 0:
            asyncio.run(_run(url, token, SUGGEST, "text", notes, 2 * workers, warmup_seconds))
            asyncio.run(_run(url, "", FAQ, "question", questions, 2 * workers, warmup_seconds))
        start_rss = server_rss(pid) if pid else None
        _stage(f"{rate:g} requests/s for {minutes:g} min, {suggest_share:.0%} /v1/suggest, open loop")
        result = asyncio.run(drive(url, token, rate, minutes * 60, suggest_share, notes, questions, pid,
                                   progress_seconds))
        report.update(result)
        if start_rss is not None:
            end_rss = server_rss(pid)  # type: ignore[arg-type]
            report["server_rss"] = {
                "start": start_rss, "end": end_rss,
                "growth_mb": round(end_rss["total_mb"] - start_rss["total_mb"], 1),
                # By process id: a worker the supervisor had to restart shows up as gone and new.
                "worker_growth_mb": {p: round(end_rss["workers_mb"][p] - mb, 1)
                                     for p, mb in start_rss["workers_mb"].items() if p in end_rss["workers_mb"]},
                "workers_replaced": sorted(set(start_rss["workers_mb"]) ^ set(end_rss["workers_mb"])),
            }
    finally:
        if server:
            server.stop()
    return report
