"""Human review on real SQLite and PostgreSQL: the item's and the review's state machines,
four-eyes (a change to an account number or an amount needs a second, different reviewer),
approved items flowing on to the next queue exactly once, rejections, and review minutes
taken off the KPI's minutes saved."""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from orchestrator import kpi, queue_work, queues, review
from orchestrator.models import KpiDaily, QueueItem, Review
from orchestrator.queues import ITEM_TRANSITIONS, ItemState, may_become
from orchestrator.refusals import Conflict, Forbidden, Invalid, NotFound
from orchestrator.review import TRANSITIONS, ReviewState
from orchestrator.settings import Settings

Sessions = sessionmaker[Session]
NOW = dt.datetime(2026, 12, 4, 2, 0, tzinfo=dt.UTC)
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20).decode()
FIELDS = [
    {"name": "account", "label": "账号", "kind": "account", "record": "6222020200112233",
     "found": "6222020200112233", "confidence": 0.99, "verdict": "identical"},
    {"name": "amount", "label": "金额", "kind": "amount", "record": "1200.00",
     "found": "1209.00", "confidence": 0.61, "verdict": "different", "image": PNG},
    {"name": "payee", "label": "收款人", "kind": "name", "record": "张三", "found": "张 三",
     "confidence": 0.8, "verdict": "unsure"},
]


def test_the_item_state_machine_declares_every_state_and_the_review_moves() -> None:
    assert set(ITEM_TRANSITIONS) == set(ItemState)
    assert may_become("in_progress", ItemState.IN_REVIEW)
    assert ITEM_TRANSITIONS[ItemState.IN_REVIEW] == {ItemState.REVIEWED,
                                                     ItemState.BUSINESS_EXCEPTION}
    assert not may_become("reviewed", ItemState.NEW)  # approved: it lives on in the next queue
    assert not may_become("new", ItemState.IN_REVIEW)  # only a robot working it hands it over
    for state in queues.CAN_RETRY:
        assert may_become(state, ItemState.NEW)
    for state in queues.CAN_ABANDON:
        assert may_become(state, ItemState.ABANDONED)
    assert set(TRANSITIONS) == set(ReviewState)
    assert TRANSITIONS[ReviewState.AWAITING_SECOND] == {ReviewState.APPROVED,
                                                        ReviewState.REJECTED}
    assert not TRANSITIONS[ReviewState.APPROVED] and not TRANSITIONS[ReviewState.REJECTED]


def test_review_minutes_run_from_opening_to_deciding_and_are_capped() -> None:
    opened = NOW.isoformat()
    assert review.minutes_spent(opened, NOW + dt.timedelta(minutes=3, seconds=30)) == 3.5
    assert review.minutes_spent(opened, NOW + dt.timedelta(hours=2)) == \
        review.MAX_REVIEW_MINUTES
    assert review.minutes_spent(None, NOW) == 0.0  # never opened: nothing measured
    assert review.minutes_spent(opened, NOW - dt.timedelta(minutes=1)) == 0.0


def test_hours_saved_take_off_the_review_minutes(sessions: Sessions) -> None:
    """items done × manual minutes − minutes people spent on items handed back."""
    day = dt.date(2026, 12, 4)
    with sessions.begin() as session:
        kpi.record(session, robot="vouchers", day=day, succeeded=True,
                   items={"done": 10, "business_exceptions": 0}, robot_seconds=60,
                   savings={"minutes_per_item": 7})
        kpi.record_review(session, robot="vouchers", day=day, minutes=3.5)
        kpi.record_review(session, robot="vouchers", day=day, minutes=1.5)
    with sessions.begin() as session:
        row = session.get(KpiDaily, ("vouchers", day))
        assert row is not None and (row.minutes_saved, row.review_minutes) == (65.0, 5.0)
        totals = kpi.query(session, Settings(), start=day, end=day)["totals"]
    assert (totals["minutes_saved"], totals["review_minutes"], totals["hours_saved"],
            totals["runs"], totals["items_done"]) == (65.0, 5.0, 1.08, 1, 10)


