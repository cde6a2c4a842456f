"""The orchestrator's worker API as a worker calls it: every call retried with backoff while the
server is away (a restart, the network, a 503 while its database is down), so robots run on;
401/403 stop the worker (WorkerError) and 409 means the job's lease is no longer this worker's
(LeaseLost)."""

from __future__ import annotations

import logging
import random
import threading
import time
from typing import Any

import httpx

from orchestrator.queue_client import retry_after
from orchestrator.worker_stop import Shutdown

log = logging.getLogger("workhand.worker")

# A worker retries at most every BACKOFF_MAX seconds: after an outage it is back within that,
# well inside the lease period an orchestrator gives running jobs when it starts
# (services/reaper.py), so the job it stopped is handed back, not reaped as lost.
BACKOFF_FIRST, BACKOFF_MAX = 0.5, 5.0
TICK = 0.1


class WorkerError(Exception):
    """The server refused this worker (unknown token, wrong role): retrying cannot help."""


class ServerAway(Exception):
    """No answer, or a 5xx: try again later."""


class LeaseLost(Exception):
    """409: this worker no longer holds the job's lease; another worker may be running it."""


class Stopped(Exception):
    """The worker is stopping and cannot wait for the server (any longer)."""


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json().get("detail", response.text))
    except (ValueError, AttributeError):
        return response.text[:500]


class Server:
    """The orchestrator's worker API; remembers an outage so it is logged once, not per call."""

    def __init__(self, url: str, token: str, stop: threading.Event | Shutdown) -> None:
        self.url = url.rstrip("/")
        self.http = httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {token}"},
                                 timeout=httpx.Timeout(15.0, connect=5.0))
        self.shutdown = stop if isinstance(stop, Shutdown) else Shutdown(0.0, stop)
        self.stop = self.shutdown.asked
        self.delay = 0.0
        self.retry_at = 0.0
        self.away_since: float | None = None

    def ready(self) -> bool:
        """False while backing off after a failure (the run loop then skips network work)."""
        return time.monotonic() >= self.retry_at

    def once(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        if self.stop.is_set():  # no request may outlast the moment the worker must be gone
            wanted, limit = kwargs.get("timeout", 15.0), max(0.1, self.shutdown.left())
            kwargs["timeout"] = min(wanted, limit) if isinstance(wanted, int | float) else limit
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.TransportError as err:
            raise self._away(f"{type(err).__name__}: {err}") from None
        if response.status_code >= 500 or response.status_code == 429:
            raise self._away(f"HTTP {response.status_code}: {_detail(response)}",
                             retry_after(response))
        self._back()
        if response.status_code in (401, 403):
            raise WorkerError(f"the server at {self.url} refused this worker: "
                              f"{_detail(response)}; create a token with "
                              "'workhand token create --role worker'")
        if response.status_code == 409:
            raise LeaseLost(_detail(response))
        return response

    def call(self, method: str, path: str, *, patient: bool = False,
             **kwargs: Any) -> httpx.Response:
        """once(), retried with backoff until the server answers. When the worker is stopping,
        give up at once — or, if patient (a result to report, a job to hand back), when the
        worker must be gone (worker_stop.py)."""
        while True:
            try:
                return self.once(method, path, **kwargs)
            except ServerAway:
                self._pause(patient)

    def _pause(self, patient: bool) -> None:
        wait = max(0.0, self.retry_at - time.monotonic())
        if not self.stop.is_set():
            self.stop.wait(wait)
            return
        left = self.shutdown.left()
        if not patient or left <= 0:
            raise Stopped
        time.sleep(min(wait, 1.0, left))

    def _away(self, why: str, told: float | None = None) -> ServerAway:
        """Back off: for as long as the server's Retry-After told (a 503 while its database
        restarts says 1 s), else for a doubling delay; either drawn at random, so a fleet of
        workers does not come back in one instant."""
        now = time.monotonic()
        if self.away_since is None:
            self.away_since = now
            log.warning("the server at %s is not answering (%s); retrying with backoff",
                        self.url, why)
        self.delay = min(BACKOFF_MAX, self.delay * 2 if self.delay else BACKOFF_FIRST)
        wait = (random.uniform(self.delay / 2, self.delay) if told is None else
                min(max(told, TICK), BACKOFF_MAX) * random.uniform(1.0, 1.25))
        self.retry_at = now + wait
        return ServerAway(why)

    def _back(self) -> None:
        if self.away_since is not None:
            log.info("the server at %s answers again (after %.1f s)", self.url,
                     time.monotonic() - self.away_since)
        self.away_since, self.delay, self.retry_at = None, 0.0, 0.0

    def close(self) -> None:
        self.http.close()
