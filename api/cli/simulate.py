"""``jishibang simulate``: scripted traffic through the learning loops."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from api.cli.common import CliError, _print_json
from api.settings import get_settings

simulate_app = typer.Typer(help="Scripted simulations of the learning loops; each prints JSON.", no_args_is_help=True)


@simulate_app.command("traffic", epilog="Example: jishibang simulate traffic --days 28 --per-day 50 > simulation.json")
def simulate_traffic_cmd(
    days: Annotated[int, typer.Option(help="Simulated days of traffic.", min=7, max=120)] = 28,
    per_day: Annotated[int, typer.Option(help="Questions a day (half operators, half workers).", min=1, max=2000)] = 50,
    cases_per_day: Annotated[float, typer.Option(help="Background cases a day for the alerts.", min=1, max=1000)] = 25.0,
    seed: Annotated[int, typer.Option(help="Random seed (the run is reproducible).")] = 7,
    bm25_only: Annotated[bool, typer.Option(help="BM25 search and no triage model (quick; no models needed).")] = False,
    data_dir: Annotated[Path | None, typer.Option(help="Where to keep the run (default: a temporary dir, removed).")] = None,
) -> None:
    """Four weeks of scripted hotline traffic through the learning loops on a temporary data dir: ranking
    before/after feedback, paraphrases proposed/accepted with held-out hit@1 before/after, and early-warning
    alerts (a spike in week 4) with false alerts. Progress on stderr, figures as JSON on stdout."""
    import tempfile

    from models.simulate_traffic import simulate

    settings = get_settings()
    if data_dir is not None and data_dir.exists() and any(data_dir.iterdir()):
        raise CliError(f"{data_dir} is not empty: give a new directory")
    with tempfile.TemporaryDirectory(prefix="jishibang-sim-") as tmp:
        report = simulate(
            data_dir or Path(tmp), days=days, per_day=per_day, cases_per_day=cases_per_day, seed=seed,
            dense=not bm25_only, triage=not bm25_only, embedding_model=settings.embedding_model_path,
            embedder_options=settings.embedder_options, model_dir=settings.model_dir,
            ranking_path=settings.ranking_model_path,
            cached_vectors=settings.index_dir / "entries" / "vectors.npz", progress=True)
    _print_json(report)
