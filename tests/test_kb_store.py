"""The knowledge-base store on a real SQLite file: revisions, conflicts, workflow, import/export, seed."""

from __future__ import annotations

import json
import threading
from datetime import date
from pathlib import Path

import pytest

from kb.db import make_engine, migrate, session_factory
from kb.errors import ConflictError, DuplicateError, ImportRowError, NotFoundError, WorkflowError
from kb.schema import EntryContent
from kb.seeding import seed, seed_text
from kb.store import EntryStore
from kb.transfer import export_entries, import_entries
from tests.conftest import SHARED

TODAY = date(2026, 11, 29)


def make_store(path: Path | str) -> EntryStore:
    """A migrated store on a SQLite file (a path) or on any database URL."""
    url = path if isinstance(path, str) else f"sqlite:///{path}"
    migrate(url)
    return EntryStore(session_factory(make_engine(url)), today=lambda: TODAY)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> EntryStore:
    if request.param == "sqlite":
        return make_store(tmp_path / "kb.db")
    return make_store(request.getfixturevalue("pg_url"))


def content(slug: str = "deposit-test", **overrides) -> EntryContent:
    body = {
        "slug": slug, "kind": "procedure", "title": "站点押金不退", "question": "站长收了押金不退怎么办",
        "paraphrases": ["押金被站长扣了", "辞职押金不退"], "operator_answer": "先问清收款方是谁。",
        "worker_answer": "站点收押金不合法，可以投诉。", "steps": ["保存转账记录", "打12333投诉"],
        "evidence": ["转账记录"], "referrals": ["labor_inspection"],
        "legal_basis": [{"law": "中华人民共和国劳动合同法", "article": "第八十四条"}],
        "issue_types": ["deposit_refund"], "jurisdiction": "national", "review_by": "2027-06-30",
    }
    body.update(overrides)
    return EntryContent.model_validate(body)


def test_every_change_is_an_immutable_revision(store: EntryStore) -> None:
    e = store.create(content(), "alice")
    assert (e.version, e.status, e.published_version) == (1, "draft", None)
    e = store.update(e.id, 1, content(title="站点押金不退：找劳动监察"), "bob")
    e = store.transition(e.id, e.version, "submit", "bob")
    e = store.transition(e.id, e.version, "approve", "carol", "核对过第八十四条")
    assert (e.version, e.status, e.published_version) == (4, "published", 4)
    history = store.history(e.id)
    assert [(r.version, r.action, r.status, r.author) for r in history] == [
        (1, "create", "draft", "alice"), (2, "edit", "draft", "bob"), (3, "submit", "in_review", "bob"),
        (4, "approve", "published", "carol")]
    assert history[0].content.title == "站点押金不退" and history[1].content.title == "站点押金不退：找劳动监察"


def test_stale_version_is_refused_never_overwritten(store: EntryStore) -> None:
    e = store.create(content(), "alice")
    store.update(e.id, 1, content(title="第一次修改"), "bob")
    with pytest.raises(ConflictError) as err:
        store.update(e.id, 1, content(title="基于旧版本的修改"), "carol")
    assert err.value.current == 2 and err.value.expected == 1
    assert store.get(e.id).content.title == "第一次修改"


