"""The runner's work-queue source on a worker: leases items from the orchestrator over HTTP for
the job the worker holds, and reports how each ended.

The server may restart while a robot works through a queue: connection errors and 502/503/504
answers are retried with a short backoff for up to `retry_for_s`. A lease whose reply was lost
is harmless: the server takes the unreported item back when the job asks again."""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import quote

import httpx

from libs.errors import SystemFailure
from libs.queues import QueueItem
from orchestrator.lease_clock import clock

log = logging.getLogger("workhand.queues")
RETRY_STATUS = frozenset({502, 503, 504})
BACKOFF_S = (0.25, 0.5, 1.0, 2.0, 4.0)  # then 5 s between tries


class HttpQueueSource:
    """libs.queues.QueueSource for a job leased to this worker. `token` is the attempt's job
    token (from the lease answer): the robot never holds its worker's token, and the job token
    works only for this job's queue routes, only until the attempt ends."""

    def __init__(self, server: str, token: str, job_id: int, attempt: int, worker: str, *,
                 timeout_s: float = 30.0, retry_for_s: float = 120.0, lease_s: float = 30.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.holder: dict[str, Any] = {"job_id": job_id, "attempt": attempt, "worker": worker}
        self.lease_s = lease_s
        self.longest = 0.0  # seconds the longest item took, from its lease to its report
        self.started: float | None = None
        self.retry_for_s = retry_for_s
        self.client = httpx.Client(base_url=server.rstrip("/"), timeout=timeout_s,
                                   headers={"Authorization": f"Bearer {token}"},
                                   transport=transport)

    def lease(self, queue: str) -> QueueItem | None:
        self._fence(queue)
        answer = self._post(f"/api/v1/queues/{quote(queue, safe='')}/lease", self.holder)
        if answer.status_code == 204:
            return None
        if answer.status_code == 200:
            data = answer.json()
            self.started = time.monotonic()
            return QueueItem(str(data["reference"]), data["payload"], handle=int(data["id"]))
        raise SystemFailure(f"work queue '{queue}': the orchestrator refused to lease an item "
                            f"({answer.status_code}: {_detail(answer)})")

    def _fence(self, queue: str) -> None:
        """Start no item that could not be finished under the job's lease as it stands: the
        longest item so far, half again, must fit before the lease ends (with the worker's
        margin already taken off). Waits for the worker's next renewal, up to a lease period;
        none coming means the worker cannot reach the orchestrator, and it stops the robot."""
        needed = self.longest * 1.5
        if clock.wait_for(needed, patience=self.lease_s):
            return
        raise SystemFailure(f"work queue '{queue}': the job's lease could not be renewed, so "
                            "no further item is started (another robot may get the job)")

    def report(self, queue: str, item: QueueItem, outcome: str, message: str) -> None:
        if self.started is not None:
            self.longest = max(self.longest, time.monotonic() - self.started)
            self.started = None
        answer = self._post(f"/api/v1/queue-items/{item.handle}/report",
                            {**self.holder, "outcome": outcome, "message": message})
        if answer.status_code == 409:  # taken back (our lease ran out) or already reported
            log.warning("work queue '%s': item '%s' is no longer this job's; its outcome (%s) "
                        "was not recorded: %s", queue, item.reference, outcome, _detail(answer))
            return
        if answer.status_code != 200:
            raise SystemFailure(f"work queue '{queue}': the orchestrator refused the outcome "
                                f"of item '{item.reference}' ({answer.status_code}: "
                                f"{_detail(answer)})")

    def close(self) -> None:
        self.client.close()

    def _post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        give_up = time.monotonic() + self.retry_for_s
        tries = 0
        while True:
            try:
                answer = self.client.post(path, json=body)
                if answer.status_code not in RETRY_STATUS:
                    return answer
                problem = f"{answer.status_code} {answer.reason_phrase}"
            except httpx.TransportError as err:
                problem = f"{type(err).__name__}: {err}"
            pause = BACKOFF_S[tries] if tries < len(BACKOFF_S) else 5.0
            tries += 1
            if time.monotonic() + pause > give_up:
                raise SystemFailure(f"the orchestrator at {self.client.base_url} did not answer "
                                    f"for {self.retry_for_s:g}s ({problem})")
            log.warning("orchestrator unreachable (%s); trying again in %gs", problem, pause)
            time.sleep(pause)


def _detail(answer: httpx.Response) -> str:
    try:
        return str(answer.json().get("detail", answer.text))
    except ValueError:
        return answer.text[:500]
