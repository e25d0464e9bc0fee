"""Early warning on seeded case histories: a spike of one issue type at one platform, district or station
raises an alert with its counts, p-value, rule and (masked) cases; steady traffic and small counts do not.
Real SQLite files; cases written through the case store (so their text is masked) and dated in the past."""

from __future__ import annotations

import math
import random
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, update
from sqlalchemy.orm import Session, sessionmaker

from hotline import alerts
from hotline.cases import CaseStore
from hotline.tables import Case
from kb.db import make_engine, migrate, session_factory

AS_OF = date(2026, 11, 29)


@pytest.fixture
def factory(tmp_path: Path) -> sessionmaker[Session]:
    url = f"sqlite:///{tmp_path / 'cases.db'}"
    migrate(url)
    return session_factory(make_engine(url))


def add_case(cases: CaseStore, day: date, issue_type: str, platform: str | None = None, district: str | None = None,
             station: str | None = None, text: str = "站点扣钱不发工资", hour: int = 10) -> int:
    c = cases.create(channel="phone", operator="op", text=text, issue_types=[issue_type], urgency="normal",
                     district=district, platform=platform)
    at = datetime.combine(day, time(hour), alerts.CHINA)
    with cases.factory() as s, s.begin():
        s.execute(update(Case).where(Case.id == c["id"]).values(created_at=at, station=station))
    return int(c["id"])


def poisson_tail(n: int, lam: float) -> float:
    """P(X >= n), X ~ Poisson(lam), summed directly (independent of scipy)."""
    return 1.0 - sum(math.exp(-lam) * lam**k / math.factorial(k) for k in range(n))


def steady_history(cases: CaseStore, rng: random.Random, per_day: float, **where: str) -> None:
    """35 days of steady traffic for one pair, Poisson per day."""
    for i in range(35):
        day = AS_OF - timedelta(days=i)
        n = sum(1 for _ in range(200) if rng.random() < per_day / 200)  # binomial ~ Poisson(per_day)
        for _ in range(n):
            add_case(cases, day, **where)  # type: ignore[arg-type]


def test_a_spike_raises_an_alert_with_its_counts_p_value_rule_and_cases(factory) -> None:
    cases = CaseStore(factory)
    # Baseline: 4 cases in the 28 days before the window (one a week), then 12 in the last 7 days.
    for week in range(1, 5):
        add_case(cases, AS_OF - timedelta(days=7 * week + 2), "pay_settlement", platform="美团", district="江海区")
    recent = [add_case(cases, AS_OF - timedelta(days=i % 7), "pay_settlement", platform="美团", district="江海区",
                       text=f"美团骑手被站点扣了工资，电话1381234567{i % 10}")
              for i in range(12)]
    out = alerts.detect(factory, AS_OF)
    assert out["window"] == ["2026-11-23", "2026-11-29"] and out["baseline"] == ["2026-10-26", "2026-11-22"]
    assert out["rule"]["min_count"] == 5 and out["rule"]["alpha"] == 0.01 and "Poisson" in out["rule"]["text"]
    found = {(a["dimension"], a["value"], a["issue_type"]): a for a in out["alerts"]}
    assert set(found) == {("platform", "美团", "pay_settlement"), ("district", "江海区", "pay_settlement")}
    a = found[("platform", "美团", "pay_settlement")]
    assert (a["count"], a["baseline"], a["expected"]) == (12, 4, 1.0)
    assert a["p_value"] == pytest.approx(poisson_tail(12, 1.0), rel=1e-3)
    assert a["case_ids"] == sorted(recent)
    assert len(a["daily"]) == 35 and sum(d["count"] for d in a["daily"]) == 16
    assert a["daily"][-1] == {"date": "2026-11-29", "count": 2}
    assert {c["id"] for c in a["cases"]} == set(recent)
    assert all("[手机号]" in c["text_masked"] and "1381234567" not in c["text_masked"] for c in a["cases"])


def test_steady_traffic_and_small_counts_do_not_alert(factory) -> None:
    cases = CaseStore(factory)
    rng = random.Random(11)
    # Steady: ~3 cases a day for weeks (about 21 a week against an expected 21).
    steady_history(cases, rng, 3.0, issue_type="platform_rules", platform="饿了么", district="新会区")
    # Small: 4 cases this week of a pair never seen before (below the minimum of 5).
    for i in range(4):
        add_case(cases, AS_OF - timedelta(days=i), "injury", platform="滴滴", district="台山市")
    out = alerts.detect(factory, AS_OF)
    assert out["alerts"] == []
    assert out["pairs_checked"] >= 4
    # The same small pair with a fifth case is new and rising: 5 against an expected 0.25 alerts.
    add_case(cases, AS_OF, "injury", platform="滴滴", district="台山市")
    fired = alerts.detect(factory, AS_OF)["alerts"]
    assert {(a["dimension"], a["value"]) for a in fired} == {("platform", "滴滴"), ("district", "台山市")}
    assert all(a["count"] == 5 and a["expected"] == 0.25 for a in fired)


