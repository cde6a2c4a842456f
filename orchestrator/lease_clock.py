"""What a robot's process knows of its job's lease: until when its worker holds it.

The worker renews the lease by heartbeats and, after each, writes the new end to the robot's
stdin (one JSON line, {"lease_until": epoch seconds}, already less the worker's safety margin;
orchestrator/child.py reads them). The robot's work-queue client asks here before it takes an
item: an item it could not finish before the lease ends is not started (fencing) — once the
lease has passed, the orchestrator may hand the job, and its items, to another robot.
"""

from __future__ import annotations

import threading
import time


class LeaseClock:
    def __init__(self) -> None:
        self.until: float | None = None  # None: not run by a worker (no lease to keep)
        self._changed = threading.Condition()

    def renewed(self, until: float) -> None:
        with self._changed:
            self.until = until
            self._changed.notify_all()

    def remaining(self) -> float:
        return float("inf") if self.until is None else self.until - time.time()

    def wait_for(self, needed: float, patience: float) -> bool:
        """True once at least `needed` seconds of lease are left, waiting up to `patience` for
        the worker's next renewal; False if none came (the worker cannot reach the server)."""
        give_up = time.monotonic() + patience
        with self._changed:
            while self.remaining() < needed:
                left = give_up - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(min(left, 1.0))
        return True


clock = LeaseClock()
