"""The routes behind the pages' hotline loop over real HTTP (the session's server): one test per outcome, each
status with its reason in Chinese and English; the case view's WebSocket; the offline docs' assets."""

from __future__ import annotations

import json
import uuid
from datetime import date, timedelta

import httpx
import pytest

from kb.slugs import slugify
from tests.conftest import ApiServer

pytestmark = [pytest.mark.model, pytest.mark.integration]

MOBILE = "13812345678"


def _error(r: httpx.Response) -> dict:
    body = r.json()
    assert set(body) == {"error"} and body["error"]["message"] and body["error"]["message_zh"], body
    return body["error"]


def _case(op: httpx.Client, text: str = "美团骑手押金八百元不退，站长不理") -> dict:
    r = op.post("/v1/cases", json={"text": text, "channel": "phone"})
    assert r.status_code == 201, r.text
    return r.json()


def test_notes_are_appended_masked_and_empty_ones_refused(api_server: ApiServer) -> None:
    with api_server.client("operator") as op:
        case = _case(op)
        r = op.post(f"/v1/cases/{case['id']}/notes", json={"text": f"补充：工人新号码 {MOBILE}"})
        assert r.status_code == 201 and r.json()["notes"][-1]["text"] == "补充：工人新号码 [手机号]"
        assert r.json()["text_masked"] == case["text_masked"]  # the saved note itself is never rewritten
        blank = op.post(f"/v1/cases/{case['id']}/notes", json={"text": "   "})
        assert blank.status_code == 422 and _error(blank)["message_zh"]
        assert op.post("/v1/cases/999999/notes", json={"text": "x"}).status_code == 404


def test_my_cases_the_team_queue_and_taking_a_case(api_server: ApiServer) -> None:
    with api_server.client("operator") as op, api_server.client("staff") as st:
        mine = _case(op)
        theirs = _case(st, "滴滴司机账号被封，申诉一周没结果")
        listed = op.get("/v1/cases", params={"mine": "true", "open": "true"}).json()
        ids = {c["id"] for c in listed["items"]}
        assert mine["id"] in ids and theirs["id"] not in ids
        taken = op.post(f"/v1/cases/{theirs['id']}/claim")
        assert taken.status_code == 200 and taken.json()["assignee"] == "t-operator"
        assert "接手" in taken.json()["notes"][-1]["text"]
        queue = op.get("/v1/cases", params={"open": "true", "sort": "priority", "limit": 500}).json()["items"]
        order = {"emergency": 0, "high": 1, "normal": 2, "low": 3}
        assert [order[c["urgency"]] for c in queue] == sorted(order[c["urgency"]] for c in queue)
        assert op.get("/v1/cases", params={"followup": "soon"}).status_code == 422


def test_referral_plans_a_followup_and_its_outcome_is_recorded(api_server: ApiServer) -> None:
    with api_server.client("operator") as op:
        case = _case(op)
        r = op.post(f"/v1/cases/{case['id']}/referrals", json={"target": "legal_aid", "note": "已告知 12348"})
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["status"] == "referred" and body["referral"] == "legal_aid"
        plan = body["followup_plan"][-1]
        assert plan["reason"].startswith("转介后 7 天回访") and not plan["overdue"]
        assert body["next_followup_on"] == plan["due_on"]
        bad = op.post(f"/v1/cases/{case['id']}/referrals", json={"target": "not-a-body"})
        assert bad.status_code == 422 and "转介对象" in _error(bad)["message_zh"]
        rid = body["referrals"][-1]["id"]
        done = op.post(f"/v1/cases/{case['id']}/referrals/{rid}/outcome", json={"outcome": "accepted", "note": "中心已受理"})
        assert done.status_code == 200 and done.json()["referrals"][-1]["outcome"] == "accepted"
        assert op.post(f"/v1/cases/{case['id']}/referrals/999999/outcome", json={"outcome": "accepted"}).status_code == 404
        late = op.post(f"/v1/cases/{case['id']}/followup-plan",
                       json={"due_on": (date.today() - timedelta(days=3)).isoformat(), "reason": "约好的回访"})
        assert late.status_code == 201 and late.json()["followup_overdue"]
        overdue = op.get("/v1/cases", params={"followup": "overdue", "limit": 500}).json()["items"]
        assert case["id"] in {c["id"] for c in overdue}
        fu = op.post(f"/v1/cases/{case['id']}/followups",
                     json={"notes": "工人说还没受理", "next_due": (date.today() + timedelta(days=5)).isoformat()})
        assert fu.status_code == 201 and not fu.json()["followup_overdue"]
        assert op.post(f"/v1/cases/{case['id']}/followup-plan", json={"due_on": "1999-01-01"}).status_code == 422


