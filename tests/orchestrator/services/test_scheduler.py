"""The scheduler on a real SQLite file and a real PostgreSQL, driven by a fake clock: one job per
fire, the misfire policies, and two schedulers racing over the same fires."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from orchestrator import deploy, jobs, schedules
from orchestrator.db import make_engine, migrate, session_factory
from orchestrator.models import Fire, Job, Schedule
from orchestrator.services.scheduler import CATCH_UP_MAX, Scheduler

ROBOT = "robot: nightly-check\nsteps:\n  - log: hello\n"
ROOT = Path(__file__).resolve().parents[3]
CST = dt.timezone(dt.timedelta(hours=8))
MONDAY_7AM = dt.datetime(2026, 11, 23, 7, 0, tzinfo=CST)  # the watermark most tests start at


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> dt.datetime:
    """A time in November 2026, Beijing time (23 is a Monday)."""
    return dt.datetime(2026, 11, day, hour, minute, second, tzinfo=CST)


@pytest.fixture
def deployed(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    deploy_to(sessions, tmp_path)


def deploy_to(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    (tmp_path / "nightly-check.yaml").write_text(ROBOT, encoding="utf-8")
    with sessions.begin() as session:
        deploy.deploy_robot(session, tmp_path / "nightly-check.yaml")


def add(sessions: sessionmaker[Session], name: str = "daily", cron: str = "0 8 * * *",
        last_fire: dt.datetime | None = MONDAY_7AM, **kwargs: Any) -> None:
    values: dict[str, Any] = {"robot": "nightly-check", "timezone": "Asia/Shanghai",
                              "source": "test", **kwargs}
    if last_fire is not None:  # SQLite keeps no offset: the orchestrator stores UTC
        last_fire = last_fire.astimezone(dt.UTC)
    with sessions.begin() as session:
        session.add(Schedule(name=name, cron=cron, last_fire=last_fire, **values))


def fired(sessions: sessionmaker[Session]) -> list[tuple[str, dt.datetime, int | None]]:
    with sessions() as session:
        rows = session.execute(select(Fire.schedule, Fire.fire_time, Fire.job_id)
                               .order_by(Fire.schedule, Fire.fire_time))
        return [(s, schedules.as_utc(t).astimezone(CST), j) for s, t, j in rows]


def watermark(sessions: sessionmaker[Session], name: str = "daily") -> dt.datetime | None:
    with sessions() as session:
        row = session.get(Schedule, name)
        assert row is not None
        return None if row.last_fire is None else schedules.as_utc(row.last_fire)


def job_count(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(Job)) or 0


def test_each_fire_creates_exactly_one_job_with_the_schedules_settings(
        sessions: sessionmaker[Session], deployed: None) -> None:
    add(sessions, inputs={"day": "yesterday"}, priority=7, labels=["desktop"], timeout_s=600.0,
        max_attempts=3, retry_delay_s=30.0, retry_backoff=1.5)
    scheduler = Scheduler(sessions)
    assert scheduler.tick(at(23, 7, 59, 59)) == 0
    assert scheduler.next_due == at(23, 8)
    assert watermark(sessions) == MONDAY_7AM  # an idle tick writes nothing
    assert scheduler.tick(at(23, 8, 0, 0)) == 1
    assert scheduler.tick(at(23, 8, 0, 1)) == 0  # the same fire again: nothing
    assert scheduler.tick(at(23, 8, 0, 30)) == 0
    assert scheduler.next_due == at(24, 8)
    assert watermark(sessions) == at(23, 8)  # moved when it fired, not by idle ticks
    assert scheduler.tick(at(24, 8, 0, 2)) == 1
    (_, first, job_id), (_, second, _) = fired(sessions)
    assert (first, second) == (at(23, 8), at(24, 8))
    with sessions() as session:
        job = session.get(Job, job_id)
        assert job is not None
        assert (job.robot, job.inputs, job.priority, job.labels, job.timeout_s, job.max_attempts,
                job.retry_delay_s, job.retry_backoff, job.schedule, job.source, job.state) == (
            "nightly-check", {"day": "yesterday"}, 7, ["desktop"], 600.0, 3, 30.0, 1.5, "daily",
            "schedule", "queued")
    assert job_count(sessions) == 2


def test_a_new_schedule_never_fires_for_the_past(sessions: sessionmaker[Session],
                                                 deployed: None) -> None:
    add(sessions, last_fire=None, misfire="catch_up")
    scheduler = Scheduler(sessions)
    assert scheduler.tick(at(23, 9)) == 0  # 08:00 today was before it was seen
    assert watermark(sessions) == at(23, 9)
    assert scheduler.tick(at(24, 8, 0, 1)) == 1
    assert [t for _, t, _ in fired(sessions)] == [at(24, 8)]


@pytest.mark.parametrize(("misfire", "expected"), [
    ("skip", [at(26, 8)]),  # 08:00 on the 26th is 20 s late: on time (grace 60 s)
    ("run_once", [at(26, 8)]),
    ("catch_up", [at(23, 8), at(24, 8), at(25, 8), at(26, 8)]),
])
def test_misfire_policies_after_an_outage(sessions: sessionmaker[Session], deployed: None,
                                          misfire: str, expected: list[dt.datetime]) -> None:
    add(sessions, misfire=misfire)
    assert Scheduler(sessions).tick(at(26, 8, 0, 20)) == len(expected)
    assert [t for _, t, _ in fired(sessions)] == expected


@pytest.mark.parametrize(("misfire", "expected"), [
    ("skip", []),
    ("run_once", [at(25, 8)]),  # everything missed becomes one job, for the latest fire
    ("catch_up", [at(23, 8), at(24, 8), at(25, 8)]),
])
def test_misfire_policies_when_every_fire_was_missed(
        sessions: sessionmaker[Session], deployed: None, misfire: str,
        expected: list[dt.datetime]) -> None:
    add(sessions, misfire=misfire)
    scheduler = Scheduler(sessions)
    assert scheduler.tick(at(25, 9, 30)) == len(expected)
    assert scheduler.tick(at(25, 9, 31)) == 0  # dropped fires stay dropped
    assert [t for _, t, _ in fired(sessions)] == expected
    assert scheduler.tick(at(26, 8, 0, 1)) == 1  # and the next day fires as usual


def test_catch_up_is_capped(sessions: sessionmaker[Session], deployed: None) -> None:
    add(sessions, cron="* * * * * *", misfire="catch_up", last_fire=at(23, 8))
    assert Scheduler(sessions).tick(at(23, 8, 10)) == CATCH_UP_MAX  # 600 missed, the latest 100 run
    times = [t for _, t, _ in fired(sessions)]
    assert times[0] == at(23, 8, 8, 21) and times[-1] == at(23, 8, 10)
    assert job_count(sessions) == CATCH_UP_MAX


def test_disabled_schedules_do_not_fire(sessions: sessionmaker[Session], deployed: None) -> None:
    add(sessions, enabled=False)
    assert Scheduler(sessions).tick(at(23, 8, 0, 1)) == 0
    assert fired(sessions) == []


def test_a_robot_that_is_not_deployed_records_the_fire_once_and_logs(
        sessions: sessionmaker[Session], deployed: None, caplog: pytest.LogCaptureFixture) -> None:
    add(sessions, name="orphan", robot="gone-robot")
    add(sessions, name="fine")
    scheduler = Scheduler(sessions)
    with caplog.at_level(logging.ERROR, "workhand.scheduler"):
        assert scheduler.tick(at(23, 8, 0, 1)) == 1
        assert scheduler.tick(at(23, 8, 0, 2)) == 0
    assert [(s, j is None) for s, _, j in fired(sessions)] == [("fine", False), ("orphan", True)]
    assert job_count(sessions) == 1
    assert len([r for r in caplog.records if "gone-robot" in r.getMessage()]) == 1
    assert "schedule orphan fired at 2026-11-23T00:00:00+00:00 but started no job: robot " \
           "'gone-robot' is not deployed" in caplog.text


def test_an_unexpected_error_leaves_the_fire_for_the_next_tick(
        sessions: sessionmaker[Session], deployed: None, monkeypatch: pytest.MonkeyPatch) -> None:
    add(sessions, name="flaky")
    add(sessions, name="steady")
    real = jobs.create_job
    broken = {"flaky"}

    def create_job(session: Session, **kwargs: Any) -> Job:
        if kwargs["schedule"] in broken:
            raise RuntimeError("the database went away")
        return real(session, **kwargs)

    monkeypatch.setattr(jobs, "create_job", create_job)
    scheduler = Scheduler(sessions)
    assert scheduler.tick(at(23, 8, 0, 1)) == 1  # the other schedule is not held up
    assert [s for s, _, _ in fired(sessions)] == ["steady"]
    broken.clear()
    assert scheduler.tick(at(23, 8, 0, 2)) == 1
    assert [(s, t) for s, t, _ in fired(sessions)] == [("flaky", at(23, 8)), ("steady", at(23, 8))]


def test_a_broken_row_is_logged_once_and_skipped(sessions: sessionmaker[Session], deployed: None,
                                                caplog: pytest.LogCaptureFixture) -> None:
    add(sessions, name="broken", cron="0 8 * *")
    add(sessions, name="fine")
    scheduler = Scheduler(sessions)
    with caplog.at_level(logging.ERROR, "workhand.scheduler"):
        assert scheduler.tick(at(23, 8, 0, 1)) == 1
        assert scheduler.tick(at(23, 8, 0, 2)) == 0
    assert len([r for r in caplog.records if "broken" in r.getMessage()]) == 1


def test_the_example_s2_schedule_fires_at_8_beijing_time(
        sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        deploy.deploy_folder(session, ROOT / "robots")
        specs = schedules.load_schedules(ROOT / "schedules", schedules.deployed_robots(session))
        schedules.sync(session, specs, "schedules", now=at(23, 7))
    assert Scheduler(sessions).tick(at(23, 8, 0, 1)) == 1
    with sessions() as session:
        job = session.scalars(select(Job)).one()
        assert (job.robot, job.schedule, job.priority, job.max_attempts) == (
            "image-filing-check", "s2-filing-check-daily", 10, 3)


def test_the_service_thread_fires_and_stops(sessions: sessionmaker[Session],
                                           deployed: None) -> None:
    add(sessions, cron="* * * * * *", last_fire=dt.datetime.now(dt.UTC))
    scheduler = Scheduler(sessions)
    scheduler.start()
    try:
        deadline = time.monotonic() + 10
        while job_count(sessions) == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        scheduler.stop()
    assert job_count(sessions) >= 1
    assert not scheduler._thread.is_alive()


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_two_schedulers_racing_fire_each_fire_exactly_once(
        database: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """Two processes' worth of schedulers (own engines) tick the same fake seconds in step."""
    url = request.getfixturevalue("sqlite_url" if database == "sqlite" else "pg_url")
    engines = [make_engine(url), make_engine(url)]
    migrate(engines[0])
    makers = [session_factory(engine) for engine in engines]
    deploy_to(makers[0], tmp_path)
    start = at(23, 8)
    add(makers[0], "every-second", cron="* * * * * *", misfire="run_once", last_fire=start)
    add(makers[0], "every-other", cron="*/2 * * * * *", misfire="skip", last_fire=start)
    add(makers[0], "catching-up", cron="* * * * * *", misfire="catch_up", last_fire=start)
    steps = [start + dt.timedelta(seconds=0.5 * k) for k in range(1, 41)]  # 20 s of fires
    barrier = threading.Barrier(2)
    created = [0, 0]
    errors: list[BaseException] = []

    def run(index: int) -> None:
        scheduler = Scheduler(makers[index])
        try:
            for now in steps:
                barrier.wait(timeout=30)
                created[index] += scheduler.tick(now)
        except BaseException as err:  # shown by the assertion below
            errors.append(err)
            barrier.abort()

    threads = [threading.Thread(target=run, args=(i,)) for i in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    try:
        assert errors == []
        rows = fired(makers[0])
        expected = 20 + 10 + 20
        assert len(rows) == expected and sum(created) == expected
        assert len({(s, t) for s, t, _ in rows}) == expected
        job_ids = [j for _, _, j in rows]
        assert None not in job_ids and len(set(job_ids)) == expected
        with makers[0]() as session:
            assert set(session.scalars(select(Job.id))) == set(job_ids)  # no job without a fire
    finally:
        for engine in engines:
            engine.dispose()
