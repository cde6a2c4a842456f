"""How a worker stops (SIGTERM or SIGINT to `workhand worker`, or its stop event):

1. it leases nothing more, at once: a long-poll lease under way is abandoned, and jobs a lease
   answer still brings are handed back unstarted;
2. running robots go on for the grace period (the worker's `grace` setting) and report as
   usual when they end;
3. at the end of the grace period the robots still running are killed and their jobs handed
   back (POST /jobs/{id}/release: the attempt is no failed try, and any worker may take the
   job at once);
4. the worker exits within the grace period plus EXIT_MARGIN.

Asked a second time (a second signal), it goes to step 3 at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from orchestrator.worker_slots import A, Slots

log = logging.getLogger("workhand.worker")

EXIT_MARGIN = 1.0  # seconds after the grace period to kill, hand back, report and exit
MAX_GRACE = 7 * 24 * 3600.0


class Shutdown:
    """When a stopping worker's robots must stop and the worker must be gone.

    `asked` is the stop event (run_worker's `stop`): it may be set from anywhere, a thread or a
    test; the grace period then counts from the moment it is first seen set. ask() (the
    signal handler) records the moment itself. No locks: a signal handler may run while the
    main thread holds one."""

    def __init__(self, grace_s: float = 0.0, asked: threading.Event | None = None) -> None:
        self.grace_s = max(0.0, float(grace_s))
        self.asked = asked if asked is not None else threading.Event()
        self._at: float | None = None  # monotonic time stopping began
        self._hurried: float | None = None  # ... and when asked again

    def ask(self) -> bool:
        """Begin stopping; asked again, hurry(). True on the first call."""
        if self.asked.is_set():
            self.hurry()
            return False
        self._at = time.monotonic()
        self.asked.set()
        return True

    def hurry(self) -> None:
        """Stop now: running robots are stopped and their jobs handed back at once."""
        self.asked.set()
        self.since()
        self._hurried = self._hurried or time.monotonic()

    def since(self) -> float | None:
        """The moment stopping began (None: the worker is not stopping)."""
        if self._at is None and self.asked.is_set():
            self._at = time.monotonic()
        return self._at

    def robots_until(self) -> float | None:
        """When running robots must be stopped and their jobs handed back."""
        since = self.since()
        if since is None:
            return None
        until = since + self.grace_s
        return until if self._hurried is None else min(until, self._hurried)

    def robots_must_stop(self) -> bool:
        until = self.robots_until()
        return until is not None and time.monotonic() >= until

    def exit_by(self) -> float | None:
        """When the worker must be gone (None: it is not stopping)."""
        until = self.robots_until()
        return None if until is None else until + EXIT_MARGIN

    def reason(self) -> str:
        """Why a running robot was stopped, for the record of its job's attempt."""
        since = self.since() or 0.0
        if self._hurried is not None and self._hurried < since + self.grace_s:
            return "the worker was told to stop at once"
        if not self.grace_s:
            return "the worker was stopped, without a grace period"
        return (f"the worker was stopped and the robot had not ended within the grace period "
                f"of {self.grace_s:g} s")

    def left(self) -> float:
        """Seconds until the worker must be gone (infinite while it is not stopping)."""
        exit_by = self.exit_by()
        return float("inf") if exit_by is None else exit_by - time.monotonic()


T = TypeVar("T")
TICK = 0.1  # seconds between looks at the stop event while a request is under way


class Abandonable(Generic[T]):
    """A call (the long-poll lease) in a thread of its own, so that a stopping worker stops
    waiting for it at once. What an abandoned call still returns goes to `late` (which hands
    back the jobs it leased); its exceptions are then dropped."""

    def __init__(self, call: Callable[[], T], late: Callable[[T], None]) -> None:
        self.call, self.late = call, late
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._abandoned = False
        self._value: T | None = None
        self._error: BaseException | None = None

    def wait(self, shutdown: Shutdown) -> T | None:
        """What the call returns (or raises); None when the worker was asked to stop first."""
        threading.Thread(target=self._run, name="lease", daemon=True).start()
        while not self._done.wait(TICK):
            if shutdown.asked.is_set():
                with self._lock:
                    if not self._done.is_set():
                        self._abandoned = True
                        return None
        if self._error is not None:
            raise self._error
        return self._value

    def _run(self) -> None:
        value: T | None = None
        try:
            value = self.call()
        except BaseException as err:  # raised in wait(), or dropped when abandoned
            self._error = err
        with self._lock:
            self._value = value
            self._done.set()
            abandoned = self._abandoned
        if abandoned and value is not None:
            try:
                self.late(value)
            except Exception:  # the worker may be closing its connection: only a log is left
                log.exception("what an abandoned lease brought could not be handed back")


def wind_down(room: Slots[A], shutdown: Shutdown) -> None:
    """Report what ended, and wait for the robots still running: they end, or are stopped
    and handed back at the end of the grace period; the worker is gone by exit_by() all the
    same. From now on an ending reports itself at once, so the worker exits as soon as its
    last robot has."""
    unreported = room.wait_for_room(shutdown.asked, block=False)
    room.polling(True)
    for job in unreported:
        job.complete()
    if shutdown.asked.is_set() and room.free() < room.size:
        log.warning("stopping: waiting for %d robot(s) to end, at most %.0f s; then their "
                    "jobs are handed back", room.size - room.free(),
                    max(0.0, shutdown.left() - EXIT_MARGIN))
    while not room.wait_all(timeout=min(0.5, max(0.0, shutdown.left()))):
        if shutdown.left() <= 0:
            log.error("stopping: %d robot(s) did not end or hand their jobs back in time; "
                      "their leases will expire", room.size - room.free())
            break
    for job in room.wait_for_room(shutdown.asked, block=False):
        job.complete()
