"""``jishibang kb`` (seed, reindex, export, import) and ``jishibang search``: the knowledge base, and
searching it as operators do."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from api.cli.common import CliError, _bar, _print_json, _runtime

kb_app = typer.Typer(help="The knowledge base: seed, reindex, import and export.", no_args_is_help=True)
commands = typer.Typer()  # the top-level command: search


@kb_app.command("seed", epilog="Example: jishibang kb seed")
def kb_seed() -> None:
    """Import the statute articles and publish the team's seed entries (idempotent)."""
    from kb.seeding import seed

    rt = _runtime()
    _print_json(seed(rt.store, rt.settings.shared_dir))


@kb_app.command("reindex", epilog="Example: jishibang kb reindex")
def kb_reindex(
    if_stale: Annotated[bool, typer.Option(help="Rebuild only when the saved index does not match the database.")] = False,
) -> None:
    """Rebuild the search index from the database (progress on stderr) and swap it in atomically."""
    rt = _runtime()
    searcher = rt.index.load_or_build(_bar()) if if_stale else rt.index.rebuild(_bar())
    if rt.index.vector_seed is not None:  # the machine's seed: a new data dir builds from it in seconds
        rt.index.cache.save_as(rt.index.vector_seed)
    _print_json(searcher.build.manifest | {"entry_versions": len(searcher.build.manifest["entry_versions"])})


@kb_app.command("export", epilog="Example: jishibang kb export --format csv > entries.csv")
def kb_export(
    format: Annotated[str, typer.Option("--format", help="jsonl or csv.")] = "jsonl",
    status: Annotated[str | None, typer.Option(help="Only entries with this status.")] = None,
) -> None:
    """Write every entry (current content and status) to stdout."""
    from kb.transfer import export_entries

    if format not in ("jsonl", "csv"):
        raise CliError("--format must be jsonl or csv")
    sys.stdout.write(export_entries(_runtime().store, format, status))  # type: ignore[arg-type]


@kb_app.command("import", epilog="Example: jishibang kb import entries.jsonl --author 李编辑")
def kb_import(
    file: Annotated[Path, typer.Argument(help="A .jsonl or .csv file of entries.")],
    author: Annotated[str, typer.Option(help="Recorded as the author of the new revisions.")] = "import",
) -> None:
    """Create or revise entries from a file; bad rows are reported by line and nothing is imported."""
    from kb.transfer import import_entries

    if not file.exists():
        raise CliError(f"no such file: {file}")
    fmt = "csv" if file.suffix.lower() == ".csv" else "jsonl"
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise CliError(f"{file} is not UTF-8 text") from exc
    rt = _runtime()
    _print_json(import_entries(rt.store, text, fmt, author))  # type: ignore[arg-type]


def _search_json(result) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    from dataclasses import asdict

    return {"abstain": result.abstain, "tier": result.tier,
            "confidence": None if result.confidence != result.confidence else result.confidence,
            "reason": result.reason, "mode": result.mode, "hits": [asdict(h) for h in result.hits]}


@commands.command(
    epilog='Example: jishibang search "站长收押金不退怎么办" --json ; jishibang search --jsonl queries.jsonl'
)
def search(
    query: Annotated[str | None, typer.Argument(help="What to look for.")] = None,
    jsonl: Annotated[Path | None, typer.Option(help='Read lines {"id", "text"}; write one result per line.')] = None,
    mode: Annotated[str, typer.Option(help="hybrid, bm25 or dense.")] = "hybrid",
    k: Annotated[int, typer.Option(help="Hits to return.", min=1, max=50)] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (the default for --jsonl).")] = False,
) -> None:
    """Search published entries as operators do (triage's issue types included): {"tier", "hits": [...]}."""
    from triage.errors import TextError

    if (query is None) == (jsonl is None):
        raise CliError("give either QUERY or --jsonl FILE")
    if mode not in ("hybrid", "bm25", "dense"):
        raise CliError("--mode must be hybrid, bm25 or dense")
    rt = _runtime()
    rt.index.load_or_build()
    if query is not None:
        if not query.strip():
            raise CliError("the query is empty")
        try:
            result = rt.assistant.lookup(query, k=k, mode=mode)
        except TextError as exc:
            raise CliError(exc.en) from exc
        if as_json:
            _print_json(_search_json(result))
        else:
            typer.echo(f"tier: {result.tier}" + (f" ({result.reason})" if result.reason else ""))
            for h in result.hits:
                typer.echo(f"{h.score:.2f}  {h.tier:9}  {h.slug}  {h.title}  [{','.join(h.retrievers)}]")
        return
    assert jsonl is not None
    if not jsonl.exists():
        raise CliError(f"no such file: {jsonl}")
    for n, raw in enumerate(jsonl.read_bytes().splitlines(), 1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw.decode("utf-8"))
            text = row["text"]
            if not isinstance(text, str) or not text.strip():
                raise ValueError("text is empty")
            out = {"id": row.get("id", n), **_search_json(rt.assistant.lookup(text, k=k, mode=mode))}
        except (ValueError, KeyError, TypeError, UnicodeDecodeError, TextError) as exc:
            out = {"id": n, "error": f"line {n}: {exc}"}
        typer.echo(json.dumps(out, ensure_ascii=False))
