"""`jishibang train triage` and `jishibang eval triage`: data -> compare -> tune -> test -> save."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from models import eval_triage
from models.registry import triage_root
from models.train_triage import CachedEncoder, embedding_cache_file, save_model, train
from models.crisis_data import crisis_hash, load_crisis
from models.triage_data import Example, by_split, data_hash, load_corpus
from triage.segment import resource_hash
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
    examples = load_corpus(shared_dir)
    if if_missing:
        current = current_fitting(root, embedding_id(embedding_model_path, **(embedder_options or {})), examples)
        if current:
            return {"skipped": True, "current": current}
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


def current_fitting(root: Path, wanted_embedding_id: str, examples: list[Example] | None = None) -> str | None:
    """The current version if it still fits: this code's format, these vectors (or none), the same corpus,
    crisis corpus and dictionary. Otherwise None (retrain): a model trained on other vectors would be refused,
    and one trained on other data is out of date."""
    current = artifact.current_version(root)
    if not current:
        return None
    m = artifact.read_manifest(root, current)
    if m.get("format_version") != artifact.FORMAT_VERSION or m.get("embedding_id") not in (None, wanted_embedding_id):
        return None
    if m.get("dictionary_hash") != resource_hash("dictionary.txt", "synonyms.tsv", "cantonese.tsv"):
        return None
    if m.get("crisis_hash") != crisis_hash(load_crisis()):
        return None
    if examples is not None and m.get("corpus_hash", m.get("data_hash")) != data_hash(examples):
        return None
    return current


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
