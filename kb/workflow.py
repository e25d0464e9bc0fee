"""The curation workflow: which status changes exist and what each must satisfy.

Who may trigger them is the API's concern; the rules an entry must meet live here.

    draft --submit--> in_review --approve--> published --archive--> archived --restore--> draft
                      in_review --reject (comment required)--> draft
    any edit of a published or in-review entry makes the working copy a draft again; the published
    revision stays live until the new one is approved.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from kb.errors import WorkflowError
from kb.schema import EntryContent


@dataclass(frozen=True, slots=True)
class Transition:
    action: str
    sources: tuple[str, ...]
    target: str
    needs_comment: bool = False


TRANSITIONS: dict[str, Transition] = {
    t.action: t
    for t in (
        Transition("submit", ("draft",), "in_review"),
        Transition("approve", ("in_review",), "published"),
        Transition("reject", ("in_review",), "draft", needs_comment=True),
        Transition("archive", ("draft", "in_review", "published"), "archived"),
        Transition("restore", ("archived",), "draft"),
    )
}
ACTIONS = tuple(TRANSITIONS)


def publish_problems(content: EntryContent, today: date, resolves: set[tuple[str, str]] | None,
                     check_review_date: bool = True) -> list[str]:
    """What stops an entry from being published ([] when it may be).

    A reviewer approving an entry must move a past review date forward. A bulk import does not
    check it: an imported entry past its review date is published but held back from suggestions
    until reviewed, so an export/import round trip never fails just because time has passed.
    """
    problems = []
    if not content.referrals and "out_of_scope" not in content.issue_types:
        problems.append("no referral target")
    if not content.evidence and content.kind == "procedure":
        problems.append("a procedure needs an evidence checklist")
    if check_review_date and content.review_by and content.review_by < today:
        problems.append(f"review_by {content.review_by} is in the past: review the facts and set a new date")
    if resolves is not None:
        missing = [ref.label() for ref in content.legal_basis if (ref.law, ref.article) not in resolves]
        if missing:
            problems.append("legal basis not found among imported statutes: " + ", ".join(missing))
    return problems


def check(action: str, status: str, comment: str | None) -> Transition:
    """The transition for ``action`` from ``status``, or a :class:`WorkflowError` saying why not."""
    t = TRANSITIONS.get(action)
    if t is None:
        raise WorkflowError(f"unknown action {action!r}; allowed: {', '.join(ACTIONS)}")
    if status not in t.sources:
        raise WorkflowError(f"cannot {action} an entry that is {status}; allowed from: {', '.join(t.sources)}")
    if t.needs_comment and not (comment and comment.strip()):
        raise WorkflowError(f"{action} needs a comment saying why")
    return t


_STATUS_ZH = {"draft": "草稿", "in_review": "待审核", "published": "已发布", "archived": "已归档"}
_ACTION_ZH = {"submit": "提交审核", "approve": "审核通过并发布", "reject": "退回", "archive": "归档", "restore": "恢复",
              "publish": "发布"}
_ZH: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = [
    (re.compile(r"^no referral target$"), lambda m: "没有填写转介对象"),
    (re.compile(r"^a procedure needs an evidence checklist$"), lambda m: "办事流程须有证据清单"),
    (re.compile(r"^review_by (\S+) is in the past"), lambda m: f"复核日期 {m[1]} 已过：请核实内容并设定新的复核日期"),
    (re.compile(r"^legal basis not found among imported statutes: (.*)$"), lambda m: f"法律依据在已导入的法条中找不到：{m[1]}"),
    (re.compile(r"^cannot (\w+) an entry that is (\w+)"),
     lambda m: f"条目当前是“{_STATUS_ZH.get(m[2], m[2])}”，不能{_ACTION_ZH.get(m[1], m[1])}"),
    (re.compile(r"^(\w+) needs a comment saying why$"), lambda m: f"{_ACTION_ZH.get(m[1], m[1])}须填写理由"),
    (re.compile(r"^unknown action"), lambda m: "没有这个操作"),
    (re.compile(r"^an archived entry cannot be edited"), lambda m: "已归档的条目不能编辑，请先恢复"),
    (re.compile(r"^the slug of an entry cannot change$"), lambda m: "条目标识（slug）不能修改"),
    (re.compile(r"^a new entry starts as draft"), lambda m: "新条目只能以草稿开始"),
    (re.compile(r"^cannot publish"), lambda m: "不能发布"),
    (re.compile(r"^a second person must approve"),
     lambda m: "须由另一位工作人员审核批准：你参与撰写了这一版（双人审核）"),
]


def in_chinese(reason: str) -> str:
    """The Chinese wording of a workflow reason (the English one when there is none)."""
    for pattern, render in _ZH:
        m = pattern.search(reason)
        if m:
            return render(m)
    return reason
