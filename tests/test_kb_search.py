"""Retrieval over the seeded knowledge base (BM25 here; the dense and hybrid paths are in test_kb_dense.py)."""

from __future__ import annotations

import threading

import numpy as np
from pathlib import Path

import pytest

from kb.query import prepare_query
from kb.ranking import RankingModel
from kb.search import TriageView
from kb.seeding import seed_text
from kb.service import IndexManager
from kb.store import EntryStore
from kb.transfer import import_entries
from tests.test_kb_store import TODAY, content, make_store


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[EntryStore, Path]:
    root = tmp_path_factory.mktemp("kbsearch")
    store = make_store(root / "kb.db")
    import_entries(store, seed_text(), "jsonl", "seed", default_status="published")
    return store, root


@pytest.fixture
def manager(seeded, tmp_path: Path) -> IndexManager:
    store, _ = seeded
    m = IndexManager(store, tmp_path / "index", None, None, today=lambda: TODAY)
    m.rebuild()
    return m


def test_questions_find_their_entry_one_hit_per_entry(manager: IndexManager) -> None:
    r = manager.search("站长收了押金辞职不给退", mode="bm25", k=5)
    slugs = [h.slug for h in r.hits]
    assert "k2-employer-deposit-labor-inspection" in slugs[:3]
    assert len(slugs) == len(set(slugs))
    assert all(h.retrievers == ["bm25"] and h.status == "published" for h in r.hits)


def test_filters(manager: IndexManager) -> None:
    r = manager.search("押金", mode="bm25", k=10, kinds=["past_case"])
    assert r.hits and all(h.kind == "past_case" for h in r.hits)
    r = manager.search("押金", mode="bm25", k=10, jurisdictions=["江门"])
    assert all(manager.searcher.build.entries[manager.searcher.build.pos_by_id[h.entry_id]].jurisdiction == "江门" for h in r.hits)
    # A need chosen in a clarifying question: an issue type, or the other side of the dispute.
    r = manager.search("押金不退", mode="bm25", k=10, need="pay_settlement")
    assert r.hits and all("pay_settlement" in h.issue_types for h in r.hits)
    r = manager.search("押金不退", mode="bm25", k=10, need="who:rental_shop")
    assert r.hits and all("rental_shop" in manager.searcher._situation_of(manager.searcher.build.pos_by_id[h.entry_id]).counterparty
                          for h in r.hits)


@pytest.fixture(scope="module")
def ranked(seeded, bm25_ranking: Path, tmp_path_factory: pytest.TempPathFactory) -> IndexManager:
    """A BM25-only index with the session's ranking model (tests/conftest.py: fitted on the calibration queries)."""
    store, _ = seeded
    root = tmp_path_factory.mktemp("ranked")
    m = IndexManager(store, root / "index", None, None, today=lambda: TODAY, ranking_path=bm25_ranking)
    m.rebuild()
    assert m.ranking_problem is None
    return m


def test_ranking_model_tiers_greetings_noise_and_questions(ranked: IndexManager) -> None:
    for q in ("你好在吗", "今天天气怎么样", "红烧肉怎么做才好吃", "押金" * 200, "asdfghjkl", "1234567890"):
        r = ranked.search(q, mode="bm25")
        assert r.tier == "none" and r.abstain, (q[:20], r.tier, r.confidence)
    assert ranked.search("押金" * 200, mode="bm25").degenerate == "repeated"
    answered = ranked.search("站点收押金不退，站长说是规定，找谁投诉", mode="bm25")
    assert answered.tier in ("confident", "likely") and 0.0 <= answered.hits[0].score <= 1.0
    assert answered.hits[0].tier == answered.tier


def test_hits_come_in_the_order_of_their_score(ranked: IndexManager) -> None:
    for q in ("站长扣我工资", "送外卖被车撞了", "小区保安不让进", "工伤认定下来了公司不给钱"):
        scores = [h.score for h in ranked.search(q, mode="bm25", k=10).hits]
        assert scores == sorted(scores, reverse=True), q


