"""Human review: the work items robots handed to people, their evidence, and the decisions.

Listing needs READ; the evidence (account numbers, crops) and every decision need REVIEW. A
change to an account number or an amount waits for a second, different reviewer (four-eyes):
the first one's approval is refused with 403. Each decision is in the audit log with the values
before and after (the AuditTrail middleware, detail from here).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field

from orchestrator import audit, review
from orchestrator.api.deps import MAX_ID, Reader, Reviewer, transaction

router = APIRouter(prefix="/api/v1", tags=["review"])
ReviewId = Annotated[int, PathParam(ge=1, le=MAX_ID, description="a review's id")]


class FieldView(BaseModel):
    name: str
    label: str
    kind: Literal["account", "amount", "name", "date", "text"]
    sensitive: bool = Field(description="account or amount: a change needs a second reviewer")
    record: str = Field(description="the system's value")
    found: str = Field(description="the document's value")
    confidence: float
    verdict: Literal["identical", "different", "unsure"]
    image: str | None = Field(description="where to GET the field's crop (PNG), if sent")


class ReviewView(BaseModel):
    id: int
    item_id: int = Field(description="the queue item handed to review")
    queue: str
    reference: str
    job_id: int | None
    robot: str
    reason: str
    next_queue: str | None = Field(description="where the item goes once approved")
    state: review.ReviewState
    fields: list[FieldView]
    requested: dt.datetime | None
    decision: dict[str, Any] | None = Field(description="the first decision: action, by, at, "
                                                        "values, changes, reason")
    decided_by: str | None
    approved_by: str | None = Field(description="the second reviewer (four-eyes)")
    finished: dt.datetime | None
    review_minutes: float = Field(description="reviewers' minutes on it, capped per decision")
    next_item_id: int | None = Field(description="its item in the next queue, once approved")


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: Literal["accept", "correct", "reject"]
    use: Literal["record", "found"] = Field(
        "record", description="accept: the system's values are right (record) or the "
                              "document's (found)")
    values: dict[str, str | int | float] = Field(
        default_factory=dict, max_length=100,
        description="correct: the right value of each field changed (others keep the record)")
    reason: str = Field("", max_length=2000, description="reject: why (the item's message)")


class Decision(BaseModel):
    review: ReviewView
    changes: list[dict[str, str]] = Field(description="[{name, before, after}] vs. the record")
    next_item: int | None = Field(description="the new item of the next queue, if it went on")


def _answer(request: Request, decided: review.Decided, action: str) -> dict[str, Any]:
    found = decided.review
    audit.note(request.state, object=f"review {found.id} ({found.queue} {found.reference})",
               action=action, review_state=found.state, before=decided.before, after=decided.after,
               changes=decided.changes)
    return {"review": review.view(found), "changes": decided.changes,
            "next_item": decided.next_item}


@router.get("/reviews", response_model=list[ReviewView])
def list_reviews(caller: Reader, request: Request,
                 queue: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
                 limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[dict[str, Any]]:
    """The items waiting for people (open, or awaiting a second reviewer), oldest first."""
    with transaction(request) as session:
        return [review.view(r) for r in review.waiting(session, queue, limit)]


@router.get("/reviews/{review_id}", response_model=ReviewView)
def get_review(review_id: ReviewId, caller: Reviewer, request: Request) -> dict[str, Any]:
    """One review with its evidence (decided ones too)."""
    with transaction(request) as session:
        return review.view(review.get(session, review_id))


@router.get("/reviews/{review_id}/images/{field}", response_class=Response, responses={200: {
    "description": "the field's crop of the document, as the robot sent it",
    "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}}}})
def get_image(review_id: ReviewId, field: Annotated[str, PathParam(max_length=200)],
              caller: Reviewer, request: Request) -> Response:
    """A field's crop, as the robot sent it."""
    with transaction(request) as session:
        png = review.image(session, review_id, field)
    return Response(png, media_type="image/png", headers={"Cache-Control": "private"})


@router.post("/reviews/{review_id}/open", response_model=ReviewView)
def open_review(review_id: ReviewId, caller: Reviewer, request: Request) -> dict[str, Any]:
    """The caller starts on the review: their review minutes run from now."""
    with transaction(request) as session:
        return review.view(review.open_by(session, review_id, caller.audit_name))


@router.post("/reviews/{review_id}/decision", response_model=Decision)
def decide(review_id: ReviewId, body: DecisionIn, caller: Reviewer,
           request: Request) -> dict[str, Any]:
    """Accept, correct or reject. A change to an account or amount field waits for a second
    reviewer (state awaiting_second); anything else ends the review: approved items go on to
    the next queue, rejected ones end as business exceptions."""
    with transaction(request) as session:
        decided = review.decide(session, review_id, caller.audit_name, body.action,
                                use=body.use, values=body.values, reason=body.reason,
                                person=False)
        return _answer(request, decided, body.action)


@router.post("/reviews/{review_id}/approve", response_model=Decision)
def approve(review_id: ReviewId, caller: Reviewer, request: Request) -> dict[str, Any]:
    """A second, different reviewer approves a change to an account number or an amount
    (403 for the reviewer who made it). People only: an API token gets 403, as for a
    decision that needs four-eyes (a token names no person)."""
    with transaction(request) as session:
        return _answer(request, review.approve(session, review_id, caller.audit_name,
                                               person=False), "approve")
