"""Staff curate the knowledge base: list, read, create, edit (never a silent overwrite), history, diff,
rollback, the review workflow, import and export. Every write goes to the audit log."""

from __future__ import annotations

import re
from typing import Literal

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import PlainTextResponse

from api.errors import ApiError
from api.routes.deps import AuditDep, PathId, StoreDep, link
from api.schemas import (EntryAction, EntryEdit, EntryList, EntryOut, EntrySummary, ImportResult, NewEntry,
                         RevisionOut, Rollback, SlugSuggestion)
from api.security import STAFF, allow
from hotline.accounts import Principal
from kb.errors import ConflictError, DuplicateError
from kb.schema import STATUSES, EditableKind, EntryContent
from kb.slugs import slugify
from kb.store import EntryView
from kb.transfer import export_entries, import_entries
from kb.workflow import ACTIONS

router = APIRouter(prefix="/v1/entries", tags=["staff: entries"])
Staff = Depends(allow(*STAFF))
# From their one definition in kb/, not repeated here: the statuses, and the workflow's transitions (the staff page
# gets them from the same table through api/pages.py) plus "flag", which marks a published entry outdated.
Status = Literal[STATUSES]  # type: ignore[valid-type]
Action = Literal[(*ACTIONS, "flag")]  # type: ignore[valid-type]

_ETAG = re.compile(r'^(?:W/)?"?(\d{1,10})"?$')
_CONFLICTS = {409: {"description": "The version edited is not the current one."},
              412: {"description": "If-Match names a version that is not the current one."},
              428: {"description": "Neither If-Match nor a version was sent."}}


def _out(view: EntryView) -> EntryOut:
    return EntryOut(**{f: getattr(view, f) for f in EntryOut.model_fields})


def _tagged(view: EntryView, response: Response) -> EntryOut:
    response.headers["ETag"] = f'"{view.version}"'
    return _out(view)


def _expected(if_match: str | None, version: int | None) -> tuple[int, bool]:
    """The version the caller is editing, and whether it came from If-Match (a mismatch is then a 412)."""
    if if_match is not None:
        m = _ETAG.match(if_match.strip())
        if not m:
            raise ApiError(400, "bad_if_match", 'If-Match must be an ETag like "3"', 'If-Match 格式应为 "3"')
        return int(m.group(1)), True
    if version is None:
        raise ApiError(428, "version_required", "send the version you are editing (If-Match or body.version)",
                       "请带上你正在编辑的版本号（If-Match 或 version）")
    return version, False


def _guarded(call, via_header: bool):  # type: ignore[no-untyped-def]
    try:
        return call()
    except ConflictError as exc:
        if via_header:
            raise ApiError(412, "precondition_failed", str(exc),
                           f"该条目已被他人修改（当前是第 {exc.current} 版），请刷新后再改",
                           {"entry_id": exc.entry_id, "expected": exc.expected, "current": exc.current}) from None
        raise


@router.get("", response_model=EntryList)
def list_entries(store: StoreDep, status: Status | None = None,
                 kind: EditableKind | None = None,
                 issue_type: str | None = Query(default=None, max_length=40),
                 q: str | None = Query(default=None, max_length=100, description="In title or slug."),
                 limit: int = Query(default=50, ge=1, le=500), offset: int = Query(default=0, ge=0, le=10**7),
                 _: Principal = Staff) -> EntryList:
    """Staff, admin: entries with filters (status in_review is the review queue)."""
    items, total = store.list(status=status, kind=kind, issue_type=issue_type, text=q, limit=limit, offset=offset)
    return EntryList(total=total, items=[EntrySummary(**{f: getattr(v, f) for f in EntrySummary.model_fields})
                                         for v in items])


_ENTRY = "/v1/entries/{entry_id}"
_NEXT = {"entry_id": "$response.body#/id"}
_VERSION = {"version": "$response.body#/version"}


@router.post("", response_model=EntryOut, status_code=201, responses={409: {"description": "Slug taken"}, 201: {"links": {
    "GetEntry": link("GET", _ENTRY, **_NEXT), "EditEntry": link("PUT", _ENTRY, _VERSION, **_NEXT),
    "History": link("GET", _ENTRY + "/history", **_NEXT),
    "Submit": link("POST", _ENTRY + "/{action}", _VERSION, **_NEXT, action="submit")}}})
def create_entry(body: NewEntry, response: Response, audit: AuditDep, store: StoreDep,
                 who: Principal = Staff) -> EntryOut:
    """Staff, admin: a new draft. Without a slug, one is made from the title's pinyin (unique among entries)."""
    fields = body.content.model_dump()
    if body.content.slug is None:
        fields["slug"] = store.unique_slug(slugify(body.content.title))
    content = EntryContent.model_validate(fields)
    try:
        view = store.create(content, author=who.name, comment=body.comment)
    except DuplicateError:
        if body.content.slug is not None:
            raise
        # Another entry took the generated slug in the meantime: number it.
        content = content.model_copy(update={"slug": store.unique_slug(content.slug)})
        view = store.create(content, author=who.name, comment=body.comment)
    audit.record(who.name, who.role, "create", f"entry:{view.id}", view.version, {"slug": view.slug})
    return _tagged(view, response)