def test_triage_issue_types_reach_the_reranker(ranked: IndexManager) -> None:
    from kb.search import RERANK_FEATURES

    q = prepare_query("被打了怎么办")
    view = TriageView({"safety_conflict": 0.95, "out_of_scope": 0.02}, ("safety_conflict",))
    cands = ranked.searcher.candidates(q, "bm25", triage=view)
    entries = ranked.searcher.build.entries
    at = {name: i for i, name in enumerate(RERANK_FEATURES)}
    for c in cands:
        types = entries[c.pos].issue_types
        assert c.features[at["tri_overlap"]] == (0.95 if "safety_conflict" in types else 0.0 if "out_of_scope" not in types else 0.02)
        assert c.features[at["tri_in_labels"]] == float(types[0] == "safety_conflict")
        assert c.features[at["tri_max"]] == 0.95
    assert any(c.features[at["tri_overlap"]] == 0.95 for c in cands)


def test_a_ranking_model_fitted_with_another_dictionary_is_refused(ranked: IndexManager, tmp_path: Path) -> None:
    model = RankingModel.load(ranked.ranking_path)
    model.record["dictionary_hash"] = "0" * 16
    other = tmp_path / "ranking.json"
    model.save(other)
    m = IndexManager(ranked.store, tmp_path / "index", None, None, today=lambda: TODAY, ranking_path=other)
    m.load_or_build()
    assert m.ranking_problem and "dictionary_hash" in m.ranking_problem
    r = m.search("押金不退", mode="bm25")
    assert r.tier == "none" and r.hits and "no ranking model" in (r.reason or "")  # fused order, never confident


