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
