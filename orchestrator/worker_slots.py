"""The worker's bookkeeping across attempts: the slots its robots run in (and when each ended
attempt is reported), and the run folders it keeps after their outcome reached the server."""

from __future__ import annotations

import logging
import shutil
import threading
from collections import deque
from pathlib import Path
from typing import Generic, Protocol, TypeVar

log = logging.getLogger("workhand.worker")

FAILED_PAUSE = 0.5  # seconds a slot whose attempt failed stays taken: no busy loop


class Attempt(Protocol):
    """What the slots need of an attempt (orchestrator/worker.py's JobRun)."""

    @property
    def tag(self) -> str: ...

    def run(self) -> bool: ...

    def complete(self) -> None: ...


A = TypeVar("A", bound=Attempt)


class RunFolders:
    """Run folders (events, screenshots, downloads) whose outcome reached the server, which
    keeps their artifacts: the newest `keep` stay for a look on the worker machine, older ones
    are deleted, so a worker running for months does not fill its disk."""

    def __init__(self, keep: int) -> None:
        self.keep = max(0, keep)
        self._done: deque[Path] = deque()
        self._lock = threading.Lock()

    def reported(self, run_dir: Path) -> None:
        with self._lock:
            self._done.append(run_dir)
            old = [self._done.popleft() for _ in range(len(self._done) - self.keep)]
        for folder in old:
            shutil.rmtree(folder, ignore_errors=True)


class Slots(Generic[A]):
    """The robots a worker runs at once. An attempt that ends while the worker waits for a free
    slot goes with the next lease request (so a busy worker reports and leases in one call); one
    that ends while a lease request is under way (a long poll) is reported on its own at once."""

    def __init__(self, size: int, stop: threading.Event) -> None:
        self.size, self.stop = max(1, size), stop
        self.running: set[threading.Thread] = set()
        self.ended: list[A] = []
        self._polling = False
        self._cond = threading.Condition()

    def free(self) -> int:
        with self._cond:
            return self.size - len(self.running)

    def wait_for_room(self, stop: threading.Event, block: bool = True) -> list[A]:
        """Wait until a slot is free (or stop is set); the attempts ended meanwhile, which the
        caller now reports. Afterwards, until polling(False), endings report themselves."""
        with self._cond:
            while block and len(self.running) >= self.size and not stop.is_set():
                self._cond.wait(0.5)
            ended, self.ended = self.ended, []
            self._polling = block
            return ended

    def polling(self, value: bool) -> None:
        with self._cond:
            self._polling = value

    def give_back(self, ended: list[A]) -> None:
        """Reports that did not reach the server: they go with the next request."""
        with self._cond:
            self.ended[:0] = ended

    def start(self, job: A) -> None:
        thread = threading.Thread(target=self._run, args=(job,), name=job.tag, daemon=True)
        with self._cond:
            self.running.add(thread)
        thread.start()

    def _run(self, job: A) -> None:
        try:
            ready = job.run()
        except Exception:  # a bug or a full disk must not take the worker down
            log.exception("%s: the worker failed; the lease will expire and the job will be "
                          "retried or failed by policy", job.tag)
            self.stop.wait(FAILED_PAUSE)
            ready = False
        with self._cond:
            alone = ready and self._polling
            if ready and not alone:
                self.ended.append(job)
            if not alone:
                self.running.discard(threading.current_thread())
                self._cond.notify_all()
        if alone:
            try:
                job.complete()
            finally:  # only now may a stopping worker close its connection to the server
                with self._cond:
                    self.running.discard(threading.current_thread())
                    self._cond.notify_all()

    def wait_all(self, timeout: float | None = None) -> bool:
        """Wait until no robot runs (at most timeout seconds); True when none does."""
        with self._cond:
            return self._cond.wait_for(lambda: not self.running, timeout)

