"""Shared route helpers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Path, Request
from starlette.concurrency import run_in_threadpool

from api.context import Runtime
from hotline.accounts import Accounts
from hotline.assist import Assistant
from hotline.audit import AuditLog
from hotline.cases import CaseStore
from hotline.feedback import FeedbackLog, QuestionLog
from hotline.paraphrases import ParaphraseProposals
from hotline.sealing import Sealer
from hotline.standing import Standings
from hotline.wechat.service import WeChat
from kb.service import IndexManager
from kb.store import EntryStore
from triage.embedder import Embedder

T = TypeVar("T")

MAX_ID = 2**31 - 1
# A record id in a path: bounded like every id in a body (a bigger number cannot name a row, and the database
# driver refuses to bind one: SQLite raised OverflowError, a 500).
PathId = Annotated[int, Path(ge=1, le=MAX_ID)]


def link(method: str, path: str, body: dict[str, str] | None = None, **parameters: str) -> dict[str, Any]:
    """An OpenAPI link from a response to the operation ``method path``: values are runtime expressions such as
    ``$response.body#/id``. They document what a client does next and drive the fuzzer's stateful phase
    where a response is not typed enough for it to infer the step itself."""
    out: dict[str, Any] = {"operationRef": "#/paths/" + path.replace("~", "~0").replace("/", "~1") + "/" + method.lower()}
    if parameters:
        out["parameters"] = parameters
    if body:
        out["requestBody"] = body
    return out


# Plain attribute reads: async, so FastAPI calls them on the event loop instead of sending each to the threadpool
# (a thread hop per dependency per request).
async def runtime(request: Request) -> Runtime:
    return request.app.state.jishibang.runtime


def _service(name: str) -> Any:
    """A dependency that hands a route one service of the runtime the lifespan built."""
    async def get(request: Request) -> Any:
        return getattr(request.app.state.jishibang.runtime, name)

    get.__name__ = name
    return Depends(get)


# What a route declares it needs: `store: StoreDep` (one service) or `rt: Rt` (a helper takes several).
Rt = Annotated[Runtime, Depends(runtime)]
StoreDep = Annotated[EntryStore, _service("store")]
AuditDep = Annotated[AuditLog, _service("audit")]
CasesDep = Annotated[CaseStore, _service("cases")]
AccountsDep = Annotated[Accounts, _service("accounts")]
AssistantDep = Annotated[Assistant, _service("assistant")]
IndexDep = Annotated[IndexManager, _service("index")]
FeedbackDep = Annotated[FeedbackLog, _service("feedback")]
QuestionsDep = Annotated[QuestionLog, _service("questions")]
ParaphrasesDep = Annotated[ParaphraseProposals, _service("paraphrases")]
StandingsDep = Annotated[Standings, _service("standings")]
SealerDep = Annotated[Sealer, _service("sealer")]
EmbedderDep = Annotated[Embedder, _service("embedder")]
WeChatDep = Annotated[WeChat, _service("wechat")]


async def cpu_bound(request_or_app: Any, fn: Callable[..., T], *args: Any) -> T:
    """Run model work (triage, search) in a thread, at most a few at once per process. Waiting requests
    queue on the event loop instead of piling up threads that fight over the cores and the GIL, which
    starved the loop (and the supervisor's health check) under load."""
    app = getattr(request_or_app, "app", request_or_app)
    slots: asyncio.Semaphore = app.state.jishibang.cpu_slots
    async with slots:
        return await run_in_threadpool(fn, *args)
