"""A corpus of bad and awkward input against every endpoint that takes text, over real HTTP (and the live
WebSocket), on one server: never a 5xx. Input nobody should send (empty, 1 MB, a 10,000-character token,
control characters, invalid UTF-8, JSON nested 10,000 deep, the wrong content type, JSON that is not an
object) gets a 4xx in the one error shape with a reason in English and Chinese. Legitimate text (emoji and
combining marks, traditional Chinese, mixed English, SQL and HTML/JS injection strings) gets a 2xx and is
stored and echoed exactly as sent: injection strings stay text.

Prints a table: endpoint x input -> status.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ROLES, ApiServer, running_server

pytestmark = [pytest.mark.model, pytest.mark.integration]

# --- the corpus -----------------------------------------------------------------------------------

SQL = "'; DROP TABLE cases; -- \" OR 1=1; SELECT * FROM users WHERE name = '' OR ''=''"
HTML = "<script>alert(1)</script><img src=x onerror=alert(1)>\"><svg onload=alert(1)>"
TEXTS: dict[str, str] = {
    "empty": "",
    "blank": "  \t\n  \u3000 ",
    "1MB": "押" * 350_000,  # 1.05 MB of UTF-8
    "token10k": "x" * 10_000,
    "control": "押金\x00不退\x07\x1b[31m",
    "emoji": "押金不退😡🛵👨‍👩‍👧 café ñ e\u0301 a\u0308 Z\u0351\u0352",
    "trad": "我喺蓬江跑美團眾包，站長收咗我800蚊押金，辭職之後唔肯退，點算好？",
    "english": "My deposit of 800 RMB was not refunded by the 美团 station manager after I quit last month",
    "sql": SQL,
    "html": HTML,
}
LEGIT = ("emoji", "trad", "english", "sql", "html")
# Whole bodies instead of a field value: (bytes, content type).
NESTED = "[" * 10_000 + "]" * 10_000
RAW: dict[str, tuple[bytes, str]] = {
    "badutf8": (b'{"text": "\xff\xfe\xfd \xc3\x28"}', "application/json"),
    "nested": (NESTED.encode(), "application/json"),
    "nestedfield": (('{"text": ' + NESTED + "}").encode(), "application/json"),
    "truncated": (b'{"text": "abc', "application/json"),
    "plain": (b'{"text": "abc"}', "text/plain"),
    "form": (b"text=abc", "application/x-www-form-urlencoded"),
    "array": (b'["abc"]', "application/json"),
    "string": (b'"abc"', "application/json"),
    "null": (b"null", "application/json"),
}
COLUMNS = [*TEXTS, *RAW]


# --- the endpoints --------------------------------------------------------------------------------

@dataclass
class Endpoint:
    name: str
    method: str
    path: Callable[["World"], str]
    role: str | None
    body: Callable[["World", str], dict[str, Any]]  # the request with the text in its text field
    echo: Callable[["World", httpx.Response, str], str] | None = None  # what the server stored, read back
    free_text: bool = True  # legitimate text is accepted here (else any 4xx is right)
    blank_ok: bool = False  # an empty or blank value is a legitimate "nothing to say"
    strips: bool = True  # the field is stored stripped of surrounding whitespace
    jsonl: bool = False  # the body is a JSONL file (the import), one line holding the request dict


class World:
    """Records the endpoints act on, made once per module."""

    def __init__(self, server: ApiServer) -> None:
        self.server = server
        self.last_slug = ""
        with server.client("operator") as op:
            r = op.post("/v1/cases", json={"text": "美团骑手押金不退，站长不理", "channel": "wechat"})
            assert r.status_code == 201, r.text
            self.case_id = r.json()["id"]
            r = op.post(f"/v1/cases/{self.case_id}/dispatch", json={"platform": "美团", "note": "请核实"})
            assert r.status_code == 201, r.text
            self.dispatch_id = r.json()["id"]
            r = op.post(f"/v1/cases/{self.case_id}/referrals", json={"target": "legal_aid"})
            assert r.status_code == 201, r.text
            self.referral_id = r.json()["referrals"][-1]["id"]
        with server.client("staff") as st:
            self.entry_id = st.post("/v1/entries", json={"content": entry("base")}).json()["id"]
            self.published_id = st.get("/v1/entries", params={"status": "published", "limit": 1}).json()["items"][0]["id"]
        r = httpx.post(f"{server.url}/v1/faq/ask", json={"question": "股票明天会涨吗"}, timeout=60)
        assert r.status_code == 200, r.text
        self.answer_id = r.json()["answer_id"]

    def entry_version(self) -> int:
        with self.server.client("staff") as st:
            return int(st.get(f"/v1/entries/{self.entry_id}").json()["version"])

    def fresh_question(self) -> int:
        r = httpx.post(f"{self.server.url}/v1/faq/ask", json={"question": f"请问 {uuid.uuid4().hex[:8]} 怎么办"}, timeout=60)
        assert r.status_code == 200, r.text
        return int(r.json()["answer_id"])

    def db(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        con = sqlite3.connect(f"file:{self.server.data_dir / 'jishibang.db'}?mode=ro", uri=True)
        try:
            return con.execute(sql, args).fetchall()
        finally:
            con.close()


def entry(tag: str, world: World | None = None, **fields: Any) -> dict[str, Any]:
    slug = f"bad-input-{tag}-{uuid.uuid4().hex[:8]}"
    if world is not None:
        world.last_slug = slug
    return {"slug": slug, "kind": "faq", "title": "押金不退怎么办",
            "question": "押金不退怎么办？", "operator_answer": "先问清楚收款方。", "worker_answer": "先留好收据。",
            "issue_types": ["deposit_refund"], **fields}


def _case(w: World) -> dict[str, Any]:
    with w.server.client("operator") as op:
        return op.get(f"/v1/cases/{w.case_id}").json()


ENDPOINTS = [
    Endpoint("triage", "POST", lambda w: "/v1/triage", "operator", lambda w, t: {"text": t},
             lambda w, r, t: r.json()["text_masked"]),
    Endpoint("suggest", "POST", lambda w: "/v1/suggest", "operator", lambda w, t: {"text": t},
             lambda w, r, t: r.json()["triage"]["text_masked"]),
    Endpoint("search", "POST", lambda w: "/v1/search", "operator", lambda w, t: {"query": t}),
    Endpoint("faq/ask", "POST", lambda w: "/v1/faq/ask", None, lambda w, t: {"question": t},
             lambda w, r, t: r.json()["question_masked"]),
    Endpoint("faq/feedback", "POST", lambda w: "/v1/faq/feedback", None,
             lambda w, t: {"answer_id": t, "helpful": True}, free_text=False),
    Endpoint("feedback", "POST", lambda w: "/v1/feedback", "operator",
             lambda w, t: {"event": "shown", "entry_id": w.published_id, "query": t},
             lambda w, r, t: w.db("select query_masked from feedback where id = ?", r.json()["id"])[0][0] or "",
             blank_ok=True, strips=False),
    Endpoint("cases", "POST", lambda w: "/v1/cases", "operator", lambda w, t: {"text": t, "channel": "phone"},
             lambda w, r, t: r.json()["text_masked"]),
    Endpoint("cases/patch", "PATCH", lambda w: f"/v1/cases/{w.case_id}", "operator",
             lambda w, t: {"referral": t}, free_text=False),
    Endpoint("followups", "POST", lambda w: f"/v1/cases/{w.case_id}/followups", "operator",
             lambda w, t: {"notes": t, "resolved": False}, lambda w, r, t: r.json()["followups"][-1]["notes"],
             blank_ok=True, strips=False),
    Endpoint("dispatch", "POST", lambda w: f"/v1/cases/{w.case_id}/dispatch", "operator",
             lambda w, t: {"platform": "美团", "note": t}, lambda w, r, t: r.json()["note"], blank_ok=True, strips=False),
    Endpoint("consult", "POST", lambda w: f"/v1/cases/{w.case_id}/consultations", "operator",
             lambda w, t: {"bodies": ["人社局", "市场监管局"], "follow_up_by": "2026-12-31", "notes": t},
             lambda w, r, t: r.json()["consultations"][-1]["notes"], blank_ok=True, strips=False),
    Endpoint("cases/notes", "POST", lambda w: f"/v1/cases/{w.case_id}/notes", "operator", lambda w, t: {"text": t},
             lambda w, r, t: r.json()["notes"][-1]["text"]),
    Endpoint("cases/referrals", "POST", lambda w: f"/v1/cases/{w.case_id}/referrals", "operator",
             lambda w, t: {"target": "legal_aid", "note": t}, lambda w, r, t: r.json()["referrals"][-1]["note"],
             blank_ok=True, strips=False),
    Endpoint("referral outcome", "POST", lambda w: f"/v1/cases/{w.case_id}/referrals/{w.referral_id}/outcome", "operator",
             lambda w, t: {"outcome": "accepted", "note": t},
             lambda w, r, t: next(x["outcome_note"] for x in r.json()["referrals"] if x["id"] == w.referral_id),
             blank_ok=True, strips=False),
    Endpoint("followup-plan", "POST", lambda w: f"/v1/cases/{w.case_id}/followup-plan", "operator",
             lambda w, t: {"due_on": "2026-12-31", "reason": t},
             lambda w, r, t: max(r.json()["followup_plan"], key=lambda p: p["id"])["reason"], blank_ok=True, strips=False),
    Endpoint("reply", "POST", lambda w: f"/v1/dispatches/{w.dispatch_id}/reply", "enterprise",
             lambda w, t: {"reply": t, "status": "in_progress"}, lambda w, r, t: r.json()["reply"]),
    Endpoint("entries", "POST", lambda w: "/v1/entries", "staff", lambda w, t: {"content": entry("new", title=t)},
             lambda w, r, t: r.json()["content"]["title"]),
    Endpoint("entries/put", "PUT", lambda w: f"/v1/entries/{w.entry_id}", "staff",
             lambda w, t: {"version": w.entry_version(), "content": {**entry("x", worker_answer=t), "slug": _slug(w)}},
             lambda w, r, t: r.json()["content"]["worker_answer"]),
    Endpoint("entries/import", "POST", lambda w: "/v1/entries/import", "staff",
             lambda w, t: entry("import", w, title=t), lambda w, r, t: _imported_title(w), jsonl=True),
    Endpoint("gaps/draft", "POST", lambda w: "/v1/gaps/draft", "staff",
             lambda w, t: {"question_ids": [w.fresh_question()], "title": t}, lambda w, r, t: r.json()["title"]),
    Endpoint("users/name", "POST", lambda w: "/v1/admin/users", "admin",
             lambda w, t: {"name": t, "role": "operator", "password": "a-long-password"}, free_text=False),
    Endpoint("users/password", "POST", lambda w: "/v1/admin/users", "admin",
             lambda w, t: {"name": f"u-{uuid.uuid4().hex[:10]}", "role": "operator", "password": t},
             lambda w, r, t: t if _signs_in(w, r.json()["name"], t) else "<cannot sign in>", strips=False),
    Endpoint("keys", "POST", lambda w: "/v1/admin/keys", "admin", lambda w, t: {"role": "operator", "label": t},
             lambda w, r, t: _key_label(w, r.json()["key"]), blank_ok=True, strips=False),
    Endpoint("login/name", "POST", lambda w: "/v1/auth/login", None, lambda w, t: {"name": t, "password": "x"},
             free_text=False),
    Endpoint("login/password", "POST", lambda w: "/v1/auth/login", None,
             lambda w, t: {"name": ROLES["operator"][0], "password": t}, free_text=False),
]

_SLUGS: dict[int, str] = {}


def _slug(w: World) -> str:
    if w.entry_id not in _SLUGS:
        with w.server.client("staff") as st:
            _SLUGS[w.entry_id] = st.get(f"/v1/entries/{w.entry_id}").json()["slug"]
    return _SLUGS[w.entry_id]


def _imported_title(w: World) -> str:
    """The title of the entry the last import created (found by its slug)."""
    with w.server.client("staff") as st:
        items = st.get("/v1/entries", params={"q": w.last_slug}).json()["items"]
        assert len(items) == 1, items
        return str(st.get(f"/v1/entries/{items[0]['id']}").json()["content"]["title"])


def _signs_in(w: World, name: str, password: str) -> bool:
    return httpx.post(f"{w.server.url}/v1/auth/login", json={"name": name, "password": password}).status_code == 200


def _key_label(w: World, key: str) -> str:
    with w.server.client("admin") as ad:
        return next(k["label"] for k in ad.get("/v1/admin/keys").json() if key.startswith(k["prefix"]))


# --- running it -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, local_model_dir: Path) -> Iterator[ApiServer]:
    with running_server(tmp_path_factory.mktemp("bad-input"), local_model_dir,
                        {"JISHIBANG_FAQ_RATE_PER_MINUTE": "100000", "JISHIBANG_LOGIN_RATE_PER_MINUTE": "100000"}) as s:
        yield s


def _expected(ep: Endpoint, column: str) -> str:
    """'2xx' (accepted and stored as sent) or '4xx' (refused with a reason)."""
    if column in LEGIT and ep.free_text:
        return "2xx"
    if column in ("empty", "blank") and ep.blank_ok:
        return "2xx"
    return "4xx"


# Bodies that are not JSON at all get 400; an import reads each line itself, so only bad UTF-8 is a 400 there.
_MALFORMED = {False: ("badutf8", "nested", "nestedfield", "truncated"), True: ("badutf8",)}


def _error_shape(r: httpx.Response) -> str | None:
    """None when the body is the one error shape with a reason in both languages; else what is wrong."""
    try:
        body = r.json()
    except ValueError:
        return f"not JSON: {r.text[:80]!r}"
    err = body.get("error") if isinstance(body, dict) else None
    if not (isinstance(err, dict) and set(body) == {"error"} and err.get("code") and err.get("message")
            and err.get("message_zh")):
        return f"not the error shape: {str(body)[:120]}"
    return None


def test_bad_input_corpus_against_every_text_endpoint(server: ApiServer) -> None:
    world = World(server)
    statuses: dict[str, dict[str, int]] = {}
    problems: list[str] = []
    with httpx.Client(base_url=server.url, timeout=120) as c:
        for ep in ENDPOINTS:
            row = statuses[ep.name] = {}
            headers = server.headers(ep.role)
            for column in COLUMNS:
                if column in TEXTS and ep.jsonl:
                    text = TEXTS[column]
                    line = json.dumps(ep.body(world, text), ensure_ascii=False).encode() + b"\n"
                    r = c.request(ep.method, ep.path(world), content=line,
                                  headers={**headers, "Content-Type": "application/x-ndjson"})
                elif column in TEXTS:
                    text = TEXTS[column]
                    r = c.request(ep.method, ep.path(world), json=ep.body(world, text), headers=headers)
                else:
                    raw, content_type = RAW[column]
                    r = c.request(ep.method, ep.path(world), content=raw, headers={**headers, "Content-Type": content_type})
                    text = None
                row[column] = r.status_code
                where = f"{ep.name} x {column}: {r.status_code}"
                if r.status_code >= 500:
                    problems.append(f"{where} server error {r.text[:200]}")
                    continue
                expected = "4xx" if text is None else _expected(ep, column)
                if expected == "4xx":
                    if not 400 <= r.status_code < 500:
                        problems.append(f"{where}, expected a 4xx")
                    elif shape := _error_shape(r):
                        problems.append(f"{where} {shape}")
                    elif column == "1MB" and not ep.jsonl and r.status_code != 413:
                        problems.append(f"{where}, expected 413")
                    elif column in _MALFORMED[ep.jsonl] and r.status_code != 400:
                        problems.append(f"{where}, expected 400 (not valid JSON / UTF-8)")
                    continue
                if not 200 <= r.status_code < 300:
                    problems.append(f"{where}, expected a 2xx: {r.text[:200]}")
                    continue
                if ep.echo is not None:
                    stored = ep.echo(world, r, text)
                    want = text.strip() if ep.strips else text
                    if stored != want:
                        problems.append(f"{where} stored {stored[:80]!r}, sent {want[:80]!r}")

    width = max(len(e.name) for e in ENDPOINTS)
    print("\n" + " " * width + " " + " ".join(f"{c[:8]:>8}" for c in COLUMNS))
    for name, row in statuses.items():
        print(f"{name:<{width}} " + " ".join(f"{row[c]:>8}" for c in COLUMNS))
    counts = [s for row in statuses.values() for s in row.values()]
    print(f"{len(counts)} requests: {sum(200 <= s < 300 for s in counts)} 2xx, {sum(400 <= s < 500 for s in counts)} 4xx, "
          f"{sum(s >= 500 for s in counts)} 5xx")
    assert not problems, "\n".join(problems)

    # Injection strings were stored as text and never ran: every table is still there, holding the string.
    assert world.db("select count(*) from cases")[0][0] >= 2
    assert world.db("select count(*) from cases where text_masked = ?", SQL.strip())[0][0] == 1
    assert world.db("select count(*) from users")[0][0] >= len(ROLES)
    assert world.db("select count(*) from cases where text_masked = ?", HTML)[0][0] == 1


def test_bad_frames_on_the_live_websocket(server: ApiServer) -> None:
    """The live socket answers every frame (an error frame for a bad one) and keeps going; it never dies."""
    from websockets.sync.client import connect

    url = server.url.replace("http://", "ws://") + "/v1/calls/bad-input/live"
    frames: dict[str, str | bytes] = {
        **{name: json.dumps({"type": "note", "seq": i, "text": t}) for i, (name, t) in enumerate(TEXTS.items(), 1)
           if name != "1MB"},
        "1MB": json.dumps({"type": "note", "seq": 99, "text": TEXTS["1MB"]}),
        "badutf8": b'{"type": "note", "seq": 100, "text": "\xff\xfe"}',
        "nested": NESTED,
        "infinity": '{"type": "note", "seq": Infinity, "text": "押金"}',
        "bigseq": '{"type": "note", "seq": 1' + "0" * 5000 + ', "text": "押金"}',
        "array": '["note"]',
        "notnote": '{"type": "hello", "seq": 1, "text": "x"}',
        "truncated": '{"type": "note", "seq": 1, "text": "abc',
    }
    expect_ok = {name for name in LEGIT}
    got: dict[str, str] = {}
    with connect(url, max_size=None, open_timeout=30) as ws:
        ws.send(json.dumps({"type": "auth", "token": server.tokens["operator"]}))
        assert json.loads(ws.recv(timeout=30))["type"] == "ready"
        for name, frame in frames.items():
            ws.send(frame)
            reply = json.loads(ws.recv(timeout=60))
            got[name] = reply["type"] if reply["type"] != "error" else f"error:{reply['code']}"
            if name in expect_ok:
                assert reply["type"] in ("update", "unchanged"), (name, reply)
            else:
                assert reply["type"] == "error" and reply["message"] and reply["message_zh"], (name, reply)
        # Still alive and analysing after all of that.
        ws.send(json.dumps({"type": "note", "seq": 1000, "text": "美团骑手押金不退怎么办"}))
        assert json.loads(ws.recv(timeout=60))["type"] in ("update", "unchanged")
    print("\nlive frames: " + ", ".join(f"{k} -> {v}" for k, v in got.items()))
    # A token the server cannot even encode, and a first frame nested too deeply: refused, not crashed.
    for first in ('{"type": "auth", "token": "\\ud800"}', NESTED):
        with connect(url, open_timeout=30) as ws:
            ws.send(first)
            reply = json.loads(ws.recv(timeout=30))
            assert reply["type"] == "error" and reply["code"] == "unauthorized", reply
    assert "Traceback" not in server.log_path.read_text(errors="replace")


def test_csv_imports_that_are_not_csv_are_refused_by_line(server: ApiServer) -> None:
    """Found by the API fuzzer: a stray carriage return made the csv module raise (a 500)."""
    bodies = {
        "stray CR": "\x9e°>\r§B".encode(),
        "CR in a row": b"slug,kind,title\r\nabc,faq\rx,t\r\n",
        "huge field": b'slug,kind,title\n"' + b"x" * 200_000 + b'",faq,t\n',
        "bad UTF-8": b"slug,kind,title\n\xff\xfe,faq,t\n",
    }
    with server.client("staff") as st:
        for name, body in bodies.items():
            r = st.post("/v1/entries/import", params={"format": "csv"}, content=body, headers={"Content-Type": "text/csv"})
            assert 400 <= r.status_code < 500 and _error_shape(r) is None, (name, r.status_code, r.text[:200])
