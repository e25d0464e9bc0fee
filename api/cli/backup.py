"""``jishibang backup``, ``restore`` and ``purge``: copies of the database and retention."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from api.cli.common import CliError, _print_json
from api.settings import get_settings

commands = typer.Typer()  # the top-level commands: backup, restore, purge


@commands.command(epilog="Example: jishibang backup data/backups/today.db")
def backup(
    path: Annotated[Path | None, typer.Argument(help="Where to write it (default: data/backups/jishibang-<time>.db).")] = None,
) -> None:
    """An online, consistent copy of the whole database (SQLite backup API; a JSON-lines snapshot for others)."""
    import time

    from hotline.backup import backup as take_backup
    from kb.db import make_engine

    settings = get_settings()
    target = path or settings.data_dir / "backups" / f"jishibang-{time.strftime('%Y%m%dT%H%M%S')}.db"
    engine = make_engine(settings.sqlalchemy_url)
    try:
        _print_json(take_backup(engine, target))
    finally:
        engine.dispose()


@commands.command(epilog="Example: jishibang restore data/backups/jishibang-20261129T070000.db --yes")
def restore(
    path: Annotated[Path, typer.Argument(help="A file written by `jishibang backup`.", exists=True, dir_okay=False)],
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: every row of the current database is replaced.")] = False,
) -> None:
    """Replace the database's contents with a backup (stop the service first or restart it after)."""
    from hotline.backup import restore as do_restore
    from hotline.backup import table_counts
    from kb.db import make_engine, migrate

    if not yes:
        raise CliError("restore replaces every row of the current database: add --yes to confirm")
    settings = get_settings()
    migrate(settings.sqlalchemy_url)
    engine = make_engine(settings.sqlalchemy_url)
    try:
        report = do_restore(engine, path)
        report["tables"] = table_counts(engine)
        _print_json(report)
    finally:
        engine.dispose()


@commands.command(epilog="Example: jishibang purge --older-than-days 365")
def purge(
    older_than_days: Annotated[int | None, typer.Option(help="Default: JISHIBANG_RETENTION_DAYS.", min=1)] = None,
) -> None:
    """Delete cases older than N days with their follow-ups, dispatches, consultations and feedback, and old
    asked questions; prints the counts."""
    from hotline.retention import purge as do_purge
    from kb.db import make_engine, migrate, session_factory

    settings = get_settings()
    days = older_than_days or settings.retention_days
    if days is None:
        raise CliError("say how old: --older-than-days N (or set JISHIBANG_RETENTION_DAYS)")
    migrate(settings.sqlalchemy_url)
    _print_json(do_purge(session_factory(make_engine(settings.sqlalchemy_url)), days))
