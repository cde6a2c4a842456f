"""Fencing pieces: the worker's view of its lease ends before the server's; the robot's last
finished queue item is found in events.jsonl (never one cut short); the robot's queue client
starts no item that could not finish under the lease."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from libs.errors import SystemFailure
from orchestrator import lease_clock
from orchestrator.queue_client import HttpQueueSource
from orchestrator.worker_lease import LeaseKeeper, last_finished_item


def test_the_lease_counts_from_the_renewal_sent_less_a_margin() -> None:
    keeper = LeaseKeeper(30.0)
    assert keeper.margin == 3.0
    assert 26.5 < keeper.left() <= 27.0
    sent = time.monotonic() - 10  # a renewal sent 10 s ago, answered only now
    keeper.renewed(sent)
    assert 26.5 < keeper.left() <= 27.0  # never moved back by a late answer
    keeper.renewed(time.monotonic())
    assert keeper.left(time.monotonic() + 27.1) < 0  # the robot must have stopped by then
    assert LeaseKeeper(4.0).margin == 1.0


def test_the_last_finished_queue_item_is_found_unless_it_was_cut_short(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    assert last_finished_item(events) is None
    lines = [{"type": "item.start", "item": "A", "queue_item": 1},
             {"type": "item.end", "item": "A", "outcome": "done", "queue_item": 1},
             {"type": "item.end", "item": "L", "outcome": "done"},  # a local item: no report
             {"type": "item.end", "item": "B", "outcome": "business_exception",
              "queue_item": 2}]
    events.write_text("".join(json.dumps(e) + "\n" for e in lines) + '{"type": "item.e',
                      encoding="utf-8")  # the last line still being written
    found = last_finished_item(events)
    assert found is not None and (found["queue_item"], found["outcome"]) == (
        2, "business_exception")
    with events.open("a", encoding="utf-8") as out:
        out.write('\n' + json.dumps({"type": "item.end", "item": "C", "queue_item": 3,
                                     "outcome": "system_error", "interrupted": True}) + "\n")
    assert last_finished_item(events) is None  # cut short: not done, not to be reported


@pytest.fixture
def clock() -> Iterator[lease_clock.LeaseClock]:
    fresh = lease_clock.LeaseClock()
    saved, lease_clock.clock = lease_clock.clock, fresh
    import orchestrator.queue_client as client
    client.clock = fresh
    yield fresh
    lease_clock.clock = client.clock = saved


def test_the_queue_client_waits_for_a_renewal_and_starts_nothing_without_one(
        clock: lease_clock.LeaseClock) -> None:
    leased: list[float] = []

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/lease"):
            leased.append(time.time())
            return httpx.Response(200, json={"id": len(leased), "reference": "A",
                                             "payload": {}})
        return httpx.Response(200, json={"state": "done"})

    source = HttpQueueSource("http://orchestrator", "t", 1, 1, "w", lease_s=0.6,
                             transport=httpx.MockTransport(answer))
    clock.renewed(time.time() + 10)
    item = source.lease("q")
    assert item is not None
    source.started = time.monotonic() - 2.0  # that item took 2 s
    source.report("q", item, "done", "")
    clock.renewed(time.time() + 2.5)  # less than 1.5 × 2 s of lease left
    renewal = threading.Timer(0.2, clock.renewed, [time.time() + 30])
    renewal.start()
    assert source.lease("q") is not None  # it waited for the renewal, then took an item
    assert leased[1] >= renewal.interval + leased[0]
    clock.renewed(time.time() + 1.0)  # no renewal comes: the worker lost the orchestrator
    with pytest.raises(SystemFailure, match="lease could not be renewed"):
        source.lease("q")
    assert len(leased) == 2
