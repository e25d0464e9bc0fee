"""Web pages: server-rendered Jinja2 shells; small vanilla JavaScript files in /static call /v1 with fetch.

The HTML routes are public shells: every piece of data behind them comes from /v1 and is protected
there. The pages carry a Content-Security-Policy that allows scripts only from this origin's /static
files (no inline script), so markup that reaches the page from data can never run. The scripts build
the DOM with textContent and createElement only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.types import Scope

from triage.referrals import targets as referral_targets
from triage.taxonomy import issue_type_names

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"

CSP = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",  # 'self' covers ws:/wss: to this host (CSP Level 3)
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
))
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}

# path -> (template, title, roles allowed to use the page; None = anyone, no sign-in)
PAGES: dict[str, tuple[str, str, tuple[str, ...] | None]] = {
    "/": ("index.html", "即时帮", None),
    "/login": ("login.html", "登录", None),
    "/console": ("console.html", "接线台", ("operator", "staff", "admin")),
    "/ask": ("ask.html", "劳动者自助问答", None),
    "/staff": ("staff.html", "知识库管理", ("staff", "admin")),
    "/dashboard": ("dashboard.html", "数据看板", ("staff", "admin")),
    "/enterprise": ("enterprise.html", "平台分线", ("enterprise", "staff", "admin")),
}


class _Static(StaticFiles):
    """Static files with the same hardening headers (and revalidated, so an edit shows at once)."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers.setdefault("Cache-Control", "no-cache")
        return response


def taxonomy() -> dict[str, Any]:
    """What the pages need to label ids and fill pickers (issue types, referral targets)."""
    return {
        "issue_types": issue_type_names(),
        "referral_targets": {k: {"name": v["name"], "contact": v["contact"]} for k, v in referral_targets().items()},
        "kinds": {"procedure": "办事流程", "faq": "常见问答", "past_case": "过往案例"},
        "statuses": {"draft": "草稿", "in_review": "待审核", "published": "已发布", "archived": "已归档"},
        "jurisdictions": ["national", "广东", "江门"],
    }


def install(app: FastAPI) -> None:
    """Mount the pages and their static files."""
    templates = Jinja2Templates(directory=str(TEMPLATES))
    # Keep the taxonomy's own order; tojson still escapes <, >, & and ' for the <script> block.
    templates.env.policies["json.dumps_kwargs"] = {"sort_keys": False, "ensure_ascii": False}
    app.mount("/static", _Static(directory=str(STATIC)), name="static")

    def add(path: str, template: str, title: str, roles: tuple[str, ...] | None) -> None:
        def page(request: Request) -> HTMLResponse:
            context = {"title": title, "page": template.removesuffix(".html"), "roles": ",".join(roles or ()),
                       "taxonomy": taxonomy(), "pages": PAGES}
            return templates.TemplateResponse(request, template, context, headers=SECURITY_HEADERS)

        page.__name__ = f"page_{template.removesuffix('.html')}"
        app.add_api_route(path, page, methods=["GET"], response_class=HTMLResponse, include_in_schema=False)

    for path, (template, title, roles) in PAGES.items():
        add(path, template, title, roles)
