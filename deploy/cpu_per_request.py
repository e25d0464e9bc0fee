"""CPU per request, split by process: the API workers, the PostgreSQL backends serving them, and Redis.

The figures behind docs/capacity.md. Starts `jishibang serve --workers 2` (api.bench_api.Server) on the database
and Redis named by the environment, then drives one route at a time open-loop (api.bench_load.drive) and reads
the CPU time each process used (psutil) before and after:

    createdb -h 127.0.0.1 -U postgres capacity     # a fresh, empty database each run
    JISHIBANG_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/capacity \\
    JISHIBANG_REDIS_URL=redis://127.0.0.1:6379/12 \\
    .venv/bin/python deploy/cpu_per_request.py --seconds 60 --rate 8 > cpu.json

PostgreSQL backends are counted when their process title names the benchmark's database (its background
writer, WAL writer and checkpointer are not: WAL cost shows up only partly). Prints JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from api.bench_api import Server, load_texts  # noqa: E402
from api.bench_load import FAQ, SUGGEST, drive  # noqa: E402
from api.settings import Settings  # noqa: E402


def cpu_seconds(procs: list[psutil.Process]) -> float:
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            continue
    return total


def groups(server_pid: int, database: str | None) -> dict[str, list[psutil.Process]]:
    root = psutil.Process(server_pid)
    out: dict[str, list[psutil.Process]] = {"api": [root, *root.children(recursive=True)], "postgresql": [], "redis": []}
    for p in psutil.process_iter(["name", "cmdline"]):
        cmd = " ".join(p.info.get("cmdline") or [])
        if database and cmd.startswith("postgres:") and f" {database} " in f" {cmd} ":
            out["postgresql"].append(p)
        elif (p.info.get("name") or "").startswith("redis-server"):
            out["redis"].append(p)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--rate", type=float, default=8.0, help="requests/s, open loop (below saturation)")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    settings = Settings()
    database = settings.sqlalchemy_url.rsplit("/", 1)[-1] if settings.sqlalchemy_url.startswith("postgresql") else None
    notes, questions = load_texts()
    server = Server(args.workers, settings.model_dir, settings.index_dir / "entries")
    report: dict[str, object] = {"database": "postgresql" if database else "sqlite", "redis": bool(settings.redis_url),
                                 "workers": args.workers, "rate_rps": args.rate, "seconds": args.seconds,
                                 "cpu_count": psutil.cpu_count()}
    try:
        from api.bench_load import _run

        asyncio.run(_run(server.url, server.token, SUGGEST, "text", notes, 4, 10))  # warm-up: lazily loaded parts
        asyncio.run(_run(server.url, "", FAQ, "question", questions, 4, 10))
        for name, share in (("suggest", 1.0), ("faq_ask", 0.0)):
            time.sleep(3)
            procs = groups(server.proc.pid, database)
            before = {k: cpu_seconds(v) for k, v in procs.items()}
            t0 = time.perf_counter()
            result = asyncio.run(drive(server.url, server.token, args.rate, args.seconds, share, notes, questions,
                                       server.proc.pid, 3600))
            wall = time.perf_counter() - t0
            procs = groups(server.proc.pid, database)  # backends opened during the run count too
            after = {k: cpu_seconds(v) for k, v in procs.items()}
            ok = result["requests"]["ok"]
            route = SUGGEST if share else FAQ
            report[name] = {
                "requests_ok": ok, "errors": result["requests"]["errors"], "errors_by_kind": result["errors_by_kind"],
                "wall_s": round(wall, 1),
                "cpu_ms_per_request": {k: round(1000 * (after[k] - before.get(k, 0.0)) / max(ok, 1), 2) for k in after},
                "latency_ms": result["latency_ms"].get(route),
            }
    finally:
        log = (server.tmp / "server.log").read_text(errors="replace").splitlines()
        report["server_log_problems"] = [line[:300] for line in log if "Traceback" in line or "ERROR" in line
                                         or "Error" in line][:20]
        server.stop()
    print(json.dumps(report, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
