"""复核 Review: the items robots handed to people, one queue at a time, decided by keyboard.

The list shows what waits per queue; the review view shows each field's crop beside the
system's value and the document's, with the confidence and the robot's verdict, and takes the
decision (accept the system's or the document's values, correct fields, reject). Four-eyes: a
change to an account number or an amount waits for another reviewer, and the page says who
changed what. The keys are listed on the page (static/review.js); every control is a plain
form, so the page works without them too.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from orchestrator import audit, review
from orchestrator.console.web import ConsoleError, Reviewer, Viewer, render
from orchestrator.models import Review

router = APIRouter(prefix="/console", include_in_schema=False)
# the review form's buttons: (action, use)
CHOICES = {"accept-record": ("accept", "record"), "accept-found": ("accept", "found"),
           "correct": ("correct", "record"), "reject": ("reject", "record")}


@router.get("/reviews")
def reviews_page(request: Request, person: Viewer,
                 queue: Annotated[str | None, Query(max_length=200)] = None,
                 notice: str = "") -> Response:
    with request.app.state.sessions.begin() as session:
        counts = review.waiting_counts(session)
        rows = review.waiting(session, queue or None)
        session.expunge_all()
    return render(request, "reviews.html", counts=counts, rows=rows, queue=queue or "",
                  notice=notice)


@router.get("/reviews/{review_id}")
def review_page(request: Request, person: Reviewer, review_id: int,
                notice: str = "") -> Response:
    who = person.user.name
    with request.app.state.sessions.begin() as session:
        found = review.open_by(session, review_id, who)  # review minutes run from here
        following = review.next_waiting(session, found, who)
        session.expunge_all()
    own_change = found.state == review.ReviewState.AWAITING_SECOND and found.decided_by == who
    return render(request, "review.html", review=found, following=following,
                  own_change=own_change, sensitive=review.SENSITIVE, notice=notice,
                  waiting=found.state in review.WAITING)


@router.get("/reviews/{review_id}/images/{field}")
def review_image(request: Request, person: Reviewer, review_id: int, field: str) -> Response:
    with request.app.state.sessions.begin() as session:
        png = review.image(session, review_id, field)
    return Response(png, media_type="image/png", headers={"Cache-Control": "private"})


def _values(form: FormData, found: Review) -> dict[str, str]:
    """The corrections typed: value.<name> fields that differ from the system's value."""
    values = {}
    for f in found.fields:
        typed = form.get(f"value.{f['name']}")
        if isinstance(typed, str) and typed.strip() and typed.strip() != f["record"]:
            values[f["name"]] = typed.strip()
    return values


def _after(request: Request, decided: review.Decided, who: str, action: str) -> Response:
    found = decided.review
    audit.note(request.state, object=f"review {found.id} ({found.queue} {found.reference})",
               action=action, review_state=found.state, before=decided.before,
               after=decided.after, changes=decided.changes)
    if found.state == review.ReviewState.AWAITING_SECOND:
        return RedirectResponse(f"/console/reviews/{found.id}?notice=awaiting_second",
                                status_code=303)
    with request.app.state.sessions.begin() as session:
        following = review.next_waiting(session, found, who)
    notice = f"{found.reference}:{found.state}"
    if following is not None:
        return RedirectResponse(f"/console/reviews/{following.id}?notice={notice}",
                                status_code=303)
    return RedirectResponse(f"/console/reviews?queue={found.queue}&notice={notice}",
                            status_code=303)


@router.post("/reviews/{review_id}/decide")
async def decide(request: Request, person: Reviewer, review_id: int) -> Response:
    form = await request.form()
    choice = str(form.get("choice") or "")
    if choice not in CHOICES:
        raise ConsoleError(422, f"choice '{choice}' is not one of {', '.join(CHOICES)}")
    action, use = CHOICES[choice]
    who = person.user.name

    def run() -> review.Decided:
        with request.app.state.sessions.begin() as session:
            found = review.get(session, review_id)
            values = _values(form, found) if action == "correct" else None
            decided = review.decide(session, review_id, who, action,
                                    use=use, values=values,
                                    reason=str(form.get("reason") or ""))
            session.flush()
            session.expunge_all()
            return decided
    return _after(request, await run_in_threadpool(run), who, action)


@router.post("/reviews/{review_id}/approve")
def approve(request: Request, person: Reviewer, review_id: int) -> Response:
    who = person.user.name
    with request.app.state.sessions.begin() as session:
        decided = review.approve(session, review_id, who)
        session.flush()
        session.expunge_all()
    return _after(request, decided, who, "approve")