def test_many_concurrent_writers_lose_no_update(store: EntryStore) -> None:
    """20 rounds x 6 writers on one entry: exactly one wins each version; history holds every winner."""
    e = store.create(content(), "seed")
    winners: list[str] = []
    lock = threading.Lock()
    for round_ in range(20):
        version = store.get(e.id).version
        barrier = threading.Barrier(6)

        def write(i: int) -> None:
            title = f"round {round_} writer {i}"
            barrier.wait()
            try:
                store.update(e.id, version, content(title=title), f"w{i}")
                with lock:
                    winners.append(title)
            except ConflictError:
                pass

        threads = [threading.Thread(target=write, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(winners) == round_ + 1, "exactly one writer per version"
    titles = [r.content.title for r in store.history(e.id)][1:]
    assert titles == winners
    assert store.get(e.id).version == 21


def test_workflow_rules(store: EntryStore) -> None:
    e = store.create(content(), "alice")
    with pytest.raises(WorkflowError, match="cannot approve an entry that is draft"):
        store.transition(e.id, 1, "approve", "carol")
    e = store.transition(e.id, 1, "submit", "alice")
    with pytest.raises(WorkflowError, match="needs a comment"):
        store.transition(e.id, e.version, "reject", "carol", "  ")
    e = store.transition(e.id, e.version, "reject", "carol", "请补充证据清单")
    assert e.status == "draft" and store.history(e.id)[-1].comment == "请补充证据清单"
    with pytest.raises(WorkflowError, match="unknown action"):
        store.transition(e.id, e.version, "teleport", "carol")


def test_publishing_checks_review_date_and_referrals(store: EntryStore) -> None:
    stale = store.create(content("stale-one", review_by="2026-01-01"), "alice")
    stale = store.transition(stale.id, 1, "submit", "alice")
    with pytest.raises(WorkflowError, match="review_by 2026-01-01 is in the past"):
        store.transition(stale.id, stale.version, "approve", "carol")
    bare = store.create(content("no-referral", referrals=[]), "alice")
    bare = store.transition(bare.id, 1, "submit", "alice")
    with pytest.raises(WorkflowError, match="no referral"):
        store.transition(bare.id, bare.version, "approve", "carol")


def test_legal_basis_must_resolve_once_statutes_are_imported(store: EntryStore) -> None:
    store.import_statutes([{"id": "a1", "law": "中华人民共和国劳动合同法", "article": "第八十四条", "text": "……"}])
    bad = store.create(content("bad-law", legal_basis=[{"law": "不存在的法", "article": "第一条"}]), "alice")
    bad = store.transition(bad.id, 1, "submit", "alice")
    with pytest.raises(WorkflowError, match="不存在的法 第一条"):
        store.transition(bad.id, bad.version, "approve", "carol")
    good = store.create(content("good-law"), "alice")
    good = store.transition(good.id, 1, "submit", "alice")
    assert store.transition(good.id, good.version, "approve", "carol").status == "published"
    assert store.statute("中华人民共和国劳动合同法", "第八十四条")["text"] == "……"


def test_edit_of_published_entry_keeps_the_published_revision_live(store: EntryStore) -> None:
    e = store.create(content(), "seed", status="published")
    e = store.update(e.id, 1, content(worker_answer="新的回答，尚未审核"), "bob")
    assert e.status == "draft" and e.published_version == 1
    assert store.published_content(e).worker_answer == "站点收押金不合法，可以投诉。"
    assert e.suggestible(TODAY)


def test_outdated_entries_are_held_back(store: EntryStore) -> None:
    e = store.create(content(), "seed", status="published")
    assert e.suggestible(TODAY) and not e.suggestible(date(2027, 7, 1))
    e = store.flag_outdated(e.id, 1, "dave", "最低工资标准已调整")
    assert not e.suggestible(TODAY) and e.flag_reason == "最低工资标准已调整"
    e = store.transition(e.id, e.version, "archive", "dave")
    assert e.published_version is None


def test_diff_and_rollback(store: EntryStore) -> None:
    e = store.create(content(), "alice")
    e = store.update(e.id, 1, content(title="改过的标题", steps=["新步骤"]), "bob")
    d = store.diff(e.id, 1, 2)
    assert set(d["changes"]) == {"title", "steps"}
    assert d["changes"]["title"] == {"before": "站点押金不退", "after": "改过的标题",
                                     "unified": "--- v1\n+++ v2\n@@ -1 +1 @@\n-站点押金不退\n+改过的标题"}
    e = store.rollback(e.id, 1, 2, "carol")
    assert e.version == 3 and e.content.title == "站点押金不退"
    assert store.history(e.id)[-1].action == "rollback"
    with pytest.raises(NotFoundError):
        store.rollback(e.id, 99, 3, "carol")


def test_duplicate_slug_and_missing_entry(store: EntryStore) -> None:
    store.create(content(), "alice")
    with pytest.raises(DuplicateError):
        store.create(content(), "bob")
    with pytest.raises(NotFoundError):
        store.update(999, 1, content("other"), "bob")


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_export_import_round_trip_is_lossless(tmp_path: Path, fmt: str, store: EntryStore) -> None:
    a = store
    import_entries(a, seed_text(), "jsonl", "seed", default_status="published")
    draft = a.create(content("a-draft-entry", case=None), "alice")
    a.transition(draft.id, 1, "submit", "alice")
    exported = export_entries(a, fmt)  # type: ignore[arg-type]
    b = make_store(tmp_path / "b.db")
    counts = import_entries(b, exported, fmt, "import")  # type: ignore[arg-type]
    assert counts["created"] == len(a.list(limit=10**6)[0])
    assert export_entries(b, fmt) == exported  # type: ignore[arg-type]
    assert import_entries(b, exported, fmt, "import") == {"created": 0, "updated": 0, "unchanged": counts["created"]}  # type: ignore[arg-type]


def test_bad_rows_are_reported_by_line_and_nothing_is_imported(store: EntryStore) -> None:
    good = json.dumps(content("fine-entry").model_dump(mode="json"), ensure_ascii=False)
    bad_type = json.dumps(content("x-entry").model_dump(mode="json") | {"issue_types": ["no_such_type"]}, ensure_ascii=False)
    text = "\n".join([good, "{not json", bad_type, json.dumps({"slug": "Bad Slug!"}), good]) + "\n"
    with pytest.raises(ImportRowError) as err:
        import_entries(store, text, "jsonl", "import")
    lines = [n for n, _ in err.value.errors]
    assert lines == [2, 3, 4, 5]
    assert "no_such_type" in dict(err.value.errors)[3]
    assert "appears twice" in dict(err.value.errors)[5]
    assert store.list()[1] == 0


def test_seed_is_complete_and_idempotent(store: EntryStore) -> None:
    if not (SHARED / "data" / "lawrefbook_laws" / "articles.jsonl").exists():
        pytest.skip("statute corpus not beside the repo")
    first = seed(store, SHARED)
    assert first["statutes_added"] > 5000 and first["entries_created"] >= 150
    again = seed(store, SHARED)
    assert again["statutes_added"] == 0 and again["entries_created"] == 0
    views, n = store.list(status="published", limit=10**6)
    per_type: dict[str, int] = {}
    for v in views:
        for t in v.issue_types:
            per_type[t] = per_type.get(t, 0) + 1
    assert len(per_type) == 16 and min(per_type.values()) >= 5
    keys = store.statute_keys() or set()
    for v in views:  # every legal basis resolves to an imported article
        for ref in v.content.legal_basis:
            assert (ref.law, ref.article) in keys, (v.slug, ref)
    slugs = {v.slug for v in views}
    for case in ("k2-case-rental-deposit-kept", "k2-case-station-compounds-initiative", "k2-case-1700-fees-refused",
                 "k3-case-family-driver-disabled-child"):
        assert any(s.startswith(case[:12]) for s in slugs)
