"""Backup and restore round-trip a populated database (every table compared), on SQLite and PostgreSQL;
retention purges old cases with everything recorded about them."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select, update

from hotline.accounts import Accounts
from hotline.cases import CaseStore
from hotline.feedback import FeedbackLog, QuestionLog
from hotline.retention import purge
from hotline.tables import Case, Question
from hotline.backup import _metadata, backup, restore
from kb.db import make_engine, migrate, session_factory
from kb.schema import EntryContent
from kb.store import EntryStore
from tests.conftest import run_cli


def populate(url: str) -> None:
    migrate(url)
    factory = session_factory(make_engine(url))
    store = EntryStore(factory)
    e = store.create(EntryContent(slug="backup-entry", kind="faq", title="押金", question="押金不退怎么办",
                                  operator_answer="答复", worker_answer="答复", issue_types=["deposit_refund"],
                                  referrals=["labor_inspection"]), author="staff")
    store.update(e.id, 1, EntryContent(**{**e.content.model_dump(), "title": "押金（修订）"}), author="staff")
    Accounts(factory).add_user("admin1", "admin", "long-password")
    cases = CaseStore(factory)
    c = cases.create(channel="phone", operator="op", text="押金不退", issue_types=["deposit_refund"], urgency="normal")
    cases.add_followup(c["id"], "op", True, True, 800.0, "已退")
    cases.dispatch(c["id"], "美团", "核实", "op")
    q = QuestionLog(factory).record(source="worker", text="押金", answered=True, best_entry_id=e.id, best_score=0.9,
                                    issue_types=["deposit_refund"], urgency="normal")
    FeedbackLog(factory).record(source="worker", actor="anonymous", event="helpful", question_id=q, entry_id=e.id)


def dump(url: str) -> dict[str, list[tuple]]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return {t.name: [tuple(r) for r in conn.execute(select(t).order_by(*t.primary_key.columns))]
                    for t in _metadata().sorted_tables}
    finally:
        engine.dispose()


def change_everything(url: str) -> None:
    factory = session_factory(make_engine(url))
    CaseStore(factory).create(channel="web", operator="op", text="新个案", issue_types=[], urgency="low")
    store = EntryStore(factory)
    e = store.get_by_slug("backup-entry")
    store.transition(e.id, e.version, "archive", "staff")


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'live.db'}"
    return request.getfixturevalue("pg_url")


def test_backup_and_restore_round_trip_every_table(db_url: str, tmp_path: Path) -> None:
    populate(db_url)
    before = dump(db_url)
    assert all(before[t] for t in ("entries", "entry_revisions", "users", "cases", "case_followups", "dispatches",
                                   "questions", "feedback"))
    engine = make_engine(db_url)
    report = backup(engine, tmp_path / "b" / "copy.db")
    assert report["kind"] == ("sqlite" if db_url.startswith("sqlite") else "snapshot")
    change_everything(db_url)
    assert dump(db_url) != before
    restore(engine, tmp_path / "b" / "copy.db")
    engine.dispose()
    assert dump(db_url) == before
    # New rows after a restore get fresh ids (sequences follow the restored rows).
    factory = session_factory(make_engine(db_url))
    new = CaseStore(factory).create(channel="web", operator="op", text="之后", issue_types=[], urgency="low")
    assert new["id"] > max(r[0] for r in before["cases"])


def test_cli_backup_and_restore(tmp_path: Path) -> None:
    env = {"JISHIBANG_DATA_DIR": str(tmp_path / "data")}
    url = f"sqlite:///{(tmp_path / 'data' / 'jishibang.db').resolve()}"
    populate(url)
    before = dump(url)
    made = run_cli("backup", str(tmp_path / "copy.db"), env=env)
    assert made.returncode == 0, made.stderr
    change_everything(url)
    refused = run_cli("restore", str(tmp_path / "copy.db"), env=env)
    assert refused.returncode == 1 and "--yes" in refused.stderr
    done = run_cli("restore", str(tmp_path / "copy.db"), "--yes", env=env)
    assert done.returncode == 0, done.stderr
    assert dump(url) == before
    garbage = tmp_path / "garbage.db"
    garbage.write_text("not a backup")
    bad = run_cli("restore", str(garbage), "--yes", env=env)
    assert bad.returncode == 1 and bad.stderr.startswith("error:")
    assert dump(url) == before


def test_purge_removes_old_cases_with_their_records(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    populate(url)
    factory = session_factory(make_engine(url))
    cases = CaseStore(factory)
    recent = cases.create(channel="phone", operator="op", text="最近的", issue_types=[], urgency="low")
    old = datetime.now(timezone.utc) - timedelta(days=400)
    with factory() as s, s.begin():
        s.execute(update(Case).where(Case.id != recent["id"]).values(created_at=old))
        s.execute(update(Question).values(at=old))
    counts = purge(factory, 365)
    assert counts == {"feedback": 1, "followups": 1, "dispatches": 1, "consultations": 0, "cases": 1, "questions": 1}
    left = dump(url)
    assert [r[0] for r in left["cases"]] == [recent["id"]]
    assert left["case_followups"] == [] and left["dispatches"] == [] and left["questions"] == [] and left["feedback"] == []
    assert left["entries"] and left["entry_revisions"]  # knowledge is kept
