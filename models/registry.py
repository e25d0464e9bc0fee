"""Loading what the service and the CLI use: the embedder and the current triage model, checked."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from triage import classifier as artifact
from triage.embedder import Embedder
from triage.pipeline import Triager


def embedding_id(model_path: str) -> str:
    """A stable identity for an embedding model: its build manifest when it has one, else its name."""
    manifest = Path(model_path) / "manifest.json"
    if manifest.exists():
        m = json.loads(manifest.read_text(encoding="utf-8"))
        key = json.dumps([m.get("source", {}).get("sha256"), m.get("converter_version")])
        return "e5-local:" + hashlib.sha256(key.encode()).hexdigest()[:16]
    return "st:" + model_path


def triage_root(model_dir: Path) -> Path:
    return model_dir / "triage"


def load_triager(model_dir: Path, embedder: Embedder, version: str | None = None) -> Triager:
    """The current (or named) triage model with the embedder attached when its features need one."""
    model = artifact.load(triage_root(model_dir), version, embedding_id=embedding_id(embedder.model_name_or_path))
    if model.needs_encoder:
        embedder.warm_up()
        model.attach_encoder(embedder.encode_queries)
    return Triager(model)
