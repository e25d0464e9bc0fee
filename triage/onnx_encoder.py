"""ONNX Runtime encoder for the local multilingual-e5-small: the same vectors as the torch model
(fp32 export, cosine 1.0 to ~1e-6), about twice as fast for one query on 2 cores.

The export is made at build time by ``models/e5_onnx.py`` (``jishibang models build``); this module only
runs it: same prompts, same tokenisation (the model's ``tokenizer.json``, or its compact form with the same ids:
``triage.compact_tokenizer``; truncated at 512 tokens like sentence-transformers), mean pooling over the attention mask and L2 normalisation.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from triage.compact_tokenizer import CompactTokenizer

if TYPE_CHECKING:
    import onnxruntime
    from tokenizers import Tokenizer

ONNX_NAME = "model.onnx"
INT8_NAME = "model-int8.onnx"
INT8_MIXED_NAME = "model-int8-mixed.onnx"
TOKENIZER_NAME = "tokenizer.json"
MANIFEST_NAME = "manifest.json"
VARIANTS = {"fp32": ONNX_NAME, "int8": INT8_NAME, "int8-mixed": INT8_MIXED_NAME}


class OnnxEncoderError(RuntimeError):
    """The ONNX export is missing, stale or unusable."""


def _session(path: Path, threads: int, allow_spinning: bool = False) -> onnxruntime.InferenceSession:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    # Spinning workers burn the shared cores between calls (and slow the web server, the browser
    # tests or another session); measured here, spinning made single queries no faster.
    so.add_session_config_entry("session.intra_op.allow_spinning", "1" if allow_spinning else "0")
    so.log_severity_level = 3  # warnings about unused initialisers etc. are noise here
    # No memory arena: it keeps the largest activations ever seen (a 512-token note) for the life of the worker;
    # measured here, ~30 MB less per worker and no slower.
    so.enable_cpu_mem_arena = False
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def load_tokenizer(path: Path, max_length: int) -> Tokenizer:
    """``tokenizer.json`` truncated like sentence-transformers (``longest_first``, right, specials included)."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(path))
    tok.no_padding()  # padding is done per batch in numpy
    tok.enable_truncation(max_length=max_length)
    return tok


class OnnxEncoder:
    """Encode queries and passages into L2-normalised float32 vectors with ONNX Runtime.

    ``variant``: ``fp32`` (same vectors as torch to ~1e-6), ``int8`` (all weight matmuls and the word
    embeddings quantised) or ``int8-mixed`` (the feed-forward down-projections kept fp32). Quantised
    variants encode one text per run unless ``batch_size`` is given (see below).

    >>> enc = OnnxEncoder("/tmp/e5-onnx", "int8")  # doctest: +SKIP
    >>> enc.encode_queries(["押金不退怎么办"]).shape  # doctest: +SKIP
    (1, 384)
    """

    def __init__(self, onnx_dir: Path | str, variant: str = "fp32", *, intra_op_num_threads: int = 2,
                 batch_size: int | None = None, allow_spinning: bool = False, model_file: str | None = None) -> None:
        if model_file is None and variant not in VARIANTS:
            raise ValueError(f"variant must be one of {sorted(VARIANTS)}, not {variant!r}")
        self.onnx_dir = Path(onnx_dir)
        self.variant = variant if model_file is None else model_file
        self.model_file = self.onnx_dir / (model_file or VARIANTS[variant])
        self.intra_op_num_threads = intra_op_num_threads
        self.allow_spinning = allow_spinning
        if batch_size is None:
            # Dynamic quantisation scales activations per tensor, padding included: in a batch a text's
            # int8 vector depends on its batch-mates (cosine down to ~0.994). One text per run keeps a
            # passage's vector equal to the same text's query-time vector, at ~2/3 of the batch throughput.
            batch_size = 64 if self.model_file.name == ONNX_NAME else 1
        self.batch_size = batch_size
        self._session: onnxruntime.InferenceSession | None = None
        self._tokenizer: Tokenizer | CompactTokenizer | None = None
        self._settings: dict[str, Any] = {}
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        """Load the session and the tokenizer once; later calls do nothing."""
        if self._session is not None:
            return
        with self._lock:
            if self._session is not None:
                return
            try:
                manifest = json.loads((self.onnx_dir / MANIFEST_NAME).read_text(encoding="utf-8"))
                settings = manifest["encoder"]
                max_length = int(settings["max_seq_length"])
                # the compact vocabulary when `models build` wrote it (same ids, ~230 MB less per process)
                tokenizer: Tokenizer | CompactTokenizer = (
                    CompactTokenizer.load(self.onnx_dir, max_length)
                    or load_tokenizer(self.onnx_dir / TOKENIZER_NAME, max_length))
                session = _session(self.model_file, self.intra_op_num_threads, self.allow_spinning)
            except Exception as exc:  # onnxruntime and tokenizers raise their own kinds
                raise OnnxEncoderError(
                    f"cannot load ONNX encoder {self.model_file}: {exc}. Build it with `jishibang models build`."
                ) from exc
            self._settings, self._tokenizer = settings, tokenizer
            self._session = session

    @property
    def is_loaded(self) -> bool:
        return self._session is not None

    @property
    def dim(self) -> int:
        self.warm_up()
        return int(self._settings["dim"])

    @property
    def max_seq_length(self) -> int:
        self.warm_up()
        return int(self._settings["max_seq_length"])

    @property
    def prompts(self) -> dict[str, str]:
        self.warm_up()
        return dict(self._settings.get("prompts") or {})

    def tokenize(self, texts: Sequence[str], prompt_name: str) -> list[list[int]]:
        """Token ids as the model sees them (prompt prepended, specials added, truncated)."""
        self.warm_up()
        assert self._tokenizer is not None
        prefix = self.prompts.get(prompt_name, "")
        prompted = [prefix + t for t in texts]
        if isinstance(self._tokenizer, CompactTokenizer):
            return self._tokenizer.encode_batch(prompted)
        return [e.ids for e in self._tokenizer.encode_batch(prompted)]

    def _run(self, rows: list[list[int]]) -> np.ndarray:
        """One padded batch -> mean-pooled, L2-normalised vectors (sentence-transformers' Pooling + Normalize)."""
        assert self._session is not None
        width = max(len(r) for r in rows)
        ids = np.full((len(rows), width), int(self._settings["pad_token_id"]), dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = r
            mask[i, : len(r)] = 1
        hidden = self._session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
        m = mask[:, :, None].astype(np.float32)
        pooled = (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)
        norms = np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return pooled / norms

    def _encode(self, texts: Sequence[str], prompt_name: str) -> np.ndarray:
        rows = self.tokenize(texts, prompt_name)
        out = np.empty((len(rows), self.dim), dtype=np.float32)
        # longest first in length-sorted batches (as sentence-transformers does): little padding
        order = sorted(range(len(rows)), key=lambda i: -len(rows[i]))
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            out[chunk] = self._run([rows[i] for i in chunk])
        return out

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Shape (n, dim); for search queries and messages to classify (``Embedder`` caches single queries)."""
        return self._encode(texts, "query")

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Shape (n, dim); for the texts that are searched."""
        return self._encode(texts, "passage")
