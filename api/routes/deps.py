"""Shared route helpers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from api.context import Runtime

T = TypeVar("T")


def runtime(request: Request) -> Runtime:
    return request.app.state.jishibang.runtime


async def cpu_bound(request_or_app: Any, fn: Callable[..., T], *args: Any) -> T:
    """Run model work (triage, search) in a thread, at most a few at once per process. Waiting requests
    queue on the event loop instead of piling up threads that fight over the cores and the GIL, which
    starved the loop (and the supervisor's health check) under load."""
    app = getattr(request_or_app, "app", request_or_app)
    slots: asyncio.Semaphore = app.state.jishibang.cpu_slots
    async with slots:
        return await run_in_threadpool(fn, *args)
