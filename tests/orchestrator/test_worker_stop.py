"""The stopping worker's clock (worker_stop.Shutdown), its abandonable long poll, and the
`grace` setting. The whole of it with real processes: tests/reliability/test_graceful_stop.py."""

from __future__ import annotations

import threading
import time

import pytest

from orchestrator.worker_settings import DEFAULT_GRACE, WorkerSettingsError, parse
from orchestrator.worker_stop import EXIT_MARGIN, Abandonable, Shutdown


def test_robots_get_the_grace_period_and_the_worker_one_second_more() -> None:
    shutdown = Shutdown(grace_s=0.3)
    assert (shutdown.robots_must_stop(), shutdown.exit_by(), shutdown.left()) == (
        False, None, float("inf"))
    assert shutdown.ask() is True
    asked = time.monotonic()
    assert shutdown.asked.is_set() and not shutdown.robots_must_stop()
    until, exit_by = shutdown.robots_until(), shutdown.exit_by()
    assert until is not None and exit_by is not None
    assert asked - 0.05 < until - 0.3 <= asked and exit_by == until + EXIT_MARGIN
    time.sleep(0.35)
    assert shutdown.robots_must_stop()
    assert "within the grace period of 0.3 s" in shutdown.reason()


def test_asked_again_the_robots_stop_at_once() -> None:
    shutdown = Shutdown(grace_s=60)
    shutdown.ask()
    assert not shutdown.robots_must_stop()
    assert shutdown.ask() is False  # a second signal
    assert shutdown.robots_must_stop()
    assert 0 < shutdown.left() <= EXIT_MARGIN  # the exit moves up too
    assert shutdown.reason() == "the worker was told to stop at once"


def test_a_plain_stop_event_counts_from_when_it_is_first_seen() -> None:
    stop = threading.Event()
    shutdown = Shutdown(0.0, stop)
    assert shutdown.since() is None
    stop.set()
    assert shutdown.robots_must_stop()  # no grace period: at once
    assert shutdown.reason() == "the worker was stopped, without a grace period"


def test_a_stop_abandons_the_call_and_what_it_brings_late_is_handed_on() -> None:
    shutdown, release, late = Shutdown(5.0), threading.Event(), []
    handed = threading.Event()

    def long_poll() -> str:
        release.wait(10)
        return "jobs"

    call = Abandonable(long_poll, lambda value: (late.append(value), handed.set()))
    threading.Timer(0.2, shutdown.ask).start()
    started = time.monotonic()
    assert call.wait(shutdown) is None
    assert time.monotonic() - started < 1.0  # not the long poll's 10 s
    release.set()
    assert handed.wait(5) and late == ["jobs"]


def test_a_call_that_ends_first_answers_or_raises() -> None:
    assert Abandonable(lambda: 42, lambda _: None).wait(Shutdown()) == 42

    def refused() -> int:
        raise PermissionError("no")

    with pytest.raises(PermissionError):
        Abandonable(refused, lambda _: None).wait(Shutdown())


def test_the_grace_setting() -> None:
    assert parse({}).grace_s == DEFAULT_GRACE
    assert parse({"grace": 0}).grace_s == 0.0
    assert parse({"grace": 2.5}).grace_s == 2.5
    for bad in (-1, "30", True, float("nan"), 10**9):
        with pytest.raises(WorkerSettingsError, match="grace must be the seconds"):
            parse({"grace": bad})