@router.get("/export", response_class=PlainTextResponse)
def export(store: StoreDep, format: Literal["jsonl", "csv"] = "jsonl",
           status: Status | None = None,
           _: Principal = Staff) -> PlainTextResponse:
    """Staff, admin: every entry (current working copy) as JSONL or CSV."""
    media = "application/x-ndjson" if format == "jsonl" else "text/csv"
    return PlainTextResponse(export_entries(store, format, status), media_type=f"{media}; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="entries.{format}"'})


@router.get("/slug", response_model=SlugSuggestion)
def suggest_slug(store: StoreDep, title: str = Query(min_length=1, max_length=300,
                 description="The entry's title."),
                 _: Principal = Staff) -> SlugSuggestion:
    """Staff, admin: the slug a new entry with this title gets when none is typed (pinyin of the title, unique)."""
    return SlugSuggestion(slug=store.unique_slug(slugify(title)))


@router.post("/import", response_model=ImportResult,
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/x-ndjson": {"schema": {"type": "string"}}, "text/csv": {"schema": {"type": "string"}}}}})
async def import_(request: Request, audit: AuditDep, store: StoreDep, format: Literal["jsonl",
                  "csv"] = "jsonl",
                  status: Literal["draft", "published"] = "draft", who: Principal = Staff) -> dict:
    """Staff, admin: create or revise entries from JSONL or CSV (the body). All rows land or none;
    bad rows are reported by line."""
    raw = await request.body()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ApiError(400, "invalid_encoding", "the file is not UTF-8", "文件不是 UTF-8 编码") from None
    if not text.strip():
        raise ApiError(422, "empty_import", "nothing to import", "没有可导入的内容")
    from starlette.concurrency import run_in_threadpool

    counts = await run_in_threadpool(import_entries, store, text, format, who.name, status)
    audit.record(who.name, who.role, "import", "entries", None, {"format": format, **counts})
    return counts


@router.get("/{entry_id}", response_model=EntryOut)
def get_entry(entry_id: PathId, response: Response, store: StoreDep, _: Principal = Staff) -> EntryOut:
    """Staff, admin: the working copy, with its version as the ETag."""
    return _tagged(store.get(entry_id), response)


@router.put("/{entry_id}", response_model=EntryOut, responses=_CONFLICTS)
def edit_entry(entry_id: PathId, body: EntryEdit, response: Response, audit: AuditDep, store: StoreDep,
               if_match: str | None = Header(default=None, max_length=40),
               who: Principal = Staff) -> EntryOut:
    """Staff, admin: a new revision. Name the version you edited (If-Match or body.version): a stale one is
    refused (412 with If-Match, else 409), never silently overwritten."""
    expected, via_header = _expected(if_match, body.version)
    view = _guarded(lambda: store.update(entry_id, expected, body.content, who.name, body.comment), via_header)
    audit.record(who.name, who.role, "edit", f"entry:{entry_id}", view.version, {"from": expected})
    return _tagged(view, response)


@router.get("/{entry_id}/history", response_model=list[RevisionOut])
def history(entry_id: PathId, store: StoreDep, _: Principal = Staff) -> list[RevisionOut]:
    """Staff, admin: every revision, oldest first."""
    return [RevisionOut(**{f: getattr(r, f) for f in RevisionOut.model_fields}) for r in store.history(entry_id)]


@router.get("/{entry_id}/revisions/{version}", response_model=RevisionOut)
def revision(entry_id: PathId, version: PathId, store: StoreDep, _: Principal = Staff) -> RevisionOut:
    """Staff, admin: one revision."""
    r = store.revision(entry_id, version)
    return RevisionOut(**{f: getattr(r, f) for f in RevisionOut.model_fields})


@router.get("/{entry_id}/diff")
def diff(entry_id: PathId, store: StoreDep, a: int = Query(ge=1, le=2**31 - 1), b: int = Query(ge=1,
         le=2**31 - 1),
         _: Principal = Staff) -> dict:
    """Staff, admin: field-by-field changes from version a to b."""
    return store.diff(entry_id, a, b)


@router.post("/{entry_id}/rollback", response_model=EntryOut, responses=_CONFLICTS)
def rollback(entry_id: PathId, body: Rollback, response: Response, audit: AuditDep, store: StoreDep,
             if_match: str | None = Header(default=None, max_length=40),
             who: Principal = Staff) -> EntryOut:
    """Staff, admin: a new draft revision with an old version's content (history is kept)."""
    expected, via_header = _expected(if_match, body.version)
    view = _guarded(lambda: store.rollback(entry_id, body.to_version, expected, who.name), via_header)
    audit.record(who.name, who.role, "rollback", f"entry:{entry_id}", view.version, {"to": body.to_version})
    return _tagged(view, response)


@router.post("/{entry_id}/{action}", response_model=EntryOut, responses=_CONFLICTS)
def act(entry_id: PathId, action: Action, body: EntryAction,
        response: Response, request: Request, audit: AuditDep, store: StoreDep, if_match: str | None = Header(default=None, max_length=40),
        who: Principal = Staff) -> EntryOut:
    """Staff, admin: submit for review; approve (publishes it) or reject with a comment; archive; restore;
    flag as outdated (held back from suggestions until approved again; the comment is the reason). With
    require_second_approver (the default), nobody who wrote the version under review may approve it (422)."""
    expected, via_header = _expected(if_match, body.version)
    if action == "flag":
        if not (body.comment and body.comment.strip()):
            raise ApiError(422, "comment_required", "say why the entry is outdated", "请说明条目过时的原因")
        view = _guarded(lambda: store.flag_outdated(entry_id, expected, who.name, body.comment or ""), via_header)
    else:
        four_eyes = request.app.state.jishibang.settings.require_second_approver
        view = _guarded(lambda: store.transition(entry_id, expected, action, who.name, body.comment,
                                                    second_approver=four_eyes), via_header)
    audit.record(who.name, who.role, action, f"entry:{entry_id}", view.version,
                    {"comment": body.comment} if body.comment else None)
    return _tagged(view, response)