def test_dispatch_to_an_unknown_platform_is_refused_in_both_languages(api_server: ApiServer) -> None:
    with api_server.client("operator") as op:
        case = _case(op)
        subs = op.get("/v1/platforms").json()["items"]
        assert {s["platform"] for s in subs} >= {"美团", "滴滴"}
        for platform in ("不存在的平台XYZ", f"美团 {MOBILE}"):
            r = op.post(f"/v1/cases/{case['id']}/dispatch", json={"platform": platform, "note": "请核实"})
            err = _error(r)
            assert r.status_code == 422 and err["code"] == "unknown_platform"
            assert "企业分线" in err["message_zh"] and "美团" in err["message_zh"] and MOBILE not in r.text
        ok = op.post(f"/v1/cases/{case['id']}/dispatch", json={"platform": "美团", "note": "请核实押金"})
        assert ok.status_code == 201 and ok.json()["awaiting_reply"] and ok.json()["due_at"]


def test_a_resolved_dispatch_is_read_only_until_reopened(api_server: ApiServer) -> None:
    with api_server.client("operator") as op:
        case = _case(op)
        d = op.post(f"/v1/cases/{case['id']}/dispatch", json={"platform": "美团", "note": "请核实"}).json()
    with api_server.client("enterprise") as ent:
        assert ent.post(f"/v1/dispatches/{d['id']}/reply", json={"reply": "已退还", "status": "resolved"}).status_code == 200
        r = ent.post(f"/v1/dispatches/{d['id']}/reply", json={"reply": "处理中", "status": "in_progress"})
        assert r.status_code == 409 and _error(r)["code"] == "dispatch_closed"
        for reason in ("", "   ", "x" * 1001, "理由\x00"):
            bad = ent.post(f"/v1/dispatches/{d['id']}/reopen", json={"reason": reason})
            assert bad.status_code == 422 and _error(bad)["message_zh"], (reason[:5], bad.text)
        again = ent.post(f"/v1/dispatches/{d['id']}/reopen", json={"reason": f"工人说只退了一半，电话 {MOBILE}"})
        assert again.status_code == 200 and again.json()["status"] == "in_progress"
        assert again.json()["events"][-1]["text"] == "工人说只退了一半，电话 [手机号]"
        twice = ent.post(f"/v1/dispatches/{d['id']}/reopen", json={"reason": "再开"})
        assert twice.status_code == 409 and _error(twice)["code"] == "dispatch_open"
        assert ent.post(f"/v1/dispatches/{d['id']}/reply", json={"reply": "已补退", "status": "resolved"}).status_code == 200
    with api_server.client("operator") as op:  # the hotline can reopen too
        assert op.post(f"/v1/dispatches/{d['id']}/reopen", json={"reason": "工人仍未收到"}).status_code == 200
        seen = op.get(f"/v1/cases/{case['id']}").json()["dispatches"][-1]
        assert [e["kind"] for e in seen["events"]] == ["reply", "reopen", "reply", "reopen"]


def test_the_case_view_is_pushed_live_when_a_platform_replies(api_server: ApiServer) -> None:
    from websockets.sync.client import connect

    with api_server.client("operator") as op:
        case = _case(op)
        d = op.post(f"/v1/cases/{case['id']}/dispatch", json={"platform": "美团", "note": "请核实"}).json()
    url = api_server.url.replace("http://", "ws://") + f"/v1/cases/{case['id']}/live"
    with connect(url, open_timeout=30) as ws:
        ws.send(json.dumps({"type": "auth", "token": api_server.tokens["operator"]}))
        first = json.loads(ws.recv(timeout=30))
        assert first["type"] == "case" and first["case"]["id"] == case["id"]
        with api_server.client("enterprise") as ent:
            ent.post(f"/v1/dispatches/{d['id']}/reply", json={"reply": "已联系站长", "status": "in_progress"})
        pushed = json.loads(ws.recv(timeout=30))
        assert pushed["type"] == "case" and pushed["case"]["dispatches"][-1]["events"][-1]["text"] == "已联系站长"
    for bad in ("abc", "0", "99999999999"):
        with connect(api_server.url.replace("http://", "ws://") + f"/v1/cases/{bad}/live", open_timeout=30) as ws:
            assert json.loads(ws.recv(timeout=30))["code"] == "bad_case_id"
    with connect(api_server.url.replace("http://", "ws://") + "/v1/cases/999999/live", open_timeout=30) as ws:
        ws.send(json.dumps({"type": "auth", "token": api_server.tokens["operator"]}))
        assert json.loads(ws.recv(timeout=30))["code"] == "not_found"


