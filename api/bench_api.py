"""`jishibang bench api`: real HTTP against a running server (uvicorn, 2 workers by default):
latency p50/p95/p99 and throughput of /v1/suggest and /v1/faq/ask at several concurrencies, with
error counts, as JSON. Starts its own server on a temporary data dir unless given --url and --token."""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil

from api.settings import child_env

REPO = Path(__file__).resolve().parents[1]


def _stage(msg: str) -> None:
    print(f"[bench api] {msg}", file=sys.stderr, flush=True)


def load_texts(limit: int = 100_000, seed: int = 5) -> tuple[list[str], list[str]]:
    """Call notes from the team corpus (for /v1/suggest) and worker questions from the search query sets
    (for /v1/faq/ask). Runs continue through the lists rather than restarting, so a text comes back only
    after thousands of others and caches do not flatter the figures."""
    notes, questions = [], []
    for path in sorted((REPO / "triage" / "data" / "corpus").glob("*.jsonl")):
        notes += [json.loads(line)["text"] for line in path.read_text().splitlines() if line.strip()]
    for path in [*sorted((REPO / "kb" / "eval").glob("queries_*.jsonl")), REPO / "kb" / "calibration" / "queries.jsonl"]:
        questions += [json.loads(line)["query"] for line in path.read_text().splitlines() if line.strip()]
    rng = random.Random(seed)
    rng.shuffle(notes)
    rng.shuffle(questions)
    return [n[:5000] for n in notes[:limit]], [q[:2000] for q in questions[:limit]]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """`jishibang serve --workers N` on a temporary data dir with one operator user."""

    def __init__(self, workers: int, model_dir: Path, seed_index: Path | None) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="jishibang-bench-"))
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        data = self.tmp / "data"
        if seed_index is not None and (seed_index / "vectors.npz").exists():
            (data / "index" / "entries").mkdir(parents=True)
            shutil.copy(seed_index / "vectors.npz", data / "index" / "entries" / "vectors.npz")
        self.env = child_env(JISHIBANG_DATA_DIR=str(data), JISHIBANG_MODEL_DIR=str(model_dir),
                             JISHIBANG_FAQ_RATE_PER_MINUTE="1000000", JISHIBANG_LOG_LEVEL="WARNING")
        exe = str(Path(sys.executable).parent / "jishibang")
        subprocess.run([exe, "users", "add", "bench", "--role", "operator", "--password", "bench-password"],
                       env=self.env, check=True, capture_output=True)
        self.log = open(self.tmp / "server.log", "wb")
        t0 = time.perf_counter()
        self.proc = subprocess.Popen([exe, "serve", "--port", str(self.port), "--workers", str(workers)],
                                     env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        self.first_ready_s: float | None = None
        # Wait until every worker answers: readiness from several connections in a row.
        deadline, ok = time.monotonic() + 300, 0
        while ok < 6:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("server did not start: " + (self.tmp / "server.log").read_text()[-2000:])
            try:
                ok = ok + 1 if httpx.get(f"{self.url}/readyz", timeout=5).status_code == 200 else 0
            except httpx.TransportError:
                ok = 0
            if ok and self.first_ready_s is None:
                self.first_ready_s = round(time.perf_counter() - t0, 2)
            time.sleep(0.5)
        r = httpx.post(f"{self.url}/v1/auth/login", json={"name": "bench", "password": "bench-password"}, timeout=30)
        r.raise_for_status()
        self.token = r.json()["token"]

    def _processes(self) -> list[psutil.Process]:
        """The supervisor and every process under it."""
        supervisor = psutil.Process(self.proc.pid)
        return [p for p in (supervisor, *supervisor.children(recursive=True)) if p.is_running()]

    def rss_mb(self) -> float:
        return round(sum(p.memory_info().rss for p in self._processes()) / 2**20, 1)

    def cpu_seconds(self) -> float:
        """User + system CPU seconds of the supervisor and its workers so far."""
        return sum(_cpu_seconds(p) for p in self._processes())

    def worker_rss_mb(self) -> list[float]:
        """RSS of each child process of the supervisor (the API workers; uvicorn's small helper processes too)."""
        children = psutil.Process(self.proc.pid).children(recursive=True)
        return sorted((round(p.memory_info().rss / 2**20, 1) for p in children if p.is_running()), reverse=True)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


def _cpu_seconds(process: psutil.Process) -> float:
    """User + system CPU seconds of one process so far."""
    times = process.cpu_times()
    return times.user + times.system


_NEXT: dict[str, int] = {}  # path -> index of the next text, kept across runs


async def _run(url: str, token: str, path: str, field: str, texts: list[str], concurrency: int,
               seconds: float) -> dict[str, Any]:
    latencies: list[float] = []
    errors: dict[str, int] = {}
    stop_at = time.perf_counter() + seconds
    headers = {"Authorization": f"Bearer {token}"} if path == "/v1/suggest" else {}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60, limits=limits) as client:
        async def worker(i: int) -> None:
            while time.perf_counter() < stop_at:
                n = _NEXT.get(path, 0)
                _NEXT[path] = n + 1
                text = texts[n % len(texts)]
                t0 = time.perf_counter()
                try:
                    r = await client.post(path, json={field: text})
                    code = str(r.status_code) if r.status_code != 200 else None
                except httpx.HTTPError as exc:
                    code = type(exc).__name__
                if code is None:
                    latencies.append((time.perf_counter() - t0) * 1000)
                else:
                    errors[code] = errors.get(code, 0) + 1

        t_start = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(concurrency)))
        elapsed = time.perf_counter() - t_start
    lat = np.array(latencies) if latencies else np.array([float("nan")])
    return {
        "concurrency": concurrency, "seconds": round(elapsed, 1), "requests": len(latencies) + sum(errors.values()),
        "ok": len(latencies), "errors": sum(errors.values()), "error_codes": errors,
        "throughput_rps": round(len(latencies) / elapsed, 2),
        "p50_ms": round(float(np.percentile(lat, 50)), 1), "p95_ms": round(float(np.percentile(lat, 95)), 1),
        "p99_ms": round(float(np.percentile(lat, 99)), 1),
    }


