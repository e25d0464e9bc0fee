"""Every error the API returns has one shape, with the reason in Chinese and English:

    {"error": {"code": "text_empty", "message": "...", "message_zh": "...", "details": ...}}

Domain errors are mapped here, at the edge; domain code never knows about HTTP. No traceback and no
submitted text ever goes back to the client or into a log line.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from hotline.errors import AuthError, InvalidRequest
from hotline.errors import NotFound as RecordNotFound
from kb.workflow import in_chinese
from kb.errors import ConflictError, DuplicateError, ImportRowError, NotFoundError, PersonalDataError, WorkflowError
from kb.errors import RankingModelError
from triage.embedder import EmbedderError
from triage.errors import ArtifactError, TextError

log = logging.getLogger("jishibang.api")


class ApiError(Exception):
    def __init__(self, status: int, code: str, en: str, zh: str, details: Any = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(en)
        self.status, self.code, self.en, self.zh, self.details, self.headers = status, code, en, zh, details, headers


class ErrorDetail(BaseModel):
    code: str = Field(min_length=1)
    message: str = Field(min_length=1)
    message_zh: str = Field(min_length=1, description="The reason in Chinese.")
    details: Any = None


class ErrorBody(BaseModel):
    """The one error shape (the OpenAPI schema of every 4xx)."""

    error: ErrorDetail


_WHY = {400: "Malformed JSON body or header", 401: "Not signed in, or the token or key is invalid",
        403: "The caller's role may not do this", 404: "No such record", 409: "Conflicts with the current state",
        412: "If-Match names a version that is not the current one", 413: "Request body too large",
        422: "The request does not validate", 428: "The version being edited was not sent",
        429: "Too many requests; see Retry-After",
        503: "Not ready: a model or index is missing or does not match (see /readyz)"}


def document_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """Declare in an OpenAPI document the errors each /v1 operation can answer with, all in the one error
    shape: 400/413/422 with a body, 422 with parameters, 404 with a record id in the path, 401/403 behind
    sign-in. Statuses a route names itself (409, 429 ...) keep their description and get the error schema;
    FastAPI's own 422 schema (``{"detail": ...}``) is replaced, since errors never take that shape here."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    error_schema = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(error_schema.pop("$defs", {}))
    components["ErrorBody"] = error_schema
    content = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    for path, operations in schema.get("paths", {}).items():
        if not path.startswith("/v1"):
            continue
        for operation in operations.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            codes: set[int] = set()
            where = {p.get("in") for p in operation.get("parameters", [])}
            if "requestBody" in operation:
                codes |= {400, 413, 422}
            if "path" in where:
                codes |= {404, 422}
            if where & {"query", "header"}:
                codes.add(422)
            if operation.get("security"):
                codes |= {401, 403}
            responses = operation["responses"]
            codes.add(503)  # a model or index missing or refused (see /readyz)
            codes |= {int(c) for c in responses if str(c).isdigit() and 400 <= int(c) < 500}
            for code in sorted(codes):
                entry = responses.setdefault(str(code), {"description": _WHY.get(code, "Error")})
                if "content" not in entry or "HTTPValidationError" in str(entry["content"]):
                    entry["content"] = content
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)
    return schema


def body(code: str, en: str, zh: str, details: Any = None) -> dict[str, Any]:
    err: dict[str, Any] = {"code": code, "message": en, "message_zh": zh}
    if details is not None:
        err["details"] = details
    return {"error": err}


def respond(status: int, code: str, en: str, zh: str, details: Any = None,
            headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body(code, en, zh, details), status_code=status, headers=headers)


_HTTP_ZH = {400: "请求有误", 401: "需要登录", 403: "没有权限", 404: "找不到该地址或记录", 405: "不支持该请求方法",
            406: "无法提供该格式", 409: "与当前状态冲突", 413: "请求内容太大", 415: "不支持的内容类型",
            422: "请求内容不符合要求", 429: "请求太频繁", 503: "服务暂不可用"}

_FIELD_ZH = {
    "missing": "缺少必填字段", "string_too_long": "文字太长", "string_too_short": "文字太短",
    "too_long": "条目太多", "too_short": "条目太少", "json_invalid": "JSON 格式错误", "int_parsing": "应为整数",
    "string_type": "应为文字", "extra_forbidden": "不认识的字段", "literal_error": "取值不在允许范围内",
    "greater_than_equal": "数值太小", "less_than_equal": "数值太大", "model_attributes_type": "应为 JSON 对象",
    "dict_type": "应为 JSON 对象", "list_type": "应为列表", "bool_parsing": "应为 true/false",
    "string_pattern_mismatch": "格式不对", "value_error": "取值不合要求", "date_from_datetime_parsing": "日期格式不对",
    "control_chars": "含有控制字符或无效的 Unicode 字符", "string_unicode": "含有无效的 Unicode 字符",
}


