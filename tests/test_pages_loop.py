"""The hotline loop behind the pages, in process and on a real migrated SQLite file (PostgreSQL too where the
records are written): case notes, taking a case, referrals with their 回访 plan, dispatch only to a platform with a
sub-line, replies and reopening, the dashboard figures, slugs from titles, the second approver, gap paraphrases.
No model is loaded: these are the domain's rules, quick and offline."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect

from hotline import gaps, sublines
from hotline.accounts import Accounts
from hotline.cases import CaseStore, DispatchClosed, UnknownPlatform
from hotline.errors import InvalidRequest, NotFound
from hotline.followups import china_today, load, schedule
from hotline.stats import workspace_figures
from hotline.tables import Question
from kb.db import make_engine, migrate, session_factory, transaction
from kb.errors import WorkflowError
from kb.slugs import slugify
from kb.store import EntryStore
from kb.tables import Base
from kb.workflow import in_chinese
from tests.test_kb_store import content, make_store

MOBILE = "13812345678"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'loop.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def cases(db_url: str) -> CaseStore:
    migrate(db_url)
    return CaseStore(session_factory(make_engine(db_url)))


def new_case(cases: CaseStore, operator: str = "op-li", urgency: str = "normal", channel: str = "phone") -> int:
    return cases.create(channel=channel, operator=operator, text=f"美团骑手押金不退，电话{MOBILE}",
                        issue_types=["deposit_refund"], urgency=urgency)["id"]


# --- the schema ----------------------------------------------------------------------------------------

def test_migration_creates_what_the_tables_declare(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    migrate(url)
    found = inspect(create_engine(url))
    for table in ("case_notes", "case_referrals", "followup_plans", "dispatch_events", "cases", "dispatches"):
        declared = {c.name for c in Base.metadata.tables[table].columns}
        assert declared == {c["name"] for c in found.get_columns(table)}, table


# --- notes, taking a case, the queues ------------------------------------------------------------------

def test_notes_are_appended_masked_and_timestamped(cases: CaseStore) -> None:
    cid = new_case(cases)
    cases.add_note(cid, "op-li", "补充：对方答应明天退一半")
    view = cases.add_note(cid, "op-li", f"工人换了号码 {MOBILE}")
    assert [n["text"] for n in view["notes"]] == ["补充：对方答应明天退一半", "工人换了号码 [手机号]"]
    assert all(n["at"] and n["by"] == "op-li" for n in view["notes"])
    assert MOBILE not in view["text_masked"]
    with pytest.raises(InvalidRequest):
        cases.add_note(cid, "op-li", "   ")
    with pytest.raises(NotFound):
        cases.add_note(999999, "op-li", "x")


def test_my_cases_and_the_team_queue(cases: CaseStore) -> None:
    mine = new_case(cases, "op-li")
    other = new_case(cases, "op-wang", urgency="emergency")
    waiting = new_case(cases, "wechat", channel="wechat")
    assert cases.get(waiting)["assignee"] is None
    ids = [c["id"] for c in cases.list(assignee="op-li", open_only=True)[0]]
    assert ids == [mine]
    assert [c["id"] for c in cases.list(unassigned=True)[0]] == [waiting]
    first = cases.list(open_only=True, sort="priority")[0][0]
    assert first["id"] == other  # the emergency first
    taken = cases.claim(waiting, "op-li")
    assert taken["assignee"] == "op-li" and "接手" in taken["notes"][-1]["text"]
    assert {c["id"] for c in cases.list(assignee="op-li")[0]} == {mine, waiting}


# --- referrals and the 回访 plan ----------------------------------------------------------------------

def test_referral_plans_a_followup_from_its_typical_duration(cases: CaseStore) -> None:
    cid = new_case(cases)
    today = china_today()
    view = cases.refer(cid, "legal_aid", "op-li", "已告知 12348")
    assert view["status"] == "referred" and view["referral"] == "legal_aid"
    assert [r["target"] for r in view["referrals"]] == ["legal_aid"]
    plan = view["followup_plan"]
    assert len(plan) == 1 and plan[0]["due_on"] == (today + timedelta(days=7)).isoformat()
    assert "法律援助法" in plan[0]["reason"]
    assert view["next_followup_on"] == plan[0]["due_on"] and not view["followup_due"]

    rid = view["referrals"][0]["id"]
    view = cases.referral_outcome(cid, rid, "accepted", "中心已受理", "op-li")
    assert view["referrals"][0]["outcome"] == "accepted"
    with pytest.raises(InvalidRequest):
        cases.referral_outcome(cid, rid, "maybe", "", "op-li")
    with pytest.raises(NotFound):
        cases.referral_outcome(new_case(cases), rid, "accepted", "", "op-li")  # another case's referral

    # An urgent case is called back sooner.
    urgent = cases.refer(new_case(cases, urgency="emergency"), "labor_arbitration", "op-li")
    assert urgent["followup_plan"][0]["due_on"] == (today + timedelta(days=1)).isoformat()


def test_overdue_followups_are_found_and_a_followup_completes_them(cases: CaseStore) -> None:
    cid = new_case(cases)
    cases.plan_followup(cid, china_today() - timedelta(days=2), "约好的回访", "op-li")
    row = cases.list(followup="overdue")[0]
    assert [c["id"] for c in row] == [cid] and row[0]["followup_overdue"] and row[0]["followup_due"]
    view = cases.add_followup(cid, "op-li", True, False, None, "工人说站点已退一半",
                              next_due=china_today() + timedelta(days=3))
    done, nxt = view["followup_plan"]
    assert done["done_by"] == "op-li" and done["followup_id"] == view["followups"][-1]["id"]
    assert nxt["done_at"] is None and not view["followup_overdue"]
    assert cases.list(followup="overdue")[0] == []
    view = cases.add_followup(cid, "op-li", True, True, 800.0, "全部退回")
    assert view["status"] == "closed" and all(p["done_at"] for p in view["followup_plan"])


def test_the_schedule_names_only_known_targets(tmp_path: Path) -> None:
    assert schedule().interval("legal_aid").days == 7
    assert schedule().interval("no-such-target").days == schedule().default.days
    bad = tmp_path / "f.yaml"
    bad.write_text("targets:\n  not_a_target: {days: 3}\n", encoding="utf-8")
    with pytest.raises(ValueError, match="unknown referral targets"):
        load(bad)


# --- dispatch to a sub-line, replies, reopening ------------------------------------------------------

def test_dispatch_only_to_a_platform_with_a_sub_line(db_url: str, cases: CaseStore) -> None:
    accounts = Accounts(cases.factory)
    accounts.add_user("ent-meituan", "enterprise", "password-123", platform="美团")
    accounts.add_key("enterprise", "admin", platform="饿了么")
    accounts.add_user("ent-gone", "enterprise", "password-123", platform="滴滴")
    accounts.set_active("ent-gone", False)
    allowed = sublines.platforms(cases.factory)
    assert allowed == {"美团": 1, "饿了么": 1}
    cid = new_case(cases)
    with pytest.raises(UnknownPlatform) as refused:
        cases.dispatch(cid, "不存在的平台XYZ", "请核实", "op-li", allowed=allowed)
    assert refused.value.allowed == ["美团", "饿了么"]
    with pytest.raises(UnknownPlatform):
        cases.dispatch(cid, "滴滴", "请核实", "op-li", allowed=allowed)  # its only account is disabled
    d = cases.dispatch(cid, "美团", "请核实押金", "op-li", allowed=allowed, sla_hours=24)
    assert d["awaiting_reply"] and not d["overdue"]
    due = datetime.fromisoformat(d["due_at"]) - datetime.fromisoformat(d["created_at"])
    assert due == timedelta(hours=24)


def test_a_resolved_dispatch_takes_no_reply_until_reopened_with_a_reason(cases: CaseStore) -> None:
    cid = new_case(cases)
    d = cases.dispatch(cid, "美团", "请核实", "op-li", sla_hours=72)
    got = cases.reply(d["id"], "美团", "ent-meituan", "正在核实", "in_progress")
    assert not got["awaiting_reply"] and got["events"][-1]["kind"] == "reply"
    got = cases.reply(d["id"], "美团", "ent-meituan", f"已退押金，联系人 {MOBILE}", "resolved")
    assert got["status"] == "resolved" and MOBILE not in got["reply"]
    with pytest.raises(DispatchClosed):
        cases.reply(d["id"], "美团", "ent-meituan", "改成处理中", "in_progress")
    with pytest.raises(InvalidRequest):
        cases.reopen(d["id"], "美团", "ent-meituan", "enterprise", "  ")
    with pytest.raises(NotFound):
        cases.reopen(d["id"], "滴滴", "ent-didi", "enterprise", "不是我们的")
    got = cases.reopen(d["id"], "美团", "ent-meituan", "enterprise", "工人说只退了一半", sla_hours=24)
    assert got["status"] == "in_progress" and got["awaiting_reply"]
    assert [e["kind"] for e in got["events"]] == ["reply", "reply", "reopen"]
    with pytest.raises(DispatchClosed):
        cases.reopen(d["id"], "美团", "ent-meituan", "enterprise", "again")  # it is open
    assert cases.reply(d["id"], "美团", "ent-meituan", "已补退另一半", "resolved")["status"] == "resolved"
    cases.reopen(d["id"], None, "op-li", "operator", "工人仍未收到")
    seen = cases.queue("美团")[0]["events"]
    assert [e["by"] for e in seen] == ["ent-meituan", "ent-meituan", "ent-meituan", "ent-meituan", "hotline"]
    view = cases.get(cid, platform="美团")
    assert view["assignee"] is None and view["operator"] == "hotline" and "notes" not in view


def test_the_case_fingerprint_changes_with_a_reply(cases: CaseStore) -> None:
    cid = new_case(cases)
    d = cases.dispatch(cid, "美团", "请核实", "op-li")
    before = cases.fingerprint(cid)
    cases.reply(d["id"], "美团", "ent-meituan", "已核实", "in_progress")
    assert cases.fingerprint(cid) != before


# --- the dashboard's figures --------------------------------------------------------------------------

def test_workspace_figures_for_the_team_and_for_one_operator(cases: CaseStore) -> None:
    a = new_case(cases, "op-li", urgency="high")
    new_case(cases, "op-wang")
    new_case(cases, "wechat", channel="wechat")
    cases.plan_followup(a, china_today() - timedelta(days=1), "约好的回访", "op-li")
    late = cases.dispatch(a, "美团", "请核实", "op-li", sla_hours=1)
    with transaction(cases.factory) as s:  # the dispatch was sent two hours ago
        from hotline.tables import Dispatch

        row = s.get(Dispatch, late["id"])
        row.due_at = datetime.now(timezone.utc) - timedelta(hours=1)
        s.add(Question(source="worker", text_masked="押金不退", answered=True, issue_types=[]))
        s.add(Question(source="worker", text_masked="今天下雨吗", answered=False, issue_types=[]))
    team = workspace_figures(cases.factory, cases)
    assert team["open_cases"]["total"] == 3 and team["open_cases"]["unassigned"] == 1
    assert team["open_cases"]["by_urgency"]["high"] == 1
    assert team["followups"]["overdue"] == 1 and team["dispatches"]["beyond_sla"] == 1
    assert team["dispatches"]["late"][0]["hours_over"] >= 0.9
    week = team["worker_weeks"][-1]
    assert week["asked"] == 2 and week["answered"] == 1 and week["answer_rate"] == 0.5
    mine = workspace_figures(cases.factory, cases, operator="op-wang")
    assert mine["open_cases"]["total"] == 1 and mine["followups"]["overdue"] == 0
    assert mine["dispatches"]["awaiting"] == 0


# --- staff: slugs, the second approver, gap paraphrases ------------------------------------------------

def test_slugs_come_from_the_title_pinyin_and_stay_unique(tmp_path: Path) -> None:
    assert slugify("骑手押金不退怎么办") == "qi-shou-ya-jin-bu-tui-zen-me-ban"
    assert slugify("外卖骑手 App 被封号（美团）") == "wai-mai-qi-shou-app-bei-feng-hao-mei-tuan"
    assert slugify("！！").startswith("entry-")
    assert len(slugify("长" * 300)) <= 80
    store = make_store(tmp_path / "kb.db")
    base = slugify("站点押金不退")
    store.create(content(base), author="staff-a")
    assert store.unique_slug(base) == base + "-2"
    store.create(content(base + "-2"), author="staff-a")
    assert store.unique_slug(base) == base + "-3"


def test_the_author_cannot_approve_their_own_version(tmp_path: Path) -> None:
    store = make_store(tmp_path / "kb.db")
    e = store.create(content("four-eyes"), author="staff-a")
    e = store.transition(e.id, e.version, "submit", "staff-a")
    with pytest.raises(WorkflowError) as refused:
        store.transition(e.id, e.version, "approve", "staff-a", second_approver=True)
    assert in_chinese(str(refused.value)).startswith("须由另一位工作人员")
    assert store.get(e.id).version == e.version  # nothing was written
    # Someone else edits it: now both wrote this version; a third person approves.
    e = store.update(e.id, e.version, content("four-eyes", title="站点押金不退（修订）"), "staff-b")
    e = store.transition(e.id, e.version, "submit", "staff-b")
    with pytest.raises(WorkflowError):
        store.transition(e.id, e.version, "approve", "staff-b", second_approver=True)
    published = store.transition(e.id, e.version, "approve", "staff-c", second_approver=True)
    assert published.status == "published"
    # After a publication only the new writers count; with the rule off one person may do it all.
    e = store.update(published.id, published.version, content("four-eyes", title="再改"), "staff-c")
    e = store.transition(e.id, e.version, "submit", "staff-c")
    assert store.writers(e.id) == {"staff-c"}
    assert store.transition(e.id, e.version, "approve", "staff-c").status == "published"


def test_gap_questions_become_paraphrases_of_an_existing_entry(tmp_path: Path) -> None:
    store = make_store(tmp_path / "kb.db")
    e = store.create(content("gap-target"), author="staff-a")
    e = store.transition(e.id, e.version, "submit", "staff-a")
    e = store.transition(e.id, e.version, "approve", "staff-b", second_approver=True)
    questions = [{"id": 1, "text": "站长扣我押金不给"}, {"id": 2, "text": "押金被站长扣了"},  # already there
                 {"id": 3, "text": "站长扣我押金不给！"}]  # the same question again
    done = gaps.add_as_paraphrases(store, e.id, questions, "staff-a")
    assert done.added == ["站长扣我押金不给"] and len(done.skipped) == 2
    assert done.entry.status == "draft" and done.entry.published_version == e.published_version
    assert "站长扣我押金不给" in done.entry.content.paraphrases
    again = gaps.add_as_paraphrases(store, e.id, questions[:1], "staff-a")
    assert again.added == [] and again.entry.version == done.entry.version


def test_store_writers_ignore_workflow_steps(tmp_path: Path) -> None:
    store = EntryStore(session_factory(make_engine(f"sqlite:///{tmp_path / 'w.db'}")), today=date.today)
    migrate(f"sqlite:///{tmp_path / 'w.db'}")
    e = store.create(content("writers"), author="staff-a")
    e = store.transition(e.id, e.version, "submit", "staff-b")
    assert store.writers(e.id) == {"staff-a"}
