"""``jishibang worker``: the process that runs the background jobs (api.jobs), and ways to queue them by hand."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from api.settings import configure_logging, get_settings

worker_app = typer.Typer(
    help="Run the background jobs (reindex, retraining, alerts, the WeChat outbox, retention) on PostgreSQL.",
    invoke_without_command=True, no_args_is_help=False)

JOBS = ("reindex", "retrain", "alerts", "purge")


@worker_app.callback(epilog="Example: JISHIBANG_DATABASE_URL=postgresql+psycopg://jishibang@db/jishibang "
                            "jishibang worker")
def worker(ctx: typer.Context) -> None:
    """Run jobs until stopped (SIGTERM or Ctrl-C: the running jobs finish first). Several workers may run, on
    one machine or many; each job runs once."""
    if ctx.invoked_subcommand is not None:
        return
    from api.jobs import run_worker
    from kb.db import migrate

    settings = get_settings()
    configure_logging(settings)
    settings.ensure_dirs()
    migrate(settings.sqlalchemy_url)
    run_worker(settings, on_ready=lambda: typer.echo("worker ready", err=True))


@worker_app.command("enqueue", epilog="Example: jishibang worker enqueue retrain")
def enqueue(
    job: Annotated[str, typer.Argument(help="reindex | retrain | alerts | purge")],
    as_of: Annotated[str | None, typer.Option(help="alerts: the last day of the window (YYYY-MM-DD).")] = None,
    older_than_days: Annotated[int | None, typer.Option(help="purge: default JISHIBANG_RETENTION_DAYS.", min=1)] = None,
) -> None:
    """Queue one job for the workers; prints its id (null: one of its kind is already waiting)."""
    from api.jobs import JobQueue

    if job not in JOBS:
        raise ValueError(f"job must be one of {', '.join(JOBS)}, not {job!r}")
    kwargs: dict[str, object] = {}
    if as_of is not None:
        kwargs["as_of"] = as_of
    if older_than_days is not None:
        kwargs["older_than_days"] = older_than_days
    queue = JobQueue(get_settings())
    try:
        typer.echo(json.dumps({"job": job, "id": queue.enqueue(job, **kwargs)}))
    finally:
        queue.close()


@worker_app.command("builds", epilog="Example: jishibang worker builds")
def builds(limit: Annotated[int, typer.Option(help="How many, newest first.", min=1)] = 10) -> None:
    """The index builds recorded in the database (JSON): name, the changes covered, entries, size, who built it."""
    from kb.builds import BuildRegistry
    from kb.db import make_engine, migrate, session_factory

    settings = get_settings()
    migrate(settings.sqlalchemy_url)
    reg = BuildRegistry(session_factory(make_engine(settings.sqlalchemy_url)))
    out = [{"name": r.name, "covers": r.covers, "entries": r.entries, "rows": r.rows, "bytes": r.size_bytes,
            "model_id": r.model_id, "built_by": r.built_by, "built_at": r.built_at.isoformat()}
           for r in reg.history(limit)]
    typer.echo(json.dumps({"watermark": reg.watermark(), "builds": out}, ensure_ascii=False, indent=2))
