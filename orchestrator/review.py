"""Human review (S4): work items robots hand to people, and what people decide.

A robot's review.request ends its work item in_review with the evidence (each field's system
value, the document's value, confidence, verdict and crop): a Review row, open. The robot has
gone on; nothing waits for a person. A reviewer then

- accepts: the system's values are right (use: record) or the document's are (use: found);
- corrects: types the right value of some fields (the others keep the system's);
- rejects: the item ends a business exception, with the reviewer's reason.

Four-eyes (the banks' rule): a decision that changes an account number or an amount (a field
of kind account or amount whose decided value differs from the system's) waits for a second,
different reviewer (awaiting_second); the first cannot approve their own change. Approved
items flow on: a new item of the next queue (same reference; payload the item's own with the
reviewed values under each field's name, and `review` saying who decided), which a second
robot works; the original item ends `reviewed`, so it is counted once, where it ends.

Review states:  open ──► approved | rejected | awaiting_second ──► approved | rejected

Review minutes (a reviewer's time from opening the item to deciding, capped) are taken off
the minutes the robot saved (kpi.record_review).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from orchestrator import kpi, queues
from orchestrator.db import connection_of
from orchestrator.jobs import aware, utcnow
from orchestrator.models import Job, Queue, QueueItem, Review, ReviewImage
from orchestrator.queues import ItemState
from orchestrator.refusals import Conflict, Forbidden, Invalid, NotFound

KINDS = ("account", "amount", "name", "date", "text")
SENSITIVE = frozenset({"account", "amount"})  # a change to one needs a second reviewer
VERDICTS = ("identical", "different", "unsure")
ACTIONS = ("accept", "correct", "reject")
MAX_FIELDS = 100
MAX_VALUE = 1000
MAX_IMAGE_BYTES = 2 * 1024 * 1024
PNG = b"\x89PNG\r\n\x1a\n"
# A reviewer who opens an item and leaves for lunch did not spend an hour on it: the minutes
# counted for one decision stop here (ABC Shandong timed about 3 minutes a voucher by hand).
MAX_REVIEW_MINUTES = 15.0


class ReviewState(StrEnum):
    OPEN = "open"
    AWAITING_SECOND = "awaiting_second"  # a sensitive change waits for another reviewer
    APPROVED = "approved"
    REJECTED = "rejected"


TRANSITIONS: dict[ReviewState, frozenset[ReviewState]] = {
    ReviewState.OPEN: frozenset({ReviewState.AWAITING_SECOND, ReviewState.APPROVED,
                                 ReviewState.REJECTED}),
    ReviewState.AWAITING_SECOND: frozenset({ReviewState.APPROVED, ReviewState.REJECTED}),
    ReviewState.APPROVED: frozenset(),
    ReviewState.REJECTED: frozenset(),
}
WAITING = (ReviewState.OPEN.value, ReviewState.AWAITING_SECOND.value)


@dataclass
class Decided:
    """What a decision did, for the audit log and the answer."""
    review: Review
    before: dict[str, str]  # the system's value of each field
    after: dict[str, str]  # the decided value of each field
    changes: list[dict[str, str]] = field(default_factory=list)  # [{name, before, after}]
    next_item: int | None = None


# -- the robot's side ---------------------------------------------------------------------

def _text(value: Any, what: str) -> str:
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise Invalid(f"{what} must be text or a number")
    text = str(value)
    if len(text) > MAX_VALUE or "\x00" in text:
        raise Invalid(f"{what} must be up to {MAX_VALUE} characters, without NUL")
    return text


def _image(data: Any, name: str) -> bytes | None:
    if data is None or data == "":
        return None
    try:
        png = base64.b64decode(str(data), validate=True)
    except (binascii.Error, ValueError):
        raise Invalid(f"field '{name}': image must be a PNG in base64") from None
    if len(png) > MAX_IMAGE_BYTES or not png.startswith(PNG):
        raise Invalid(f"field '{name}': image must be a PNG of up to {MAX_IMAGE_BYTES:,} bytes")
    return png


def parse_fields(raw: Any) -> tuple[list[dict[str, Any]], dict[str, bytes]]:
    """A review request's fields, checked, and their crops: ([{name, label, kind, record,
    found, confidence, verdict, image: bool}], {name: png})."""
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_FIELDS:
        raise Invalid(f"a review needs 1-{MAX_FIELDS} fields")
    fields: list[dict[str, Any]] = []
    images: dict[str, bytes] = {}
    for n, f in enumerate(raw):
        if not isinstance(f, Mapping):
            raise Invalid(f"field {n} must be a map with name, record and found")
        name = str(f.get("name") or "").strip()
        if not name or len(name) > 200 or any(f2["name"] == name for f2 in fields):
            raise Invalid(f"field {n}: each field needs a name of its own (1-200 characters)")
        kind, verdict = f.get("kind") or "text", f.get("verdict") or "unsure"
        if kind not in KINDS:
            raise Invalid(f"field '{name}': kind must be one of {', '.join(KINDS)}, "
                          f"not '{kind}'")
        if verdict not in VERDICTS:
            raise Invalid(f"field '{name}': verdict must be one of {', '.join(VERDICTS)}, "
                          f"not '{verdict}'")
        confidence = f.get("confidence") or 0.0
        if isinstance(confidence, bool) or not isinstance(confidence, int | float) \
                or not 0 <= confidence <= 1:
            raise Invalid(f"field '{name}': confidence must be a number from 0 to 1")
        png = _image(f.get("image"), name)
        if png is not None:
            images[name] = png
        fields.append({"name": name, "label": _text(f.get("label"), "label") or name,
                       "kind": kind, "record": _text(f.get("record"), f"'{name}' record"),
                       "found": _text(f.get("found"), f"'{name}' found"),
                       "confidence": float(confidence), "verdict": verdict,
                       "image": png is not None})
    return fields, images


def known(db: Session | Connection, item_id: int) -> int:
    """The waiting review of an item reported in_review again without its evidence (a
    repeat); an item handed over without evidence is refused (the transaction is undone)."""
    found = connection_of(db).execute(select(Review.id).where(
        Review.item_id == item_id, Review.state.in_(WAITING))).scalar()
    if found is None:
        raise Invalid("an in_review outcome comes with its review (fields with both values, "
                      "reason): what people need to decide")
    return int(found)


def hand_over(db: Session | Connection, item_id: int, job_id: int, request: Mapping[str, Any],
              now: dt.datetime | None = None) -> int:
    """Keep the evidence of an item its job reported in_review (queue_work.report, in the
    same transaction): a new open review; its id. The next queue must exist now, so that an
    approval never fails for a queue nobody made."""
    conn = connection_of(db)
    fields, images = parse_fields(request.get("fields"))
    repeated = conn.execute(select(Review.id).where(
        Review.item_id == item_id, Review.state.in_(WAITING))).scalar()
    if repeated is not None:  # the same report again (its reply was lost)
        return int(repeated)
    item = conn.execute(select(QueueItem.queue, QueueItem.reference)
                        .where(QueueItem.id == item_id)).one()
    next_queue = request.get("next_queue") or conn.execute(
        select(Queue.review_next).where(Queue.name == item.queue)).scalar()
    if next_queue is not None and conn.execute(
            select(Queue.name).where(Queue.name == next_queue)).first() is None:
        known = sorted(conn.scalars(select(Queue.name)))
        raise NotFound(queues.no_queue(str(next_queue), known))
    robot = conn.execute(select(Job.robot).where(Job.id == job_id)).scalar() or ""
    reason = _text(request.get("reason"), "the reason")[:2000]
    review_id: int = conn.execute(insert(Review).values(
        item_id=item_id, queue=item.queue, reference=item.reference, job_id=job_id,
        robot=robot, reason=reason, next_queue=next_queue, fields=fields,
        state=ReviewState.OPEN.value, requested=now or utcnow(), opened={},
        review_seconds=0.0).returning(Review.id)).scalar_one()
    if images:
        conn.execute(insert(ReviewImage), [{"review_id": review_id, "field": name, "png": png}
                                           for name, png in images.items()])
    return review_id


# -- reading --------------------------------------------------------------------------------

def waiting(session: Session, queue: str | None = None, limit: int = 200) -> list[Review]:
    """Reviews people still have to decide (oldest first), of one queue or all."""
    query = (select(Review).where(Review.state.in_(WAITING)).order_by(Review.id).limit(limit))
    if queue is not None:
        query = query.where(Review.queue == queue)
    return list(session.scalars(query))


def waiting_counts(session: Session) -> dict[str, int]:
    """Reviews waiting per queue."""
    counts: dict[str, int] = {}
    for name in session.scalars(select(Review.queue).where(Review.state.in_(WAITING))):
        counts[name] = counts.get(name, 0) + 1
    return dict(sorted(counts.items()))


def get(session: Session, review_id: int, *, lock: bool = False) -> Review:
    pg = session.get_bind().dialect.name == "postgresql"
    review = session.get(Review, review_id, with_for_update=lock and pg)
    if review is None:
        raise NotFound(f"no review {review_id}; GET /api/v1/reviews lists those waiting")
    return review


def image(session: Session, review_id: int, name: str) -> bytes:
    get(session, review_id)
    found = session.get(ReviewImage, (review_id, name))
    if found is None:
        raise NotFound(f"review {review_id} has no image for field '{name}'")
    return found.png


def next_waiting(session: Session, after: Review, who: str) -> Review | None:
    """The next review of the same queue that `who` can act on (not their own change)."""
    for review in session.scalars(select(Review).where(
            Review.state.in_(WAITING), Review.queue == after.queue, Review.id != after.id)
            .order_by((Review.id > after.id).desc(), Review.id).limit(50)):
        if not (review.state == ReviewState.AWAITING_SECOND and review.decided_by == who):
            return review
    return None


def view(review: Review) -> dict[str, Any]:
    """The review as the API answers it (images as the addresses to get them)."""
    base = f"/api/v1/reviews/{review.id}/images/"
    return {"id": review.id, "item_id": review.item_id, "queue": review.queue,
            "reference": review.reference, "job_id": review.job_id, "robot": review.robot,
            "reason": review.reason, "next_queue": review.next_queue, "state": review.state,
            "fields": [{**f, "image": base + f["name"] if f["image"] else None,
                        "sensitive": f["kind"] in SENSITIVE} for f in review.fields],
            "requested": aware(review.requested), "decision": review.decision,
            "decided_by": review.decided_by, "approved_by": review.approved_by,
            "finished": aware(review.finished) if review.finished else None,
            "review_minutes": round(review.review_seconds / 60, 2),
            "next_item_id": review.next_item_id}


# -- deciding -------------------------------------------------------------------------------

def open_by(session: Session, review_id: int, who: str, now: dt.datetime | None = None
            ) -> Review:
    """A reviewer opened the review: their review minutes run from the first time."""
    review = get(session, review_id, lock=True)
    if review.state in WAITING and who not in review.opened:
        review.opened = {**review.opened, who: (now or utcnow()).isoformat()}
    return review


def minutes_spent(opened: str | None, decided: dt.datetime) -> float:
    """A reviewer's minutes on one decision: from their opening to the decision, capped at
    MAX_REVIEW_MINUTES; never opened (an API call straight away): none."""
    if not opened:
        return 0.0
    spent = (aware(decided) - aware(dt.datetime.fromisoformat(opened))).total_seconds() / 60
    return max(0.0, min(MAX_REVIEW_MINUTES, spent))


def _move(review: Review, wanted: ReviewState) -> None:
    if wanted not in TRANSITIONS[ReviewState(review.state)]:
        raise Conflict(f"review {review.id} ('{review.reference}') is {review.state}: it "
                       f"cannot become {wanted.value}")
    review.state = wanted.value


def _count_minutes(session: Session, review: Review, who: str, now: dt.datetime) -> None:
    minutes = minutes_spent(review.opened.get(who), now)
    review.review_seconds += minutes * 60
    if minutes and review.robot:
        kpi.record_review(session, robot=review.robot, day=kpi.day_of(now), minutes=minutes)


def _decided_values(review: Review, action: str, use: str,
                    values: Mapping[str, Any] | None) -> dict[str, str]:
    record = {f["name"]: f["record"] for f in review.fields}
    if action == "accept":
        if use not in ("record", "found"):
            raise Invalid(f"use must be record (the system is right) or found (the document "
                          f"is), not '{use}'")
        return {f["name"]: f[use] for f in review.fields}
    given = dict(values or {})
    unknown = sorted(set(given) - set(record))
    if unknown:
        raise Invalid(f"review {review.id} has no field {', '.join(unknown)} (its fields: "
                      f"{', '.join(record)})")
    if not given:
        raise Invalid("a correction needs the new value of at least one field (values)")
    return {**record, **{k: _text(v, f"'{k}'") for k, v in given.items()}}


PEOPLE_ONLY = ("a change to an account number or an amount, and its approval, are made by "
               "people signed in to the console: four-eyes must know they are two different "
               "people, and an API token names no person (one person may hold two tokens)")


def decide(session: Session, review_id: int, who: str, action: str, *, use: str = "record",
           values: Mapping[str, Any] | None = None, reason: str = "",
           now: dt.datetime | None = None, person: bool = True) -> Decided:
    """The first reviewer's decision (accept, correct, reject); a reject is also what a second
    reviewer does to send back a change they do not approve. `person`: False for an API
    token, which may decide everything but a change that needs four-eyes."""
    now = now or utcnow()
    if action not in ACTIONS:
        raise Invalid(f"action must be one of {', '.join(ACTIONS)}, not '{action}'")
    review = get(session, review_id, lock=True)
    before = {f["name"]: f["record"] for f in review.fields}
    if action == "reject":
        if not reason.strip():
            raise Invalid("a rejection needs a reason (the item ends a business exception "
                          "with it)")
        if review.state not in WAITING:
            raise _ended(review)
        return _reject(session, review, who, reason.strip(), now, before)
    if review.state != ReviewState.OPEN:
        if review.state == ReviewState.AWAITING_SECOND:
            raise Conflict(f"review {review.id} ('{review.reference}') already has a decision "
                           f"by {review.decided_by} that waits for a second reviewer: approve "
                           "or reject it")
        raise _ended(review)
    after = _decided_values(review, action, use, values)
    sensitive = {f["name"] for f in review.fields if f["kind"] in SENSITIVE}
    changes = [{"name": n, "before": before[n], "after": after[n]}
               for n in before if after[n] != before[n]]
    needs_second = any(c["name"] in sensitive for c in changes)
    if needs_second and not person:
        raise Forbidden(PEOPLE_ONLY)
    review.decision = {"action": action, "use": use if action == "accept" else None,
                       "by": who, "at": now.isoformat(), "values": after, "changes": changes,
                       "reason": reason.strip()}
    review.decided_by = who
    _count_minutes(session, review, who, now)
    decided = Decided(review, before, after, changes)
    if needs_second:
        _move(review, ReviewState.AWAITING_SECOND)
        return decided
    return _approve(session, review, now, decided)


def approve(session: Session, review_id: int, who: str, now: dt.datetime | None = None,
            *, person: bool = True) -> Decided:
    """A second reviewer approves a change to an account number or an amount (four-eyes)."""
    now = now or utcnow()
    review = get(session, review_id, lock=True)
    if review.state != ReviewState.AWAITING_SECOND:
        if review.state == ReviewState.OPEN:
            raise Conflict(f"review {review.id} ('{review.reference}') has no decision to "
                           "approve yet: accept, correct or reject it")
        raise _ended(review)
    if not person:
        raise Forbidden(PEOPLE_ONLY)
    decision = review.decision or {}
    if who == review.decided_by:
        changed = ", ".join(c["name"] for c in decision.get("changes", []))
        raise Forbidden(f"you changed {changed} of review {review.id} ('{review.reference}') "
                        "yourself: a change to an account number or an amount needs a "
                        "second, different reviewer to approve it (four-eyes)")
    review.approved_by = who
    _count_minutes(session, review, who, now)
    before = {f["name"]: f["record"] for f in review.fields}
    decided = Decided(review, before, dict(decision.get("values", before)),
                      list(decision.get("changes", [])))
    return _approve(session, review, now, decided)


def _ended(review: Review) -> Conflict:
    return Conflict(f"review {review.id} ('{review.reference}') was already {review.state} "
                    f"by {review.approved_by or review.decided_by}: nothing is left to decide")


def _item(session: Session, review: Review, wanted: ItemState) -> QueueItem:
    item = session.get(QueueItem, review.item_id)
    if item is None or not queues.may_become(item.state, wanted):
        state = "gone" if item is None else item.state
        raise Conflict(f"queue item {review.item_id} ('{review.reference}') is {state}, no "
                       "longer in review (retried or abandoned by people?); the review "
                       "cannot end it")
    return item


def _approve(session: Session, review: Review, now: dt.datetime, decided: Decided
             ) -> Decided:
    item = _item(session, review, ItemState.REVIEWED)
    who = review.decided_by or ""
    by = who + (f", approved by {review.approved_by}" if review.approved_by else "")
    if review.next_queue is not None:
        payload = {**item.payload, **decided.after,
                   "review": {"id": review.id, "decided_by": who,
                              "approved_by": review.approved_by,
                              "changes": decided.changes, "from_queue": review.queue}}
        added = queues.add_items(session, review.next_queue,
                                 [{"reference": review.reference, "payload": payload,
                                   "priority": item.priority}])
        if not added["added"]:
            raise Conflict(f"queue '{review.next_queue}' already has an item "
                           f"'{review.reference}': nothing was approved")
        decided.next_item = review.next_item_id = session.scalar(
            select(QueueItem.id).where(QueueItem.queue == review.next_queue,
                                       QueueItem.reference == review.reference))
    _move(review, ReviewState.APPROVED)
    review.finished = now
    item.state, item.updated = ItemState.REVIEWED.value, now
    item.message = (f"reviewed by {by}" + (f"; on to queue '{review.next_queue}'"
                                           if review.next_queue else ""))[:queues.MAX_MESSAGE]
    return decided


def _reject(session: Session, review: Review, who: str, reason: str, now: dt.datetime,
            before: dict[str, str]) -> Decided:
    item = _item(session, review, ItemState.BUSINESS_EXCEPTION)
    if review.state == ReviewState.AWAITING_SECOND:
        review.approved_by = who  # the second reviewer's word, though it is a no
    else:
        review.decided_by = who
        review.decision = {"action": "reject", "by": who, "at": now.isoformat(),
                           "values": before, "changes": [], "reason": reason}
    _count_minutes(session, review, who, now)
    _move(review, ReviewState.REJECTED)
    review.finished = now
    item.state, item.updated = ItemState.BUSINESS_EXCEPTION.value, now
    item.message = f"rejected in review by {who}: {reason}"[:queues.MAX_MESSAGE]
    return Decided(review, before, before)
