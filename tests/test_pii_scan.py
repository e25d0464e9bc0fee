"""Personal data stays out of the server log and the database on every path, the error paths included.

One server is driven through every endpoint that takes text with text full of personal data (a name, a
mobile in several spellings, an ID number with a valid checksum, a bank card passing Luhn, a plate): the
successes, and the 401s, 404s, 409s, 413s and 422s, malformed JSON holding an ID number, a phone number as
a user name, in a query string, in a path and as a bearer token. Then the server is stopped and its log and
every text column of its SQLite database are scanned with triage.pii's own detectors: 0 hits.
"""

from __future__ import annotations

import json
import random
import sqlite3
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROLES, ApiServer, running_server
from tests.pii_audit import ScanReport, personal_data, scan_paths
from tests.pii_generators import card, id18

pytestmark = [pytest.mark.model, pytest.mark.integration]

rng = random.Random(20261129)
ID_NUMBER = id18(rng)
CARD = card(rng)
MOBILE = "13812345678"
PLATE = "粤J·D12345"
SPELLINGS = (MOBILE, "+86 139 8765 4321", "１３７１２３４５６７８", "150-1234-5678")
PII = f"我叫陈小明，电话{SPELLINGS[0]}，也可打{SPELLINGS[1]}或{SPELLINGS[2]}，身份证{ID_NUMBER}，工资卡{CARD}，车牌{PLATE}"
VALUES = (*SPELLINGS, ID_NUMBER, CARD, PLATE)


def test_the_detectors_see_every_value_used_here() -> None:
    # Otherwise a 0 below would prove nothing.
    for value in VALUES:
        assert personal_data(f"x {value} x"), value
    assert {s.kind for s in personal_data(PII)} == {"mobile", "id_card", "bank_card", "plate"}


