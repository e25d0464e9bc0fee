"""How well gap clustering groups questions that ask for the same thing.

Ground truth: questions whose one relevant entry is the same ask the same thing. The distance threshold
is chosen on the calibration query set and reported on the evaluation query sets (disjoint), so the
reported figures come from questions the choice never saw."""

from __future__ import annotations

from models.answer_training import acceptable_slugs

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import adjusted_rand_score, homogeneity_completeness_v_measure

from hotline.gaps import cluster

KB = Path(__file__).resolve().parents[1] / "kb"
THRESHOLDS = (0.06, 0.07, 0.08, 0.09, 0.10, 0.11, 0.12, 0.13, 0.14)


def labelled(paths: list[Path]) -> list[dict[str, Any]]:
    rows = []
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                r = json.loads(line)
                acceptable, preferred = acceptable_slugs(r)
                if len(acceptable) == 1:
                    rows.append({"id": len(rows), "text": r["query"], "truth": preferred})
    return rows


def score(rows: list[dict[str, Any]], encode: Callable[[list[str]], np.ndarray], distance: float) -> dict[str, float]:
    found = cluster(rows, encode, distance=distance)
    predicted = {qid: i for i, c in enumerate(found) for qid in c.question_ids}
    truth = [r["truth"] for r in rows]
    pred = [predicted[r["id"]] for r in rows]
    h, c, v = homogeneity_completeness_v_measure(truth, pred)
    return {"distance": distance, "clusters": len(found), "groups": len(set(truth)), "ari": round(adjusted_rand_score(truth, pred), 4),
            "homogeneity": round(h, 4), "completeness": round(c, 4), "v_measure": round(v, 4)}


def evaluate(encode: Callable[[list[str]], np.ndarray]) -> dict[str, Any]:
    cache: dict[str, np.ndarray] = {}

    def cached(texts: list[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in cache]
        if missing:
            cache.update(zip(missing, encode(missing)))
        return np.stack([cache[t] for t in texts])

    tune = labelled([KB / "calibration" / "queries.jsonl"])
    test = labelled(sorted((KB / "eval").glob("queries_*.jsonl")))
    sweep = [score(tune, cached, d) for d in THRESHOLDS]
    best = max(sweep, key=lambda s: s["ari"])
    return {"tuned_on": {"questions": len(tune), "sweep": sweep, "chosen_distance": best["distance"]},
            "held_out": {"questions": len(test), **score(test, cached, best["distance"])}}
