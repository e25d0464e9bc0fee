"""The e5 tokenizer without the pieces Chinese hotline messages never use: ~80 MB in memory instead of ~280 MB.

multilingual-e5's sentencepiece vocabulary has 250,002 pieces for a hundred languages; the Rust tokenizer holds
them all in memory (~280 MB per process, more than the int8 encoder itself). The compact tokenizer keeps the
pieces made only of the characters this hotline's messages use (ASCII, Latin-1, CJK and its punctuation,
full-width forms, emoji) plus every single-character piece, and maps its ids back to the original ones.

Why the ids are exactly the original tokenizer's: the Unigram model picks the best segmentation among the pieces
that match the (normalised) text. When every character of the text is covered, every piece that can match it
is covered too and so kept: the same candidates, the same scores, the same segmentation. A text with any other
character (Cyrillic, Thai, Hangul ...) is encoded by the full tokenizer, loaded only when one arrives.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from triage.files import save_array, sha256_file, write_text_atomic

if TYPE_CHECKING:
    from tokenizers import Tokenizer

COMPACT_NAME = "tokenizer-compact.json"
IDS_NAME = "tokenizer-compact-ids.npy"
INFO_NAME = "tokenizer-compact.manifest.json"  # written last: the pair is complete when it names them
COMPACT_VERSION = 3  # 2: variation selectors (the VS16 of emoji such as ‼️); 3: kana (ありがとう, 我の in chat)
SPECIALS = 4  # <s> <pad> </s> <unk>: kept first, so the post-processor's ids stay valid

# Characters the compact vocabulary covers (after the tokenizer's normalisation, NFKC among it).
COVERED = ("\u0000-\u00ff"  # ASCII and Latin-1 (·, °, ×, ½ in Chinese text)
           "\u2000-\u206f\u2100-\u23ff\u2460-\u27bf"  # punctuation, letterlike, arrows, enclosed digits, symbols
           "\u2e80-\u2fdf\u3000-\u30ff\u3100-\u312f\u3190-\u31ff"  # CJK radicals, punctuation, kana, bopomofo, strokes
           "\u3200-\u33ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # enclosed CJK, Ext A, unified, compatibility
           "\ufe00-\ufe6f\uff00-\uffef"  # variation selectors (‼️ ❤️), vertical and small forms, full-width forms
           "\U0001f000-\U0001faff\U00020000-\U0003134f"  # emoji and pictographs; Ext B-G (Cantonese characters)
           "\u2581")  # the Metaspace marker the pre-tokenizer inserts
_UNCOVERED = re.compile(f"[^{COVERED}]")


def covered(text: str) -> bool:
    return _UNCOVERED.search(text) is None


def write_compact(onnx_dir: Path) -> bool:
    """Write the compact tokenizer and its id map beside ``tokenizer.json`` unless they are already there for this
    tokenizer. Returns True when written."""
    source = onnx_dir / "tokenizer.json"
    source_sha = sha256_file(source)
    if _compact_matches(onnx_dir, source_sha):
        return False
    full = json.loads(source.read_text(encoding="utf-8"))
    vocab = full["model"]["vocab"]
    if full["model"].get("type") != "Unigram" or full["model"].get("byte_fallback"):
        raise ValueError("the compact tokenizer is for sentencepiece Unigram models without byte fallback")
    keep = [i for i, (piece, _score) in enumerate(vocab) if i < SPECIALS or len(piece) == 1 or covered(piece)]
    full["model"]["vocab"] = [vocab[i] for i in keep]
    ids = np.asarray(keep, dtype=np.int32)
    save_array(onnx_dir / IDS_NAME, ids)
    write_text_atomic(onnx_dir / COMPACT_NAME, json.dumps(full, ensure_ascii=False))
    info = {"version": COMPACT_VERSION, "source_sha256": source_sha, "source_bytes": source.stat().st_size,
            "compact_bytes": (onnx_dir / COMPACT_NAME).stat().st_size, "pieces": len(keep), "of": len(vocab),
            "ids_sha256": hashlib.sha256(ids.tobytes()).hexdigest()}
    write_text_atomic(onnx_dir / INFO_NAME, json.dumps(info, indent=1))
    return True


def _compact_info(onnx_dir: Path) -> dict | None:
    try:
        return json.loads((onnx_dir / INFO_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _compact_matches(onnx_dir: Path, source_sha: str) -> bool:
    info = _compact_info(onnx_dir)
    return bool(info and info.get("version") == COMPACT_VERSION and info.get("source_sha256") == source_sha
                and (onnx_dir / IDS_NAME).is_file() and (onnx_dir / COMPACT_NAME).is_file())


class CompactTokenizer:
    """``encode_batch(texts) -> ids`` equal to the full tokenizer's (see the module doc), in a third of the memory.

    Falls back to the full tokenizer (loaded on first need) for texts with characters the compact vocabulary does
    not cover. ``load`` returns None when no compact tokenizer was written for this ``tokenizer.json``."""

    def __init__(self, compact: Tokenizer, ids: np.ndarray, full_path: Path, max_length: int) -> None:
        self._compact, self._ids = compact, ids
        self._full_path, self._max_length = full_path, max_length
        self._full: Tokenizer | None = None
        self._lock = threading.Lock()
        self.fallbacks = 0

    @classmethod
    def load(cls, onnx_dir: Path, max_length: int) -> CompactTokenizer | None:
        from triage.onnx_encoder import load_tokenizer

        info = _compact_info(onnx_dir)
        ids_path, full_path = onnx_dir / IDS_NAME, onnx_dir / "tokenizer.json"
        # (hashing the 9 MB source on every start is not worth it: `models build` rewrites both with the export)
        if (not info or info.get("version") != COMPACT_VERSION or not ids_path.is_file()
                or info.get("source_bytes") != full_path.stat().st_size
                or info.get("compact_bytes") != (onnx_dir / COMPACT_NAME).stat().st_size):
            return None
        ids = np.load(ids_path)
        if hashlib.sha256(ids.tobytes()).hexdigest() != info.get("ids_sha256"):
            return None
        return cls(load_tokenizer(onnx_dir / COMPACT_NAME, max_length), ids, full_path, max_length)

    def _full_tokenizer(self) -> Tokenizer:
        with self._lock:
            if self._full is None:
                from triage.onnx_encoder import load_tokenizer

                self._full = load_tokenizer(self._full_path, self._max_length)
            return self._full

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        normaliser = self._compact.normalizer
        out: list[list[int] | None] = [None] * len(texts)
        plain = [i for i, t in enumerate(texts) if covered(normaliser.normalize_str(t) if normaliser else t)]
        for i, enc in zip(plain, self._compact.encode_batch([texts[i] for i in plain])):
            out[i] = self._ids[enc.ids].tolist()
        rest = [i for i in range(len(texts)) if out[i] is None]
        if rest:
            self.fallbacks += len(rest)
            for i, enc in zip(rest, self._full_tokenizer().encode_batch([texts[i] for i in rest])):
                out[i] = enc.ids
        return out  # type: ignore[return-value]