def test_the_scan_finds_planted_data_and_leaves_order_and_hotline_numbers_alone(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    # A build name is a digest: its eleven-digit run is no phone (stop 30's CI failed on this very line).
    log.write_text(f"INFO ok\nINFO 订单号 240105123456789012 hotline 12351 110 12356 第八十四条 recorded: build-52d13812345678e4"
                   f"\nERROR 电话{MOBILE}\n")
    db = tmp_path / "data" / "jishibang.db"
    db.parent.mkdir()
    con = sqlite3.connect(db)
    con.execute("create table t (id integer primary key, body text, doc json, digest text)")
    # JSON columns hold escaped text ("\\u8eab..."): the scan decodes them.
    con.execute("insert into t (body, doc, digest) values (?, ?, ?)",
                ("运单 SF1234567890123", json.dumps({"note": f"身份证{ID_NUMBER}"}), "a14164970197d3fe9ab0c1d2"))
    con.commit()
    con.close()
    report = scan_paths([log, db.parent])
    print("\n" + report.summary())
    assert report.log_files == 1 and report.lines == 3 and report.databases == 1 and report.rows == 1
    assert sorted(f.kind for f in report.findings) == ["id_card", "mobile"], report.findings
    assert all(MOBILE not in str(f) and ID_NUMBER not in str(f) for f in report.findings)  # the report masks


def test_no_personal_data_in_the_log_or_database_on_any_path(tmp_path_factory: pytest.TempPathFactory,
                                                             local_model_dir: Path) -> None:
    with running_server(tmp_path_factory.mktemp("pii-scan"), local_model_dir,
                        {"JISHIBANG_FAQ_RATE_PER_MINUTE": "1000", "JISHIBANG_LOGIN_RATE_PER_MINUTE": "1000"}) as server:
        statuses = _drive(server)  # the log is complete once the block has ended
    report = ScanReport()
    scan_paths([server.log_path, server.data_dir], report)
    print(f"\n{len(statuses)} requests with personal data: " +
          ", ".join(f"{code} x{n}" for code, n in sorted(_count(statuses).items())))
    print(report.summary())
    assert report.lines > 50 and report.rows > 100 and report.values > 1000
    assert not report.findings, "\n".join(map(str, report.findings[:40]))


def _count(statuses: list[int]) -> dict[int, int]:
    out: dict[int, int] = {}
    for s in statuses:
        out[s] = out.get(s, 0) + 1
    return out


def _drive(server: ApiServer) -> list[int]:
    """Every text-taking endpoint with personal data, on the paths that succeed and on those that fail."""
    seen: list[int] = []

    def call(client: httpx.Client, method: str, path: str, expect: int | tuple[int, ...], **kw: object) -> httpx.Response:
        r = client.request(method, path, **kw)  # type: ignore[arg-type]
        seen.append(r.status_code)
        expected = expect if isinstance(expect, tuple) else (expect,)
        assert r.status_code in expected, (method, path, r.status_code, r.text[:300])
        if r.status_code < 300 and r.headers.get("content-type", "").startswith("application/json"):
            for value in VALUES:  # nothing comes back unmasked either
                assert value not in r.text, (method, path, value)
        return r

    raw = {"Content-Type": "application/json"}
    too_long = PII + "。" + "押" * 5000
    with server.client("operator") as op, server.client("staff") as st, server.client("admin") as ad, \
            server.client("enterprise") as ent, httpx.Client(base_url=server.url, timeout=60) as anon:
        # --- operators: triage, suggest, search --------------------------------------------------------
        for path, field in (("/v1/triage", "text"), ("/v1/suggest", "text"), ("/v1/search", "query")):
            call(op, "POST", path, 200, json={field: PII})
            call(op, "POST", path, 422, json={field: too_long})
            call(op, "POST", path, 422, json={field: PII + "\x00"})
            call(op, "POST", path, 400, content=f'{{"{field}": "{PII}'.encode(), headers=raw)  # malformed JSON
            call(anon, "POST", path, 401, json={field: PII})
            call(ent, "POST", path, 403, json={field: PII})
        # --- workers -------------------------------------------------------------------------------------
        answer = call(anon, "POST", "/v1/faq/ask", 200, json={"question": PII}).json()
        call(anon, "POST", "/v1/faq/ask", 422, json={"question": PII * 30})
        call(anon, "POST", "/v1/faq/ask", 422, json={"question": PII, "phone": MOBILE})
        call(anon, "POST", "/v1/faq/feedback", 201, json={"answer_id": answer["answer_id"], "helpful": False})
        # A hand-off: the call-back number is kept only sealed, the note is masked; a bad number is refused.
        call(anon, "POST", "/v1/faq/handoff", 201, json={"answer_id": answer["answer_id"], "callback": MOBILE,
                                                          "note": PII})
        call(anon, "POST", "/v1/faq/handoff", 422, json={"answer_id": answer["answer_id"], "callback": f"{MOBILE}x"})
        call(anon, "POST", "/v1/faq/feedback", 404, json={"answer_id": 2**31 - 1, "helpful": True})
        call(anon, "POST", "/v1/faq/feedback", 400, content=f'{{"answer_id": 1, "note": "{ID_NUMBER}"'.encode(), headers=raw)
        call(anon, "POST", "/v1/faq/feedback", 422, json={"answer_id": ID_NUMBER, "helpful": True})
        # --- cases ---------------------------------------------------------------------------------------
        case = call(op, "POST", "/v1/cases", 201, json={"text": PII, "channel": "wechat", "call_id": "pii-call-1"}).json()
        cid = case["id"]
        call(op, "POST", "/v1/cases", 422, json={"text": PII, "call_id": MOBILE})  # a phone number as call id
        call(op, "POST", "/v1/cases", 422, json={"text": PII, "call_id": "pii-call-1"})  # taken
        call(op, "POST", "/v1/cases", 422, json={"text": PII, "issue_types": [PII[:40]]})
        call(op, "PATCH", f"/v1/cases/{cid}", 422, json={"referral": MOBILE})
        call(op, "PATCH", "/v1/cases/999999", 404, json={"status": "closed"})
        call(op, "POST", f"/v1/cases/{cid}/followups", 201, json={"notes": PII, "accepted": True})
        call(op, "POST", "/v1/cases/999999/followups", 404, json={"notes": PII})
        call(op, "POST", f"/v1/cases/{cid}/consultations", 201,
             json={"bodies": [f"人社局 联系人{MOBILE}"], "actions": [PII], "follow_up_by": f"张科长 {MOBILE}", "notes": PII})
        d = call(op, "POST", f"/v1/cases/{cid}/dispatch", 201, json={"platform": "美团", "note": PII}).json()
        call(op, "POST", f"/v1/cases/{cid}/dispatch", 422, json={"platform": f"美团 {MOBILE}", "note": PII})  # no such sub-line
        call(op, "POST", "/v1/cases/999999/dispatch", 404, json={"platform": "美团", "note": PII})
        call(ent, "POST", f"/v1/dispatches/{d['id']}/reply", 200, json={"reply": PII, "status": "resolved"})
        call(ent, "POST", "/v1/dispatches/999999/reply", 404, json={"reply": PII})
        with server.client("enterprise_b") as other:
            call(other, "POST", f"/v1/dispatches/{d['id']}/reply", 404, json={"reply": PII})
        call(ent, "GET", f"/v1/cases/{cid}", 200)
        call(op, "GET", f"/v1/cases/{cid}", 200)
        call(op, "GET", "/v1/cases", 200, params={"issue_type": MOBILE})
        call(op, "POST", "/v1/feedback", 201, json={"event": "corrected", "case_id": cid, "query": PII,
                                                    "corrected_issue_types": ["deposit_refund"]})
        call(op, "POST", "/v1/feedback", 422, json={"event": "corrected", "case_id": cid, "query": PII})
        call(op, "POST", "/v1/feedback", 404, json={"event": "shown", "entry_id": 999999, "query": PII})
        # --- staff: entries, gaps ------------------------------------------------------------------------
        content = {"slug": "pii-scan-entry", "kind": "faq", "title": "押金不退怎么办", "question": "押金不退怎么办？",
                   "operator_answer": "先问清楚收款方。", "worker_answer": "先留好收据。", "issue_types": ["deposit_refund"]}
        for field, value in (("title", f"押金 {MOBILE}"), ("worker_answer", f"联系 {PII}"), ("steps", [f"报 {PLATE}"])):
            r = call(st, "POST", "/v1/entries", 422, json={"content": {**content, field: value}})
            assert r.json()["error"]["code"] == "personal_data", r.text
        entry = call(st, "POST", "/v1/entries", 201, json={"content": content, "comment": PII}).json()
        call(st, "POST", "/v1/entries", 409, json={"content": content, "comment": PII})
        call(st, "PUT", f"/v1/entries/{entry['id']}", 422, json={"version": 1, "content": {**content, "question": PII}})
        call(st, "PUT", f"/v1/entries/{entry['id']}", 409,
             json={"version": 7, "content": {**content, "question": "押金"}, "comment": PII})
        call(st, "POST", f"/v1/entries/{entry['id']}/flag", 200, json={"version": 1, "comment": PII})
        call(st, "POST", f"/v1/entries/{entry['id']}/reject", 422, json={"version": 2, "comment": PII})
        line = json.dumps({**content, "slug": "pii-scan-import", "operator_answer": PII}, ensure_ascii=False)
        call(st, "POST", "/v1/entries/import", 422, content=line.encode(), headers={"Content-Type": "application/x-ndjson"})
        call(st, "GET", "/v1/entries", 200, params={"q": ID_NUMBER})
        call(st, "POST", "/v1/gaps/draft", 422, json={"question_ids": [answer["answer_id"]], "title": f"待答 {MOBILE}"})
        call(st, "POST", "/v1/gaps/draft", 201, json={"question_ids": [answer["answer_id"]]})
        call(st, "POST", "/v1/gaps/draft", 404, json={"question_ids": [2**31 - 1], "title": PII[:100]})
        call(st, "GET", "/v1/gaps", 200)
        call(st, "GET", "/v1/admin/audit", 200, params={"actor": MOBILE, "target": f"user:{ID_NUMBER}"})
        # --- admin: users and keys -----------------------------------------------------------------------
        call(ad, "POST", "/v1/admin/users", 422, json={"name": MOBILE, "role": "operator", "password": "a-long-password"})
        call(ad, "POST", "/v1/admin/users", 422, json={"name": ID_NUMBER, "role": "operator", "password": "a-long-password"})
        call(ad, "POST", "/v1/admin/users", 422, json={"name": "t-ent-x", "role": "enterprise", "platform": MOBILE,
                                                       "password": "a-long-password"})
        call(ad, "POST", "/v1/admin/users", 201, json={"name": "t-pii-ok", "role": "operator", "password": ID_NUMBER})
        call(ad, "POST", f"/v1/admin/users/{MOBILE}/disable", 404)
        call(ad, "POST", "/v1/admin/keys", 201, json={"role": "operator", "label": f"给 {PII[:60]}"})
        call(ad, "GET", "/v1/admin/keys", 200)
        call(ad, "GET", "/v1/admin/users", 200)
        # --- sign-in failures --------------------------------------------------------------------------
        call(anon, "POST", "/v1/auth/login", 401, json={"name": MOBILE, "password": ID_NUMBER})
        call(anon, "POST", "/v1/auth/login", 401, json={"name": ROLES["operator"][0], "password": PII[:200]})
        call(anon, "POST", "/v1/auth/login", 422, json={"name": PII, "password": "x"})
        call(anon, "POST", "/v1/auth/login", 400, content=f'{{"name": "{MOBILE}", "password": "{ID_NUMBER}"'.encode(),
             headers=raw)
        call(anon, "GET", "/v1/auth/me", 401, headers={"Authorization": f"Bearer {MOBILE}"})
        call(anon, "GET", "/v1/auth/me", 401, headers={"Authorization": f"Bearer jsk_{ID_NUMBER}"})
        # --- a body over the limit ------------------------------------------------------------------------
        call(op, "POST", "/v1/cases", 413, content=json.dumps({"text": PII * 3000}).encode(), headers=raw)
    _live(server)
    return seen


def _live(server: ApiServer) -> None:
    """The live socket: a note full of personal data, on a call id that is a phone number."""
    from websockets.sync.client import connect

    for call_id in (MOBILE, "pii-live"):
        with connect(server.url.replace("http://", "ws://") + f"/v1/calls/{call_id}/live", open_timeout=30) as ws:
            ws.send(json.dumps({"type": "auth", "token": server.tokens["operator"]}))
            assert json.loads(ws.recv(timeout=30))["type"] == "ready"
            ws.send(json.dumps({"type": "note", "seq": 1, "text": PII}))
            reply = ws.recv(timeout=60)
            assert json.loads(reply)["type"] == "update"
            assert not any(v in reply for v in VALUES), reply[:300]