def test_dashboard_operators_see_their_own_staff_the_team(api_server: ApiServer) -> None:
    with api_server.client("operator") as op, api_server.client("staff") as st:
        _case(op)
        mine = op.get("/v1/dashboard", params={"scope": "team"}).json()  # an operator always gets their own
        assert mine["scope"] == "mine" and mine["operator"] == "t-operator"
        team = st.get("/v1/dashboard").json()
        assert team["scope"] == "team" and team["open_cases"]["total"] >= mine["open_cases"]["total"] >= 1
        assert set(team["open_cases"]["by_urgency"]) == {"emergency", "high", "normal", "low"}
        assert len(team["worker_weeks"]) == 12 and {"asked", "answered", "answer_rate", "handoffs"} <= set(team["worker_weeks"][0])
        assert isinstance(team["alerts"], list)
        assert st.get("/v1/dashboard", params={"weeks": 0}).status_code == 422


def test_new_entry_without_slug_gets_its_pinyin_and_the_writer_cannot_approve(api_server: ApiServer) -> None:
    tag = uuid.uuid4().hex[:6]
    title = f"骑手保温箱被扣{tag}"
    content = {"kind": "faq", "title": title, "question": "保温箱被扣了怎么办", "operator_answer": "了解经过，建议协商或报警。",
               "worker_answer": "保温箱是你的，不能扣。", "issue_types": ["access_environment"], "referrals": ["police"]}
    with api_server.client("staff") as st:
        suggested = st.get("/v1/entries/slug", params={"title": title}).json()["slug"]
        assert suggested == slugify(title)
        r = st.post("/v1/entries", json={"content": content})
        assert r.status_code == 201, r.text
        entry = r.json()
        assert entry["slug"] == slugify(title)
        twin = st.post("/v1/entries", json={"content": {**content, "slug": ""}}).json()  # blank: made from the title too
        assert twin["slug"] == slugify(title) + "-2"
        bad = st.post("/v1/entries", json={"content": {**content, "slug": "Not A Slug"}})
        assert bad.status_code == 422 and _error(bad)["details"][0]["loc"][-1] == "slug"
        st.post(f"/v1/entries/{entry['id']}/submit", json={"version": 1})
        own = st.post(f"/v1/entries/{entry['id']}/approve", json={"version": 2})
        assert own.status_code == 422 and "另一位工作人员" in _error(own)["message_zh"]
    with api_server.client("admin") as second:
        assert second.post(f"/v1/entries/{entry['id']}/approve", json={"version": 2}).json()["status"] == "published"


def test_gap_questions_join_an_existing_entry_for_review(api_server: ApiServer) -> None:
    with httpx.Client(base_url=api_server.url, timeout=60) as anon:
        asked = anon.post("/v1/faq/ask", json={"question": f"站长扣我押金不给 {uuid.uuid4().hex[:4]}"}).json()
    with api_server.client("staff") as st:
        near = st.post("/v1/gaps/nearest", json={"question_ids": [asked["answer_id"]]})
        assert near.status_code == 200 and near.json()["entries"], near.text
        target = near.json()["entries"][0]["entry_id"]
        before = st.get(f"/v1/entries/{target}").json()
        r = st.post("/v1/gaps/paraphrases", json={"question_ids": [asked["answer_id"]], "entry_id": target})
        assert r.status_code == 201, r.text
        out = r.json()
        assert out["added"] and out["entry"]["status"] == "draft"
        assert out["entry"]["published_version"] == before["published_version"]  # the published one stays live
        assert st.post("/v1/gaps/nearest", json={"question_ids": [2**31 - 1]}).status_code == 404
        assert st.post("/v1/gaps/paraphrases", json={"question_ids": [asked["answer_id"]], "entry_id": 2**31 - 1}).status_code == 404
        # Put the entry back as published for the other tests sharing this server.
        view = out["entry"]
        view = st.post(f"/v1/entries/{target}/rollback", json={"to_version": view["published_version"], "version": view["version"]}).json()
        view = st.post(f"/v1/entries/{target}/submit", json={"version": view["version"]}).json()
    with api_server.client("admin") as second:
        assert second.post(f"/v1/entries/{target}/approve", json={"version": view["version"]}).status_code == 200


def test_docs_assets_are_served_by_the_app(api_server: ApiServer) -> None:
    with httpx.Client(base_url=api_server.url, timeout=60) as c:
        docs = c.get("/docs").text
        assert "/docs-static/swagger-ui-bundle.js" in docs and "cdn.jsdelivr" not in docs
        redoc = c.get("/redoc").text
        assert "/docs-static/redoc.js" in redoc and "fonts.googleapis" not in redoc
        for path in ("/docs-static/swagger-ui-bundle.js", "/docs-static/swagger-ui.css", "/docs-static/redoc.js"):
            r = c.get(path)
            assert r.status_code == 200 and len(r.content) > 100_000, path
        assert b"cdn.redoc.ly" not in c.get("/docs-static/redoc.js").content
        assert c.get("/v1/channels").status_code == 401
    with api_server.client("operator") as op:
        assert op.get("/v1/channels").json() == {"wechat_receiving": False, "wechat_sending": False}
