"""The FastAPI application: one app, versioned under /v1, models loaded once in the lifespan."""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import asynccontextmanager
from collections.abc import Callable
from typing import AsyncIterator

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api import errors, pages
from api.context import Runtime, open_runtime, seed_if_empty
from api.limits import BodyLimit
from api.routes import admin, auth, cases, entries, faq, feedback, learning, live, operators, staff, wechat
from api.security import make_limiter
from api.settings import Settings, configure_logging, get_settings
from triage.embedder import EmbedderError
from triage.errors import ArtifactError
from triage.process_memory import limit_malloc_arenas, resident_mb, return_freed_memory
from triage.process_threads import limit_blas_threads

log = logging.getLogger("jishibang.api")


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    checks: dict[str, str]


class AppState:
    """What the lifespan loads once and the routes share."""

    def __init__(self, settings: Settings, runtime: Runtime | None = None) -> None:
        self.settings = settings
        self.runtime: Runtime = runtime or open_runtime(settings)
        self.embedder = self.runtime.embedder
        self.accounts = self.runtime.accounts
        self.limiters = {"faq": make_limiter(settings.redis_url, "faq", settings.faq_rate_per_minute, 60.0),
                         "login": make_limiter(settings.redis_url, "login", settings.login_rate_per_minute, 60.0)}
        self.started_at = time.time()
        # Model work allowed at once in this process (see api.routes.deps.cpu_bound).
        self.cpu_slots = asyncio.Semaphore(max(1, settings.cpu_slots))
        self.load_error: str | None = None
        self.index_error: str | None = None
        self.triage_error: str | None = None


def create_app(settings: Settings | None = None, runtime: Callable[[], Runtime] | None = None) -> FastAPI:
    """``runtime``: builds the Runtime the app serves (tests give one with fake parts); default: from settings."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        limit_malloc_arenas()  # before the thread pool's threads allocate (triage.process_memory)
        limit_blas_threads()  # spinning BLAS threads took the cores from the encoder (triage.process_threads)
        configure_logging(settings)
        settings.ensure_dirs()
        state = AppState(settings, runtime() if runtime else None)
        app.state.jishibang = state
        try:
            state.embedder.warm_up()
            log.info("embedding model loaded: %s (dim %d)", settings.embedding_model_path, state.embedder.dim)
        except Exception as exc:  # keep serving /healthz; /readyz reports the reason
            state.load_error = str(exc)
            log.error("embedding model not loaded: %s", exc)
        seeded = seed_if_empty(state.runtime)
        if seeded:
            log.info("knowledge base seeded on first start: %s", seeded)
        try:  # the triage model now, not on the first request (a missing or refused model: /readyz says why)
            state.runtime.triager
            log.info("triage model loaded: %s", state.runtime.triager.model.manifest.get("version"))
        except (ArtifactError, EmbedderError) as exc:
            state.triage_error = str(exc)
            log.error("triage model not loaded: %s", exc)
        if state.load_error is None:
            try:
                state.runtime.index.load_or_build()
                if settings.builds_in_database:  # hear of builds recorded by other machines (docs/deploy.md)
                    state.runtime.index.start_following(settings.sqlalchemy_url, settings.index_poll_seconds)
            except Exception as exc:
                state.index_error = str(exc)
                log.error("search index not ready: %s", exc)
        return_freed_memory()  # the loading peak (the triage model's fitted classifiers, parsed files) back to the OS
        log.info("models loaded; resident memory %.0f MB", resident_mb() or 0)
        # The outbox of operator replies (None: not configured, or `jishibang worker` sends it).
        wechat_sender = wechat.start_sender(state.runtime) if settings.wechat_send_in_api else None
        yield
        await wechat.stop_sender(wechat_sender)
        state.runtime.index.stop_following()

    app = FastAPI(
        title="即时帮 jishibang",
        version="0.1.0",
        description=(
            "Triage and knowledge base for a gig-worker rights hotline. Sign in with POST /v1/auth/login "
            "(or use an API key) and send `Authorization: Bearer ...`. Errors carry a reason in Chinese and English."
        ),
        lifespan=lifespan,
        docs_url=None,  # /docs and /redoc are served from local files by api.pages (no CDN)
        redoc_url=None,
    )
    errors.install(app)
    app.add_middleware(BodyLimit, default=settings.max_body_bytes,
                       larger={"/v1/entries/import": settings.max_import_bytes,
                               "/v1/wechat": settings.wechat_max_body_bytes})
    for module in (auth, operators, live, cases, feedback, faq, entries, staff, learning, wechat, admin):
        app.include_router(module.router)
    pages.install(app)

    @app.get("/healthz", response_model=Health, tags=["ops"])
    def healthz() -> Health:
        """Liveness: the process answers."""
        return Health(status="ok")

    @app.get("/readyz", response_model=Readiness, tags=["ops"], responses={503: {"model": Readiness}})
    def readyz() -> JSONResponse:
        """Readiness: 200 only when the database answers, the embedding model, the triage model, the search index
        and the ranking model are loaded (and match each other), and the data dir is writable; 503 says which is
        not and why."""
        state: AppState = app.state.jishibang
        rt = state.runtime
        checks: dict[str, str] = {}
        try:
            rt.store.ping()
            checks["database"] = "ok"
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            checks["database"] = f"error: {type(exc).__name__}"
        checks["embedding_model"] = "ok" if state.embedder.is_loaded else f"error: {state.load_error}"
        try:
            rt.triager
            checks["triage_model"] = "ok"
        except (ArtifactError, EmbedderError) as exc:
            checks["triage_model"] = f"error: {exc}"
        if state.load_error is None:
            checks["search_index"] = "ok" if rt.index.searcher is not None else f"error: {state.index_error}"
            checks["ranking_model"] = "ok" if rt.index.ranking_problem is None else f"error: {rt.index.ranking_problem}"
        probe = settings.data_dir / ".ready-probe"
        try:
            probe.write_text("ok")
            probe.unlink()
            checks["data_dir"] = "ok"
        except OSError as exc:
            checks["data_dir"] = f"error: {exc.strerror}"
        ready = all(v == "ok" for v in checks.values())
        body = Readiness(status="ready" if ready else "not_ready", checks=checks)
        return JSONResponse(body.model_dump(), status_code=200 if ready else 503)

    return app
