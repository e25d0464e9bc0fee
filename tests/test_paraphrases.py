"""Paraphrases from traffic: positive feedback proposes the (masked) question as a paraphrase of the entry;
duplicates, personal data and fragments are kept out; staff accept (a draft revision through the KB
workflow) or reject. Real SQLite files, the real feedback log, the real index; the near-duplicate check
with the real embedding model."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect

from hotline.errors import InvalidRequest
from hotline.feedback import FeedbackLog, QuestionLog
from hotline.paraphrases import Candidate, ParaphraseProposals, dedupe_key
from kb.errors import WorkflowError
from kb.seeding import seed_text
from kb.service import IndexManager
from kb.store import EntryStore
from kb.transfer import import_entries
from tests.test_kb_store import TODAY, make_store

SLUG = "k2-employer-deposit-labor-inspection"


@pytest.fixture
def kb(tmp_path: Path) -> EntryStore:
    store = make_store(tmp_path / "kb.db")
    import_entries(store, seed_text(), "jsonl", "seed", default_status="published")
    return store


def worker_helpful(store: EntryStore, entry_id: int, question: str, helpful: bool = True) -> int:
    """A worker asked, got this entry, and said whether it helped (as /v1/faq/ask and /v1/faq/feedback do)."""
    qid = QuestionLog(store.factory).record(source="worker", text=question, answered=True, best_entry_id=entry_id,
                                           best_score=0.9, issue_types=["deposit_refund"], urgency="normal")
    return FeedbackLog(store.factory).record(source="worker", actor="anonymous",
                                             event="helpful" if helpful else "unhelpful",
                                             question_id=qid, entry_id=entry_id)


def test_helpful_answers_and_copied_suggestions_become_proposals(kb: EntryStore) -> None:
    entry = kb.get_by_slug(SLUG)
    log = FeedbackLog(kb.factory)
    worker_helpful(kb, entry.id, "跑腿的站点扣着我五百块押金，人都走了还不给")
    log.record(source="operator", actor="op1", event="copied", entry_id=entry.id,
               query="来电人称离职后站点以押金名义扣留其八百元不予退还")
    # Not proposals: an unhelpful answer, a wrong mark, a copy without a note, an exposure.
    worker_helpful(kb, entry.id, "押金的事你们说的不对啊完全没用", helpful=False)
    log.record(source="operator", actor="op1", event="wrong", entry_id=entry.id, query="问的是平台封号不是押金")
    log.record(source="operator", actor="op1", event="copied", entry_id=entry.id)
    log.record(source="operator", actor="op1", event="shown", entry_id=entry.id, query="站点押金不退还怎么投诉")
    proposals = ParaphraseProposals(kb.factory, kb)
    assert proposals.sync() == {"proposed": 2}
    items, total = proposals.list()
    assert total == 2
    assert {(p["source"], p["text"]) for p in items} == {
        ("worker", "跑腿的站点扣着我五百块押金，人都走了还不给"), ("operator", "来电人称离职后站点以押金名义扣留其八百元不予退还")}
    assert all(p["entry_id"] == entry.id and p["status"] == "proposed" and p["times"] == 1 for p in items)
    assert proposals.sync() == {}  # the cursor moved: nothing is read twice


def test_personal_data_fragments_and_known_wordings_are_kept_out(kb: EntryStore) -> None:
    entry = kb.get_by_slug(SLUG)
    proposals = ParaphraseProposals(kb.factory, kb)
    # Stored text is masked; a placeholder left in it keeps it out (so does anything the masker still finds).
    worker_helpful(kb, entry.id, "我电话13812345678，站点押金不退")
    assert proposals.propose(Candidate(entry.id, "陈小明的押金被站长扣了，电话138 1234 5678", "operator")) == "personal_data"
    assert proposals.propose(Candidate(entry.id, "押金？？", "worker")) == "too_short"
    assert proposals.propose(Candidate(entry.id, "押" * 121, "worker")) == "too_long"
    known = entry.content.paraphrases[0]
    assert proposals.propose(Candidate(entry.id, known + "！！", "worker")) == "known"
    assert proposals.propose(Candidate(entry.id, entry.content.question, "operator")) == "known"
    assert proposals.propose(Candidate(999_999, "站点押金一直不退怎么办", "worker")) == "no_entry"
    assert proposals.sync() == {"personal_data": 1}
    assert proposals.list()[1] == 0


def test_a_repeat_in_other_characters_counts_as_another_vote(kb: EntryStore) -> None:
    entry = kb.get_by_slug(SLUG)
    worker_helpful(kb, entry.id, "辭職之後站長唔肯退押金點算")
    worker_helpful(kb, entry.id, "辞职之后，站长不肯退押金点算？")  # traditional / Cantonese folded, punctuation dropped
    assert dedupe_key("辭職之後站長唔肯退押金點算") == dedupe_key("辞职之后，站长不肯退押金点算？")
    proposals = ParaphraseProposals(kb.factory, kb)
    assert proposals.sync() == {"proposed": 1, "repeated": 1}
    (p,), _ = proposals.list()
    assert p["times"] == 2 and p["text"] == "辭職之後站長唔肯退押金點算"


def test_accept_makes_a_draft_revision_that_search_sees_only_after_approval(kb: EntryStore, tmp_path: Path) -> None:
    entry = kb.get_by_slug(SLUG)
    index = IndexManager(kb, tmp_path / "index", None, None, today=lambda: TODAY)
    index.rebuild()
    phrase = "辞工后老板扣住我交的工衣钱和押金不还"
    assert phrase not in index.searcher.build.rows.texts
    worker_helpful(kb, entry.id, phrase)
    proposals = ParaphraseProposals(kb.factory, kb)
    proposals.sync()
    (p,), _ = proposals.list()
    accepted, view = proposals.accept(p["id"], "staff1")
    assert accepted["status"] == "accepted" and accepted["decided_by"] == "staff1"
    assert accepted["entry_version"] == view.version == entry.version + 1
    assert view.status == "draft" and view.published_version == entry.published_version  # the live one stays
    assert view.content.paraphrases == [*entry.content.paraphrases, phrase]
    history = kb.history(entry.id)
    assert history[-1].action == "edit" and history[-1].author == "staff1" and "proposal" in (history[-1].comment or "")
    assert phrase not in kb.published_content(kb.get(entry.id)).paraphrases
    assert phrase not in index.searcher.build.rows.texts  # a draft: search does not see it
    with pytest.raises(InvalidRequest):
        proposals.accept(p["id"], "staff2")  # decided once
    view = kb.transition(entry.id, view.version, "submit", "staff1")
    view = kb.transition(entry.id, view.version, "approve", "reviewer")
    assert index.wait_idle(60)
    assert phrase in kb.published_content(kb.get(entry.id)).paraphrases
    assert phrase in index.searcher.build.rows.texts
    hit = index.search(phrase, mode="bm25", k=1).hits[0]
    assert hit.entry_id == entry.id and hit.bm25_rank == 0


def test_reject_and_refusals_leave_the_entry_alone(kb: EntryStore) -> None:
    entry = kb.get_by_slug(SLUG)
    worker_helpful(kb, entry.id, "站点老板收了押金跑路了找谁")
    worker_helpful(kb, entry.id, "辞职三个月了押金还在站长手里")
    proposals = ParaphraseProposals(kb.factory, kb)
    proposals.sync()
    first, second = sorted(proposals.list()[0], key=lambda p: p["id"])
    rejected = proposals.reject(first["id"], "staff1", "问的是老板跑路，另有条目")
    assert rejected["status"] == "rejected" and rejected["comment"] == "问的是老板跑路，另有条目"
    # The same question again is not proposed again, and is not counted on a decided proposal.
    worker_helpful(kb, entry.id, "站点老板收了押金跑路了找谁？")
    assert proposals.sync() == {"decided": 1}
    # An archived entry cannot take a paraphrase: refused, and the proposal stays open for later.
    view = kb.get(entry.id)
    kb.transition(entry.id, view.version, "archive", "staff1")
    with pytest.raises(WorkflowError):
        proposals.accept(second["id"], "staff1")
    assert proposals.get(second["id"])["status"] == "proposed"
    assert kb.get(entry.id).version == view.version + 1  # only the archive
    with pytest.raises(InvalidRequest):
        proposals.accept(second["id"], "staff1", text="我电话13812345678")  # staff's wording is checked too


def test_the_migration_creates_what_the_tables_declare(tmp_path: Path) -> None:
    import hotline.tables  # noqa: F401
    from kb.db import migrate
    from kb.tables import Base

    url = f"sqlite:///{tmp_path / 'm.db'}"
    migrate(url)
    db = inspect(create_engine(url))
    for name in ("paraphrase_proposals", "learning_cursors"):
        declared = {c.name for c in Base.metadata.tables[name].columns}
        assert {c["name"] for c in db.get_columns(name)} == declared, name
    assert "station" in {c["name"] for c in db.get_columns("cases")}
    assert any(ix["column_names"] == ["station"] for ix in db.get_indexes("cases"))
    uniques = db.get_unique_constraints("paraphrase_proposals")
    assert any(set(u["column_names"]) == {"entry_id", "text_norm"} for u in uniques)


@pytest.mark.model
def test_near_duplicates_by_meaning_are_caught_with_the_embedding_model(kb: EntryStore, local_model_dir: Path) -> None:
    from triage.embedder import Embedder

    entry = kb.get_by_slug(SLUG)
    proposals = ParaphraseProposals(kb.factory, kb, Embedder(str(local_model_dir)).encode_queries)
    base = entry.content.question
    # The entry's own question with a particle added: new text, same sentence.
    near = base.rstrip("？?") + "呢？"
    assert dedupe_key(near) != dedupe_key(base)
    assert proposals.propose(Candidate(entry.id, near, "worker")) == "near_duplicate"
    fresh = "干了半年外卖不干了，站点压着我的八百块押金说要扣掉"
    assert proposals.propose(Candidate(entry.id, fresh, "worker")) == "proposed"
    (p,), _ = proposals.list()
    assert p["nearest"] is not None and p["nearest"] < 0.99
    assert proposals.propose(Candidate(entry.id, fresh.replace("，", " ") + "。", "operator")) == "repeated"
    assert proposals.list()[0][0]["times"] == 2


@pytest.mark.model
@pytest.mark.integration
def test_staff_review_proposals_over_http(api_server) -> None:
    with api_server.client() as anon:
        asked = anon.post("/v1/faq/ask", json={"question": "骑手账号被封了三天，申诉一直没回复，怎么办"}).json()
        assert asked["answered"], asked
        entry_id = asked["answer"]["entry_id"]
        assert anon.post("/v1/faq/feedback", json={"answer_id": asked["answer_id"], "helpful": True}).status_code == 201
    with api_server.client("staff") as staff:
        listing = staff.get("/v1/paraphrases").json()
        mine = [p for p in listing["items"] if p["text"] == "骑手账号被封了三天，申诉一直没回复，怎么办"]
        assert mine and mine[0]["entry_id"] == entry_id and mine[0]["entry_title"]
        pid = mine[0]["id"]
        bad = staff.post(f"/v1/paraphrases/{pid}/accept", json={"text": ""})
        assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_request"
        r = staff.post(f"/v1/paraphrases/{pid}/accept", json={})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["proposal"]["status"] == "accepted" and body["entry"]["status"] == "draft"
        assert "骑手账号被封了三天，申诉一直没回复，怎么办" in body["entry"]["content"]["paraphrases"]
        again = staff.post(f"/v1/paraphrases/{pid}/accept", json={})
        assert again.status_code == 422 and "already accepted" in again.json()["error"]["message"]
        assert staff.post("/v1/paraphrases/999999/reject", json={}).status_code == 404
        accepted = staff.get("/v1/paraphrases", params={"status": "accepted"}).json()
        assert any(p["id"] == pid for p in accepted["items"])
        audit = staff.get("/v1/admin/audit", params={"target": f"entry:{entry_id}"})
        if audit.status_code == 200:  # admin-only in some set-ups
            assert any(a["action"] == "accept_paraphrase" for a in audit.json())
        # Put the entry back as it was for the other tests sharing this server.
        view = staff.get(f"/v1/entries/{entry_id}").json()
        view = staff.post(f"/v1/entries/{entry_id}/rollback",
                          json={"to_version": view["published_version"], "version": view["version"]}).json()
        view = staff.post(f"/v1/entries/{entry_id}/submit", json={"version": view["version"]}).json()
        with api_server.client("admin") as second:  # a second person approves
            view = second.post(f"/v1/entries/{entry_id}/approve", json={"version": view["version"]}).json()
        assert view["status"] == "published", view
    with api_server.client("operator") as op:
        assert op.get("/v1/paraphrases").status_code == 403


def test_the_learning_tables_work_on_postgresql(pg_url: str) -> None:
    """Proposals, standing and alerts on a throwaway PostgreSQL database (skipped when no server answers)."""
    from datetime import date, datetime, time, timedelta

    from sqlalchemy import update

    from hotline import alerts
    from hotline.cases import CaseStore
    from hotline.standing import Standings
    from hotline.tables import Case

    store = make_store(pg_url)
    import_entries(store, seed_text(), "jsonl", "seed", default_status="published")
    entry = store.get_by_slug(SLUG)
    worker_helpful(store, entry.id, "跑腿的站点扣着我五百块押金，人都走了还不给")
    for _ in range(12):
        FeedbackLog(store.factory).record(source="operator", actor="op", event="wrong", entry_id=entry.id)
    proposals = ParaphraseProposals(store.factory, store)
    assert proposals.sync() == {"proposed": 1}
    (p,), _ = proposals.list()
    _, view = proposals.accept(p["id"], "staff1")
    assert view.status == "draft" and view.content.paraphrases[-1] == p["text"]
    standings = Standings(store.factory, refresh_seconds=0)
    s = standings.standing(entry.id)
    assert (s.positive, s.negative) == (1, 12) and s.multiplier < 1.0 and s.flagged
    cases = CaseStore(store.factory)
    day = date(2026, 11, 29)
    for i in range(6):
        c = cases.create(channel="phone", operator="op", text="站点押金不退", issue_types=["deposit_refund"],
                         urgency="normal", platform="美团")
        with store.factory() as sess, sess.begin():
            sess.execute(update(Case).where(Case.id == c["id"]).values(
                created_at=datetime.combine(day - timedelta(days=i), time(10), alerts.CHINA), station="站点A"))
    found = alerts.detect(store.factory, day)["alerts"]
    assert {(a["dimension"], a["value"], a["count"]) for a in found} == {("platform", "美团", 6), ("station", "站点A", 6)}
