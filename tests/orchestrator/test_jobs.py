"""Jobs and dispatch rules on a real SQLite file and a real PostgreSQL: lease (one and many),
retry, report, cancel, reap."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from orchestrator import arrivals, deploy, dispatch, jobs, kpi
from orchestrator.models import Attempt, Job, JobItem, KpiDaily
from orchestrator.refusals import Conflict, NotFound, Refusal
from orchestrator.settings import Settings
from orchestrator.states import IllegalTransition, JobState

ROBOT = """robot: nightly-check
savings: {minutes_per_item: 10, review_minutes: 3, minutes_per_run: 5}
steps:
  - log: hello
"""


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", lease_seconds=30)


@pytest.fixture
def deployed(sessions: sessionmaker[Session], tmp_path: Path) -> str:
    (tmp_path / "nightly-check.yaml").write_text(ROBOT, encoding="utf-8")
    with sessions.begin() as session:
        return deploy.deploy_robot(session, tmp_path / "nightly-check.yaml").digest


def lease(session: Session, worker: str, labels: list[str], settings: Settings,
          now: dt.datetime | None = None) -> dict[str, Any] | None:
    got = dispatch.lease(session, worker=worker, labels=labels, settings=settings, now=now)
    return got[0] if got else None


def complete(session: Session, job_id: int, worker: str, attempt: int, status: str,
             settings: Settings, error: dict[str, Any] | None = None,
             result: dict[str, Any] | None = None, now: dt.datetime | None = None) -> str:
    return dispatch.complete_one(session, dispatch.Ending(job_id, worker, attempt, status, error,
                                                          result), settings, now)


def new_job(sessions: sessionmaker[Session], **kwargs: object) -> int:
    with sessions.begin() as session:
        return jobs.create_job(session, robot="nightly-check", **kwargs).id  # type: ignore[arg-type]


def test_unknown_robots_are_refused(sessions: sessionmaker[Session], deployed: str) -> None:
    with sessions.begin() as session, pytest.raises(Refusal) as caught:
        jobs.create_job(session, robot="nightly-chek")
    assert isinstance(caught.value, NotFound) and "nightly-check" in str(caught.value)


def test_priority_labels_and_not_before(sessions: sessionmaker[Session], deployed: str,
                                        settings: Settings) -> None:
    low = new_job(sessions)
    desktop = new_job(sessions, priority=5, labels=["desktop"])
    later = new_job(sessions, priority=9,
                    not_before=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1))
    with sessions.begin() as session:
        first = lease(session, "w1", [], settings)
        assert first is not None and first["id"] == low  # desktop needs a label, later must wait
    with sessions.begin() as session:
        got = lease(session, "w2", ["desktop"], settings)
        assert got is not None and got["id"] == desktop
    with sessions.begin() as session:
        assert lease(session, "w3", ["desktop"], settings) is None
    assert later not in (low, desktop)


def test_system_errors_retry_with_backoff_and_business_errors_do_not(
        sessions: sessionmaker[Session], deployed: str, settings: Settings) -> None:
    job_id = new_job(sessions, max_attempts=3, retry_delay_s=10, retry_backoff=2)
    now = dt.datetime.now(dt.UTC)
    for attempt, pause in ((1, 10), (2, 20)):
        with sessions.begin() as session:
            job = lease(session, "w", [], settings, now=now)
            assert job is not None and job["attempt"] == attempt
            assert complete(session, job_id, "w", attempt, "failed", settings, now=now,
                            error={"kind": "system", "message": "page crashed"}) == "retrying"
        with sessions() as session:
            stored = jobs.get_job(session, job_id)
            assert stored.state == "retrying"
            assert jobs.aware(stored.not_before) == now + dt.timedelta(seconds=pause)
        with sessions.begin() as session:  # not before its retry time
            assert lease(session, "w", [], settings, now=now) is None
        now += dt.timedelta(seconds=pause + 1)
    with sessions.begin() as session:
        job = lease(session, "w", [], settings, now=now)
        assert job is not None and job["attempt"] == 3
        assert complete(session, job_id, "w", 3, "failed", settings, now=now,
                        error={"kind": "system"}) == "failed"  # attempts used up
    business = new_job(sessions, max_attempts=3)
    with sessions.begin() as session:
        job = lease(session, "w", [], settings, now=now)
        assert job is not None and job["id"] == business
        assert complete(session, business, "w", 1, "failed", settings, now=now,
                        error={"kind": "business"}) == "failed"
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Attempt)) == 4


def test_success_records_items_and_savings(sessions: sessionmaker[Session], deployed: str,
                                           settings: Settings) -> None:
    job_id = new_job(sessions)
    result = {"status": "passed", "items": {"total": 3, "done": 2, "business_exceptions": 1,
                                            "system_errors": 0},
              "work_items": [{"id": "A1", "outcome": "done"}, {"id": "A2", "outcome": "done"},
                             {"id": "A3", "outcome": "business_exception", "message": "注销"}]}
    with sessions.begin() as session:
        lease(session, "w", [], settings)
        complete(session, job_id, "w", 1, "passed", settings, result=result)
    with sessions() as session:
        view = jobs.job_view(session, jobs.get_job(session, job_id))
        assert view["state"] == "succeeded"
        assert [i["reference"] for i in view["items"]] == ["A1", "A2", "A3"]
        assert session.scalar(select(func.count()).select_from(JobItem)) == 3
        daily = session.scalars(select(KpiDaily)).one()
        assert (daily.runs, daily.successes, daily.items_done,
                daily.business_exceptions) == (1, 1, 2, 1)
        assert daily.minutes_saved == 2 * 10 + 5 - 1 * 3


def test_a_failed_job_is_a_failure_in_the_kpi_not_a_success(
        sessions: sessionmaker[Session], deployed: str, settings: Settings) -> None:
    """One job passes, one fails for good, one fails with attempts left (retried, not yet a
    run): the board shows one success, one failure, and the failed job's items but no run
    minutes for it."""
    passed, failed, retried = new_job(sessions), new_job(sessions), new_job(sessions,
                                                                           max_attempts=2)
    with sessions.begin() as session:
        dispatch.lease(session, worker="w", labels=[], settings=settings, max_jobs=3)
        answers = dispatch.complete(session, [
            dispatch.Ending(passed, "w", 1, "passed", result={"work_items": [
                {"id": "A1", "outcome": "done"}, {"id": "A2", "outcome": "done"},
                {"id": "A3", "outcome": "business_exception"}]}),
            dispatch.Ending(failed, "w", 1, "failed", error={"kind": "business"}, result={
                "work_items": [{"id": "B1", "outcome": "done"},
                               {"id": "B2", "outcome": "system_error"}]}),
            dispatch.Ending(retried, "w", 1, "failed", error={"kind": "system"}),
        ], settings)
    assert [a["state"] for a in answers] == ["succeeded", "failed", "retrying"]
    with sessions() as session:
        totals = kpi.query(session, settings)["totals"]
    assert (totals["runs"], totals["successes"], totals["failures"]) == (2, 1, 1)
    assert totals["success_rate"] == 0.5
    assert (totals["items_done"], totals["business_exceptions"], totals["system_errors"]) == (
        3, 1, 1)
    # items done × 10 + one successful run × 5 − business exceptions × 3 (robot: ROBOT)
    assert totals["minutes_saved"] == 3 * 10 + 1 * 5 - 1 * 3


def test_a_stale_worker_cannot_report(sessions: sessionmaker[Session], deployed: str,
                                      settings: Settings) -> None:
    job_id = new_job(sessions, max_attempts=2)
    start = dt.datetime.now(dt.UTC)
    with sessions.begin() as session:
        lease(session, "dead", [], settings, now=start)
    later = start + dt.timedelta(seconds=settings.lease_seconds + 1)
    with sessions.begin() as session:
        assert dispatch.reap(session, settings, now=later) == 1
        job = jobs.get_job(session, job_id)
        assert job.state == "retrying" and "lease" in (job.error or {}).get("message", "")
    with sessions.begin() as session:
        job = lease(session, "alive", [], settings, now=later + dt.timedelta(minutes=5))
        assert job is not None and job["attempt"] == 2
    with sessions.begin() as session, pytest.raises(Refusal) as caught:
        complete(session, job_id, "dead", 1, "passed", settings)
    assert isinstance(caught.value, Conflict)


def test_cancel_waiting_and_running_jobs(sessions: sessionmaker[Session], deployed: str,
                                         settings: Settings) -> None:
    waiting, running = new_job(sessions), new_job(sessions)
    with sessions.begin() as session:
        assert jobs.cancel(session, waiting).state == "cancelled"
        leased = lease(session, "w", [], settings)
        assert leased is not None and leased["id"] == running
    with sessions.begin() as session:
        assert jobs.cancel(session, running).cancel_requested
        beat = jobs.heartbeat(session, job_id=running, worker="w", attempt=1, settings=settings)
        assert beat["cancel"]
    with sessions.begin() as session, pytest.raises(Refusal):
        jobs.cancel(session, waiting)


def test_finish_ends_only_running_jobs(sessions: sessionmaker[Session], deployed: str,
                                      settings: Settings) -> None:
    """The last line of defence behind the lease check: finish() asks states.check, so an
    ended job is never ended again and a waiting one never ends without running."""
    ended, waiting = new_job(sessions), new_job(sessions)
    with sessions.begin() as session:
        lease(session, "w", [], settings)
        complete(session, ended, "w", 1, "passed", settings)
    for job_id, wanted in ((ended, JobState.FAILED), (ended, JobState.SUCCEEDED),
                           (waiting, JobState.SUCCEEDED), (waiting, JobState.RETRYING)):
        with sessions.begin() as session:
            conn, run = dispatch.sql(session)
            [row] = conn.execute(run.read, {"ids": [job_id]}).all()
            with pytest.raises(IllegalTransition):
                dispatch.finish(session, [(row, wanted, None, None)], jobs.utcnow())
    with sessions() as session:
        assert [session.get_one(Job, i).state for i in (ended, waiting)] == ["succeeded",
                                                                             "queued"]
        assert session.scalars(select(KpiDaily)).one().runs == 1


def test_concurrent_leases_never_hand_out_a_job_twice(
        sessions: sessionmaker[Session], deployed: str, settings: Settings) -> None:
    ids = [new_job(sessions) for _ in range(40)]
    got: list[int] = []
    lock = threading.Lock()

    def worker(name: str) -> None:
        while True:
            with sessions.begin() as session:
                job = lease(session, name, [], settings)
                if job is None:
                    return
                with lock:
                    got.append(job["id"])

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == ids
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Job)
                              .where(Job.state == "running")) == 40


def test_a_worker_leases_several_jobs_by_priority_and_labels(
        sessions: sessionmaker[Session], deployed: str, settings: Settings) -> None:
    plain = [new_job(sessions) for _ in range(3)]
    urgent = new_job(sessions, priority=7)
    both = new_job(sessions, priority=9, labels=["desktop", "cn"])
    with sessions.begin() as session:
        got = dispatch.lease(session, worker="w", labels=["desktop"], settings=settings,
                             max_jobs=3)
    assert [j["id"] for j in got] == [urgent, plain[0], plain[1]]  # `both` needs cn too
    assert all(j["attempt"] == 1 and j["file"] == "nightly-check.yaml" for j in got)
    with sessions.begin() as session:
        got = dispatch.lease(session, worker="v", labels=["cn", "desktop", "x"],
                             settings=settings, max_jobs=5)
    assert [j["id"] for j in got] == [both, plain[2]]
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Attempt)) == 5


def test_one_report_of_several_endings_answers_each(
        sessions: sessionmaker[Session], deployed: str, settings: Settings) -> None:
    first, second, other = new_job(sessions), new_job(sessions), new_job(sessions)
    result = {"items": {"done": 2}, "work_items": [{"id": "A", "outcome": "done"},
                                                   {"id": "B", "outcome": "done"}]}
    with sessions.begin() as session:
        dispatch.lease(session, worker="w", labels=[], settings=settings, max_jobs=2)
        dispatch.lease(session, worker="z", labels=[], settings=settings)
    with sessions.begin() as session:
        answers = dispatch.complete(session, [
            dispatch.Ending(first, "w", 1, "passed", None, result),
            dispatch.Ending(second, "w", 1, "passed", None, result),
            dispatch.Ending(other, "w", 1, "passed"),  # z holds it
            dispatch.Ending(10**9, "w", 1, "passed"),
        ], settings)
    assert [a.get("state") or type(a["refused"]) for a in answers] == [
        "succeeded", "succeeded", Conflict, NotFound]
    with sessions() as session:
        day = session.scalars(select(KpiDaily)).one()  # both jobs in one upsert
        assert (day.runs, day.successes, day.items_done) == (2, 2, 4)
        assert day.minutes_saved == 2 * (2 * 10 + 5)
        assert session.scalar(select(func.count()).select_from(JobItem)) == 4
        assert jobs.get_job(session, other).state == "running"


def test_waiting_leases_are_woken_when_the_job_is_committed_not_before(
        sessions: sessionmaker[Session], deployed: str) -> None:
    seen = arrivals.arrivals.count
    with sessions.begin() as session:
        with session.begin_nested():  # as the scheduler creates a fire's job
            jobs.create_job(session, robot="nightly-check")
        assert arrivals.arrivals.count == seen  # a released savepoint is not a commit
        jobs.create_job(session, robot="nightly-check")
    assert arrivals.arrivals.count == seen + 1  # once, at the commit


def test_an_odd_result_is_stored_without_breaking_the_report(
        sessions: sessionmaker[Session], deployed: str, settings: Settings) -> None:
    job_id = new_job(sessions)
    odd = {"items": [1, 2], "work_items": [{"id": "A", "attempts": "twice",
                                            "duration_ms": None, "outcome": "done" * 20}, 7]}
    with sessions.begin() as session:
        lease(session, "w", [], settings)
        assert complete(session, job_id, "w", 1, "passed", settings, result=odd) == "succeeded"
    with sessions() as session:
        [item] = session.scalars(select(JobItem)).all()
        assert (item.reference, item.attempts, item.duration_ms) == ("A", 1, 0.0)
        assert session.scalars(select(KpiDaily)).one().items_done == 0


def test_a_report_sent_again_after_a_lost_answer_counts_once(
        sessions: sessionmaker[Session], deployed: str, settings: Settings) -> None:
    job_id = new_job(sessions, max_attempts=2)
    ending = dispatch.Ending(job_id, "w", 1, "passed", None, {
        "items": {"done": 2}, "work_items": [{"id": "A", "outcome": "done"},
                                             {"id": "B", "outcome": "done"}]})
    with sessions.begin() as session:
        lease(session, "w", [], settings)
        both = dispatch.complete(session, [ending, ending], settings)  # twice in one request
    assert both[0] == {"id": job_id, "state": "succeeded"}
    assert isinstance(both[1]["refused"], Conflict)
    with sessions.begin() as session:  # the answer was lost: the worker sends it again
        assert dispatch.complete(session, [ending], settings) == [
            {"id": job_id, "state": "succeeded"}]
        late = dispatch.Ending(job_id, "w", 1, "failed", {"kind": "business"})
        answer = dispatch.complete(session, [late], settings)[0]
        assert isinstance(answer["refused"], Conflict)  # not the same report
    with sessions() as session:
        assert session.scalars(select(KpiDaily)).one().items_done == 2


def test_a_lease_reads_the_ready_jobs_index(sessions: sessionmaker[Session], deployed: str,
                                            settings: Settings) -> None:
    """A backlog is read along ix_jobs_ready (priority, age), not sorted for every lease."""
    from sqlalchemy import inspect

    bind = sessions.kw["bind"]
    assert "ix_jobs_ready" in {i["name"] for i in inspect(bind).get_indexes("jobs")}
    ids = [new_job(sessions, priority=p) for p in (0, 2, 1, 2)]
    with sessions.begin() as session:
        got = dispatch.lease(session, worker="w", labels=[], settings=settings, max_jobs=4)
    assert [j["id"] for j in got] == [ids[1], ids[3], ids[2], ids[0]]
