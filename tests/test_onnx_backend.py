"""The served embedding backend (the fp32 ONNX export) gives the torch model's vectors, so the triage model
and the search index built with either work with both."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import REPO
from triage.embedder import Embedder, EmbedderError
from triage.normalize import normalize

pytestmark = pytest.mark.model


def test_onnx_vectors_match_torch(local_model_dir) -> None:
    onnx_dir = REPO / "models" / "artifacts" / "multilingual-e5-small-onnx"
    if not (onnx_dir / "model.onnx").exists():
        from models.e5_onnx import export_onnx

        export_onnx(local_model_dir, onnx_dir, quantize=False)
    texts = []
    for path in sorted((REPO / "triage" / "data" / "corpus").glob("*.jsonl")):
        texts += [normalize(json.loads(line)["text"]) for line in path.read_text().splitlines()[:15]]
    texts += ["", "   ", "😀" * 40]
    torch_e = Embedder(str(local_model_dir))
    onnx_e = Embedder(str(local_model_dir), backend="onnx", onnx_dir=onnx_dir)
    for encode in ("encode_queries", "encode_passages"):
        a, b = getattr(torch_e, encode)(texts), getattr(onnx_e, encode)(texts)
        assert a.shape == b.shape == (len(texts), 384)
        cos = (a * b).sum(axis=1)
        assert cos.min() > 0.9999, (encode, float(cos.min()))
    # longer than the model's 512 tokens: both truncate the same way
    long = ["押金" * 600]
    assert float((torch_e.encode_queries(long) * onnx_e.encode_queries(long)).sum()) > 0.9999
    # one text at a time (as the service encodes) equals the batch
    single = np.vstack([onnx_e.encode_queries([t]) for t in texts[:20]])
    assert np.allclose(single, onnx_e.encode_queries(texts[:20]), atol=1e-5)
    print(f"onnx vs torch on {len(texts)} texts: min cosine {float(cos.min()):.6f}")


def test_onnx_backend_without_its_files_says_how_to_build_them(tmp_path) -> None:
    e = Embedder("unused", backend="onnx", onnx_dir=tmp_path / "missing")
    with pytest.raises(EmbedderError, match="jishibang models build"):
        e.encode_queries(["押金"])
    with pytest.raises(EmbedderError, match="unknown embedding backend"):
        Embedder("unused", backend="tensorflow")


def test_int8_mixed_is_close_to_fp32_and_has_its_own_identity(local_model_dir) -> None:
    """The served variant: vectors near fp32's, the same for a text alone or in a list (indexes encode lists,
    the service one query), and an identity of its own so nothing built on fp32 vectors is used with it."""
    from triage.embedder import embedding_id

    onnx_dir = REPO / "models" / "artifacts" / "multilingual-e5-small-onnx"
    if not (onnx_dir / "model-int8-mixed.onnx").exists():
        pytest.skip("no ONNX export: run `make models`")
    texts = []
    for path in sorted((REPO / "triage" / "data" / "corpus").glob("*.jsonl")):
        texts += [normalize(json.loads(line)["text"]) for line in path.read_text().splitlines()[:8]]
    fp32 = Embedder(str(local_model_dir), backend="onnx", onnx_dir=onnx_dir)
    mixed = Embedder(str(local_model_dir), backend="onnx", onnx_dir=onnx_dir, variant="int8-mixed")
    for encode in ("encode_queries", "encode_passages"):
        a, b = getattr(fp32, encode)(texts), getattr(mixed, encode)(texts)
        cos = (a * b).sum(axis=1)
        assert 0.995 < cos.min() and cos.max() < 1 - 1e-6, (encode, float(cos.min()), float(cos.max()))
    mixed.cache_size = 0
    single = np.vstack([mixed.encode_queries([t]) for t in texts[:12]])
    assert np.array_equal(single, mixed.encode_queries(texts[:12]))
    print(f"int8-mixed vs fp32 on {len(texts)} texts: min cosine {float(cos.min()):.5f}")

    manifest = json.loads((onnx_dir / "manifest.json").read_text())
    assert manifest["int8_mixed"]["cosine_vs_fp32"]["p1"] >= 0.995
    torch_e = Embedder(str(local_model_dir))
    assert torch_e.identity == fp32.identity == embedding_id(str(local_model_dir))
    assert mixed.identity == embedding_id(str(local_model_dir), variant="int8-mixed", backend="onnx") != fp32.identity
    with pytest.raises(EmbedderError, match="variant"):
        Embedder(str(local_model_dir), variant="int8-mixed")  # torch runs fp32 only
    with pytest.raises(EmbedderError, match="variant"):
        Embedder(str(local_model_dir), backend="onnx", onnx_dir=onnx_dir, variant="int4")


def test_models_built_on_other_vectors_or_data_are_retrained(tmp_path) -> None:
    """`make models` after a change: `train triage --if-missing` retrains a model trained on other vectors, on
    another format, dictionary, crisis corpus or corpus; the ranking model is checked the same way
    (tests/test_kb_search.py)."""
    from models.crisis_data import crisis_hash, load_crisis
    from models.train_pipeline import current_fitting
    from models.triage_data import Example, data_hash
    from triage import classifier as artifact
    from triage.segment import resource_hash

    root = tmp_path / "triage"
    examples = [Example("a", "押金不退", ("deposit_refund",), "normal")]
    fits = {"format_version": artifact.FORMAT_VERSION, "crisis_hash": crisis_hash(load_crisis()),
            "dictionary_hash": resource_hash("dictionary.txt", "synonyms.tsv", "cantonese.tsv"),
            "corpus_hash": data_hash(examples)}
    assert current_fitting(root, "e5-local:x") is None
    for version, extra in (("v1", {"embedding_id": "e5-local:x"}), ("v2", {"embedding_id": None}),
                           ("v3", {"embedding_id": None, "format_version": 1}),
                           ("v4", {"embedding_id": None, "crisis_hash": "other"}),
                           ("v5", {"embedding_id": None, "corpus_hash": "other"})):
        (root / version).mkdir(parents=True)
        (root / version / "manifest.json").write_text(json.dumps({**fits, **extra}))
    artifact.set_current(root, "v1")
    assert current_fitting(root, "e5-local:x", examples) == "v1"
    assert current_fitting(root, "e5-local:x:int8-mixed", examples) is None
    artifact.set_current(root, "v2")  # TF-IDF only: fits any vectors
    assert current_fitting(root, "e5-local:x:int8-mixed", examples) == "v2"
    for stale in ("v3", "v4", "v5"):
        artifact.set_current(root, stale)
        assert current_fitting(root, "e5-local:x", examples) is None, stale