def test_a_rise_within_normal_variation_does_not_alert(factory) -> None:
    cases = CaseStore(factory)
    # 20 a week before, 26 this week: p is about 0.1, not an early warning.
    for i in range(28):
        for _ in range(3 if i % 7 < 6 else 2):
            add_case(cases, AS_OF - timedelta(days=7 + i), "work_hours", platform="货拉拉")
    for i in range(26):
        add_case(cases, AS_OF - timedelta(days=i % 7), "work_hours", platform="货拉拉")
    out = alerts.detect(factory, AS_OF)
    assert out["alerts"] == []
    assert 0.05 < alerts.p_value(26, 20.0) < 0.2


def test_stations_count_when_the_case_has_one(factory) -> None:
    cases = CaseStore(factory)
    for i in range(6):  # six deposit cases at one station this week; only four of them name the station
        add_case(cases, AS_OF - timedelta(days=i), "deposit_refund", station="蓬江-站点03" if i < 4 else None)
    for i in range(2):
        add_case(cases, AS_OF - timedelta(days=i), "deposit_refund", station="蓬江-站点03")
    out = alerts.detect(factory, AS_OF)
    assert [(a["dimension"], a["value"], a["count"]) for a in out["alerts"]] == [("station", "蓬江-站点03", 6)]
    assert out["alerts"][0]["cases"][0]["station"] == "蓬江-站点03"


def test_days_are_china_days_and_the_window_moves_with_as_of(factory) -> None:
    cases = CaseStore(factory)
    # 01:00 on the 23rd in China is 17:00 UTC on the 22nd: it belongs to the window starting on the 23rd.
    for _ in range(5):
        add_case(cases, date(2026, 11, 23), "union_service", platform="闪送", hour=1)
    assert [a["count"] for a in alerts.detect(factory, AS_OF)["alerts"]] == [5]
    # A week later those cases are the baseline, not the window: no alert.
    assert alerts.detect(factory, AS_OF + timedelta(days=7))["alerts"] == []


@pytest.mark.model
@pytest.mark.integration
def test_staff_see_alerts_over_http(api_server) -> None:
    url = f"sqlite:///{api_server.data_dir / 'jishibang.db'}"
    store = CaseStore(session_factory(make_engine(url)))
    today = alerts.today()
    ids = [add_case(store, today - timedelta(days=i % 5), "social_insurance", platform="顺丰同城", district="鹤山市",
                    text="顺丰同城骑手说站点不给交工伤保险，我叫陈小明")
           for i in range(7)]
    try:
        with api_server.client("staff") as staff:
            r = staff.get("/v1/alerts")
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["rule"]["window_days"] == 7 and body["rule"]["baseline_days"] == 28
            mine = [a for a in body["alerts"] if a["value"] == "顺丰同城" and a["issue_type"] == "social_insurance"]
            assert mine and mine[0]["count"] == 7 and mine[0]["p_value"] < 0.01
            assert set(mine[0]["case_ids"]) == set(ids)
            assert all("陈小明" not in c["text_masked"] for c in mine[0]["cases"])
            only = staff.get("/v1/alerts", params={"dimension": "district"}).json()["alerts"]
            assert only and all(a["dimension"] == "district" for a in only)
            bad = staff.get("/v1/alerts", params={"as_of": "0001-01-01"})
            assert bad.status_code == 422 and bad.json()["error"]["message_zh"]
            assert staff.get("/v1/alerts", params={"as_of": "yesterday"}).status_code == 422
        with api_server.client("operator") as op:
            assert op.get("/v1/alerts").status_code == 403
    finally:  # the other tests share this server: leave no alert behind
        with store.factory() as s, s.begin():
            s.execute(delete(Case).where(Case.id.in_(ids)))


