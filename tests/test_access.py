"""Every /v1 route x every role over real HTTP: a role the route does not declare gets 401 (anonymous) or
403, never a success; a declared role is never refused. Enterprises never see another platform's cases."""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi.routing import APIRoute

from api.app import create_app
from api.settings import Settings

pytestmark = [pytest.mark.model, pytest.mark.integration]

ROLES = ("anonymous", "operator", "staff", "admin", "enterprise", "enterprise_b")
PUBLIC = {"/v1/auth/login", "/v1/faq/ask", "/v1/faq/feedback", "/v1/faq/handoff", "/healthz", "/readyz",
          "/v1/wechat"}  # WeChat's servers: signature-checked (tests/test_wechat_api.py)
OPERATORS = ("operator", "staff", "admin")
STAFF = ("staff", "admin")
# The case workspace, sub-lines, the dashboard and curation helpers (issue 16): who each one is for.
WORKSPACE = {
    ("POST", "/v1/cases/{case_id}/notes"): OPERATORS, ("POST", "/v1/cases/{case_id}/claim"): OPERATORS,
    ("POST", "/v1/cases/{case_id}/referrals"): OPERATORS,
    ("POST", "/v1/cases/{case_id}/referrals/{referral_id}/outcome"): OPERATORS,
    ("POST", "/v1/cases/{case_id}/followup-plan"): OPERATORS,
    ("POST", "/v1/dispatches/{dispatch_id}/reopen"): ("enterprise", *OPERATORS),
    ("GET", "/v1/platforms"): OPERATORS, ("GET", "/v1/channels"): OPERATORS, ("GET", "/v1/dashboard"): OPERATORS,
    ("GET", "/v1/entries/slug"): STAFF, ("POST", "/v1/gaps/nearest"): STAFF, ("POST", "/v1/gaps/paraphrases"): STAFF,
}


def declared_roles() -> dict[tuple[str, str], tuple[str, ...]]:
    """(method, path) -> the roles its `allow(...)` dependency names; public routes -> ("anonymous",)."""
    from api.routes import admin, auth, cases, entries, faq, feedback, learning, operators, staff, wechat

    out = {}
    routes = [r for m in (auth, operators, cases, feedback, faq, entries, staff, learning, wechat, admin)
              for r in m.router.routes]
    for route in routes:
        if not isinstance(route, APIRoute):
            continue
        roles: tuple[str, ...] = ()
        stack = [route.dependant]
        while stack:
            dep = stack.pop()
            roles = roles or getattr(dep.call, "roles", ())
            stack.extend(dep.dependencies)
        for method in route.methods:
            out[(method, route.path)] = roles
    return out


ROUTES = declared_roles()


def test_every_route_declares_who_may_call_it() -> None:
    # Every operation the app publishes is covered here (nothing escapes the matrix).
    spec = create_app(Settings()).openapi()
    published = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops if p.startswith("/v1")}
    assert published == set(ROUTES), published ^ set(ROUTES)
    assert len(ROUTES) >= 64
    assert {k: set(v) for k, v in ROUTES.items() if k in WORKSPACE} == {k: set(v) for k, v in WORKSPACE.items()}
    undeclared = [k for k, roles in ROUTES.items() if not roles]
    assert not undeclared, undeclared
    assert {p for (_m, p), r in ROUTES.items() if r == ("anonymous",)} == PUBLIC & {p for _m, p in ROUTES}


def _url(path: str) -> str:
    # Ids that do not exist: access is decided before the record is looked up.
    return re.sub(r"\{[^}]+\}", lambda m: "submit" if m[0] == "{action}" else ("t-nobody" if m[0] == "{name}" else "999999"), path)


def test_access_matrix(api_server) -> None:
    unexpected, refused, checked = [], [], 0
    with httpx.Client(base_url=api_server.url, timeout=60) as c:
        for (method, path), allowed in sorted(ROUTES.items()):
            if path in PUBLIC or path == "/v1/auth/logout":  # logout would revoke the shared tokens; see test_api
                continue
            for role in ROLES:
                headers = api_server.headers(None if role == "anonymous" else role)
                r = c.request(method, _url(path), headers=headers, json={} if method in ("POST", "PUT", "PATCH") else None)
                checked += 1
                base = role.removesuffix("_b")
                if base in allowed:
                    if r.status_code in (401, 403):
                        refused.append((method, path, role, r.status_code))
                else:
                    expected = 401 if role == "anonymous" else 403
                    if r.status_code != expected:
                        unexpected.append((method, path, role, r.status_code))
    print(f"access matrix: {checked} route x role checks, {len(unexpected)} unexpected, {len(refused)} wrongly refused")
    assert not unexpected, unexpected
    assert not refused, refused


def test_enterprise_sees_only_its_own_platform(api_server) -> None:
    with api_server.client("operator") as op:
        mine = op.post("/v1/cases", json={"text": "美团骑手被站点扣了三百元，申诉没人理"}).json()
        other = op.post("/v1/cases", json={"text": "滴滴司机账号被封，申诉一周没结果"}).json()
        op.post(f"/v1/cases/{mine['id']}/dispatch", json={"platform": "美团", "note": "请核实扣款"})
        op.post(f"/v1/cases/{other['id']}/dispatch", json={"platform": "滴滴", "note": "请核实封号"})
    with api_server.client("enterprise") as meituan:
        queue = meituan.get("/v1/enterprise/queue", params={"platform": "滴滴"}).json()  # the parameter is ignored
        assert queue and {item["platform"] for item in queue} == {"美团"}
        assert meituan.get(f"/v1/cases/{mine['id']}").status_code == 200
        assert meituan.get(f"/v1/cases/{other['id']}").status_code == 404
        assert meituan.get("/v1/cases").status_code == 403
        seen = meituan.get(f"/v1/cases/{mine['id']}").json()
        # The hotline's internal notes stay internal: no follow-ups or consultations, only its own dispatches.
        assert seen["followups"] == [] and seen["consultations"] == [] and seen["feedback"] == []
        assert {d["platform"] for d in seen["dispatches"]} == {"美团"}
        assert seen["operator"] == "hotline"


def test_workspace_records_stay_with_their_platform(api_server) -> None:
    """Another platform cannot reopen a dispatch; enterprises and the anonymous never see the case's live view."""
    from websockets.sync.client import connect

    with api_server.client("operator") as op:
        case = op.post("/v1/cases", json={"text": "美团骑手被站点罚款两百元"}).json()
        d = op.post(f"/v1/cases/{case['id']}/dispatch", json={"platform": "美团", "note": "请核实"}).json()
    with api_server.client("enterprise") as meituan:
        assert meituan.post(f"/v1/dispatches/{d['id']}/reply", json={"reply": "已撤销", "status": "resolved"}).status_code == 200
        assert meituan.get("/v1/platforms").status_code == 403
    with api_server.client("enterprise_b") as didi:
        r = didi.post(f"/v1/dispatches/{d['id']}/reopen", json={"reason": "不是我们的"})
        assert r.status_code == 404, r.text
    url = api_server.url.replace("http://", "ws://") + f"/v1/cases/{case['id']}/live"
    for role, code in (("enterprise", 4403), (None, 4401)):
        with connect(url, open_timeout=30) as ws:
            ws.send('{"type": "auth", "token": "%s"}' % (api_server.tokens[role] if role else "not-a-token"))
            reply = ws.recv(timeout=30)
            assert '"error"' in reply, reply
            try:
                ws.recv(timeout=10)
            except Exception as exc:  # closed by the server with the code
                assert getattr(exc, "rcvd", None) is None or exc.rcvd.code == code, exc

