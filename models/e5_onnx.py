"""ONNX Runtime encoder for the converted multilingual-e5-small (a faster stand-in for ``Embedder``).

Why: on the 2-core CPU machines, torch fp32 via sentence-transformers costs p50 ~41 ms / p95 ~55 ms
for one query, above the triage budget (p95 <= 50 ms). ONNX Runtime runs the same BertModel with
less per-call overhead, and its dynamic int8 quantisation cuts the matmul cost and the file size.

* :func:`export_onnx` exports the ``BertModel`` of a sentence-transformers directory (the one
  ``models/e5/`` writes) with ``torch.onnx.export`` (dynamo exporter, dynamic batch and
  sequence axes) to ``model.onnx``, and quantises it with ``quantize_dynamic`` (QInt8 weights,
  per-channel) to ``model-int8-mixed.onnx``, the served variant: feed-forward down-projections left in
  fp32 (most of int8's speed, a third of its error); the build fails if it strays from fp32 on
  generated probe queries. With ``quantize`` it also writes ``model-int8.onnx`` (everything quantised),
  comparing the per-channel / reduce-range settings. ``manifest.json`` records source, versions,
  hashes and the agreement figures. The tokenizer is copied so the export directory is self-contained.
* :class:`OnnxEncoder` mirrors ``triage.embedder.Embedder``: same prompts, same tokenisation (the
  model's ``tokenizer.json`` via ``tokenizers``, truncated at 512 tokens like sentence-transformers),
  mean pooling over the attention mask and L2 normalisation; float32 arrays of shape (n, 384).

``models/bench_onnx.py`` measures agreement with the torch ``Embedder`` and latency.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from models.e5.build import _dump_json, staged_dir
from triage.files import sha256_file
from triage.onnx_encoder import (INT8_MIXED_NAME, INT8_NAME, MANIFEST_NAME, ONNX_NAME, TOKENIZER_NAME, VARIANTS,
                                 OnnxEncoder, OnnxEncoderError, _session, load_tokenizer)

if TYPE_CHECKING:
    pass

# Bump whenever the exported files change (forces a re-export of existing dirs).
EXPORTER_VERSION = "2"
OPSET = 18
INPUT_NAMES = ("input_ids", "attention_mask")
OUTPUT_NAME = "last_hidden_state"

# quantize_dynamic settings tried for int8 (QInt8 weights, all supported ops: the weight MatMuls and
# the word-embedding Gather). reduce_range (7-bit weights) avoids the u8s8 overflow of AVX2 kernels
# without VNNI but costs precision; which combination wins is measured at export, not assumed
# (here, 2026-11: per-channel, cosine p1 ~0.996 with fp32 with or without reduce_range; per-tensor ~0.987
# or worse).
QUANT_VARIANTS = tuple({"per_channel": pc, "reduce_range": rr} for pc in (False, True) for rr in (False, True))
# The settings of the served int8-mixed model: the winner of that comparison on this machine kind
# (`jishibang models build --int8` reruns it and records all four in the manifest).
SERVED_QUANT = {"per_channel": True, "reduce_range": False}
# The served variant must agree with fp32 at least this well on the probe queries (1st percentile of the
# cosine; measured 0.9989). Retrieval and triage models are built on its own vectors, so this guards
# against a broken quantisation (a new onnxruntime, a changed graph), not against small drift.
MIN_MIXED_COSINE_P1 = 0.995


def _library_versions() -> dict[str, str]:
    versions = {}
    for dist in ("onnxruntime", "onnx", "onnxscript", "onnx-ir", "torch", "transformers", "tokenizers", "numpy"):
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[dist] = "not installed"
    return versions


def _source_hash(model_dir: Path) -> str:
    """The identity of the source model: its build manifest (which hashes every file), else its weights."""
    manifest = model_dir / "manifest.json"
    return sha256_file(manifest if manifest.is_file() else model_dir / "model.safetensors")


def _encoder_settings(model_dir: Path) -> dict[str, Any]:
    """Prompts, truncation length, pad id and width, read the way sentence-transformers reads them."""

    def read(name: str) -> dict[str, Any]:
        p = model_dir / name
        return json.loads(p.read_text(encoding="utf-8")) if p.is_file() else {}

    config = read("config.json")
    st_config = read("config_sentence_transformers.json")
    # sentence-transformers caps max_seq_length by the tokenizer's and the model's limits
    limits = [
        read("sentence_bert_config.json").get("max_seq_length"),
        read("tokenizer_config.json").get("model_max_length"),
        config.get("max_position_embeddings"),
    ]
    return {
        "prompts": st_config.get("prompts") or {},
        "max_seq_length": int(min(x for x in limits if isinstance(x, int))),
        "pad_token_id": int(config.get("pad_token_id") or 0),
        "dim": int(config["hidden_size"]),
        "intermediate_size": int(config["intermediate_size"]),
        "inputs": list(INPUT_NAMES),
        "output": OUTPUT_NAME,
        "pooling": "mean",
        "normalize": True,
    }


def probe_texts(n: int = 120) -> list[str]:
    """Generated queries (short and call-note length) to choose the int8 variant.

    Deliberately not the corpus or the eval queries, so the choice is not tuned on what
    ``bench_onnx`` then measures.
    """
    from models.bench_embed import bench_queries

    qs = bench_queries(n)
    return [q * (1 + k % 4) for k, q in enumerate(qs)]


# --------------------------------------------------------------------------------------------- export


def _export_fp32(model_dir: Path, out_file: Path) -> float:
    """Export the BertModel to ``out_file``; returns the largest |difference| to torch on a padded batch."""
    import torch
    import transformers
    from transformers import AutoModel

    transformers.utils.logging.disable_progress_bar()
    # eager attention: plain MatMul/Softmax nodes that ORT and quantize_dynamic handle well
    bert = AutoModel.from_pretrained(model_dir, local_files_only=True, attn_implementation="eager").eval()

    class _Wrapper(torch.nn.Module):
        """Positional (input_ids, attention_mask) -> last_hidden_state, as sentence-transformers calls it."""

        def __init__(self, model: torch.nn.Module) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    def padded_batch(lengths: list[int], seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Random token ids between <s> and </s>, right-padded like the encoder pads."""
        ids = torch.randint(5, 250_000, (len(lengths), max(lengths)), generator=torch.Generator().manual_seed(seed))
        mask = torch.zeros_like(ids)
        for i, n in enumerate(lengths):
            ids[i, 0], ids[i, n - 1], ids[i, n:] = 0, 2, 1
            mask[i, :n] = 1
        return ids, mask

    wrapper = _Wrapper(bert).eval()
    # a padded batch, so that nothing is specialised to batch 1 or to an all-ones mask
    ids, mask = padded_batch([16, 10], seed=0)
    batch, seq = torch.export.Dim("batch"), torch.export.Dim("sequence")
    torch.onnx.export(
        wrapper,
        (ids, mask),
        str(out_file),
        input_names=list(INPUT_NAMES),
        output_names=[OUTPUT_NAME],
        dynamic_shapes={"input_ids": {0: batch, 1: seq}, "attention_mask": {0: batch, 1: seq}},
        opset_version=OPSET,
        dynamo=True,
        external_data=False,  # ~470 MB: fits in one protobuf (< 2 GB)
        verbose=False,
    )
    # check on the export's shapes and on others (the axes must really be dynamic), up to 512 tokens
    session = _session(out_file, 1)
    worst = 0.0
    for lengths, seed in [([16, 10], 0), ([3, 37, 5], 1), ([512], 2)]:
        ids, mask = padded_batch(lengths, seed)
        with torch.inference_mode():
            expected = wrapper(ids, mask).numpy()
        got = session.run(None, {"input_ids": ids.numpy(), "attention_mask": mask.numpy()})[0]
        valid = mask.numpy().astype(bool)  # padded positions are masked out by pooling: compare real tokens
        worst = max(worst, float(np.abs(got - expected)[valid].max()))
    return worst