def test_a_changed_dictionary_rebuilds_the_saved_index(seeded, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store, _ = seeded
    m = IndexManager(store, tmp_path / "index", None, None, today=lambda: TODAY)
    m.rebuild()
    import kb.service

    monkeypatch.setattr(kb.service, "dictionary_hash", lambda: "changed-dictionary")
    fresh = IndexManager(store, tmp_path / "index", None, None, today=lambda: TODAY)
    fresh.load_or_build()
    assert fresh.rebuilds == 1  # the saved build was segmented with the old tables


def test_an_empty_knowledge_base_answers_nothing_without_an_error(tmp_path: Path) -> None:
    store = make_store(tmp_path / "empty.db")
    m = IndexManager(store, tmp_path / "index", None, None, today=lambda: TODAY)
    m.rebuild()
    for mode in ("bm25", "hybrid"):
        r = m.search("押金不退怎么办", mode=mode)
        assert r.hits == [] and r.tier == "none" and r.abstain


def test_publishing_and_archiving_update_the_index(seeded, tmp_path: Path) -> None:
    store, _ = seeded
    m = IndexManager(store, tmp_path / "index", None, None, today=lambda: TODAY)
    m.rebuild()
    e = store.create(content("zz-new-entry", title="骑手换电柜押金怎么退", question="换电柜押金退不了",
                             paraphrases=["电池柜押金不退"]), "alice")
    e = store.transition(e.id, e.version, "submit", "alice")
    assert "zz-new-entry" not in [h.slug for h in m.search("换电柜押金退不了", mode="bm25").hits]
    e = store.transition(e.id, e.version, "approve", "carol")
    assert m.wait_idle(60)
    assert m.search("换电柜押金退不了", mode="bm25").hits[0].slug == "zz-new-entry"
    store.transition(e.id, e.version, "archive", "carol")
    assert m.wait_idle(60)
    assert "zz-new-entry" not in [h.slug for h in m.search("换电柜押金退不了", mode="bm25").hits]


def test_saved_index_is_reused_when_it_matches(seeded, tmp_path: Path) -> None:
    store, _ = seeded
    m = IndexManager(store, tmp_path / "index", None, None, today=lambda: TODAY)
    m.rebuild()
    fresh = IndexManager(store, tmp_path / "index", None, None, today=lambda: TODAY)
    fresh.load_or_build()
    assert fresh.rebuilds == 0 and fresh.searcher.build.manifest["entries"] == m.searcher.build.manifest["entries"]


def test_searches_never_see_a_half_built_index(seeded, tmp_path: Path) -> None:
    store, _ = seeded
    m = IndexManager(store, tmp_path / "index", None, None, today=lambda: TODAY)
    m.rebuild()
    errors: list[BaseException] = []
    stop = threading.Event()
    searches = [0]

    def searcher() -> None:
        while not stop.is_set():
            try:
                s = m.searcher
                r = s.search("押金不退", mode="bm25", k=5)
                assert r.hits and all(h.entry_id in s.build.pos_by_id for h in r.hits)
                assert s.build.manifest["entries"] == len(s.build.entries)
                searches[0] += 1
            except BaseException as exc:  # noqa: BLE001 - collected and asserted below
                errors.append(exc)

    threads = [threading.Thread(target=searcher) for _ in range(3)]
    for t in threads:
        t.start()
    for _ in range(5):
        m.rebuild()
    stop.set()
    for t in threads:
        t.join()
    print(f"\n5 rebuild-and-swap cycles under {searches[0]} concurrent searches: {len(errors)} errors")
    assert not errors and searches[0] > 0


def test_dense_index_switches_to_hnsw_above_the_configured_size(manager: IndexManager) -> None:
    from kb import index as idx
    from kb.search import Searcher
    from models.bench_search import RandomVectors

    vectors = RandomVectors(32)
    docs = manager.searcher.build.entries[:40]
    cache = idx.VectorCache(None)  # both builds get the same vectors
    flat = idx.build(docs, vectors, vectors, cache, hnsw_above=10_000)
    hnsw = idx.build(docs, vectors, vectors, cache, hnsw_above=10)
    assert flat.manifest["index_type"] == "IndexFlatIP" and hnsw.manifest["index_type"] == "IndexHNSWFlat"
    q = vectors(["query"])[0]
    row = int(np.argmax(flat.faiss_index.reconstruct_n(0, flat.faiss_index.ntotal) @ q))
    target = docs[int(flat.rows.entry_pos[row])].slug
    for build in (flat, hnsw):  # the exact nearest row's entry comes first in both
        hits = Searcher(build, vectors, None).search("x", mode="dense", query_vector=q).hits
        assert hits[0].slug == target


def test_a_second_worker_follows_the_index_the_first_rebuilt(seeded, tmp_path: Path) -> None:
    # Two API workers on one data dir and one database: a change made through one reaches the other.
    store, _ = seeded
    a = IndexManager(store, tmp_path / "index", None, None, today=lambda: TODAY)
    a.rebuild()
    b = IndexManager(store, tmp_path / "index", None, None, today=lambda: TODAY)
    b.load_or_build()
    b.follow_seconds = 0.0
    before = b.searcher.build.path
    a.rebuild(docs=a._docs()[:-1])  # as if an entry had been archived through worker A
    assert b.search("押金", mode="bm25").hits is not None
    assert b.searcher.build.path != before and b.searcher.build.path.name == (tmp_path / "index" / "CURRENT").read_text().strip()
    assert b.searcher.build.manifest["entries"] == a.searcher.build.manifest["entries"]
    assert b.follow(force=True) is False  # nothing newer


def test_files_added_after_the_hedge_cap_give_only_their_answerable_rows(ranked: IndexManager) -> None:
    """The cap on hedges to unanswerable input was set on the older files' mix; a newer file's questions no entry
    answers stay in it, labelled, but are not read (models/answer_training.ANSWERABLE_ONLY_FILES)."""
    import json
    from importlib import resources

    from models.answer_training import ANSWERABLE_ONLY_FILES, labelled_queries
    from tests.conftest import SHARED

    queries = labelled_queries(ranked.searcher, SHARED, paraphrases=False)
    for name in ANSWERABLE_ONLY_FILES:
        rows = [json.loads(line) for line in resources.files("kb").joinpath("calibration", name).read_text(
            encoding="utf-8").splitlines() if line.strip()]
        assert any(not r["acceptable"] for r in rows) and any(r["acceptable"] for r in rows)
        read = [q for q in queries if q.file == name]
        assert read and all(q.acceptable for q in read)
        assert len(read) == sum(1 for r in rows if r["acceptable"])
    assert any(not q.acceptable and q.source == "calibration" for q in queries)  # the older files' stay
