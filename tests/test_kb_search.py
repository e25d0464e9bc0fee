"""Retrieval over the seeded knowledge base (BM25 here; the dense and hybrid paths are in test_kb_dense.py)."""

from __future__ import annotations

import threading

import numpy as np
from pathlib import Path

import pytest

from kb.search import Calibrator
from kb.seeding import seed_text
from kb.service import IndexManager
from kb.store import EntryStore
from kb.transfer import import_entries
from models.search_calibration import collect, fit
from tests.conftest import SHARED
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


def test_filters_and_issue_type_boost(manager: IndexManager) -> None:
    r = manager.search("押金", mode="bm25", k=10, kinds=["past_case"])
    assert r.hits and all(h.kind == "past_case" for h in r.hits)
    r = manager.search("押金", mode="bm25", k=10, jurisdictions=["江门"])
    assert all(manager.searcher.build.entries[manager.searcher.build.pos_by_id[h.entry_id]].jurisdiction == "江门" for h in r.hits)
    plain = [h.slug for h in manager.search("被打了怎么办", mode="bm25", k=5).hits]
    boosted = manager.search("被打了怎么办", mode="bm25", k=5, issue_types=["safety_conflict"]).hits
    assert "safety_conflict" in boosted[0].issue_types
    assert set(plain) & {h.slug for h in boosted}


def test_calibrated_scores_abstain_on_greetings_and_off_topic(manager: IndexManager) -> None:
    calibrator = fit(collect(manager.searcher, SHARED, progress=False))
    path = manager.root / "calibrator.json"
    calibrator.save(path)
    manager.calibrator_path = path
    manager.reload_calibrator()
    for q in ("你好在吗", "今天天气怎么样", "红烧肉怎么做才好吃"):
        assert manager.search(q, mode="bm25").abstain, q
    answered = manager.search("站点收押金不退，站长说是规定，找谁投诉", mode="bm25")
    assert not answered.abstain and 0.0 <= answered.hits[0].score <= 1.0
    assert Calibrator.load(path).threshold("bm25") == calibrator.threshold("bm25")


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
