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
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.types import Scope

from kb.schema import EntryContent
from kb.workflow import TRANSITIONS
from triage.pii import PLACEHOLDERS
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
    "/dashboard": ("dashboard.html", "数据看板", ("operator", "staff", "admin")),
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
    """What the pages need to label ids and fill pickers (issue types, referral targets), in Chinese: no code
    reaches a person as it is."""
    return {
        "issue_types": issue_type_names(),
        "referral_targets": {k: {"name": v["name"], "contact": v["contact"]} for k, v in referral_targets().items()},
        "kinds": {"procedure": "办事流程", "faq": "常见问答", "past_case": "过往案例"},
        "statuses": {"draft": "草稿", "in_review": "待审核", "published": "已发布", "archived": "已归档"},
        "jurisdictions": ["national", "广东", "江门"],
        "pii": {k: v.strip("[]") for k, v in PLACEHOLDERS.items()},
        "urgency": {"emergency": "紧急", "high": "较急", "normal": "一般", "low": "不急"},
        "case_statuses": {"open": "待处理", "referred": "已转介", "dispatched": "已转办平台", "escalated": "多部门会商",
                          "closed": "已结案"},
        "dispatch_statuses": {"pending": "待处理", "in_progress": "处理中", "resolved": "已解决", "rejected": "不予处理"},
        "channels": {"phone": "电话", "wechat": "微信", "web": "网页（工人求助）"},
        "referral_outcomes": {"accepted": "已受理", "declined": "不予受理", "resolved": "已解决", "no_response": "无回音"},
        "roles": {"operator": "接线员", "staff": "工作人员", "admin": "管理员", "enterprise": "平台企业",
                  "worker": "工人", "wechat": "微信公众号", "hotline": "热线"},
        "entry_limits": entry_limits(),
        "workflow": workflow(),
    }


def workflow() -> dict[str, Any]:
    """The review actions the editor offers on each status and those that need a comment, from kb/workflow.py's
    transitions (their one definition). Flagging as outdated is not a transition (the status stays): it is offered
    on published entries, with the reason the route requires."""
    allowed: dict[str, list[str]] = {}
    for t in TRANSITIONS.values():
        for status in t.sources:
            allowed.setdefault(status, []).append(t.action)
    allowed.setdefault("published", []).append("flag")
    needs_comment = [t.action for t in TRANSITIONS.values() if t.needs_comment] + ["flag"]
    return {"allowed": allowed, "needs_comment": needs_comment}


def entry_limits() -> dict[str, dict[str, int]]:
    """The real limits of an entry's fields (from its schema): characters per text, items per list."""
    schema = EntryContent.model_json_schema()
    defs = schema.get("$defs", {})

    def limits(prop: dict[str, Any]) -> dict[str, int]:
        prop = next((p for p in prop.get("anyOf", [prop]) if p.get("type") != "null"), prop)
        prop = defs.get(prop.get("$ref", "").rsplit("/", 1)[-1], prop)
        out = {}
        if "maxLength" in prop:
            out["chars"] = prop["maxLength"]
        if prop.get("type") == "array":
            out["items"] = prop.get("maxItems", 0)
            item = prop.get("items", {})
            item = defs.get(item.get("$ref", "").rsplit("/", 1)[-1], item)
            if "maxLength" in item:
                out["chars"] = item["maxLength"]
        return out

    out = {name: limits(prop) for name, prop in schema["properties"].items()}
    for name, prop in defs.get("PastCase", {}).get("properties", {}).items():
        out[f"case.{name}"] = limits(prop)
    return {k: v for k, v in out.items() if v}


def install(app: FastAPI) -> None:
    """Mount the pages and their static files."""
    templates = Jinja2Templates(directory=str(TEMPLATES))
    # Keep the taxonomy's own order; tojson still escapes <, >, & and ' for the <script> block.
    templates.env.policies["json.dumps_kwargs"] = {"sort_keys": False, "ensure_ascii": False}
    app.mount("/static", _Static(directory=str(STATIC)), name="static")

    def add(path: str, template: str, title: str, roles: tuple[str, ...] | None) -> None:
        def page(request: Request) -> HTMLResponse:
            settings = request.app.state.jishibang.settings
            data = {**taxonomy(), "rules": {"second_approver": settings.require_second_approver}}
            context = {"title": title, "page": template.removesuffix(".html"), "roles": ",".join(roles or ()),
                       "taxonomy": data, "pages": PAGES}
            return templates.TemplateResponse(request, template, context, headers=SECURITY_HEADERS)

        page.__name__ = f"page_{template.removesuffix('.html')}"
        app.add_api_route(path, page, methods=["GET"], response_class=HTMLResponse, include_in_schema=False)

    for path, (template, title, roles) in PAGES.items():
        add(path, template, title, roles)
    install_docs(app)


DOCS_STATIC = "/docs-static"


def install_docs(app: FastAPI) -> None:
    """Swagger UI at /docs and ReDoc at /redoc from this app's own files (the assets the maintained
    fastapi-offline package ships, MIT; Swagger UI Apache-2.0, ReDoc MIT): no CDN, no web fonts, so they
    work on a machine without internet. The app is created with docs_url=None and redoc_url=None."""
    import fastapi_offline

    assets = Path(fastapi_offline.__file__).resolve().parent / "static"
    openapi_url = app.openapi_url or "/openapi.json"
    redirect = app.swagger_ui_oauth2_redirect_url or "/docs/oauth2-redirect"
    redoc_js: list[bytes] = []

    @app.get(f"{DOCS_STATIC}/redoc.js", include_in_schema=False)
    def redoc_script() -> Response:
        """ReDoc's bundle with its one web request taken out: the sidebar logo it loads from a CDN."""
        if not redoc_js:
            text = (assets / "redoc.standalone.js").read_bytes()
            redoc_js.append(text.replace(b"https://cdn.redoc.ly/redoc/logo-mini.svg", b"data:,"))
        return Response(redoc_js[0], media_type="application/javascript",
                        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"})

    # After the route above: a mount answers every path under its prefix.
    app.mount(DOCS_STATIC, _Static(directory=str(assets)), name="docs-static")

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        # validatorUrl None: Swagger UI would otherwise send the schema to validator.swagger.io.
        return get_swagger_ui_html(openapi_url=openapi_url, title=f"{app.title} · API",
                                   swagger_js_url=f"{DOCS_STATIC}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{DOCS_STATIC}/swagger-ui.css",
                                   swagger_favicon_url=f"{DOCS_STATIC}/favicon.png", oauth2_redirect_url=redirect,
                                   swagger_ui_parameters={**(app.swagger_ui_parameters or {}), "validatorUrl": None})

    @app.get(redirect, include_in_schema=False)
    def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return get_redoc_html(openapi_url=openapi_url, title=f"{app.title} · ReDoc",
                              redoc_js_url=f"{DOCS_STATIC}/redoc.js",
                              redoc_favicon_url=f"{DOCS_STATIC}/favicon.png", with_google_fonts=False)
