"""What the command groups share: the user-facing error, JSON on stdout, the runtime and progress bars."""

from __future__ import annotations

import json
import sys
from typing import Any

import typer

from api.settings import get_settings


class CliError(Exception):
    """A user-facing error: printed as one line, exit code 1."""


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2))


def _runtime():  # type: ignore[no-untyped-def]
    from api.context import open_runtime

    return open_runtime(get_settings())


def _bar():  # type: ignore[no-untyped-def]
    """A tqdm progress callback for long index builds (stderr)."""
    from tqdm import tqdm

    bars: dict[str, Any] = {}

    def progress(stage: str, done: int, total: int) -> None:
        bar = bars.get(stage)
        if bar is None:
            bar = bars[stage] = tqdm(total=total, desc=stage, unit="text", file=sys.stderr)
        bar.n = done
        bar.refresh()
        if done >= total:
            bar.close()

    return progress
