"""The ``jishibang`` command line: a thin layer over the packages.

Library errors become one clean line on stderr and exit code 1.

One module per command group, each a Typer of its own registered here: ``serve`` (serve, users, keys),
``models``, ``kb`` (kb, search), ``train`` (train, eval, triage), ``bench``, ``backup`` (backup, restore,
purge), ``simulate``, ``worker``; ``common`` holds what they share.
"""

from __future__ import annotations

import sys

import typer

from api.cli import backup, bench, kb, models, serve, simulate, train, worker
from api.cli.common import CliError

app = typer.Typer(
    name="jishibang",
    help="即时帮: triage and knowledge base for a gig-worker rights hotline.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# `jishibang --help` lists in this order: the top-level commands, then the groups.
app.add_typer(serve.commands)
app.add_typer(train.commands)
app.add_typer(backup.commands)
app.add_typer(kb.commands)
app.add_typer(models.models_app, name="models")
app.add_typer(kb.kb_app, name="kb")
app.add_typer(train.train_app, name="train")
app.add_typer(train.eval_app, name="eval")
app.add_typer(bench.bench_app, name="bench")
app.add_typer(simulate.simulate_app, name="simulate")
app.add_typer(serve.users_app, name="users")
app.add_typer(serve.keys_app, name="keys")
app.add_typer(worker.worker_app, name="worker")


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


__all__ = ["CliError", "app", "main"]