def _cosines(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    c = (a * b).sum(axis=1)
    return {
        "median": round(float(np.median(c)), 5),
        "p1": round(float(np.percentile(c, 1)), 5),
        "min": round(float(c.min()), 5),
    }


def _no_preprocess_hint(record: logging.LogRecord) -> bool:
    """quantize_dynamic logs a 'consider pre-processing' hint (for static CNN quantisation) on every call."""
    return "pre-processing before quantization" not in record.getMessage()


def _ffn_down_nodes(model_file: Path, intermediate: int, hidden: int) -> list[str]:
    """Names of the MatMuls with an (intermediate x hidden) weight: the feed-forward down-projections.

    Their inputs (after GELU) have the widest activation range in BERT, so per-tensor dynamic uint8
    activations lose the most there; keeping them fp32 is the "int8-mixed" variant.
    """
    import onnx

    model = onnx.load(str(model_file), load_external_data=False)
    shapes = {init.name: tuple(init.dims) for init in model.graph.initializer}
    return [n.name for n in model.graph.node
            if n.op_type == "MatMul" and shapes.get(n.input[1]) == (intermediate, hidden)]


def _quantize(src: Path, dst: Path, **options: Any) -> float:
    """quantize_dynamic with QInt8 weights; returns the seconds it took."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    t0 = time.perf_counter()
    root = logging.getLogger()
    root.addFilter(_no_preprocess_hint)
    try:
        quantize_dynamic(src, dst, weight_type=QuantType.QInt8, **options)
    finally:
        root.removeFilter(_no_preprocess_hint)
    return round(time.perf_counter() - t0, 1)


def _agreement(tmp: Path, texts: Sequence[str]) -> Callable[[str], dict[str, float]]:
    """A scorer: cosines of a quantised file's query vectors (one text per run) to fp32's."""
    threads = os.cpu_count() or 2
    reference = OnnxEncoder(tmp, "fp32", intra_op_num_threads=threads).encode_queries(texts)

    def agreement(model_file: str) -> dict[str, float]:
        vecs = OnnxEncoder(tmp, model_file=model_file, intra_op_num_threads=threads, batch_size=1)
        return _cosines(vecs.encode_queries(texts), reference)

    return agreement


def _quantize_variants(tmp: Path, agreement: Callable[[str], dict[str, float]]) -> dict[str, Any]:
    """Write each QUANT_VARIANTS candidate, keep the one closest to fp32 as ``model-int8.onnx``."""
    scored = []
    for k, variant in enumerate(QUANT_VARIANTS):
        candidate = tmp / f"candidate-{k}.onnx"
        seconds = _quantize(tmp / ONNX_NAME, candidate, **variant)
        scored.append({**variant, "cosine_vs_fp32": agreement(candidate.name), "quantize_s": seconds,
                       "_file": candidate})
    # the worst cases decide (p1, then min), the median breaks ties
    best = max(scored, key=lambda s: (s["cosine_vs_fp32"]["p1"], s["cosine_vs_fp32"]["min"],
                                      s["cosine_vs_fp32"]["median"]))
    os.rename(best["_file"], tmp / INT8_NAME)
    for s in scored:
        Path(s.pop("_file")).unlink(missing_ok=True)
    chosen = {"per_channel": best["per_channel"], "reduce_range": best["reduce_range"]}
    return {"weight_type": "QInt8", "best": chosen, "served_settings_still_best": chosen == SERVED_QUANT,
            "variants": scored}


def _quantize_mixed(tmp: Path, agreement: Callable[[str], dict[str, float]], intermediate: int,
                    hidden: int) -> dict[str, Any]:
    """``model-int8-mixed.onnx`` with SERVED_QUANT, the feed-forward down-projections left in fp32."""
    kept = _ffn_down_nodes(tmp / ONNX_NAME, intermediate, hidden)
    seconds = _quantize(tmp / ONNX_NAME, tmp / INT8_MIXED_NAME, nodes_to_exclude=kept, **SERVED_QUANT)
    cosine = agreement(INT8_MIXED_NAME)
    if cosine["p1"] < MIN_MIXED_COSINE_P1:
        raise OnnxEncoderError(f"the int8-mixed model strays from fp32 (cosine p1 {cosine['p1']} < "
                               f"{MIN_MIXED_COSINE_P1}); see the quantisation settings in models/e5_onnx.py")
    return {"weight_type": "QInt8", **SERVED_QUANT, "fp32_matmuls": len(kept), "cosine_vs_fp32": cosine,
            "quantize_s": seconds}


def manifest_matches(out_dir: Path, model_dir: Path, quantize: bool) -> bool:
    """True if ``out_dir`` holds a complete export of ``model_dir`` by this exporter version and onnxruntime.

    Files are checked by presence and size (hashing ~600 MB on every start is too slow).
    """
    try:
        manifest = json.loads((Path(out_dir) / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(manifest, dict) or manifest.get("exporter_version") != EXPORTER_VERSION:
        return False
    if manifest.get("source", {}).get("manifest_sha256") != _source_hash(Path(model_dir)):
        return False
    if manifest.get("libraries", {}).get("onnxruntime") != _library_versions()["onnxruntime"]:
        return False
    files = manifest.get("files") or {}
    needed = {ONNX_NAME, INT8_MIXED_NAME, TOKENIZER_NAME} | ({INT8_NAME} if quantize else set())
    if not needed <= files.keys():
        return False
    return all((Path(out_dir) / rel).is_file() and (Path(out_dir) / rel).stat().st_size == info.get("bytes")
               for rel, info in files.items())


def export_onnx(model_dir: Path, out_dir: Path, quantize: bool, *, force: bool = False,
                probes: Sequence[str] | None = None) -> Path:
    """Export ``model_dir`` (a sentence-transformers BertModel dir) to ONNX in ``out_dir``; returns ``out_dir``.

    Writes ``model.onnx`` (fp32, opset 18), ``model-int8-mixed.onnx`` (served), with ``quantize`` also
    ``model-int8.onnx``, plus ``tokenizer.json`` and ``manifest.json``. Skipped when ``out_dir`` already holds a matching
    export (see :func:`manifest_matches`) unless ``force``. Built in a temp dir beside ``out_dir``
    and renamed into place, so readers never see a half-written export.
    """
    model_dir, out_dir = Path(model_dir).absolute(), Path(out_dir).absolute()
    if not force and manifest_matches(out_dir, model_dir, quantize):
        return out_dir
    if not (model_dir / "config.json").is_file() or not (model_dir / TOKENIZER_NAME).is_file():
        raise OnnxEncoderError(f"{model_dir} is not a sentence-transformers model directory with a tokenizer.json")
    settings = _encoder_settings(model_dir)
    with staged_dir(out_dir) as tmp:
        shutil.copy2(model_dir / TOKENIZER_NAME, tmp / TOKENIZER_NAME)
        manifest: dict[str, Any] = {
            "exporter_version": EXPORTER_VERSION,
            "source": {"model_dir": str(model_dir), "manifest_sha256": _source_hash(model_dir)},
            "encoder": settings,
            "onnx": {"opset": OPSET, "exporter": "torch.onnx.export(dynamo=True)", "attention": "eager"},
            "libraries": _library_versions(),
        }
        _dump_json(tmp / MANIFEST_NAME, manifest)  # OnnxEncoder reads the settings when scoring int8

        t0 = time.perf_counter()
        max_abs_diff = _export_fp32(model_dir, tmp / ONNX_NAME)
        timings = {"export_s": round(time.perf_counter() - t0, 1)}
        if max_abs_diff > 1e-3:
            raise OnnxEncoderError(f"exported graph disagrees with torch (max |diff| {max_abs_diff:.2e})")
        manifest["export_check"] = {"max_abs_diff_vs_torch": max_abs_diff}
        t0 = time.perf_counter()
        texts = list(probes) if probes is not None else probe_texts()
        agreement = _agreement(tmp, texts)
        manifest["int8_mixed"] = {**_quantize_mixed(tmp, agreement, settings["intermediate_size"], settings["dim"]),
                                  "probe_texts": len(texts)}
        if quantize:
            manifest["int8"] = _quantize_variants(tmp, agreement)
        timings["quantize_total_s"] = round(time.perf_counter() - t0, 1)
        manifest["timings"] = timings
        manifest["files"] = {
            p.name: {"sha256": sha256_file(p), "bytes": p.stat().st_size}
            for p in sorted(tmp.iterdir())
            if p.is_file() and p.name != MANIFEST_NAME
        }
        _dump_json(tmp / MANIFEST_NAME, manifest)
    return out_dir


# -------------------------------------------------------------------------------------------- encoder


__all__: list[str] = [
    "EXPORTER_VERSION",
    "VARIANTS",
    "OnnxEncoder",
    "OnnxEncoderError",
    "export_onnx",
    "load_tokenizer",
    "manifest_matches",
    "probe_texts",
]