def encoder_alone(texts: list[str], workers: int, n: int = 200) -> dict[str, Any]:
    """The served encoder alone (same model, variant and threads per worker as the server), one text at a time,
    no cache: the floor a suggestion cannot go below."""
    from api.settings import get_settings
    from triage.embedder import Embedder
    from triage.normalize import normalize
    from triage.pii import mask

    settings = get_settings()
    options = dict(settings.embedder_options)
    options["threads"] = max(1, (os.cpu_count() or 1) // max(1, workers))
    embedder = Embedder(settings.embedding_model_path, **options)
    embedder.cache_size = 0
    embedder.warm_up()
    prepared = [normalize(mask(t).text) for t in texts[:n]]
    for t in prepared[:5]:
        embedder.encode_queries([t])
    lat = []
    for t in prepared:
        t0 = time.perf_counter()
        embedder.encode_queries([t])
        lat.append((time.perf_counter() - t0) * 1000)
    return {"texts": len(prepared), "threads": options["threads"], "p50_ms": round(float(np.percentile(lat, 50)), 1),
            "p95_ms": round(float(np.percentile(lat, 95)), 1)}


def bench_api(model_dir: Path, seed_index: Path | None, seconds: float = 30.0, concurrencies: tuple[int, ...] = (1, 8, 32),
              workers: int = 2, url: str | None = None, token: str | None = None) -> dict[str, Any]:
    notes, questions = load_texts()
    server = None
    if url is None:
        _stage(f"starting the service: uvicorn, {workers} workers, temporary data dir")
        server = Server(workers, model_dir, seed_index)
        url, token = server.url, server.token
    assert token is not None, "with --url, give --token (an operator token or API key)"
    report: dict[str, Any] = {"url": url, "workers": workers if server else None, "cpu_count": os.cpu_count(),
                              "seconds_per_run": seconds, "runs": {}}
    try:
        # Warm-up: the first calls of each worker load lazily-built parts.
        asyncio.run(_run(url, token, "/v1/suggest", "text", notes, 4, 5))
        asyncio.run(_run(url, "", "/v1/faq/ask", "question", questions, 4, 5))
        if server:
            report["server_rss_mb_start"] = server.rss_mb()
        for path, field, texts in (("/v1/suggest", "text", notes), ("/v1/faq/ask", "question", questions)):
            runs = []
            for c in concurrencies:
                _stage(f"{path} at concurrency {c} for {seconds:.0f} s")
                # CPU per request, the server's and this client's: on a 2-core machine they share the cores, so
                # throughput is bounded by their sum, and the split says which side a change should go to.
                server_cpu, client_cpu = server.cpu_seconds() if server else None, _cpu_seconds(psutil.Process())
                result = asyncio.run(_run(url, token, path, field, texts, c, seconds))
                if result["ok"]:
                    result["client_cpu_ms_per_request"] = round(
                        (_cpu_seconds(psutil.Process()) - client_cpu) * 1000 / result["requests"], 2)
                    if server and server_cpu is not None:
                        result["server_cpu_ms_per_request"] = round(
                            (server.cpu_seconds() - server_cpu) * 1000 / result["requests"], 2)
                _stage(f"  p50 {result['p50_ms']} ms, p95 {result['p95_ms']} ms, {result['throughput_rps']} req/s, "
                       f"{result['errors']} errors, CPU per request: server {result.get('server_cpu_ms_per_request')} "
                       f"ms, client {result.get('client_cpu_ms_per_request')} ms")
                runs.append(result)
            report["runs"][path] = runs
        if server:
            report["server_rss_mb_end"] = server.rss_mb()
            report["worker_rss_mb_end"] = server.worker_rss_mb()
        # The encoder alone on the same call notes, in the same run: the suggestion's floor.
        _stage("the encoder alone on the same call notes")
        report["encoder_alone"] = encoder_alone(notes, workers)
        c1 = next((r for r in report["runs"].get("/v1/suggest", []) if r["concurrency"] == 1), None)
        # The ratio compares one request at a time with one encoder pass: without a concurrency-1 run there is none.
        report["suggest_p50_over_encoder_p50"] = (round(c1["p50_ms"] / report["encoder_alone"]["p50_ms"], 2)
                                                  if c1 and c1["ok"] and report["encoder_alone"]["p50_ms"] else None)
    finally:
        if server:
            server.stop()
    return report


def bench_start(model_dir: Path, workers: int = 2) -> dict[str, Any]:
    """Seconds from `jishibang serve` on a new, empty data dir (seeded on start; no copied vectors: the machine's
    seed cache beside the models) to /readyz 200 from every worker."""
    t0 = time.perf_counter()
    server = Server(workers, model_dir, None)
    try:
        return {"workers": workers, "seconds_to_first_ready": server.first_ready_s,
                "seconds_to_all_ready": round(time.perf_counter() - t0, 2), "rss_mb": server.rss_mb()}
    finally:
        server.stop()
