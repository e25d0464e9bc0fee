"""Background jobs in a real queue: procrastinate on the PostgreSQL the service already uses.

``jishibang worker`` runs them (:func:`run_worker`); API processes only enqueue (:class:`JobQueue`).

| job | when | idempotent because |
|---|---|---|
| ``reindex`` | after a publish (queued by the API process); by ``watch`` when a build is due | it builds only when the newest recorded build does not cover the newest change; a build is recorded in one transaction (a worker killed mid-build records nothing) |
| ``retrain_triage`` | on request (``jishibang worker enqueue retrain``) or ``retrain_cron`` | the promotion gate decides; a rejected candidate is kept beside the served model, never served |
| ``early_warning`` | ``alerts_cron`` (nightly) | one report row per as-of day, replaced when run again |
| ``retention_purge`` | ``retention_cron`` (nightly, needs ``retention_days``) | deleting what is older than a cut-off twice deletes nothing more |
| ``watch`` | every 5 s | retries jobs of workers that stopped sending heartbeats; queues a due reindex |
| the WeChat outbox | a loop beside the jobs (the outbox table is itself a queue: claims, leases, back-off) | a row is claimed by one conditional UPDATE: one sender sends it |

Each job is retried with exponential back-off (procrastinate's ``RetryStrategy``); ``lock`` keeps two
reindexes (or two retrainings) from running at once and ``queueing_lock`` keeps at most one waiting.
"""

from __future__ import annotations

import asyncio
import os
import logging
import threading
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Callable

from api.settings import Settings

log = logging.getLogger("jishibang.jobs")

NAMES = {"reindex": "jishibang.reindex", "retrain": "jishibang.retrain_triage", "alerts": "jishibang.early_warning",
         "purge": "jishibang.retention_purge", "watch": "jishibang.watch"}
LOCKS = {"reindex": "jishibang-reindex", "retrain": "jishibang-retrain"}


def _conninfo(settings: Settings) -> str:
    from kb.builds import psycopg_dsn

    if not settings.sqlalchemy_url.startswith("postgresql"):
        raise ValueError("the job queue needs PostgreSQL: set JISHIBANG_DATABASE_URL=postgresql+psycopg://...")
    return psycopg_dsn(settings.sqlalchemy_url)


