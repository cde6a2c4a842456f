"""The lease reaper: jobs whose worker stopped renewing the lease are retried or failed.

Safe to run in several processes: each batch is one transaction, and on PostgreSQL the rows are
taken with SKIP LOCKED.

When an orchestrator starts, running jobs get one lease period (and COMEBACK_S) from then: a
lease that ran out while no orchestrator answered (a restart, a crash) is not its worker's
fault. Its worker has stopped the robot before the lease ended (fencing, worker_lease.py) and
comes back to report the item it finished and hand the job back; were the job reaped first,
that item would be worked again by another robot."""

from __future__ import annotations

import logging
import threading

from sqlalchemy.orm import Session, sessionmaker

from orchestrator import dispatch, queues
from orchestrator.outages import log_failure
from orchestrator.settings import Settings

log = logging.getLogger("workhand.reaper")
# Workers retry at most every 5 s (worker_api.BACKOFF_MAX): after a restart, running jobs get a
# lease period and this long for their workers to notice that the orchestrator is back.
COMEBACK_S = 15.0


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
        try:
            with self.sessions.begin() as session:
                extended = dispatch.extend_leases(
                    session, self.settings.lease_seconds + COMEBACK_S)
            if extended:
                log.info("%d running job(s) get one lease period for their workers to come "
                         "back", extended)
        except Exception:  # the database may be down at start; the reaper waits for it
            log.exception("could not extend the running jobs' leases")
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
