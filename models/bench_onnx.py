"""`python -m models.bench_onnx`: ONNX Runtime (fp32 / int8 / int8-mixed) against the torch Embedder, as JSON.

Why: triage must embed one message within p95 <= 50 ms on 2 CPU cores, and torch fp32 via
sentence-transformers is at ~55 ms. Before switching engines we need to know what ONNX Runtime
gains and what int8 costs in agreement:

- tokenisation: the ONNX encoder's input ids against what sentence-transformers feeds the model;
- agreement: cosine of each ONNX variant's vectors with the torch ``Embedder`` on every corpus
  message (normalised as triage does) and every search-eval query, all as queries;
- latency: single texts, corpus messages, every engine on each message in a rotating order, so the
  shared machine's load hits all engines alike: compare ratios measured in one run;
- downstream: for each search-eval query, is the nearest KB passage (the seed entries' ``question``,
  encoded by the same engine) the same as with torch? And hit@1 against the eval's relevant slugs.

The export goes to /tmp/e5-onnx (reused when its manifest matches; ``--rebuild`` forces it).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from models.answer_training import acceptable_slugs
from models.bench_triage import _percentiles
from models.e5_onnx import VARIANTS, OnnxEncoder, export_onnx

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MODEL_DIR = ROOT / "models" / "artifacts" / "multilingual-e5-small"
DEFAULT_OUT_DIR = Path("/tmp/e5-onnx")


def _stage(msg: str) -> None:
    """Progress on stderr (stdout carries the JSON): the whole run takes several minutes."""
    print(f"[bench onnx] {time.strftime('%H:%M:%S')} {msg}", file=sys.stderr, flush=True)


def _jsonl(pattern: str) -> list[dict[str, Any]]:
    rows = []
    for path in sorted(ROOT.glob(pattern)):
        rows += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return rows


def corpus_messages() -> list[str]:
    """Every corpus message, normalised as triage does before embedding."""
    from triage.normalize import normalize

    return [normalize(r["text"]) for r in _jsonl("triage/data/corpus/*.jsonl")]


def _cosines(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    c = (a * b).sum(axis=1)
    return {"n": len(c), "median": round(float(np.median(c)), 5), "p1": round(float(np.percentile(c, 1)), 5),
            "min": round(float(c.min()), 5)}


def _check_tokens(st_model: Any, enc: OnnxEncoder, texts: list[str], prompt_name: str) -> tuple[int, int]:
    """(mismatches, truncated) between the ONNX encoder's ids and sentence-transformers' own preprocessing."""
    prefix = st_model.prompts.get(prompt_name, "")
    mismatches = truncated = 0
    for start in range(0, len(texts), 64):
        batch = texts[start : start + 64]
        features = st_model.preprocess(batch, prompt=prefix)
        ours = enc.tokenize(batch, prompt_name)
        for row, mask, mine in zip(features["input_ids"], features["attention_mask"], ours):
            theirs = row[mask.bool()].tolist()
            mismatches += theirs != mine
            truncated += len(theirs) >= enc.max_seq_length
    return mismatches, truncated


def _latency(engines: dict[str, Callable[[str], np.ndarray]], texts: list[str]) -> tuple[dict[str, list[float]],
                                                                                          dict[str, np.ndarray]]:
    """Per engine: ms per single text, and the vectors. Engines take turns on each text, in rotating order."""
    names = list(engines)
    for t in texts[:10]:  # warm-up: allocators, thread pools, first-call paths
        for name in names:
            engines[name](t)
    ms: dict[str, list[float]] = {n: [] for n in names}
    vecs: dict[str, list[np.ndarray]] = {n: [] for n in names}
    for i, t in enumerate(texts):
        for name in names[i % len(names):] + names[: i % len(names)]:
            t0 = time.perf_counter()
            v = engines[name](t)
            ms[name].append((time.perf_counter() - t0) * 1000)
            vecs[name].append(v[0])
    return ms, {n: np.stack(v) for n, v in vecs.items()}


def bench_onnx(model_dir: Path = DEFAULT_MODEL_DIR, out_dir: Path = DEFAULT_OUT_DIR, n_latency: int = 500,
               rebuild: bool = False, seed: int = 0) -> dict[str, Any]:
    import torch

    from triage.embedder import Embedder

    load_before = os.getloadavg()
    _stage(f"export to {out_dir} (reused when up to date)")
    t0 = time.perf_counter()
    export_onnx(model_dir, out_dir, quantize=True, force=rebuild)
    export_wall_s = time.perf_counter() - t0
    manifest = json.loads((out_dir / "manifest.json").read_text(encoding="utf-8"))

    torch_emb = Embedder(str(model_dir))
    torch_emb.cache_size = 0  # measure encoding, not the query cache
    torch_emb.warm_up()
    onnx_engines = {
        f"onnx_{variant}_t{threads}": OnnxEncoder(out_dir, variant, intra_op_num_threads=threads)
        for variant in VARIANTS for threads in (1, 2)
    }
    for enc in onnx_engines.values():
        enc.warm_up()
    # whole-set encoding with 2 threads (int8 variants still one text per run: see OnnxEncoder)
    batch_engines = {variant: onnx_engines[f"onnx_{variant}_t2"] for variant in VARIANTS}

    corpus = corpus_messages()
    evals = _jsonl("kb/eval/queries_*.jsonl")
    queries = [r["query"] for r in evals]
    entries = _jsonl("kb/seed/*.jsonl")
    passages = [r["question"] for r in entries]

    _stage("tokenisation check")
    st_model = torch_emb.model
    enc = batch_engines["fp32"]
    # past the 512-token limit, to check truncation too
    long_texts = [corpus[k] * (1 + 600 // max(len(corpus[k]), 1)) for k in range(0, len(corpus), len(corpus) // 5)]
    checks = [(corpus + queries + long_texts, "query"), (passages, "passage")]
    results = [_check_tokens(st_model, enc, texts, name) for texts, name in checks]
    tokenisation = {
        "texts": sum(len(texts) for texts, _ in checks),
        "mismatches": sum(m for m, _ in results),
        "truncated_at_512": sum(t for _, t in results),
    }

    _stage(f"agreement: {len(corpus)} corpus messages, {len(queries)} eval queries, {len(passages)} passages")
    vectors: dict[str, dict[str, np.ndarray]] = {}
    for name, encode_q, encode_p in [
        ("torch", torch_emb.encode_queries, torch_emb.encode_passages),
        *[(k, e.encode_queries, e.encode_passages) for k, e in batch_engines.items()],
    ]:
        vectors[name] = {"corpus": encode_q(corpus), "queries": encode_q(queries), "passages": encode_p(passages)}
    ref = vectors["torch"]
    agreement = {
        name: {
            "corpus_messages": _cosines(vectors[name]["corpus"], ref["corpus"]),
            "eval_queries": _cosines(vectors[name]["queries"], ref["queries"]),
            "kb_passages": _cosines(vectors[name]["passages"], ref["passages"]),
        }
        for name in batch_engines
    }

    # downstream decision: nearest KB passage for every eval query
    slugs = [r["slug"] for r in entries]
    nearest = {name: (v["queries"] @ v["passages"].T).argmax(axis=1) for name, v in vectors.items()}
    downstream = {
        "queries": len(queries),
        "passages": len(passages),
        "hit_at_1": {
            name: round(float(np.mean([slugs[j] in acceptable_slugs(r)[0] for j, r in zip(nn, evals)])), 4)
            for name, nn in nearest.items()
        },
        "same_nearest_as_torch": {
            name: round(float(np.mean(nearest[name] == nearest["torch"])), 4) for name in batch_engines
        },
    }

    _stage(f"latency: {n_latency} single corpus messages, {2 + len(onnx_engines)} engines interleaved")
    rng = np.random.default_rng(seed)
    picked = rng.choice(len(corpus), size=min(n_latency, len(corpus)), replace=False)
    sample = [corpus[k] for k in picked]
    torch_threads = torch.get_num_threads()

    def torch_one_thread(text: str) -> np.ndarray:
        torch.set_num_threads(1)
        try:
            return torch_emb.encode_queries([text])
        finally:
            torch.set_num_threads(torch_threads)

    engines: dict[str, Callable[[str], np.ndarray]] = {
        "torch": lambda t: torch_emb.encode_queries([t]),
        "torch_t1": torch_one_thread,
        **{name: (lambda t, e=e: e.encode_queries([t])) for name, e in onnx_engines.items()},
    }
    batch_of = {"torch": "torch", "torch_t1": "torch", **{name: e.variant for name, e in onnx_engines.items()}}
    ms, single = _latency(engines, sample)
    lengths = [len(ids) for ids in enc.tokenize(sample, "query")]
    stats = {name: _percentiles(v) for name, v in ms.items()}
    latency = {
        "texts": len(sample),
        "tokens": {"p50": float(np.percentile(lengths, 50)), "p95": float(np.percentile(lengths, 95)),
                   "max": max(lengths)},
        "torch_threads": torch_threads,
        "engines": stats,
        "ratio_to_torch": {
            name: {k: round(s[k] / stats["torch"][k], 3) for k in ("p50_ms", "p95_ms")} for name, s in stats.items()
        },
        # a single text must give the same vector as in a padded batch (of its own engine)
        "single_vs_batch_min_cosine": {
            name: round(float((single[name] * vectors[batch_of[name]]["corpus"][picked]).sum(axis=1).min()), 5)
            for name in engines
        },
    }

    files = manifest.get("files", {})
    return {
        "machine": {"cpu_cores": os.cpu_count(), "loadavg_before": [round(x, 2) for x in load_before],
                    "loadavg_after": [round(x, 2) for x in os.getloadavg()]},
        "export": {
            "dir": str(out_dir),
            "wall_s_this_run": round(export_wall_s, 1),
            "timings": manifest.get("timings"),
            "file_mb": {name: round(info["bytes"] / 2**20, 1) for name, info in files.items()},
            "int8_mixed": manifest.get("int8_mixed"),
            "int8": manifest.get("int8"),
            "max_abs_diff_vs_torch": manifest.get("export_check", {}).get("max_abs_diff_vs_torch"),
            "libraries": manifest.get("libraries"),
        },
        "tokenisation": tokenisation,
        "agreement_vs_torch": agreement,
        "downstream_search": downstream,
        "latency": latency,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m models.bench_onnx", description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR)
    parser.add_argument("--out-dir", type=Path, default=DEFAULT_OUT_DIR, help="where the ONNX files go")
    parser.add_argument("--n-latency", type=int, default=500, help="corpus messages timed one by one")
    parser.add_argument("--rebuild", action="store_true", help="re-export even if the manifest matches")
    args = parser.parse_args(argv)
    result = bench_onnx(args.model_dir, args.out_dir, args.n_latency, args.rebuild)
    print(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