class JobQueue:
    """What an API process (or the CLI) needs of the queue: enqueue by name, synchronously."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._app: Any = None
        self._lock = threading.Lock()

    def _open(self) -> Any:
        with self._lock:
            if self._app is None:
                import procrastinate

                app = procrastinate.App(connector=procrastinate.SyncPsycopgConnector(
                    conninfo=_conninfo(self.settings), min_size=0, max_size=2))
                app.open()
                self._app = app
            return self._app

    def enqueue(self, job: str, **kwargs: Any) -> int | None:
        """Queue a job; None when one of its kind is already waiting (it will see this change too)."""
        from procrastinate import exceptions

        app = self._open()
        options: dict[str, Any] = {}
        if job in LOCKS:
            options = {"lock": LOCKS[job], "queueing_lock": LOCKS[job]}
        try:
            return int(app.configure_task(NAMES[job], **options).defer(**kwargs))
        except exceptions.AlreadyEnqueued:
            return None

    def reindex(self) -> None:
        self.enqueue("reindex")

    def close(self) -> None:
        if self._app is not None:
            self._app.close()
            self._app = None


def index_sharing(settings: Settings, factory: Any) -> dict[str, Any]:
    """The IndexManager's keyword arguments for how builds are shared: recorded in the database (and rebuilt by
    the job queue when ``jobs`` is ``queue``), or nothing (the data dir's CURRENT pointer, one machine)."""
    if not settings.builds_in_database:
        return {}
    from kb.builds import BuildRegistry

    out: dict[str, Any] = {"builds": BuildRegistry(factory)}
    if settings.jobs == "queue":
        out["enqueue"] = JobQueue(settings).reindex
    return out


# --- the worker ---------------------------------------------------------------------------------------


@dataclass
class WorkerContext:
    """What the jobs share in one worker process (opened once, on the first job that needs it)."""

    settings: Settings
    _runtime: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def runtime(self) -> Any:
        with self._lock:
            if self._runtime is None:
                from api.context import open_runtime

                rt = open_runtime(self.settings)
                rt.index.enqueue = None  # the worker is the builder: it rebuilds itself, never queues
                self._runtime = rt
            return self._runtime


def build_app(settings: Settings, ctx: WorkerContext | None = None) -> Any:
    """The procrastinate app with every job registered (the worker's; async connector)."""
    import procrastinate
    from procrastinate import RetryStrategy

    ctx = ctx or WorkerContext(settings)
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=_conninfo(settings)))
    backoff = RetryStrategy(max_attempts=8, wait=1, exponential_wait=2)  # 3 s, 5 s, 9 s, 17 s ... after a failure

    @app.task(name=NAMES["reindex"], retry=backoff, lock=LOCKS["reindex"], queueing_lock=LOCKS["reindex"])
    def reindex() -> dict[str, Any]:
        return reindex_if_due(ctx.runtime())

    @app.task(name=NAMES["retrain"], retry=RetryStrategy(max_attempts=2, wait=60), lock=LOCKS["retrain"],
              queueing_lock=LOCKS["retrain"])
    def retrain_triage() -> dict[str, Any]:
        return retrain_with_gate(settings)

    @app.task(name=NAMES["alerts"], retry=backoff, lock="jishibang-alerts")
    def early_warning(as_of: str | None = None) -> dict[str, Any]:
        from hotline.alerts import record_run, today

        return record_run(ctx.runtime().store.factory, date.fromisoformat(as_of) if as_of else today())

    @app.task(name=NAMES["purge"], retry=backoff, lock="jishibang-purge")
    def retention_purge(older_than_days: int | None = None) -> dict[str, Any]:
        from hotline.retention import purge

        days = older_than_days or settings.retention_days
        if days is None:
            return {"skipped": "retention_days is not set"}
        return purge(ctx.runtime().store.factory, days)

    @app.periodic(cron=settings.alerts_cron, periodic_id="nightly")
    @app.task(name="jishibang.early_warning_nightly", retry=backoff, lock="jishibang-alerts",
              queueing_lock="jishibang-alerts-nightly")
    def early_warning_nightly(timestamp: int) -> dict[str, Any]:
        from hotline.alerts import record_run, today

        # The nightly run looks back on the day that just ended (China time).
        return record_run(ctx.runtime().store.factory, today() - timedelta(days=1))

    @app.periodic(cron=settings.retention_cron, periodic_id="nightly")
    @app.task(name="jishibang.retention_nightly", retry=backoff, lock="jishibang-purge",
              queueing_lock="jishibang-purge-nightly")
    def retention_nightly(timestamp: int) -> dict[str, Any]:
        if settings.retention_days is None:
            return {"skipped": "retention_days is not set"}
        from hotline.retention import purge

        return purge(ctx.runtime().store.factory, settings.retention_days)

    if settings.retrain_cron:
        @app.periodic(cron=settings.retrain_cron, periodic_id="scheduled")
        @app.task(name="jishibang.retrain_scheduled", retry=RetryStrategy(max_attempts=2, wait=60),
                  lock=LOCKS["retrain"], queueing_lock="jishibang-retrain-scheduled")
        def retrain_scheduled(timestamp: int) -> dict[str, Any]:
            return retrain_with_gate(settings)

    @app.periodic(cron="* * * * * */5", periodic_id="watch")  # 6th field: seconds
    @app.task(name=NAMES["watch"], queueing_lock="jishibang-watch")
    async def watch(timestamp: int) -> dict[str, Any]:
        return await watch_once(app, ctx, settings)

    return app


def reindex_if_due(rt: Any) -> dict[str, Any]:
    """Build and record the index when the newest recorded build does not cover the newest change."""
    index = rt.index
    if index.builds is None:
        searcher = index.rebuild()
        return {"built": searcher.build.path.name if searcher.build.path else None}
    model_id, dictionary = index.identity()
    built: list[dict[str, Any]] = []
    # Changes published while a build runs are not in it: build again (within this job, under its lock) until the
    # newest build covers the newest change, rather than leave it to a later job.
    for _ in range(10):
        if not index.builds.due(model_id, dictionary):
            break
        searcher = index.rebuild()
        m = searcher.build.manifest
        built.append({"built": searcher.build.path.name if searcher.build.path else None, "covers": m.get("covers"),
                      "entries": m["entries"], "rows": m["rows"], "build_seconds": m["build_seconds"]})
    if not built:
        newest = index.builds.newest(model_id, dictionary)
        return {"up_to_date": newest.name if newest else None}
    return {**built[-1], "builds": len(built)}


