"""``jishibang serve`` and the accounts it serves: ``jishibang users``, ``jishibang keys``."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from api.cli.common import CliError, _print_json
from api.settings import export_to_workers, get_settings

commands = typer.Typer()  # the top-level command: serve
users_app = typer.Typer(help="Users who sign in (operators, staff, admins, enterprise sub-lines).", no_args_is_help=True)
keys_app = typer.Typer(help="API keys for machine clients.", no_args_is_help=True)


@commands.command(epilog="Example: jishibang serve --port 8000")
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind.")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port.", min=1, max=65535)] = None,
    workers: Annotated[int, typer.Option(help="uvicorn worker processes.", min=1, max=64)] = 1,
    demo: Annotated[bool, typer.Option(help="Create demo users on first start and print how to sign in.")] = False,
) -> None:
    """Start the HTTP service (uvicorn)."""
    import uvicorn

    settings = get_settings()
    if workers > 1 and not settings.embedding_threads:
        # Each worker runs its own encoder: split the cores instead of oversubscribing them.
        export_to_workers(embedding_threads=str(max(1, (os.cpu_count() or 1) // workers)))
    if demo:
        from hotline.demo import ensure_demo_users

        url = f"http://{host or settings.host}:{port or settings.port}"
        typer.echo(ensure_demo_users(_accounts(), settings.data_dir / "demo-users.txt", url), err=True)
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        log_level=settings.log_level.lower(),
        # A worker busy with CPU-bound requests can answer the supervisor's ping late; uvicorn's 5 s
        # default then kills it mid-request (seen as connection resets at concurrency 32).
        timeout_worker_healthcheck=60,
    )


def _accounts():  # type: ignore[no-untyped-def]
    from hotline.accounts import Accounts
    from kb.db import make_engine, migrate, session_factory

    settings = get_settings()
    settings.ensure_dirs()
    migrate(settings.sqlalchemy_url)
    return Accounts(session_factory(make_engine(settings.sqlalchemy_url)), settings.token_hours)


@users_app.command("add", epilog="Example: jishibang users add wangfang --role staff")
def users_add(
    name: Annotated[str, typer.Argument(help="Sign-in name (letters, digits, Chinese, . _ - @).")],
    role: Annotated[str, typer.Option(help="operator | staff | admin | enterprise")],
    platform: Annotated[str | None, typer.Option(help="For enterprise users: the platform, e.g. 美团.")] = None,
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True,
                                          help="At least 8 characters; asked for when not given.")] = "",
) -> None:
    """Create a user (the first admin too)."""
    from api.schemas import UserCreate

    try:
        UserCreate(name=name, role=role, password=password, platform=platform)  # type: ignore[arg-type]
    except Exception as exc:
        raise CliError(f"invalid user: {exc}".splitlines()[0] + " (name: letters/digits/Chinese; role: operator|staff|admin|enterprise; password: 8+ chars)") from None
    who = _accounts().add_user(name, role, password, platform)
    typer.echo(f"created {who.role} {who.name}" + (f" ({who.platform})" if who.platform else ""))


@users_app.command("list", epilog="Example: jishibang users list")
def users_list() -> None:
    """Every user (name, role, platform, active)."""
    _print_json([{**u, "created_at": str(u["created_at"])} for u in _accounts().users()])


@keys_app.command("add", epilog="Example: jishibang keys add --role enterprise --platform 美团")
def keys_add(
    role: Annotated[str, typer.Option(help="operator | staff | admin | enterprise")],
    platform: Annotated[str | None, typer.Option(help="For enterprise keys: the platform.")] = None,
    label: Annotated[str, typer.Option(help="What the key is for.")] = "",
) -> None:
    """Create an API key; it is printed once, as the last line (only its hash is stored)."""
    key = _accounts().add_key(role, created_by="cli", platform=platform, label=label)
    typer.echo(f"API key for role {role}" + (f" ({platform})" if platform else "") + "; send it as Authorization: Bearer <key>")
    typer.echo(key)
