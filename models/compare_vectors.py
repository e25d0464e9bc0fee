"""`jishibang eval vectors`: does serving the int8-mixed encoder cost triage quality?

The int8-mixed vectors differ a little from fp32's (cosine ~0.999), so the classifier is retrained on them.
One training run per vector set is not enough to compare: reordering the same training rows alone moves
test macro-F1 by ~0.006 (the per-type thresholds are tuned on a 420-message validation split). So each
vector set is trained under several orderings of the training rows (the combined TF-IDF + embedding
features, which ``jishibang train triage`` picks with either vector set, with its Cs), and the test-split figures are summarised per vector set (mean, min, max)
and as paired differences (same ordering, other vectors). The test split is never used in training or
tuning. Progress goes to stderr, the JSON report to stdout.
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from models import eval_triage
from models.train_triage import CachedEncoder, embedding_cache_file, train
from models.triage_data import by_split, load_corpus
from triage.embedder import Embedder
from triage.pipeline import Triager

METRICS = ("macro_f1", "top1_accuracy", "emergency_recall", "calibration_error")


def _summary(values: list[float]) -> dict[str, float]:
    a = np.asarray(values)
    return {"mean": round(float(a.mean()), 4), "min": round(float(a.min()), 4), "max": round(float(a.max()), 4)}


def compare(model_path: str, onnx_dir: Path, model_dir: Path, shared_dir: Path, orderings: int = 5,
            vector_sets: tuple[str, ...] = ("fp32", "int8-mixed"),
            feature_variants: tuple[str, ...] = ("combined",)) -> dict[str, Any]:
    examples = load_corpus(shared_dir)
    test = by_split(examples)["test"]
    runs: dict[str, list[dict[str, Any]]] = {v: [] for v in vector_sets}
    for variant in vector_sets:
        embedder = Embedder(model_path, backend="onnx", onnx_dir=onnx_dir, variant=variant)
        encoder = CachedEncoder(embedder.encode_queries, embedding_cache_file(model_dir, embedder.identity),
                                progress=True)
        for k in range(orderings):
            t0 = time.perf_counter()
            shuffled = list(examples)
            random.Random(k).shuffle(shuffled)  # splits are by text hash: only the order of rows changes
            best, _, _ = train(shuffled, encoder, variants=feature_variants, log=lambda _line: None)
            report = eval_triage.evaluate(Triager(best.model), test)
            runs[variant].append({"ordering": k, "variant": best.variant, "C": best.C,
                                  "val_macro_f1": round(best.val_macro_f1, 4),
                                  **{m: report[m] for m in METRICS}})
            print(f"{variant} ordering {k}: {best.variant} C={best.C} test macro-F1 {report['macro_f1']:.4f} "
                  f"({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
        encoder.save()
    summary = {v: {m: _summary([r[m] for r in rs]) for m in ("val_macro_f1", *METRICS)} for v, rs in runs.items()}
    base, other = vector_sets[0], vector_sets[-1]
    paired = [b["macro_f1"] - a["macro_f1"] for a, b in zip(runs[base], runs[other])]
    return {"test_messages": len(test), "orderings": orderings, "summary": summary,
            f"macro_f1_{other}_minus_{base}": _summary(paired), "runs": runs}
