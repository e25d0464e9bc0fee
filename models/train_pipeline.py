"""`jishibang train triage` and `jishibang eval triage`: data -> compare -> tune -> test -> save."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from models import eval_triage
from models.registry import triage_root
from models.train_triage import CachedEncoder, embedding_cache_file, save_model, train
from models.triage_data import by_split, load_corpus
from triage import classifier as artifact
from triage.embedder import Embedder, embedding_id
from triage.features import VARIANTS
from triage.pipeline import Triager


def train_and_save(
    model_dir: Path,
    embedding_model_path: str,
    shared_dir: Path,
    reports_dir: Path,
    if_missing: bool = False,
    use_embeddings: bool = True,
    embedder_options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    root = triage_root(model_dir)
    if if_missing:
        current = current_fitting(root, embedding_id(embedding_model_path, **(embedder_options or {})))
        if current:
            return {"skipped": True, "current": current}
    examples = load_corpus(shared_dir)
    encoder = None
    emb_id = None
    if use_embeddings:
        embedder = Embedder(embedding_model_path, **(embedder_options or {}))
        emb_id = embedder.identity
        encoder = CachedEncoder(embedder.encode_queries, embedding_cache_file(model_dir, emb_id), progress=True)
    variants = VARIANTS if use_embeddings else ("tfidf",)
    best, comparison, per_variant = train(examples, encoder, variants=variants)
    test = by_split(examples)["test"]
    png = reports_dir / "triage_confusion.png"
    metrics = {"test": _summary(eval_triage.evaluate(Triager(best.model), test, png))}
    if isinstance(encoder, CachedEncoder):
        encoder.save()  # after the test evaluation, so later evaluations and retrains reuse the test vectors too
    path = save_model(best, examples, root, metrics, comparison, emb_id)
    if best.variant != "tfidf" and "tfidf" in per_variant:
        # Kept beside the winner (not current): the no-embedding baseline for `bench triage`.
        side = per_variant["tfidf"]
        side_test = _summary(eval_triage.evaluate(Triager(side.model), test))
        save_model(side, examples, root, {"test": side_test}, comparison, None, make_current=False, suffix="-tfidf",
                   version=path.name)  # named after the winner: `bench triage` pairs them
    report = {"version": path.name, "variant": best.variant, "C": best.C, "val_macro_f1": best.val_macro_f1,
              "comparison": comparison, "test": metrics["test"], "confusion_png": str(png),
              "counts": {s: len(v) for s, v in by_split(examples).items()}}
    reports_dir.mkdir(parents=True, exist_ok=True)
    (reports_dir / "triage_train.json").write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    return report


def current_fitting(root: Path, wanted_embedding_id: str) -> str | None:
    """The current version if the service can run it with these vectors (trained on them, or on none);
    a model trained on other vectors (another model or ONNX variant) would be refused, so None."""
    current = artifact.current_version(root)
    if not current:
        return None
    trained_on = artifact.read_manifest(root, current).get("embedding_id")
    return current if trained_on in (None, wanted_embedding_id) else None


def _summary(report: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in report.items() if k not in ("reliability", "label_counts")}


def evaluate_current(shared_dir: Path, reports_dir: Path, triager: Triager) -> dict[str, Any]:
    test = by_split(load_corpus(shared_dir))["test"]
    report = eval_triage.evaluate(triager, test, reports_dir / "triage_confusion.png")
    report["version"] = triager.model.manifest.get("version")
    report["variant"] = triager.model.variant
    reports_dir.mkdir(parents=True, exist_ok=True)
    (reports_dir / "triage_eval.json").write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    return report
