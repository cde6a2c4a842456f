"""Waking waiting leases: one wake per job, to a waiter that can run it; wakes of a waiter that
left are passed on; retries wake at their time; PostgreSQL carries them across processes."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import text

from orchestrator import arrivals, deploy, jobs
from orchestrator.arrivals import Arrivals
from orchestrator.db import make_engine, migrate, session_factory
from orchestrator.services.listener import Listener


async def _waiting(hub: Arrivals, n: int) -> None:
    while hub.waiting < n:
        await asyncio.sleep(0.005)


def test_each_job_wakes_the_oldest_waiter_that_can_run_it() -> None:
    hub = Arrivals()

    async def scenario() -> None:
        plain = [asyncio.ensure_future(hub.wait(set(), hub.count, 30)) for _ in range(3)]
        await _waiting(hub, 3)
        desktop = asyncio.ensure_future(hub.wait({"desktop"}, hub.count, 30))
        await _waiting(hub, 4)
        hub.notify([frozenset({"desktop"})])
        assert await asyncio.wait_for(desktop, 5) is True
        assert not any(w.done() for w in plain)  # one job, one wake: no herd
        hub.notify([frozenset()])
        assert await asyncio.wait_for(plain[0], 5) is True  # the oldest
        await asyncio.sleep(0)
        assert not plain[1].done() and not plain[2].done()
        hub.notify()  # labels unknown: everyone looks
        assert await asyncio.wait_for(asyncio.gather(*plain[1:]), 5) == [True, True]

    asyncio.run(scenario())


def test_an_arrival_while_querying_is_not_slept_through() -> None:
    hub = Arrivals()
    seen = hub.count
    hub.notify([frozenset()])  # a job committed while the lease was querying
    assert asyncio.run(hub.wait(set(), seen, 30)) is True
    assert hub.waiting == 0
    assert asyncio.run(hub.wait(set(), hub.count, 0.05)) is False  # nothing new: times out


def test_the_wake_of_a_waiter_that_hung_up_goes_to_the_next() -> None:
    hub = Arrivals()

    async def scenario() -> None:
        first = asyncio.ensure_future(hub.wait(set(), hub.count, 30))
        await _waiting(hub, 1)
        second = asyncio.ensure_future(hub.wait(set(), hub.count, 30))
        await _waiting(hub, 2)
        hub.notify([frozenset()])  # wakes the first …
        first.cancel()  # … which leaves before it could look
        await asyncio.gather(first, return_exceptions=True)
        assert await asyncio.wait_for(second, 5) is True

    asyncio.run(scenario())


def test_a_retry_wakes_a_waiter_when_it_is_due() -> None:
    hub = Arrivals()

    async def scenario() -> None:
        waiter = asyncio.ensure_future(hub.wait(set(), hub.count, 30))
        await _waiting(hub, 1)
        hub.later(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=0.3), [frozenset()])
        await asyncio.sleep(0)
        assert not waiter.done()
        assert await asyncio.wait_for(waiter, 5) is True

    asyncio.run(scenario())


def test_payloads_are_split_under_the_notify_limit_and_own_ones_are_ignored() -> None:
    pending = [(frozenset({f"label-{n}-{'x' * 50}"}), None) for n in range(400)]
    texts = arrivals.payloads(pending)
    assert len(texts) > 1 and all(len(t.encode()) <= arrivals.MAX_PAYLOAD + 100 for t in texts)
    assert sum(len(json.loads(t)["j"]) for t in texts) == 400
    before = arrivals.arrivals.count
    arrivals.received(texts[0])  # this process's own: it woke its waiters at commit
    assert arrivals.arrivals.count == before
    arrivals.received(json.dumps({"o": "elsewhere", "j": [[[], None]]}))
    assert arrivals.arrivals.count == before + 1


@pytest.mark.usefixtures("pg_url")
def test_a_job_notified_by_another_process_wakes_a_waiter_here(pg_url: str) -> None:
    engine = make_engine(pg_url)
    listener = Listener(engine)
    listener.start()
    try:
        assert listener.ready.wait(10)

        async def scenario() -> None:
            waiter = asyncio.ensure_future(arrivals.arrivals.wait(set(), arrivals.arrivals.count,
                                                                  30))
            while arrivals.arrivals.waiting < 1:
                await asyncio.sleep(0.005)
            with engine.begin() as conn:  # as another orchestrator process commits a job
                schema = conn.execute(text("SELECT current_schema()")).scalar()
                conn.execute(text("SELECT pg_notify(:c, :p)"), {
                    "c": arrivals.channel_for(str(schema)),
                    "p": json.dumps({"o": "another-process", "j": [[[], None]]})})
            assert await asyncio.wait_for(waiter, 10) is True

        asyncio.run(scenario())
    finally:
        listener.stop()
        engine.dispose()


def test_a_job_is_notified_to_other_processes_when_it_commits_only(pg_url: str,
                                                                  tmp_path: Path) -> None:
    engine = make_engine(pg_url)
    migrate(engine)
    sessions = session_factory(engine)
    (tmp_path / "r.yaml").write_text("robot: r\nsteps:\n  - log: hi\n", encoding="utf-8")
    with sessions.begin() as session:
        deploy.deploy_robot(session, tmp_path / "r.yaml")
        channel = arrivals.channel_of(session)
    url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        with psycopg.connect(url, autocommit=True) as other:
            other.execute(f'LISTEN "{channel}"')
            with sessions() as session, session.begin():
                jobs.create_job(session, robot="r", labels=["rolled-back"])
                session.rollback()
            with sessions.begin() as session:
                jobs.create_job(session, robot="r", labels=["desktop"])
            # the first to arrive is the committed job's: a rolled-back one was never sent
            [note] = list(other.notifies(timeout=5, stop_after=1))
            assert json.loads(note.payload)["j"] == [[["desktop"], None]]
    finally:
        engine.dispose()
