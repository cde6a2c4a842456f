"""The lease reaper: jobs whose worker stopped renewing the lease are retried or failed.

Safe to run in several processes: each batch is one transaction, and on PostgreSQL the rows are
taken with SKIP LOCKED."""

from __future__ import annotations

import logging
import threading

from sqlalchemy.orm import Session, sessionmaker

from orchestrator import dispatch, queues
from orchestrator.outages import log_failure
from orchestrator.settings import Settings

log = logging.getLogger("workhand.reaper")


class Reaper:
    def __init__(self, sessions: sessionmaker[Session], settings: Settings,
                 interval_s: float = 2.0) -> None:
        self.sessions, self.settings, self.interval_s = sessions, settings, interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="workhand-reaper", daemon=True)

    def tick(self) -> int:
        """Expired job leases, then queue items whose job is gone (queues nobody consumes now
        would otherwise keep them in progress) or that are stuck in progress."""
        with self.sessions.begin() as session:
            reaped = dispatch.reap(session, self.settings)
        with self.sessions.begin() as session:
            queues.requeue_expired(session)
            queues.abandon_stuck(session)
        return reaped

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                reaped = self.tick()
                if reaped:
                    log.warning("%d job(s) lost their worker; retried or failed", reaped)
            except Exception as err:  # the service must outlive a database hiccup
                log_failure(log, "lease reaper failed; trying again", err)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