@pytest.mark.model
@pytest.mark.integration
@pytest.mark.browser
def test_staff_page_shows_alerts_proposals_and_flagged_entries(api_server) -> None:
    """The staff page's three panels in a real browser (Debian's chromium), with markup in the data shown as text."""
    from tests.browser_support import chromium_browser, require_browser

    sync_api = require_browser()
    from tests.conftest import PASSWORD, ROLES
    from tests.test_standing import OBSCURE, entry_by_slug, vote_wrong

    payload = "<img src=x onerror=window.__xss=1>"
    url = f"sqlite:///{api_server.data_dir / 'jishibang.db'}"
    store = CaseStore(session_factory(make_engine(url)))
    today = alerts.today()
    ids = [add_case(store, today - timedelta(days=i % 4), "traffic_accident", platform="闪送", district="恩平市",
                    text=f"闪送骑手在恩平被车撞了对方不赔 {payload}") for i in range(6)]
    entry = entry_by_slug(api_server, OBSCURE)
    vote_wrong(api_server, entry["id"], 30)
    question = "台山那边开货车的有没有歇脚的司机之家"
    with api_server.client() as anon:
        asked = anon.post("/v1/faq/ask", json={"question": question}).json()
        assert asked["answered"], asked
        answered_by = asked["answer"]["entry_id"]
        anon.post("/v1/faq/feedback", json={"answer_id": asked["answer_id"], "helpful": True})
    with api_server.client("staff") as staff:
        listed = staff.get("/v1/paraphrases", params={"limit": 500}).json()["items"]
        assert any(p["text"] == question for p in listed), listed
    problems: list[str] = []
    try:
        with chromium_browser() as browser:
            page = browser.new_context(base_url=api_server.url, locale="zh-CN",
                                       viewport={"width": 1400, "height": 1000}).new_page()
            page.set_default_timeout(30_000)
            page.on("pageerror", lambda exc: problems.append(f"uncaught: {exc}"))
            page.goto("/login")
            page.fill("#login-name", ROLES["staff"][0])
            page.fill("#login-password", PASSWORD)
            page.click("#login-submit")
            page.wait_for_url("**/staff")
            expect = sync_api.expect
            shots = Path(__file__).resolve().parent / "output" / "screenshots"
            shots.mkdir(parents=True, exist_ok=True)

            page.click('.tab[data-tab="alerts"]')
            card = page.locator('#alert-list li.alert[data-value="闪送"][data-issue-type="traffic_accident"]')
            expect(card).to_be_visible()
            expect(card).to_contain_text("近 7 天 6 件")
            expect(page.locator("#alert-rule")).to_contain_text("泊松")
            card.locator("summary").click()
            expect(card.locator(".examples li").first).to_contain_text(payload)  # as text, never as markup
            expect(card.locator(".spark .bar.recent")).to_have_count(7)
            page.screenshot(path=str(shots / "staff-alerts.png"), full_page=False)

            # Opening the tab reloads the list: wait for that load, or the row clicked below may be replaced.
            with page.expect_response(lambda r: "/v1/paraphrases?" in r.url and r.request.method == "GET"):
                page.click('.tab[data-tab="paraphrases"]')
            row = page.locator("#paraphrase-table tr.paraphrase-row").filter(has=page.locator(f'input[value="{question}"]'))
            expect(row).to_have_count(1)
            row.locator("button.p-accept").click()
            expect(row.locator(".status")).to_contain_text("已加入条目", timeout=30_000)
            page.screenshot(path=str(shots / "staff-paraphrases.png"), full_page=False)

            page.click('.tab[data-tab="standing"]')
            expect(page.locator(f'#flagged-table tr[data-id="{entry["id"]}"]')).to_contain_text(entry["title"])
            expect(page.locator("#standing-rule")).to_contain_text("×0.95")
            assert page.evaluate("typeof window.__xss") == "undefined"
            assert page.evaluate("document.querySelectorAll('img').length") == 0
            page.screenshot(path=str(shots / "staff-standing.png"), full_page=False)
        assert not problems, problems
    finally:
        with store.factory() as s, s.begin():
            s.execute(delete(Case).where(Case.id.in_(ids)))
        with api_server.client("staff") as staff:  # put the edited entry back as it was published
            view = staff.get(f"/v1/entries/{answered_by}").json()
            if view["version"] != view["published_version"]:
                view = staff.post(f"/v1/entries/{answered_by}/rollback",
                                  json={"to_version": view["published_version"], "version": view["version"]}).json()
                view = staff.post(f"/v1/entries/{answered_by}/submit", json={"version": view["version"]}).json()
                with api_server.client("admin") as second:  # a second person approves
                    second.post(f"/v1/entries/{answered_by}/approve", json={"version": view["version"]})
