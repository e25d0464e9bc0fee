"""The curation workflow: which status changes exist and what each must satisfy.

Who may trigger them is the API's concern; the rules an entry must meet live here.

    draft --submit--> in_review --approve--> published --archive--> archived --restore--> draft
                      in_review --reject (comment required)--> draft
    any edit of a published or in-review entry makes the working copy a draft again; the published
    revision stays live until the new one is approved.
"""

from __future__ import annotations

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
