"""Fencing: a worker knows until when it holds its job's lease, and stops its robot before that
moment when it cannot renew it — once the lease has passed, the orchestrator may hand the job
and its work-queue items to another robot, and two robots must never work one item.

The lease ends `lease_seconds` after the orchestrator granted or last renewed it. The worker
counts from when it SENT the request that renewed it (the server's own clock is later still),
less a margin for killing the robot, so its view ends before the server's. Each renewal is
passed to the robot (its stdin, orchestrator/lease_clock.py), whose queue client starts no
item that could not finish in time.

A robot stopped this way may have finished an item whose report had not yet been taken (the
server was away): the runner writes each item's `item.end` event, with its queue item id,
before it reports it, so the worker reports that item itself before handing the job back.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

MIN_MARGIN = 1.0  # seconds kept in hand to kill the robot before the lease ends
MARGIN_SHARE = 0.1  # ... or this share of the lease, whichever is more


class LeaseKeeper:
    def __init__(self, lease_s: float) -> None:
        self.lease_s = lease_s
        self.margin = max(MIN_MARGIN, lease_s * MARGIN_SHARE)
        self.until = time.monotonic() + lease_s  # the lease was granted just now

    def renewed(self, sent_at: float) -> None:
        """A renewal sent at `sent_at` (monotonic) was taken."""
        self.until = max(self.until, sent_at + self.lease_s)

    def left(self, now: float | None = None) -> float:
        """Seconds until the robot must have stopped (the margin taken off)."""
        return self.until - self.margin - (time.monotonic() if now is None else now)

    def wall_until(self) -> float:
        """The same moment on the wall clock, for the robot's process."""
        return time.time() + self.left()


def last_finished_item(events: Path) -> dict[str, Any] | None:
    """The last work-queue item the robot finished (its item.end event), unless it was cut
    short: what may still need reporting after the robot was stopped."""
    last: dict[str, Any] | None = None
    try:
        with events.open("rb") as lines:
            for raw in lines:
                if b'"item.end"' not in raw or b'"queue_item"' not in raw:
                    continue
                try:
                    event = json.loads(raw)
                except ValueError:
                    continue
                if isinstance(event, dict) and event.get("queue_item") is not None:
                    last = event
    except FileNotFoundError:
        return None
    if last is None or last.get("interrupted"):
        return None
    return last
