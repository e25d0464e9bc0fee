"""Feedback on what was suggested: stored against the entry and the case."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from api.routes.cases import _check_types
from api.routes.deps import FeedbackDep
from api.schemas import Created, FeedbackCreate
from api.security import OPERATORS, allow
from hotline.accounts import Principal

router = APIRouter(prefix="/v1", tags=["feedback"])


@router.post("/feedback", response_model=Created, status_code=201,
             responses={404: {"description": "The entry, case or answer named does not exist."}})
def feedback(body: FeedbackCreate, feedback: FeedbackDep,
             who: Principal = Depends(allow(*OPERATORS))) -> Created:
    """Operators, staff, admin: a suggestion was shown, copied, marked helpful or wrong, the issue type corrected,
    or the danger-now flag judged (emergency / not_emergency)."""
    _check_types(body.corrected_issue_types)
    fid = feedback.record(source="operator", actor=who.name, event=body.event, entry_id=body.entry_id,
                             entry_version=body.entry_version, case_id=body.case_id, query=body.query,
                             corrected_issue_types=body.corrected_issue_types)
    return Created(id=fid)
