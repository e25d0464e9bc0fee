"""The /v1 API over real HTTP against the real app (temporary SQLite file, real models): one test per
outcome, the edit conflict under concurrency, the WebSocket flow, and personal data kept out of storage.
Tests that write records take the `server` fixture and run on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import random
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.conftest import running_server
from tests.pii_generators import card, id18

ID_NUMBER = id18(random.Random(7))  # valid GB 11643 checksum
CARD_NUMBER = card(random.Random(7))  # valid Luhn

pytestmark = [pytest.mark.model, pytest.mark.integration]

DEPOSIT = "我在美团跑外卖，租电动车交了800元押金，退车一个月了站长还不退，电话13812345678"
# A note the seeded knowledge base answers with confidence (the employer kept a deposit).
KNOWN = "入职时站点收了500元押金，现在离职了站长不退，电话13812345678"


def _error(r: httpx.Response) -> dict:
    body = r.json()
    assert set(body) == {"error"}, body
    err = body["error"]
    assert err["message"] and err["message_zh"], err  # a reason in English and in Chinese
    return err


def _published_entry(c: httpx.Client) -> dict:
    items = c.get("/v1/entries", params={"status": "published", "kind": "faq", "limit": 1}).json()["items"]
    return c.get(f"/v1/entries/{items[0]['id']}").json()


# --- 200s: what operators and workers get ---------------------------------------------------------

def test_triage_returns_masked_text_labels_and_referrals(api_server) -> None:
    with api_server.client("operator") as c:
        r = c.post("/v1/triage", json={"text": DEPOSIT})
    assert r.status_code == 200, r.text
    body = r.json()
    assert "13812345678" not in body["text_masked"] and "[手机号]" in body["text_masked"]
    assert "deposit_refund" in body["labels"]
    assert body["referrals"] and body["referrals"][0]["contact"]
    assert "美团" in body["entities"]["platforms"]


def test_suggest_gives_replies_with_sources_and_the_referral_card(api_server) -> None:
    with api_server.client("operator") as c:
        r = c.post("/v1/suggest", json={"text": KNOWN})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["no_good_answer"] is False, body["reason"]
    assert body["suggestions"][0]["good_enough"] is True
    top = body["suggestions"][0]
    assert top["reply"] and top["as_of"] and top["entry_id"] > 0
    assert top["legal_basis"], "a suggested reply cites its legal basis"
    assert "deposit_refund" in c_types(top, api_server)
    assert body["referral"]["target"] and body["referral"]["evidence"]


def c_types(suggestion: dict, api_server) -> list[str]:
    with api_server.client("staff") as c:
        return c.get(f"/v1/entries/{suggestion['entry_id']}").json()["issue_types"]


def test_suggest_says_plainly_when_nothing_fits(api_server) -> None:
    with api_server.client("operator") as c:
        body = c.post("/v1/suggest", json={"text": "红烧肉怎么做才好吃，要放几勺糖"}).json()
    assert body["no_good_answer"] is True and body["reason"] and body["tier"] == "none" and body["banner"] is True


def test_faq_answers_from_published_entries_in_the_worker_voice(api_server) -> None:
    r = httpx.post(f"{api_server.url}/v1/faq/ask", json={"question": "骑手账号被封了三天，申诉一直没回复，怎么办"}, timeout=60)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["answered"] and body["answer"]["text"] and body["answer"]["where_to_go"]
    assert body["contact"]["hotline"]
    # the worker answer, not the operator's
    with api_server.client("staff") as c:
        entry = c.get(f"/v1/entries/{body['answer']['entry_id']}").json()
    assert body["answer"]["text"] == entry["content"]["worker_answer"] or entry["published_version"] != entry["version"]
    helpful = httpx.post(f"{api_server.url}/v1/faq/feedback", json={"answer_id": body["answer_id"], "helpful": True})
    assert helpful.status_code == 201, helpful.text


def test_faq_emergency_gets_emergency_numbers_first(api_server) -> None:
    body = httpx.post(f"{api_server.url}/v1/faq/ask", json={"question": "我同事送餐被车撞了，现在倒在地上流了很多血"},
                      timeout=60).json()
    assert body["emergency"] is True
    assert [c["number"] for c in body["emergency_contacts"]][:2] == ["120", "110"]  # an injury now: 120 first


def test_faq_without_a_good_answer_gives_the_hotline_instead(api_server) -> None:
    body = httpx.post(f"{api_server.url}/v1/faq/ask", json={"question": "股票明天会涨吗"}, timeout=60).json()
    assert body["answered"] is False and body["answer"] is None
    assert body["message"] and body["contact"]["hotline"]


# --- cases, follow-up, dispatch, consultation, feedback ------------------------------------------

def test_case_lifecycle_with_followup_dispatch_and_consultation(server) -> None:
    with server.client("operator") as op:
        r = op.post("/v1/cases", json={"text": DEPOSIT + f"，身份证{ID_NUMBER}", "channel": "wechat", "call_id": "c-life-1"})
        assert r.status_code == 201, r.text
        case = r.json()
        assert "13812345678" not in case["text_masked"] and ID_NUMBER not in case["text_masked"]
        assert case["platform"] == "美团" and case["referral"]
        fb = op.post("/v1/feedback", json={"event": "corrected", "case_id": case["id"], "query": DEPOSIT,
                                           "corrected_issue_types": ["deposit_refund", "pay_settlement"]})
        assert fb.status_code == 201, fb.text
        d = op.post(f"/v1/cases/{case['id']}/dispatch", json={"platform": "美团", "note": "请站点核实押金"}).json()
    with server.client("enterprise") as ent:
        queue = ent.get("/v1/enterprise/queue").json()
        assert any(item["id"] == d["id"] for item in queue)
        r = ent.post(f"/v1/dispatches/{d['id']}/reply", json={"reply": "已联系站长，三日内退还", "status": "resolved"})
        assert r.status_code == 200, r.text
        assert ent.get(f"/v1/cases/{case['id']}").status_code == 200
    with server.client("enterprise_b") as other:  # another platform never sees it
        assert other.get(f"/v1/cases/{case['id']}").status_code == 404
        assert all(item["case_id"] != case["id"] for item in other.get("/v1/enterprise/queue").json())
        assert other.post(f"/v1/dispatches/{d['id']}/reply", json={"reply": "x"}).status_code == 404
    with server.client("operator") as op:
        r = op.post(f"/v1/cases/{case['id']}/consultations",
                    json={"bodies": ["人社局劳动保障监察", "市场监管"], "actions": ["约谈站点"], "follow_up_by": "工会律师"})
        assert r.status_code == 201, r.text
        r = op.post(f"/v1/cases/{case['id']}/followups", json={"accepted": True, "resolved": True, "amount_recovered": 800,
                                                                 "notes": "已退押金，回访电话13812345678"})
        full = r.json()
    assert full["dispatches"][0]["reply"] == "已联系站长，三日内退还" and full["dispatches"][0]["status"] == "resolved"
    assert full["consultations"][0]["bodies"] == ["人社局劳动保障监察", "市场监管"]
    assert full["followups"][0]["amount_recovered"] == 800 and "13812345678" not in full["followups"][0]["notes"]
    assert full["status"] == "closed"
    assert full["feedback"][0]["corrected_issue_types"] == ["deposit_refund", "pay_settlement"]


def test_nothing_stored_holds_personal_data(api_server) -> None:
    with api_server.client("operator") as op:
        op.post("/v1/cases", json={"text": f"我叫张三，手机 139-1234-5678，车牌粤J12345，卡号{CARD_NUMBER} 工资没发"})
        op.post("/v1/suggest", json={"text": "电话 13912345678 工资被扣了"})
    httpx.post(f"{api_server.url}/v1/faq/ask", json={"question": "我的手机13712345678被封号了怎么办"}, timeout=60)
    db = sqlite3.connect(api_server.data_dir / "jishibang.db")
    dump = "\n".join(db.iterdump())
    db.close()
    for secret in ("13912345678", "1234-5678", "粤J12345", CARD_NUMBER, ID_NUMBER, "13712345678", "13812345678"):
        assert secret not in dump
    log = api_server.log_path.read_text()
    for secret in ("13912345678", "13712345678", "13812345678"):
        assert secret not in log


# --- staff: entries, versions, workflow ----------------------------------------------------------

def _new_entry(c: httpx.Client, slug: str) -> dict:
    content = {"slug": slug, "kind": "faq", "title": "测试条目", "question": "测试问题是什么",
               "operator_answer": "接线员答复", "worker_answer": "给工人的答复", "issue_types": ["legal_consult"],
               "referrals": ["union_lawyer"]}
    r = c.post("/v1/entries", json={"content": content})
    assert r.status_code == 201, r.text
    assert r.headers["etag"] == '"1"'
    return r.json()


def test_stale_edit_gets_409_and_stale_if_match_gets_412(server) -> None:
    with server.client("staff") as c:
        e = _new_entry(c, "api-stale-edit")
        content = e["content"]
        ok = c.put(f"/v1/entries/{e['id']}", json={"version": 1, "content": {**content, "title": "第二版"}})
        assert ok.status_code == 200 and ok.json()["version"] == 2
        stale = c.put(f"/v1/entries/{e['id']}", json={"version": 1, "content": {**content, "title": "被覆盖?"}})
        assert stale.status_code == 409
        assert _error(stale)["details"]["current"] == 2
        pre = c.put(f"/v1/entries/{e['id']}", json={"content": {**content, "title": "被覆盖?"}}, headers={"If-Match": '"1"'})
        assert pre.status_code == 412
        missing = c.put(f"/v1/entries/{e['id']}", json={"content": content})
        assert missing.status_code == 428
        assert c.get(f"/v1/entries/{e['id']}").json()["title"] == "第二版"


def test_concurrent_editors_exactly_one_wins(server) -> None:
    with server.client("staff") as c:
        e = _new_entry(c, "api-concurrent")
    barrier = threading.Barrier(6)

    def edit(i: int) -> int:
        with server.client("staff") as c:
            barrier.wait()
            return c.put(f"/v1/entries/{e['id']}", json={"version": 1, "content": {**e["content"], "title": f"编辑者{i}"}}).status_code

    with ThreadPoolExecutor(6) as pool:
        codes = sorted(pool.map(edit, range(6)))
    assert codes == [200] + [409] * 5
    with server.client("staff") as c:
        history = c.get(f"/v1/entries/{e['id']}/history").json()
    assert [h["version"] for h in history] == [1, 2]


def test_workflow_history_diff_rollback_and_audit(server) -> None:
    with server.client("staff") as c:
        e = _new_entry(c, "api-workflow")
        v2 = c.put(f"/v1/entries/{e['id']}", json={"version": 1, "content": {**e["content"], "worker_answer": "改过的答复"}}).json()
        d = c.get(f"/v1/entries/{e['id']}/diff", params={"a": 1, "b": 2}).json()
        assert list(d["changes"]) == ["worker_answer"]
        sub = c.post(f"/v1/entries/{e['id']}/submit", json={"version": v2["version"]})
        assert sub.status_code == 200 and sub.json()["status"] == "in_review"
        queue = c.get("/v1/entries", params={"status": "in_review"}).json()["items"]
        assert any(i["id"] == e["id"] for i in queue)
        no_comment = c.post(f"/v1/entries/{e['id']}/reject", json={"version": 3})
        assert no_comment.status_code == 422 and _error(no_comment)["code"] == "workflow"
        assert "退回须填写理由" in _error(no_comment)["message_zh"]
        rej = c.post(f"/v1/entries/{e['id']}/reject", json={"version": 3, "comment": "答复要写清证据"})
        assert rej.json()["status"] == "draft"
        rb = c.post(f"/v1/entries/{e['id']}/rollback", json={"to_version": 1, "version": 4})
        assert rb.status_code == 200 and rb.json()["content"]["worker_answer"] == "给工人的答复"
        c.post(f"/v1/entries/{e['id']}/submit", json={"version": 5})
        own = c.post(f"/v1/entries/{e['id']}/approve", json={"version": 6})  # its writer may not publish it
        assert own.status_code == 422 and "另一位工作人员" in _error(own)["message_zh"]
        with server.client("admin") as second:
            pub = second.post(f"/v1/entries/{e['id']}/approve", json={"version": 6})
        assert pub.status_code == 200 and pub.json()["published_version"] == 7
        actions = [h["action"] for h in c.get(f"/v1/entries/{e['id']}/history").json()]
        assert actions == ["create", "edit", "submit", "reject", "rollback", "submit", "approve"]
        audit = c.get("/v1/admin/audit", params={"target": f"entry:{e['id']}"}).json()
        assert [a["action"] for a in reversed(audit)] == ["create", "edit", "submit", "reject", "rollback", "submit", "approve"]
        assert [a["actor"] for a in reversed(audit)] == ["t-staff"] * 6 + ["t-admin"]


def test_export_and_import_round_trip(server) -> None:
    with server.client("staff") as c:
        jsonl = c.get("/v1/entries/export", params={"format": "jsonl", "status": "published"})
        assert jsonl.status_code == 200 and jsonl.headers["content-type"].startswith("application/x-ndjson")
        first = json.loads(jsonl.text.splitlines()[0])
        first.update(slug="api-imported", title="导入的条目")
        r = c.post("/v1/entries/import", params={"format": "jsonl"}, content=json.dumps(first, ensure_ascii=False).encode(),
                   headers={"Content-Type": "application/x-ndjson"})
        assert r.status_code == 200, r.text
        assert r.json()["created"] == 1
        bad = c.post("/v1/entries/import", params={"format": "jsonl"}, content=b'{"slug": "x"}\nnot json\n')
        assert bad.status_code == 422 and [d["line"] for d in _error(bad)["details"]] == [1, 2]
        csv = c.get("/v1/entries/export", params={"format": "csv"})
        assert csv.status_code == 200 and csv.text.startswith("slug") or "slug" in csv.text.splitlines()[0]


def test_gaps_cluster_unanswered_questions_into_a_draft(server) -> None:
    for q in ("电动车换电柜押金怎么退", "换电柜的押金退不了怎么办", "换电押金不给退", "夜里送外卖路灯坏了很黑"):
        httpx.post(f"{server.url}/v1/faq/ask", json={"question": q}, timeout=60)
    with server.client("staff") as c:
        gaps = c.get("/v1/gaps").json()
        assert gaps["questions"] >= 1 and gaps["clusters"]
        cluster = gaps["clusters"][0]
        assert cluster["count"] >= 1 and cluster["terms"]
        r = c.post("/v1/gaps/draft", json={"question_ids": cluster["question_ids"]})
        assert r.status_code == 201, r.text
        draft = r.json()
        assert draft["status"] == "draft" and draft["content"]["question"] in cluster["examples"]
        again = c.get("/v1/gaps").json()
        assert all(set(cl["question_ids"]).isdisjoint(cluster["question_ids"]) for cl in again["clusters"])


def test_stats_count_cases(server) -> None:
    with server.client("operator") as op:
        op.post("/v1/cases", json={"text": "江海区的骑手被小区保安拦着不让进", "channel": "phone"})
    with server.client("staff") as c:
        s = c.get("/v1/stats", params={"days": 30, "interval": "day"}).json()
    assert s["cases"] >= 1 and s["totals"]["channel"]["phone"] >= 1
    assert s["series"]["issue_type"] and "referral_outcomes" in s and "top_entries" in s


# --- the error outcomes --------------------------------------------------------------------------

def test_401_without_or_with_a_bad_token(api_server) -> None:
    r = httpx.post(f"{api_server.url}/v1/triage", json={"text": DEPOSIT})
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert _error(r)["code"] == "unauthorized"
    bad = httpx.post(f"{api_server.url}/v1/triage", json={"text": DEPOSIT}, headers={"Authorization": "Bearer jst_nope"})
    assert bad.status_code == 401
    wrong = httpx.post(f"{api_server.url}/v1/auth/login", json={"name": "t-staff", "password": "wrong-password"})
    assert wrong.status_code == 401


def test_403_for_the_wrong_role(api_server) -> None:
    with api_server.client("operator") as op:
        assert op.post("/v1/entries", json={"content": {}}).status_code in (403,)
        assert op.get("/v1/admin/users").status_code == 403
    with api_server.client("enterprise") as ent:
        r = ent.post("/v1/suggest", json={"text": DEPOSIT})
        assert r.status_code == 403 and _error(r)["code"] == "forbidden"
    with api_server.client("staff") as st:
        assert st.post("/v1/admin/keys", json={"role": "admin"}).status_code == 403


def test_404_for_missing_records_and_routes(api_server) -> None:
    with api_server.client("staff") as c:
        assert _error(c.get("/v1/entries/999999"))["code"] == "not_found"
        assert c.get("/v1/cases/999999").status_code == 404
        assert c.get("/v1/no-such-route").status_code == 404


def test_413_for_a_body_over_the_limit(api_server) -> None:
    with api_server.client("operator") as c:
        r = c.post("/v1/triage", content=b'{"text": "' + b"a" * 400_000 + b'"}', headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and _error(r)


@pytest.mark.parametrize("payload, code", [
    (b'{"text": ""}', 422),
    (b'{"text": "   "}', 422),
    (b'{"text": "\\u0000\\u0001abc"}', 422),
    (b'{"text": 42}', 422),
    (b'{"text": "ok", "extra": 1}', 422),
    (b'{"text": "' + "长".encode() * 5001 + b'"}', 422),
    (b'{"text": "\xff\xfe broken"}', 400),
    (b'{not json', 400),
    (b"[" * 50 + b"]" * 50, 422),
    (b'{"text": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", 400),
])
def test_bad_input_gets_a_clear_4xx(api_server, payload: bytes, code: int) -> None:
    with api_server.client("operator") as c:
        r = c.post("/v1/triage", content=payload, headers={"Content-Type": "application/json"})
    assert r.status_code == code, r.text
    err = _error(r)
    assert "Traceback" not in r.text and "13812345678" not in r.text
    assert err["code"]


def test_wrong_content_type_is_a_4xx(api_server) -> None:
    with api_server.client("operator") as c:
        r = c.post("/v1/triage", content="text=hello", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert 400 <= r.status_code < 500 and _error(r)


def test_429_with_retry_after_when_a_worker_asks_too_fast(tmp_path, local_model_dir) -> None:
    with running_server(tmp_path, local_model_dir, {"JISHIBANG_FAQ_RATE_PER_MINUTE": "3"}) as server:
        codes = [httpx.post(f"{server.url}/v1/faq/ask", json={"question": "押金不退怎么办"}, timeout=60) for _ in range(4)]
    assert [r.status_code for r in codes] == [200, 200, 200, 429]
    assert int(codes[-1].headers["retry-after"]) >= 1
    assert _error(codes[-1])["code"] == "rate_limited"


# --- API keys and sign-out ------------------------------------------------------------------------

def test_api_key_from_admin_works_and_sign_out_revokes_the_token(api_server) -> None:
    with api_server.client("admin") as admin:
        key = admin.post("/v1/admin/keys", json={"role": "operator", "label": "crm"}).json()["key"]
    r = httpx.post(f"{api_server.url}/v1/triage", json={"text": DEPOSIT}, headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200
    token = httpx.post(f"{api_server.url}/v1/auth/login", json={"name": "t-operator", "password": "correct-horse-battery"}).json()["token"]
    h = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{api_server.url}/v1/auth/me", headers=h).json()["role"] == "operator"
    assert httpx.post(f"{api_server.url}/v1/auth/logout", headers=h).status_code == 204
    assert httpx.get(f"{api_server.url}/v1/auth/me", headers=h).status_code == 401


# --- live assist ---------------------------------------------------------------------------------

def test_live_websocket_pushes_only_changes_and_keeps_up(api_server) -> None:
    from websockets.sync.client import connect

    ws_url = api_server.url.replace("http", "ws") + "/v1/calls/call-42/live"
    with connect(ws_url) as ws:
        ws.send(json.dumps({"type": "auth", "token": api_server.tokens["operator"]}))
        assert json.loads(ws.recv(timeout=30))["type"] == "ready"
        # A fast typist: every prefix of the note, sent without waiting.
        for i in range(1, len(DEPOSIT) + 1):
            ws.send(json.dumps({"type": "note", "seq": i, "text": DEPOSIT[:i]}))
        frames = []
        while True:
            frame = json.loads(ws.recv(timeout=60))
            frames.append(frame)
            if frame.get("seq") == len(DEPOSIT):
                break
        updates = [f for f in frames if f["type"] == "update"]
        assert updates, frames
        # Coalesced: far fewer analyses than keystrokes, and the last one is for the whole note.
        assert len(frames) < len(DEPOSIT) / 2
        final: dict = {}
        for u in updates:
            final.update({k: u[k] for k in u["changed"]})
        assert "deposit_refund" in final["triage"]["labels"]
        assert final["suggestions"]
        # The same note again: nothing is re-sent.
        ws.send(json.dumps({"type": "note", "seq": 999, "text": DEPOSIT}))
        assert json.loads(ws.recv(timeout=30)) == {"type": "unchanged", "seq": 999}
        ws.send("not json")
        assert json.loads(ws.recv(timeout=30))["code"] == "bad_frame"
        ws.send(json.dumps({"type": "note", "seq": 1000, "text": ""}))
        assert json.loads(ws.recv(timeout=30))["type"] == "error"


def test_live_websocket_refuses_without_a_valid_operator_token(api_server) -> None:
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    ws_url = api_server.url.replace("http", "ws") + "/v1/calls/c1/live"
    for token, code in ((None, 4401), ("jst_bad", 4401), (api_server.tokens["enterprise"], 4403)):
        with connect(ws_url) as ws:
            ws.send(json.dumps({"type": "auth", "token": token}))
            assert json.loads(ws.recv(timeout=30))["type"] == "error"
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=30)
            assert closed.value.rcvd.code == code


def test_openapi_bounds_every_request_field(api_server) -> None:
    spec = httpx.get(f"{api_server.url}/openapi.json").json()
    schemas = spec["components"]["schemas"]
    names: set[str] = set()

    def refs(node: object) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if ref and ref.split("/")[-1] not in names:
                names.add(ref.split("/")[-1])
                refs(schemas[ref.split("/")[-1]])
            for v in node.values():
                refs(v)
        elif isinstance(node, list):
            for v in node:
                refs(v)

    def bounded_string(v: dict) -> bool:  # a format (date, date-time) bounds the length too
        return v.get("type") != "string" or bool({"maxLength", "enum", "const", "format"} & set(v))

    unbounded = []
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            refs(op.get("requestBody", {}))
            for p in op.get("parameters", []):
                for v in p["schema"].get("anyOf", [p["schema"]]):
                    if not bounded_string(v):
                        unbounded.append(f"{method} {path} {p['name']}")
    assert {"TextRequest", "EntryContent", "CaseCreate", "AskRequest"} <= names

    for name in names:
        for field, prop in schemas[name].get("properties", {}).items():
            for v in prop.get("anyOf", [prop]):
                if v.get("type") == "array":
                    if "maxItems" not in v or not bounded_string(v.get("items", {})):
                        unbounded.append(f"{name}.{field}[]")
                elif not bounded_string(v):
                    unbounded.append(f"{name}.{field}")
    assert not unbounded, unbounded


def test_cli_users_and_keys_work_against_the_running_service(api_server) -> None:
    from tests.conftest import run_cli

    env = {"JISHIBANG_DATA_DIR": str(api_server.data_dir)}
    made = run_cli("keys", "add", "--role", "enterprise", "--platform", "滴滴", "--label", "didi sub-line", env=env)
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip().splitlines()[-1]
    assert key.startswith("jsk_")
    me = httpx.get(f"{api_server.url}/v1/auth/me", headers={"Authorization": f"Bearer {key}"}).json()
    assert me == {"name": me["name"], "role": "enterprise", "platform": "滴滴", "via": "key"}
    dup = run_cli("users", "add", "t-staff", "--role", "staff", "--password", "another-password", env=env)
    assert dup.returncode == 1 and "already exists" in dup.stderr
    bad = run_cli("users", "add", "x", "--role", "boss", "--password", "another-password", env=env)
    assert bad.returncode == 1 and bad.stderr.startswith("error:")