async def recover_stalled(app: Any, settings: Settings) -> int:
    """Jobs left 'doing' by a worker that stopped sending heartbeats (killed, lost its machine): retry them."""
    from procrastinate import exceptions, jobs as pjobs

    stalled = await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=settings.worker_stalled_seconds)
    n = 0
    for job in stalled:
        try:
            await app.job_manager.retry_job(job)
            log.warning("retrying job %s (%s): its worker stopped sending heartbeats", job.id, job.task_name)
        except exceptions.UniqueViolation:
            # The same kind of job is already waiting (its queueing lock): that one does the work. Close this one
            # as failed (kept for the record) so its lock no longer holds the queue.
            await app.job_manager.finish_job_by_id_async(job.id, pjobs.Status.FAILED, delete_job=False)
            log.warning("job %s (%s): its worker stopped sending heartbeats and one like it is waiting: closed",
                        job.id, job.task_name)
        n += 1
    return n


async def watch_once(app: Any, ctx: WorkerContext, settings: Settings) -> dict[str, Any]:
    retried = await recover_stalled(app, settings)
    queued = None
    if settings.builds_in_database:
        rt = await asyncio.to_thread(ctx.runtime)
        if await asyncio.to_thread(_reindex_needed, rt):
            from procrastinate import exceptions

            try:
                queued = await app.configure_task(NAMES["reindex"], lock=LOCKS["reindex"],
                                                  queueing_lock=LOCKS["reindex"]).defer_async()
            except exceptions.AlreadyEnqueued:
                queued = None
    return {"stalled_retried": retried, "reindex_queued": queued}


def _reindex_needed(rt: Any) -> bool:
    """A build is due and no reindex job is waiting or running (that one builds until nothing is due)."""
    from sqlalchemy import text

    if not rt.index.builds.due(*rt.index.identity()):
        return False
    with rt.store.factory() as s:
        return s.execute(text("SELECT 1 FROM procrastinate_jobs WHERE task_name = :name AND status IN ('todo', 'doing') "
                              "LIMIT 1"), {"name": NAMES["reindex"]}).first() is None


def retrain_with_gate(settings: Settings) -> dict[str, Any]:
    """`jishibang train triage --with-feedback`, as a job: the corrections join the training split and the
    candidate is served only if models.promotion's gate passes it."""
    from models.feedback_data import load_feedback
    from models.promotion import GatePolicy, retrain_with_feedback

    corrections, danger = load_feedback(settings.sqlalchemy_url)
    report = retrain_with_feedback(settings.model_dir, settings.embedding_model_path, settings.shared_dir,
                                   settings.triage_reports_dir, corrections,
                                   GatePolicy(max_f1_drop=settings.promotion_max_f1_drop),
                                   embedder_options=settings.embedder_options, danger_corrections=danger)
    from models.promotion import summary

    return summary(report)


def run_worker(settings: Settings, on_ready: Callable[[], None] | None = None) -> None:
    """The ``jishibang worker`` process: the jobs, the periodic ones, and the WeChat outbox loop, until SIGTERM."""
    asyncio.run(_run_worker(settings, on_ready))


async def _run_worker(settings: Settings, on_ready: Callable[[], None] | None) -> None:
    ctx = WorkerContext(settings)
    app = build_app(settings, ctx)
    stop = asyncio.Event()
    async with app.open_async():
        outbox = None
        rt = await asyncio.to_thread(ctx.runtime)
        if rt.wechat.sender is not None:
            outbox = asyncio.ensure_future(rt.wechat.run(stop))
            log.info("WeChat outbox: sending from this worker")
        try:
            await watch_once(app, ctx, settings)  # a build due since the last worker stopped is queued now
        except Exception:  # the periodic watch tries again in 5 s
            log.exception("first watch failed")
        if on_ready:
            on_ready()
        try:
            await app.run_worker_async(
                concurrency=settings.worker_concurrency, name=f"jishibang-{os.getpid()}",
                update_heartbeat_interval=settings.worker_heartbeat_seconds,
                stalled_worker_timeout=settings.worker_stalled_seconds, fetch_job_polling_interval=1.0,
                delete_jobs="successful", install_signal_handlers=True)
        finally:
            stop.set()
            if outbox is not None:
                try:
                    await asyncio.wait_for(outbox, timeout=15)
                except (TimeoutError, asyncio.CancelledError):
                    outbox.cancel()
                rt.wechat.close()
