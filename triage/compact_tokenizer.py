"""The e5 tokenizer without the pieces Chinese hotline messages never use: ~50 MB in memory instead of ~280 MB.

multilingual-e5's sentencepiece vocabulary has 250,002 pieces for a hundred languages; the Rust tokenizer holds
them all in memory (~280 MB per process, more than the int8 encoder itself). The compact tokenizer keeps the
pieces made only of the characters this hotline's messages use (ASCII, Latin-1, CJK and its punctuation,
full-width forms, emoji) plus every single-character piece, and maps its ids back to the original ones.

Why the ids are exactly the original tokenizer's: the Unigram model picks the best segmentation among the pieces
that match the (normalised) text. When every character of the text is covered, every piece that can match it
is covered too and so kept: the same candidates, the same scores, the same segmentation. A text with any other
character (Cyrillic, Thai, Hangul ...) is encoded by the full tokenizer, loaded only when one arrives.

The segmentation itself runs in Python (:class:`PieceLattice`): the Rust Unigram model builds a trie that took ~97 MB
for the 125,000 compact pieces, a dict takes ~25 MB; it costs ~0.3 ms more per text (2-3% of the encoder pass).
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


class PieceLattice:
    """The Unigram model's segmentation in Python, over the compact vocabulary: the same pieces, ids and scores as the
    Rust tokenizer (its ``encode_optimized``: a best path over the pieces that match at each character, ties to the
    earliest start, an unknown character scored ``min score - 10`` and runs of them fused), in a fifth of the memory:
    the Rust trie of 125,000 pieces took ~97 MB per process, this dict ~25 MB. tests/test_compact_tokenizer.py checks
    the ids equal the full tokenizer's on every corpus text and thousands of random ones."""

    UNK_PENALTY = 10.0

    def __init__(self, vocab: Sequence[tuple[str, float]], unk_id: int) -> None:
        self.unk_id = unk_id
        self.scores = [float(score) for _, score in vocab]
        # Every piece, specials included, as the Rust model's token_to_ids (the last of equal pieces wins there too).
        self.index = {piece: i for i, (piece, _) in enumerate(vocab)}
        self.unk_score = min(self.scores) - self.UNK_PENALTY
        longest: dict[str, int] = {}
        for piece, _ in vocab:
            if piece and len(piece) > longest.get(piece[0], 0):
                longest[piece[0]] = len(piece)
        self.longest = longest  # the longest piece starting with each character: where the search can stop

    def segment(self, s: str) -> list[int]:
        n = len(s)
        index, scores, longest, unk, unk_score = self.index, self.scores, self.longest, self.unk_id, self.unk_score
        best = [0.0] * (n + 1)
        start = [-1] * (n + 1)
        node = [0] * (n + 1)
        for i in range(n):
            base = best[i]
            single = False
            for j in range(i + 1, min(n, i + longest.get(s[i], 0)) + 1):
                k = index.get(s[i:j])
                if k is None:
                    continue
                score = base + scores[k]
                if start[j] < 0 or score > best[j]:
                    best[j], start[j], node[j] = score, i, k
                if j == i + 1:
                    single = True
            if not single:
                score = base + unk_score
                if start[i + 1] < 0 or score > best[i + 1]:
                    best[i + 1], start[i + 1], node[i + 1] = score, i, unk
        out: list[int] = []
        end, unk_end = n, -1  # unk_end: the end of a run of unknown characters being fused
        while end > 0:
            begin = start[end]
            if node[end] == unk:
                if unk_end < 0:
                    unk_end = end
            else:
                if unk_end >= 0:
                    out.append(index.get(s[end:unk_end], unk))
                    unk_end = -1
                out.append(node[end])
            end = begin
        if unk_end >= 0:
            out.append(index.get(s[0:unk_end], unk))
        out.reverse()
        return out


class CompactTokenizer:
    """``encode_batch(texts) -> ids`` equal to the full tokenizer's (see the module doc), in a fraction of the memory:
    the Rust tokenizer normalises and pre-tokenises, :class:`PieceLattice` segments.

    Falls back to the full tokenizer (loaded on first need) for texts with characters the compact vocabulary does
    not cover, or with a special token's text in them. ``load`` returns None when no compact tokenizer was written
    for this ``tokenizer.json``."""

    def __init__(self, compact: dict, ids: np.ndarray, full_path: Path, max_length: int) -> None:
        from tokenizers import Tokenizer

        model = compact["model"]
        self._lattice = PieceLattice(model["vocab"], int(model["unk_id"]))
        # The Rust tokenizer without its vocabulary (one piece): its normaliser and pre-tokeniser, exactly.
        shell = {**compact, "model": {"type": "Unigram", "unk_id": 0, "vocab": [["<unk>", 0.0]], "byte_fallback": False}}
        self._shell = Tokenizer.from_str(json.dumps(shell, ensure_ascii=False))
        self._specials = [t["content"] for t in compact.get("added_tokens", [])]
        self._bos, self._eos = self._special_ids(compact)
        self._ids = ids.tolist()
        self._full_path, self._max_length = full_path, max_length
        self._full: Tokenizer | None = None
        self._lock = threading.Lock()
        self.fallbacks = 0

    @staticmethod
    def _special_ids(compact: dict) -> tuple[int, int]:
        post = compact.get("post_processor") or {}
        parts = post.get("single", [])
        if (post.get("type") != "TemplateProcessing" or len(parts) != 3 or "SpecialToken" not in parts[0]
                or "Sequence" not in parts[1] or "SpecialToken" not in parts[2]):
            raise ValueError("the compact tokenizer expects a <s> … </s> template post-processor")
        bos, eos = (post["special_tokens"][parts[i]["SpecialToken"]["id"]]["ids"][0] for i in (0, 2))
        return int(bos), int(eos)

    @classmethod
    def load(cls, onnx_dir: Path, max_length: int) -> CompactTokenizer | None:
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
        try:
            compact = json.loads((onnx_dir / COMPACT_NAME).read_text(encoding="utf-8"))
            return cls(compact, ids, full_path, max_length)
        except (ValueError, KeyError, TypeError):
            return None

    def _full_tokenizer(self) -> Tokenizer:
        with self._lock:
            if self._full is None:
                from triage.onnx_encoder import load_tokenizer

                self._full = load_tokenizer(self._full_path, self._max_length)
            return self._full

    def _encode(self, text: str) -> list[int] | None:
        """The original ids with <s> and </s>, truncated as the full tokenizer does; None: the full one must do it."""
        if any(special in text for special in self._specials):
            return None
        normalised = self._shell.normalizer.normalize_str(text) if self._shell.normalizer else text
        if not covered(normalised):
            return None
        pieces: list[int] = []
        splits = self._shell.pre_tokenizer.pre_tokenize_str(normalised) if self._shell.pre_tokenizer else [(normalised, None)]
        for split, _ in splits:
            pieces += self._lattice.segment(split)
        ids = self._ids
        return [self._bos, *(ids[k] for k in pieces[: max(self._max_length - 2, 0)]), self._eos]

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        out: list[list[int] | None] = [self._encode(t) for t in texts]
        rest = [i for i in range(len(texts)) if out[i] is None]
        if rest:
            self.fallbacks += len(rest)
            for i, enc in zip(rest, self._full_tokenizer().encode_batch([texts[i] for i in rest])):
                out[i] = enc.ids
        return out  # type: ignore[return-value]
