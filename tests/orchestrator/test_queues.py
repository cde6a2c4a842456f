"""Work queues on a real SQLite file and a real PostgreSQL: unique references, lease order,
retries, taking items back, and many threads sharing one queue."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from orchestrator import deploy, dispatch, jobs, queue_work, queues
from orchestrator.models import QueueItem
from orchestrator.refusals import Conflict, Invalid, NotFound, Refusal
from orchestrator.settings import Settings

Sessions = sessionmaker[Session]
NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def queue(sessions: Sessions) -> str:
    with sessions.begin() as session:
        queues.create_queue(session, "年检账户", max_retries=2)
    return "年检账户"


def add(sessions: Sessions, queue: str, items: list[dict[str, Any]],
        on_duplicate: str = "skip") -> dict[str, int]:
    with sessions.begin() as session:
        return queues.add_items(session, queue, items, on_duplicate)


def lease(sessions: Sessions, queue: str, job_id: int = 1,
          now: dt.datetime | None = None) -> QueueItem | None:
    with sessions.begin() as session:
        return queue_work.lease_item(session, queue, job_id, 30, now=now)


def report(sessions: Sessions, item_id: int, outcome: str, job_id: int = 1,
           message: str = "") -> QueueItem:
    with sessions.begin() as session:
        queue_work.report(session, item_id, job_id, outcome, message)
        stored = session.get(QueueItem, item_id)
        assert stored is not None
        return stored


def counts(sessions: Sessions, queue: str) -> dict[str, int]:
    with sessions.begin() as session:
        return queues.stats(session, queue)


def refused(call: Callable[[], object]) -> Refusal:
    with pytest.raises(Refusal) as caught:
        call()
    return caught.value


def test_queue_names_are_unique_and_checked(sessions: Sessions, queue: str) -> None:
    with sessions.begin() as session:
        assert isinstance(refused(lambda: queues.create_queue(session, queue)), Conflict)
        assert isinstance(refused(lambda: queues.create_queue(session, "a/b")), Invalid)
        negative = refused(lambda: queues.create_queue(session, "x", max_retries=-1))
        assert isinstance(negative, Invalid)
        missing = refused(lambda: queues.add_items(session, "年检", []))
        assert isinstance(refused(lambda: queue_work.lease_item(session, "年检", 1, 30)), NotFound)
    assert isinstance(missing, NotFound) and "年检账户" in str(missing)


def test_a_reference_is_unique_in_its_queue(sessions: Sessions, queue: str) -> None:
    with sessions.begin() as session:
        queues.create_queue(session, "other")
    first = [{"reference": "0012345", "payload": {"企业名称": "甲公司"}},
             {"reference": "0012346", "payload": {}}, {"reference": "0012345", "payload": {}}]
    assert add(sessions, queue, first) == {"added": 2, "skipped": 1}
    assert add(sessions, queue, [{"reference": "0012346"}, {"reference": "0012347"}]) == {
        "added": 1, "skipped": 1}
    assert add(sessions, "other", [{"reference": "0012345"}]) == {"added": 1, "skipped": 0}
    with sessions.begin() as session:
        error = refused(lambda: queues.add_items(session, queue, [{"reference": "0012399"},
                                                                  {"reference": "0012346"}],
                                                 on_duplicate="error"))
    assert isinstance(error, Conflict) and "0012346" in str(error) and "0012399" not in str(error)
    with sessions.begin() as session:
        rows = session.scalars(select(QueueItem).where(QueueItem.queue == queue)
                               .order_by(QueueItem.id)).all()
        assert [r.reference for r in rows] == ["0012345", "0012346", "0012347"]
        assert rows[0].payload == {"企业名称": "甲公司"} and rows[0].state == "new"


def test_batches_count_added_and_skipped(sessions: Sessions, queue: str) -> None:
    """More items than one INSERT takes, with repeats across batch boundaries."""
    total = queues.BATCH * 2 + 500
    add(sessions, queue, [{"reference": f"R{i:06d}"} for i in range(0, total, 2)])
    result = add(sessions, queue, [{"reference": f"R{i:06d}", "payload": {"n": i}}
                                   for i in range(total)])
    assert result == {"added": total // 2, "skipped": total // 2}
    assert counts(sessions, queue)["new"] == total


@pytest.mark.parametrize(("item", "wanted"), [
    ({"reference": ""}, "item 0: the reference"),
    ({"reference": "x" * 501}, "item 0: the reference"),
    ({"reference": None}, "item 0: the reference must be text"),
    ({"reference": "a", "payload": [1]}, "the payload must be a map"),
    ({"reference": "a", "priority": "high"}, "the priority"),
    ({"reference": "a", "deadline": "next friday"}, "not an ISO date-time"),
    ("0012345", "item 0: an item must be a map"),
    ({"reference": "a", "payload": {"k": "\ud800"}}, "not valid Unicode"),
])
def test_bad_items_are_refused_with_a_reason(sessions: Sessions, queue: str,
                                             item: Any, wanted: str) -> None:
    with sessions.begin() as session:
        error = refused(lambda: queues.add_items(session, queue, [item]))
    assert isinstance(error, Invalid) and wanted in str(error)
    assert counts(sessions, queue)["total"] == 0


def test_priority_then_deadline_then_oldest(sessions: Sessions, queue: str) -> None:
    add(sessions, queue, [
        {"reference": "old-plain"},
        {"reference": "urgent-late", "priority": 5, "deadline": "2026-12-01T09:00:00+08:00"},
        {"reference": "urgent-no-deadline", "priority": 5},
        {"reference": "urgent-early", "priority": 5, "deadline": "2026-11-30T09:00:00"},
        {"reference": "new-plain"},
        {"reference": "low", "priority": -1, "deadline": "2026-11-01T00:00:00Z"},
    ])
    order = []
    while (item := lease(sessions, queue)) is not None:
        order.append(item.reference)
        report(sessions, item.id, "done")
    assert order == ["urgent-early", "urgent-late", "urgent-no-deadline", "old-plain",
                     "new-plain", "low"]


def test_a_lease_marks_the_item_in_progress(sessions: Sessions, queue: str) -> None:
    add(sessions, queue, [{"reference": "A", "payload": {"账号": "0012345"}}])
    item = lease(sessions, queue, job_id=7, now=NOW)
    assert item is not None and item.payload == {"账号": "0012345"}
    with sessions.begin() as session:
        stored = session.get(QueueItem, item.id)
        assert stored is not None
        assert (stored.state, stored.attempts, stored.job_id) == ("in_progress", 1, 7)
        assert jobs.aware(stored.lease_expires) == NOW + dt.timedelta(seconds=30)
    assert lease(sessions, queue, job_id=8, now=NOW) is None


def test_business_exceptions_are_never_retried(sessions: Sessions, queue: str) -> None:
    add(sessions, queue, [{"reference": "A"}])
    item = lease(sessions, queue)
    assert item is not None
    done = report(sessions, item.id, "business_exception", message="企业已注销，转网点复核")
    assert done.state == "business_exception" and done.message == "企业已注销，转网点复核"
    assert lease(sessions, queue) is None


def test_system_errors_are_retried_up_to_the_queue_limit(sessions: Sessions, queue: str) -> None:
    add(sessions, queue, [{"reference": "A"}])
    states = []
    while (item := lease(sessions, queue)) is not None:
        states.append(report(sessions, item.id, "system_error", message="页面超时").state)
    assert states == ["new", "new", "failed"]  # the first try and max_retries=2 more
    with sessions.begin() as session:
        stored = session.scalars(select(QueueItem)).one()
        assert (stored.attempts, stored.message, stored.job_id) == (3, "页面超时", 1)
    assert counts(sessions, queue)["failed"] == 1


def test_only_the_holding_job_may_report(sessions: Sessions, queue: str) -> None:
    add(sessions, queue, [{"reference": "A"}])
    item = lease(sessions, queue, job_id=1)
    assert item is not None
    assert isinstance(refused(lambda: report(sessions, item.id, "done", job_id=2)), Conflict)
    assert isinstance(refused(lambda: report(sessions, item.id, "finished")), Invalid)
    assert isinstance(refused(lambda: report(sessions, 10**9, "done")), NotFound)
    first = report(sessions, item.id, "done", message="first")
    # a reply lost, sent again: answered as the first was, and nothing of it changes
    again = report(sessions, item.id, "done", message="again")
    assert (first.state, again.state, again.message) == ("done", "done", "first")
    other = refused(lambda: report(sessions, item.id, "business_exception"))
    assert isinstance(other, Conflict) and "no longer held by job 1 (it is done)" in str(other)
    assert isinstance(refused(lambda: report(sessions, item.id, "done", job_id=2)), Conflict)
    assert counts(sessions, queue)["done"] == 1


def test_a_repeated_system_error_report_is_answered_as_the_first(sessions: Sessions,
                                                                  queue: str) -> None:
    with sessions.begin() as session:
        queues.create_queue(session, "no retries", max_retries=0)
    add(sessions, "no retries", [{"reference": "A"}])
    item = lease(sessions, "no retries", job_id=1)
    assert item is not None
    assert report(sessions, item.id, "system_error", message="页面超时").state == "failed"
    assert report(sessions, item.id, "system_error", message="页面超时").state == "failed"
    # with tries left the item is new again, nobody's: a repeat is refused (the robot leaves
    # it), and the item is not failed twice
    add(sessions, queue, [{"reference": "B"}])
    retried = lease(sessions, queue, job_id=1)
    assert retried is not None
    assert report(sessions, retried.id, "system_error").state == "new"
    assert isinstance(refused(lambda: report(sessions, retried.id, "system_error")), Conflict)
    with sessions.begin() as session:
        stored = session.get(QueueItem, retried.id)
        assert stored is not None and (stored.state, stored.attempts) == ("new", 1)


def test_an_unreported_item_is_taken_back_when_its_job_leases_again(
        sessions: Sessions, queue: str) -> None:
    add(sessions, queue, [{"reference": "A"}, {"reference": "B"}])
    first = lease(sessions, queue, job_id=1)
    assert first is not None and first.reference == "A"
    again = lease(sessions, queue, job_id=1)  # the reply to the first lease never arrived
    assert again is not None and again.reference == "A" and again.attempts == 2


@pytest.fixture
def running_job(sessions: Sessions, tmp_path: Path) -> tuple[int, Settings]:
    robot = tmp_path / "queue-robot.yaml"
    robot.write_text("robot: queue-robot\nsteps:\n  - log: hi\n", encoding="utf-8")
    settings = Settings(data_dir=tmp_path / "data", lease_seconds=30)
    with sessions.begin() as session:
        deploy.deploy_robot(session, robot)
        job_id = jobs.create_job(session, robot="queue-robot").id
    with sessions.begin() as session:
        [leased] = dispatch.lease(session, worker="w1", labels=[], settings=settings, now=NOW)
        assert leased["id"] == job_id
    return job_id, settings


def test_items_of_a_live_job_are_kept_and_of_a_dead_one_taken_back(
        sessions: Sessions, queue: str, running_job: tuple[int, Settings]) -> None:
    job_id, settings = running_job
    add(sessions, queue, [{"reference": "slow"}, {"reference": "lost"}])
    slow = lease(sessions, queue, job_id=job_id, now=NOW)
    lost = lease(sessions, queue, job_id=999, now=NOW)  # a job that no longer exists
    assert slow is not None and lost is not None
    later = NOW + dt.timedelta(seconds=31)  # both item leases have passed
    with sessions.begin() as session:  # the job heartbeats: it still holds a live lease
        jobs.heartbeat(session, job_id=job_id, worker="w1", attempt=1, settings=settings,
                       now=later)
        assert queues.requeue_expired(session, later) == 1
        assert session.get(QueueItem, lost.id).state == "new"  # type: ignore[union-attr]
        assert session.get(QueueItem, slow.id).state == "in_progress"  # type: ignore[union-attr]
    muted = later + dt.timedelta(seconds=31)  # its worker died: no heartbeat since
    with sessions.begin() as session:
        assert queues.requeue_expired(session, muted) == 1
        taken = session.get(QueueItem, slow.id)
        assert taken is not None and taken.state == "new" and taken.job_id is None
        assert "taken back" in taken.message
    with sessions.begin() as session:
        assert queues.requeue_expired(session, muted) == 0


def test_expired_items_out_of_retries_fail(sessions: Sessions) -> None:
    with sessions.begin() as session:
        queues.create_queue(session, "once", max_retries=0)
    add(sessions, "once", [{"reference": "A"}])
    assert lease(sessions, "once", job_id=5, now=NOW) is not None
    with sessions.begin() as session:  # the reaper, after job 5 stopped and the lease passed
        assert queues.requeue_expired(session, NOW + dt.timedelta(minutes=5)) == 1
    assert lease(sessions, "once", job_id=6, now=NOW + dt.timedelta(minutes=5)) is None
    assert counts(sessions, "once")["failed"] == 1


def test_files_of_rows_become_items(sessions: Sessions, queue: str, tmp_path: Path) -> None:
    gbk = tmp_path / "accounts.csv"
    gbk.write_bytes("账号,企业名称,网点\n0012345,甲商贸有限公司,长春分行\n0012346,乙公司,吉林分行\n"
                    .encode("gbk"))
    bom = tmp_path / "more.csv"
    bom.write_text("账号,企业名称\n0012346,乙公司\n0012347,丙公司\n", encoding="utf-8-sig")
    book = Workbook()
    book.active.append(["账号", "企业名称"])
    book.active.append([12348, "丁公司"])
    book.save(tmp_path / "more.xlsx")
    with sessions.begin() as session:
        assert queues.add_file(session, queue, gbk, "账号") == {"added": 2, "skipped": 0}
        assert queues.add_file(session, queue, bom, "账号") == {"added": 1, "skipped": 1}
        assert queues.add_file(session, queue, tmp_path / "more.xlsx", "账号") == {
            "added": 1, "skipped": 0}
        wrong = refused(lambda: queues.add_file(session, queue, gbk, "帐号"))
        assert isinstance(wrong, Invalid) and "账号, 企业名称, 网点" in str(wrong)
        items = queues.list_items(session, queue)
    assert [i.reference for i in items] == ["0012345", "0012346", "0012347", "12348"]
    assert items[0].payload == {"账号": "0012345", "企业名称": "甲商贸有限公司", "网点": "长春分行"}


def test_stats_count_every_state(sessions: Sessions, queue: str) -> None:
    add(sessions, queue, [{"reference": r} for r in "ABCD"])
    for outcome in ("done", "business_exception"):
        item = lease(sessions, queue)
        assert item is not None
        report(sessions, item.id, outcome)
    lease(sessions, queue, job_id=2)
    assert counts(sessions, queue) == {"new": 1, "in_progress": 1, "done": 1,
                                       "business_exception": 1, "failed": 0, "abandoned": 0,
                                       "in_review": 0, "reviewed": 0, "total": 4}


def test_threads_share_a_queue_without_losing_or_doubling_items(sessions: Sessions,
                                                               queue: str) -> None:
    total, workers = 2000, 4
    add(sessions, queue, [{"reference": f"{i:05d}", "payload": {"n": i}} for i in range(total)])
    held: dict[int, int] = {}  # item → the thread holding it now
    leased: list[int] = []
    problems: list[str] = []
    guard = threading.Lock()

    def work(me: int) -> None:
        try:
            while True:
                with sessions.begin() as session:
                    item = queue_work.lease_item(session, queue, job_id=me, lease_s=300)
                    if item is None:
                        return
                    item_id = item.id
                with guard:
                    if item_id in held:
                        problems.append(f"item {item_id} leased by {me} and {held[item_id]}")
                    held[item_id] = me
                    leased.append(item_id)
                with sessions.begin() as session:
                    queue_work.report(session, item_id, me, "done", "")
                with guard:
                    del held[item_id]
        except Exception as err:  # surfaced by the assertions below
            problems.append(repr(err))

    threads = [threading.Thread(target=work, args=(n + 1,)) for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert problems == []
    assert len(leased) == total and len(set(leased)) == total
    with sessions.begin() as session:
        rows = session.execute(select(QueueItem.state, func.max(QueueItem.attempts),
                                      func.count()).group_by(QueueItem.state)).all()
    assert [tuple(r) for r in rows] == [("done", 1, total)]


def test_people_abandon_items_and_retry_them(sessions: Sessions, queue: str) -> None:
    add(sessions, queue, [{"reference": r} for r in ("甲", "乙", "丙")])
    first = lease(sessions, queue, now=NOW)
    assert first is not None and first.reference == "甲"
    report(sessions, first.id, "business_exception", message="名称不符")
    with sessions.begin() as session:
        second = session.scalars(select(QueueItem).where(QueueItem.reference == "乙")).one()
        given_up = queues.abandon(session, second.id, "ops-lead")
        assert (given_up.state, given_up.message) == ("abandoned", "abandoned by ops-lead")
    third = lease(sessions, queue, now=NOW)
    assert third is not None and third.reference == "丙"  # 乙 is not handed out
    assert lease(sessions, queue, job_id=2, now=NOW) is None
    with sessions.begin() as session:
        assert queues.retry(session, second.id, "ops-lead").state == "new"
        again = queues.retry(session, first.id, "ops-lead")  # people fixed the name
        assert (again.state, again.attempts, again.job_id) == ("new", 0, None)
        running = refused(lambda: queues.retry(session, third.id, "x"))
        assert isinstance(running, Conflict)
        assert isinstance(refused(lambda: queues.abandon(session, 10**9, "x")), NotFound)
    assert {lease(sessions, queue, job_id=3, now=NOW).reference,  # type: ignore[union-attr]
            lease(sessions, queue, job_id=4, now=NOW).reference} == {"甲", "乙"}  # type: ignore[union-attr]
    report(sessions, third.id, "done")
    with sessions.begin() as session:
        assert isinstance(refused(lambda: queues.abandon(session, third.id, "x")), Conflict)  # done


def test_an_item_stuck_in_progress_for_a_day_is_abandoned(
        sessions: Sessions, queue: str, running_job: tuple[int, Settings]) -> None:
    job_id, _ = running_job
    add(sessions, queue, [{"reference": "hung"}])
    item = lease(sessions, queue, job_id=job_id, now=NOW)
    assert item is not None
    with sessions.begin() as session:
        assert queues.abandon_stuck(session, NOW + dt.timedelta(hours=23)) == 0
        assert queues.abandon_stuck(session, NOW + dt.timedelta(hours=25)) == 1
        stuck = session.get(QueueItem, item.id)
        assert stuck is not None and stuck.state == "abandoned" and "24 hours" in stuck.message
    assert isinstance(refused(lambda: report(sessions, item.id, "done", job_id=job_id)), Conflict)
