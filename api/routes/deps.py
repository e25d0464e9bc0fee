"""Shared route helpers."""

from __future__ import annotations

from fastapi import Request

from api.context import Runtime


def runtime(request: Request) -> Runtime:
    return request.app.state.jishibang.runtime
