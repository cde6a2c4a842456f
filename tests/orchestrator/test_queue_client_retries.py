"""How the robot's queue client and the worker wait for an orchestrator that answers 503 (its
database restarting), 429, 502/504 or nothing: after the answer's Retry-After when it has one,
else a growing backoff, each pause drawn at random; a bug's 500 is not waited out.

The orchestrator here is an httpx MockTransport (the answers are scripted); the real outage,
with a real PostgreSQL restarted under real processes, is tests/reliability/test_outage.py."""

from __future__ import annotations

import datetime as dt
import email.utils
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from libs.errors import SystemFailure
from orchestrator import queue_client
from orchestrator.queue_client import HttpQueueSource, backoff, retry_after
from orchestrator.worker import Server, ServerAway

ITEM = {"id": 7, "reference": "0012345", "payload": {"账号": "0012345"}}


def scripted(answers: list[Any]) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    """A transport answering with each in turn: a Response, or an exception to raise."""
    sent: list[httpx.Request] = []
    script: Iterator[Any] = iter(answers)

    def handle(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        answer = next(script)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return httpx.MockTransport(handle), sent


@pytest.fixture
def pauses(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The client's sleeps, recorded instead of slept."""
    slept: list[float] = []
    monkeypatch.setattr(queue_client.time, "sleep", slept.append)
    return slept


def source(transport: httpx.MockTransport, retry_for_s: float = 120.0) -> HttpQueueSource:
    return HttpQueueSource("http://orchestrator", "job-token", 1, 1, "w1",
                           retry_for_s=retry_for_s, transport=transport)


def test_the_client_waits_as_long_as_retry_after_says_else_backs_off(
        pauses: list[float]) -> None:
    transport, sent = scripted([
        httpx.Response(503, headers={"Retry-After": "2"}),
        httpx.Response(429, headers={"Retry-After": "0.5"}),
        httpx.Response(502),
        httpx.ConnectError("refused"),
        httpx.Response(504),
        httpx.Response(200, json=ITEM)])
    item = source(transport).lease("年检")
    assert item is not None and (item.reference, item.handle) == ("0012345", 7)
    assert len(sent) == 6
    told, told_less, *backed = pauses
    assert 2.0 <= told <= 2.5 and 0.5 <= told_less <= 0.625
    # no Retry-After: the third, fourth and fifth steps of BACKOFF_S, between half and all
    for pause, step in zip(backed, queue_client.BACKOFF_S[2:5], strict=True):
        assert step / 2 <= pause <= step


def test_a_retry_after_date_and_odd_values() -> None:
    later = email.utils.format_datetime(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30),
                                        usegmt=True)
    told = retry_after(httpx.Response(503, headers={"Retry-After": later}))
    assert told is not None and 25 <= told <= 30
    for value, seconds in (("", None), ("soon", None), ("-3", 0.0), ("120", 120.0)):
        assert retry_after(httpx.Response(503, headers={"Retry-After": value})) == seconds
    assert 0.1 <= backoff(0, 0.0) <= 0.125  # "0" is not a busy loop
    assert backoff(0, 3600) <= queue_client.MAX_RETRY_AFTER_S * 1.25


def test_pauses_are_spread_so_a_fleet_does_not_return_at_once() -> None:
    told = {round(backoff(0, 1.0), 3) for _ in range(50)}
    backed = {round(backoff(3), 3) for _ in range(50)}
    assert len(told) > 40 and len(backed) > 40


def test_the_client_gives_up_when_the_wait_would_outlast_retry_for(pauses: list[float]) -> None:
    transport, sent = scripted([httpx.Response(503, headers={"Retry-After": "5"})])
    with pytest.raises(SystemFailure, match=r"did not answer \(or was unavailable\) for 1s"):
        source(transport, retry_for_s=1).lease("年检")
    assert (len(sent), pauses) == (1, [])


def test_a_bug_is_not_retried(pauses: list[float]) -> None:
    transport, sent = scripted([httpx.Response(500, json={"detail": "error abc"})])
    with pytest.raises(SystemFailure, match="refused to lease an item"):
        source(transport).lease("年检")
    assert (len(sent), pauses) == (1, [])


def test_a_report_is_sent_again_until_it_is_answered(pauses: list[float]) -> None:
    """The reply to the first report was lost (a timeout after it was sent): the server
    answers the repeat 200 (queues.report), and the robot goes on."""
    transport, sent = scripted([httpx.ReadTimeout("no reply"),
                                httpx.Response(503, headers={"Retry-After": "1"}),
                                httpx.Response(200, json={"id": 7, "state": "done"})])
    item = queue_client.QueueItem("0012345", {}, handle=7)
    source(transport).report("年检", item, "done", "")
    assert [r.url.path for r in sent] == ["/api/v1/queue-items/7/report"] * 3
    assert len(pauses) == 2


# -- the worker's calls -------------------------------------------------------------------------

def worker_server(answers: list[Any]) -> Server:
    server = Server("http://orchestrator", "worker-token", threading.Event())
    server.http.close()
    server.http = httpx.Client(base_url=server.url, transport=scripted(answers)[0])
    return server


def test_the_worker_waits_as_long_as_retry_after_says() -> None:
    server = worker_server([httpx.Response(503, headers={"Retry-After": "3"}),
                            httpx.Response(503), httpx.Response(429),
                            httpx.Response(200, json={})])
    for told_low, told_high in ((3.0, 3.75), (0.5, 1.0), (1.0, 2.0)):
        with pytest.raises(ServerAway):
            server.once("POST", "/api/v1/lease")
        wait = server.retry_at - time.monotonic()
        # Retry-After: 3 s to a quarter more; then the doubling backoff (1 s, 2 s: half to all)
        assert told_low - 0.1 <= wait <= told_high, wait
        assert not server.ready()
    assert server.once("POST", "/api/v1/lease").status_code == 200
    assert server.ready()
    server.close()
