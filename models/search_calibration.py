"""Fit the search calibrator: P(the top hit answers the query) from retrieval signals.

Training data never touches the evaluation query set (kb/eval):
- positives: every paraphrase and question of every indexed entry, searched with that exact row
  left out of the index (leave-one-out), labelled by whether the top hit is its own entry;
- negatives: sentences nobody would ask this hotline (general sentence pairs from chinese_sts,
  citizen messages about housing, schools, environment from teddycup2020, greetings).
The threshold per mode is the lowest that keeps false answers on the negatives at or below a target.
"""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from tqdm import tqdm

from kb.search import FEATURES, Calibrator, Searcher

# Greetings must not get a confident entry: the FAQ answers them with "describe your problem / call 12351".
GREETINGS = ["你好", "在吗", "你好在吗", "有人吗", "喂", "谢谢", "好的", "嗯嗯", "哈哈哈", "👍", "早上好", "晚安",
             "你是机器人吗", "转人工", "测试一下", "？？", "ok", "收到", "辛苦了", "再见", "您好", "请问", "hi", "在不在"]


def negative_queries(shared_dir: Path, n_sts: int = 400, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    out = list(GREETINGS)
    sts = shared_dir / "data" / "chinese_sts" / "simtrain_to05sts.tsv"
    if sts.exists():
        with open(sts, encoding="utf-8") as f:
            sentences = sorted({row[1] for row in csv.reader(f, delimiter="\t") if len(row) >= 4})
        out += rng.sample(sentences, min(n_sts, len(sentences)))
    gov = shared_dir / "data" / "teddycup2020_gov_messages" / "messages_labelled.jsonl"
    if gov.exists():
        for line in gov.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            if row["label"] not in ("劳动和社会保障", "交通运输"):
                out.append(row["title"])
    return out


def positive_queries(searcher: Searcher) -> list[tuple[str, int]]:
    """(text, position of its entry) for every question row of the index."""
    rows = searcher.build.rows
    return [(t, int(p)) for t, p, f in zip(rows.texts, rows.entry_pos, rows.field) if f == "question"]


def collect(searcher: Searcher, shared_dir: Path, progress: bool = True) -> dict[str, Any]:
    positives = positive_queries(searcher)
    negatives = negative_queries(shared_dir)
    texts = [t for t, _ in positives] + negatives
    vectors = searcher.encode_query(texts) if searcher.encode_query else None
    data: dict[str, Any] = {m: {"X": [], "y": [], "negative": []} for m in searcher.modes}
    for i, text in enumerate(tqdm(texts, desc="calibration queries", disable=not progress)):
        is_pos = i < len(positives)
        for mode in searcher.modes:
            vec = vectors[i] if vectors is not None else None
            cands = searcher.candidates(text, mode, exclude_text=text if is_pos else None, query_vector=vec)
            if not cands:
                continue
            top = cands[0]
            data[mode]["X"].append(top.features)
            data[mode]["y"].append(int(is_pos and top.pos == positives[i][1]))
            data[mode]["negative"].append(not is_pos)
    return data


def fit(data: dict[str, Any], max_false_answer: float = 0.03) -> Calibrator:
    params: dict[str, dict[str, Any]] = {}
    for mode, d in data.items():
        X, y, neg = np.array(d["X"]), np.array(d["y"]), np.array(d["negative"])
        model = LogisticRegression(C=1.0, max_iter=2000).fit(X, y)
        p = model.predict_proba(X)[:, 1]
        # Lowest threshold whose false-answer rate on off-topic negatives stays within the target.
        grid = np.round(np.arange(0.05, 0.96, 0.01), 2)
        ok = [t for t in grid if (p[neg] >= t).mean() <= max_false_answer] if neg.any() else [0.5]
        threshold = float(min(ok)) if ok else 0.95
        params[mode] = {
            "features": list(FEATURES),
            "coef": model.coef_[0].round(6).tolist(),
            "intercept": float(round(model.intercept_[0], 6)),
            "threshold": threshold,
            "n_positive_rows": int((~neg).sum()),
            "n_negative_queries": int(neg.sum()),
            "train_false_answer_rate": float((p[neg] >= threshold).mean()) if neg.any() else None,
            "train_answer_rate_positives": float((p[~neg] >= threshold).mean()),
        }
    return Calibrator(params)