def _validation_details(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # Never echo the submitted value back ('input'): it may hold personal data.
    return [{"loc": [str(p) for p in e.get("loc", ())], "type": e.get("type"), "message": e.get("msg"),
             "message_zh": _FIELD_ZH.get(str(e.get("type")), "不符合要求")} for e in errors[:20]]


def install(app: FastAPI) -> None:
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        # Generated once, on first request, after every router is included.
        if app.openapi_schema is None:
            app.openapi_schema = document_errors(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.exception_handler(ApiError)
    async def _api(_: Request, exc: ApiError) -> JSONResponse:
        return respond(exc.status, exc.code, exc.en, exc.zh, exc.details, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        if any(e.get("type") == "json_invalid" for e in errors):
            return respond(400, "malformed_json", "the request body is not valid JSON (UTF-8)",
                           "请求内容不是有效的 JSON（须为 UTF-8 编码）", _validation_details(errors))
        return respond(422, "invalid_request", "the request does not match the schema",
                       "请求内容不符合要求", _validation_details(errors))

    @app.exception_handler(ValidationError)
    async def _model_invalid(_: Request, exc: ValidationError) -> JSONResponse:
        return respond(422, "invalid_content", "the content does not validate", "内容校验未通过",
                       _validation_details(list(exc.errors())))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and exc.detail == "There was an error parsing the body":
            # FastAPI's words for a body json.loads gave up on (not UTF-8, nested too deeply ...).
            return respond(400, "malformed_json", "the request body is not valid JSON (UTF-8)",
                           "请求内容不是有效的 JSON（须为 UTF-8 编码）")
        en = exc.detail if isinstance(exc.detail, str) else "error"
        return respond(exc.status_code, f"http_{exc.status_code}", en, _HTTP_ZH.get(exc.status_code, "请求失败"),
                       headers=getattr(exc, "headers", None))

    @app.exception_handler(TextError)
    async def _text(_: Request, exc: TextError) -> JSONResponse:
        return respond(422, exc.code, exc.en, exc.zh)

    @app.exception_handler(NotFoundError)
    @app.exception_handler(RecordNotFound)
    async def _missing(_: Request, exc: Exception) -> JSONResponse:
        return respond(404, "not_found", str(exc), "找不到该记录")

    @app.exception_handler(ConflictError)
    async def _conflict(_: Request, exc: ConflictError) -> JSONResponse:
        return respond(409, "stale_version", str(exc),
                       f"该条目已被他人修改（你编辑的是第 {exc.expected} 版，当前是第 {exc.current} 版），请刷新后再改",
                       {"entry_id": exc.entry_id, "expected": exc.expected, "current": exc.current})

    @app.exception_handler(DuplicateError)
    async def _duplicate(_: Request, exc: DuplicateError) -> JSONResponse:
        return respond(409, "duplicate", str(exc), "已存在相同标识的条目")

    @app.exception_handler(WorkflowError)
    async def _workflow(_: Request, exc: WorkflowError) -> JSONResponse:
        reasons = exc.reasons or [str(exc)]
        return respond(422, "workflow", str(exc), "不能这样操作：" + "；".join(in_chinese(r) for r in reasons),
                       {"reasons": exc.reasons, "reasons_zh": [in_chinese(r) for r in exc.reasons]})

    @app.exception_handler(PersonalDataError)
    async def _personal(_: Request, exc: PersonalDataError) -> JSONResponse:
        return respond(422, "personal_data", str(exc),
                       "知识库内容不能含有个人信息（手机号、身份证号、银行卡号、车牌号），请删去后再保存",
                       {"fields": exc.fields})

    @app.exception_handler(ImportRowError)
    async def _import(_: Request, exc: ImportRowError) -> JSONResponse:
        return respond(422, "import_rows", str(exc), "导入内容有误，未导入任何条目（见各行原因）",
                       [{"line": n, "message": m} for n, m in exc.errors[:200]])

    @app.exception_handler(AuthError)
    async def _auth(_: Request, exc: AuthError) -> JSONResponse:
        return respond(401, "unauthorized", str(exc), "登录无效或已过期，请重新登录", headers={"WWW-Authenticate": "Bearer"})

    @app.exception_handler(InvalidRequest)
    async def _bad(_: Request, exc: InvalidRequest) -> JSONResponse:
        return respond(422, "invalid_request", str(exc), exc.zh or "请求内容不符合要求，请检查后再试")

    @app.exception_handler(ArtifactError)
    @app.exception_handler(EmbedderError)
    @app.exception_handler(RankingModelError)
    async def _not_ready(_: Request, exc: Exception) -> JSONResponse:
        # A model or index is missing or refused: the service is up but cannot answer this yet (see /readyz).
        return respond(503, "not_ready", f"the service is not ready: {exc}",
                       "服务尚未就绪：模型或索引没有加载或不匹配（见 /readyz），请稍后再试", headers={"Retry-After": "30"})

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path, exc_info=exc)
        return respond(500, "internal", "internal error; it has been logged", "服务内部错误，已记录")
