"""Loading what the service and the CLI use: the embedder and the current triage model, checked.

Triage model versions live under ``<model_dir>/triage/<version>/`` (see :mod:`triage.classifier`);
``CURRENT`` names the one served. Promotions, rejections and rollbacks are appended to
``history.jsonl`` beside them, so who served what and when can be read back.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from triage import classifier as artifact
from triage.embedder import Embedder
from triage.errors import ArtifactError
from triage.pipeline import Triager
from triage.process_memory import return_freed_memory

log = logging.getLogger(__name__)

HISTORY_FILE = "history.jsonl"
# A running service looks at CURRENT at most this often (a promotion or rollback reaches it within that).
CHECK_SECONDS = 2.0


def triage_root(model_dir: Path) -> Path:
    return model_dir / "triage"


def load_triager(model_dir: Path, embedder: Embedder, version: str | None = None, serve_only: bool = False) -> Triager:
    """The current (or named) triage model with the embedder attached when its features need one.
    ``serve_only``: keep only the compiled classifiers (the service; see TriageModel.serve_only)."""
    model = artifact.load(triage_root(model_dir), version, embedding_id=embedder.identity, serving=serve_only)
    if serve_only:
        model.serve_only()  # a version without a serving form: the pickle, its sklearn classifiers dropped
    if model.needs_encoder:
        embedder.warm_up()
        model.attach_encoder(embedder.encode_queries)
    return Triager(model)


class ServedTriager:
    """The triage model ``CURRENT`` names, followed while the service runs.

    ``get()`` re-reads the pointer at most every ``check_seconds`` and loads the new version when it
    changed (with every manifest check of :func:`triage.classifier.load`); a version that fails those
    checks is not served: the one already loaded stays, and the refusal is logged.
    """

    def __init__(self, model_dir: Path, embedder: Embedder, check_seconds: float = CHECK_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.model_dir = model_dir
        self.embedder = embedder
        self.check_seconds = check_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._triager: Triager | None = None
        self._version: str | None = None
        self._checked = 0.0

    @property
    def version(self) -> str | None:
        return self._version

    def get(self) -> Triager:
        triager = self._triager
        if triager is not None and self._clock() - self._checked < self.check_seconds:
            return triager
        with self._lock:
            if self._triager is not None and self._clock() - self._checked < self.check_seconds:
                return self._triager
            self._checked = self._clock()
            wanted = artifact.current_version(triage_root(self.model_dir))
            if self._triager is None:
                self._triager = load_triager(self.model_dir, self.embedder, wanted, serve_only=True)  # errors surface
                self._version = wanted
            elif wanted and wanted != self._version:
                try:
                    self._triager = load_triager(self.model_dir, self.embedder, wanted, serve_only=True)
                    return_freed_memory()  # the old model and the new one's loading peak
                    log.info("triage model %s -> %s (CURRENT changed)", self._version, wanted)
                    self._version = wanted
                except ArtifactError as exc:
                    log.error("keeping triage model %s: %s", self._version, exc)
            return self._triager


# --- versions: list, history, rollback -------------------------------------------------------------

def record_event(model_dir: Path, event: str, version: str, **detail: Any) -> None:
    """Append one line to the history: ``promoted``, ``rejected``, ``trained`` or ``rollback``."""
    root = triage_root(model_dir)
    root.mkdir(parents=True, exist_ok=True)
    line = {"at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "event": event, "version": version,
            **detail}
    with open(root / HISTORY_FILE, "a", encoding="utf-8") as f:
        f.write(json.dumps(line, ensure_ascii=False) + "\n")


def history(model_dir: Path) -> list[dict[str, Any]]:
    path = triage_root(model_dir) / HISTORY_FILE
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _status(manifest: dict[str, Any]) -> str:
    """promoted / rejected (by the gate), side (a baseline kept beside the winner), or trained (no gate)."""
    verdict = manifest.get("promotion", {}).get("verdict")
    if verdict:
        return str(verdict)
    return "side" if manifest.get("side_model") or str(manifest.get("version", "")).endswith("-tfidf") else "trained"


def list_models(model_dir: Path) -> list[dict[str, Any]]:
    """Every saved triage model, oldest first: version, created, data hash, test metrics, status, served."""
    root = triage_root(model_dir)
    current = artifact.current_version(root)
    out = []
    for path in sorted(root.glob("*/manifest.json")):
        try:
            m = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            out.append({"version": path.parent.name, "status": "unreadable", "served": False})
            continue
        test = m.get("metrics", {}).get("test", {})
        out.append({
            "version": m.get("version", path.parent.name),
            "created": m.get("created"),
            "data_hash": m.get("data_hash"),
            "variant": m.get("variant"),
            "C": m.get("C"),
            "feedback_examples": m.get("data_counts", {}).get("train_feedback", 0),
            "metrics": {k: test.get(k) for k in ("macro_f1", "top1_accuracy", "emergency_recall", "calibration_error")},
            "status": _status(m),
            "served": m.get("version") == current,
        })
    return out


def rollback(model_dir: Path, version: str, force: bool = False, embedding_id: str | None = None) -> dict[str, Any]:
    """Serve an earlier version: it must load with every check the service applies (``embedding_id``: the
    vectors the service encodes with; a model trained on others is refused, as the service would refuse it);
    one the gate rejected needs ``force``."""
    root = triage_root(model_dir)
    known = {m["version"]: m for m in list_models(model_dir)}
    if version not in known:
        raise ArtifactError(f"no triage model version {version!r}; known: {', '.join(known) or 'none'}")
    if known[version]["status"] == "rejected" and not force:
        raise ArtifactError(f"{version} was rejected by the promotion gate; add --force to serve it anyway")
    artifact.load(root, version, embedding_id=embedding_id, serving=True)  # refuses what the service would refuse
    previous = artifact.current_version(root)
    artifact.set_current(root, version)
    record_event(model_dir, "rollback", version, previous=previous, forced=force)
    return {"served": version, "previous": previous}