@pytest.fixture
def setup(sessions: Sessions) -> Sessions:
    with sessions.begin() as session:
        queues.create_queue(session, "核对后入账")
        queues.create_queue(session, "凭证核对", review_next="核对后入账")
    return sessions


def hand_over(sessions: Sessions, reference: str = "V-1", fields: Any = None,
              **request: Any) -> int:
    with sessions.begin() as session:
        queues.add_items(session, "凭证核对", [{"reference": reference,
                                               "payload": {"amount": "1200.00", "no": 7}}])
        leased = queue_work.lease_item(session, "凭证核对", 1, 30, now=NOW)
        assert leased is not None
        assert queue_work.report(session, leased.id, 1, "in_review", "金额不一致",
                                 now=NOW)["state"] == "in_review"
        return review.hand_over(session, leased.id, 1, {
            "reason": "金额不一致", "fields": FIELDS if fields is None else fields, **request})


def item_of(sessions: Sessions, queue: str, reference: str) -> QueueItem | None:
    with sessions.begin() as session:
        found = session.scalar(select(QueueItem).where(QueueItem.queue == queue,
                                                       QueueItem.reference == reference))
        session.expunge_all()
        return found


def test_a_hand_over_keeps_the_evidence_and_the_item_waits_in_review(setup: Sessions) -> None:
    review_id = hand_over(setup)
    with setup.begin() as session:
        found = review.get(session, review_id)
        assert found.state == "open" and found.next_queue == "核对后入账"
        assert [f["image"] for f in found.fields] == [False, True, False]
        assert review.image(session, review_id, "amount").startswith(b"\x89PNG")
        with pytest.raises(NotFound, match="no image for field 'payee'"):
            review.image(session, review_id, "payee")
        assert [r.id for r in review.waiting(session, "凭证核对")] == [review_id]
        assert review.waiting_counts(session) == {"凭证核对": 1}
        assert queues.stats(session, "凭证核对")["in_review"] == 1
        # the same report again (its reply lost): the same review, not a second one
        assert review.hand_over(session, found.item_id, 1, {"fields": FIELDS}) == review_id


@pytest.mark.parametrize("bad, says", [
    ([], "1-100 fields"),
    ([{**FIELDS[0], "kind": "iban"}], "kind must be one of"),
    ([{**FIELDS[0], "verdict": "maybe"}], "verdict must be one of"),
    ([{**FIELDS[0], "confidence": 1.5}], "confidence must be a number from 0 to 1"),
    ([FIELDS[0], FIELDS[0]], "a name of its own"),
    ([{**FIELDS[0], "image": base64.b64encode(b"GIF89a").decode()}], "must be a PNG"),
])
def test_a_bad_request_is_refused_with_a_sentence(setup: Sessions, bad: Any,
                                                  says: str) -> None:
    with pytest.raises(Invalid, match=says):
        hand_over(setup, fields=bad)


def test_the_next_queue_must_exist_when_the_item_is_handed_over(setup: Sessions) -> None:
    with pytest.raises(NotFound, match="no work queue 'nowhere'"):
        hand_over(setup, next_queue="nowhere")
    with setup.begin() as session:
        with pytest.raises(NotFound, match="no work queue 'nowhere'"):
            queues.create_queue(session, "x", review_next="nowhere")
        with pytest.raises(Invalid, match="back into itself"):
            queues.create_queue(session, "x", review_next="x")


