"""The triage model's serving form (triage/serving_form.py) predicts what the pickled sklearn model predicts,
and loading it imports no scikit-learn."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REPO
from triage import classifier as artifact
from triage.errors import ArtifactError
from triage.normalize import normalize
from triage.serving_form import char_wb_ngrams, dense_row_csr, hstack_csr, leading_columns

ROOT = REPO / "models" / "artifacts" / "triage"


def _encoder(texts: list[str]) -> np.ndarray:
    """A deterministic stand-in for e5: both forms must turn the same vectors into the same features."""
    out = np.zeros((len(texts), 384), dtype=np.float32)
    for i, t in enumerate(texts):
        out[i] = np.random.default_rng(abs(hash(t)) % (2**32)).normal(size=384)
    return out


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The served model, saved again through triage.classifier.save (which writes both forms)."""
    version = artifact.current_version(ROOT)
    if not version:
        pytest.skip("no trained triage model (make models)")
    model = artifact.load(ROOT, version)
    root = tmp_path_factory.mktemp("triage")
    artifact.save(model, root, "v1", {"embedding_id": model.manifest.get("embedding_id")})
    return root


def _texts() -> list[str]:
    rows = [json.loads(line) for line in (REPO / "triage" / "data" / "corpus" / "team_a.jsonl").open(encoding="utf-8")]
    extra = ["", "   ", "ＡＢＣ abc  Abc", "累死了" * 40, "我唔想再做落去啦，冇意思", "救命！！他拿刀", "押金 押金 押金"]
    return [r["text"] for r in rows[::3]] + extra


def test_serving_form_predicts_what_the_pickle_predicts(saved: Path) -> None:
    pickled = artifact.load(saved, "v1")
    served = artifact.load(saved, "v1", serving=True)
    assert type(served.features).__name__ == "ServingFeatures" and served.issue_clf is None
    for m in (pickled, served):
        m.attach_encoder(_encoder)
    texts = _texts()
    normalised = [normalize(t) for t in texts]
    a, b = pickled.predict(texts, normalised), served.predict(texts, normalised)
    np.testing.assert_allclose(b.issue, a.issue, rtol=0, atol=1e-9)
    np.testing.assert_allclose(b.urgency, a.urgency, rtol=0, atol=1e-9)
    np.testing.assert_allclose(b.danger, a.danger, rtol=0, atol=1e-9)
    np.testing.assert_allclose(b.kinds, a.kinds, rtol=0, atol=1e-9)
    assert served.urgency_classes == pickled.urgency_classes
    for name in ("labels", "thresholds", "abstain_threshold", "danger_threshold", "danger_threshold_cue",
                 "check_threshold", "check_threshold_cue", "context_weight", "urgency_bias", "variant"):
        assert getattr(served, name) == getattr(pickled, name), name


def test_loading_the_serving_form_imports_no_sklearn(saved: Path) -> None:
    code = ("import sys; from pathlib import Path; from triage import classifier; import triage.pipeline; "
            f"classifier.load(Path({str(saved)!r}), 'v1', serving=True); "
            "print(sorted(m for m in ('sklearn', 'lightgbm', 'joblib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_changed_serving_file_is_refused(saved: Path, tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "triage"
    shutil.copytree(saved, root)
    meta = root / "v1" / "serving.json"
    meta.write_text(meta.read_text(encoding="utf-8").replace('"abstain_threshold": ', '"abstain_threshold": 1'),
                    encoding="utf-8")
    with pytest.raises(ArtifactError, match="does not match"):
        artifact.load(root, "v1", serving=True)
    artifact.load(root, "v1")  # the pickle is untouched and still loads for training and evaluation


def test_a_changed_pickle_refuses_the_serving_form_too(saved: Path, tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "triage"
    shutil.copytree(saved, root)
    pickle = root / "v1" / "model.joblib"
    pickle.write_bytes(pickle.read_bytes() + b"\0")
    with pytest.raises(ArtifactError, match="does not match"):
        artifact.load(root, "v1", serving=True)


def test_char_wb_ngrams_match_sklearn() -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer

    analyse = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3)).build_analyzer()
    for text in ["", " a ", "押金不退", "abc  de\tf", "x", "多 空格   之间", "ab"]:
        assert char_wb_ngrams(text.lower(), 1, 3) == analyse(text)


def _same(a, b) -> None:  # type: ignore[no-untyped-def]
    assert a.shape == b.shape and a.format == b.format == "csr"
    assert np.array_equal(a.indptr, b.indptr) and np.array_equal(a.indices, b.indices)
    assert a.data.dtype == b.data.dtype and np.array_equal(a.data, b.data)


@pytest.mark.parametrize("rows", [1, 3])
def test_the_one_message_sparse_helpers_equal_scipy(rows: int) -> None:
    """hstack_csr, dense_row_csr and leading_columns build the arrays scipy would, value for value."""
    from scipy import sparse

    rng = np.random.default_rng(rows)
    tfidf = [sparse.random(rows, w, density=0.05, format="csr", random_state=i, dtype=np.float64)
             for i, w in enumerate((500, 0, 70))]
    dense = rng.normal(size=(rows, 16)).astype(np.float32)
    dense[:, ::3] = 0.0
    _same(dense_row_csr(dense), sparse.csr_matrix(dense))
    blocks = [*tfidf, dense_row_csr(dense)]
    _same(hstack_csr(blocks), sparse.hstack(blocks, format="csr"))
    _same(hstack_csr([tfidf[0], dense]), sparse.hstack([tfidf[0], sparse.csr_matrix(dense)], format="csr"))
    X = hstack_csr(blocks)
    for width in (0, 1, 300, 570, X.shape[1]):
        _same(leading_columns(X, width), X[:, :width])