def test_accepting_the_record_ends_it_reviewed_and_it_flows_on_once(setup: Sessions) -> None:
    review_id = hand_over(setup)
    with setup.begin() as session:
        review.open_by(session, review_id, "alice", NOW)
        decided = review.decide(session, review_id, "alice", "accept", use="record",
                                now=NOW + dt.timedelta(minutes=2))
        assert decided.changes == [] and decided.review.state == "approved"
    after = item_of(setup, "核对后入账", "V-1")
    assert after is not None and after.state == "new"
    assert after.payload["amount"] == "1200.00" and after.payload["no"] == 7
    assert after.payload["review"]["decided_by"] == "alice"
    original = item_of(setup, "凭证核对", "V-1")
    assert original is not None and original.state == "reviewed"
    assert "reviewed by alice" in original.message
    with setup.begin() as session:
        assert session.get(Review, review_id).review_seconds == 120  # type: ignore[union-attr]
        with pytest.raises(Conflict, match="already approved"):
            review.decide(session, review_id, "bob", "accept")
        counts = queues.all_stats(session)
    assert (counts["凭证核对"]["total"], counts["核对后入账"]["total"]) == (1, 1)


def test_a_changed_amount_needs_a_second_different_reviewer(setup: Sessions) -> None:
    review_id = hand_over(setup)
    with setup.begin() as session:
        decided = review.decide(session, review_id, "alice", "correct",
                                values={"amount": "1290.00"})
        assert decided.review.state == "awaiting_second"
        assert decided.changes == [{"name": "amount", "before": "1200.00",
                                    "after": "1290.00"}]
    assert item_of(setup, "核对后入账", "V-1") is None  # nothing flows on yet
    with setup.begin() as session:
        with pytest.raises(Forbidden, match=r"you changed amount .* second, different reviewer"):
            review.approve(session, review_id, "alice")
        with pytest.raises(Conflict, match="waits for a second reviewer"):
            review.decide(session, review_id, "bob", "accept")
        assert review.next_waiting(session, review.get(session, review_id), "alice") is None
        decided = review.approve(session, review_id, "bob")
        assert decided.review.approved_by == "bob" and decided.next_item is not None
    after = item_of(setup, "核对后入账", "V-1")
    assert after is not None and after.payload["amount"] == "1290.00"
    assert after.payload["review"]["approved_by"] == "bob"
    original = item_of(setup, "凭证核对", "V-1")
    assert original is not None and original.state == "reviewed"


def test_accepting_a_found_amount_is_a_change_too(setup: Sessions) -> None:
    review_id = hand_over(setup)
    with setup.begin() as session:
        decided = review.decide(session, review_id, "alice", "accept", use="found")
        assert decided.review.state == "awaiting_second"
        assert {c["name"] for c in decided.changes} == {"amount", "payee"}


def test_a_change_to_a_name_alone_needs_one_reviewer(setup: Sessions) -> None:
    review_id, other = hand_over(setup), hand_over(setup, "V-2")
    with setup.begin() as session:
        decided = review.decide(session, review_id, "alice", "correct",
                                values={"payee": "张三丰"})
        assert decided.review.state == "approved"
        with pytest.raises(Invalid, match="has no field colour"):
            review.decide(session, other, "alice", "correct", values={"colour": "red"})


def test_a_rejection_ends_a_business_exception_with_the_reason(setup: Sessions) -> None:
    review_id = hand_over(setup)
    with setup.begin() as session:
        with pytest.raises(Invalid, match="needs a reason"):
            review.decide(session, review_id, "alice", "reject")
        review.decide(session, review_id, "alice", "correct", values={"amount": "1.00"})
        decided = review.decide(session, review_id, "bob", "reject", reason="凭证模糊，退回")
        assert decided.review.state == "rejected"
    original = item_of(setup, "凭证核对", "V-1")
    assert original is not None and original.state == "business_exception"
    assert original.message == "rejected in review by bob: 凭证模糊，退回"
    assert item_of(setup, "核对后入账", "V-1") is None


def test_an_item_retried_by_people_meanwhile_cannot_be_ended_by_its_review(
        setup: Sessions) -> None:
    review_id = hand_over(setup)
    with setup.begin() as session:
        item = session.get(QueueItem, review.get(session, review_id).item_id)
        assert item is not None
        item.state = "abandoned"
    with setup.begin() as session, pytest.raises(Conflict, match="no longer in review"):
        review.decide(session, review_id, "alice", "accept")
