"""The runner's work-queue source on a worker: leases items from the orchestrator over HTTP for
the job the worker holds, and reports how each ended.

The server or its database may restart while a robot works through a queue: connection errors
and 429/502/503/504 answers are retried for up to `retry_for_s`, after the answer's Retry-After
when it has one, else with a growing backoff, each pause drawn at random (a thousand robots
told to wait do not all come back in the same instant). Retrying is safe: a lease whose reply
was lost is harmless (the server takes the unreported item back when the job asks again), and a
report the server recorded before its reply was lost is answered 200 again."""

from __future__ import annotations

import base64
import datetime as dt
import email.utils
import logging
import random
import time
from typing import Any
from urllib.parse import quote

import httpx

from libs.errors import SystemFailure
from libs.queues import QueueItem, ReviewRequest
from orchestrator.lease_clock import clock

log = logging.getLogger("workhand.queues")
RETRY_STATUS = frozenset({429, 502, 503, 504})
BACKOFF_S = (0.25, 0.5, 1.0, 2.0, 4.0)  # then 5 s between tries; each drawn from [half, all]
MAX_RETRY_AFTER_S = 30.0  # a longer Retry-After is cut to this (the robot has work to do)


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
        # queue → the item the last report leased with it (None: the queue had none left); the
        # runner's loop asks for the next item right after each report, so it rides on that
        self.leased: dict[str, QueueItem | None] = {}
        self.client = httpx.Client(base_url=server.rstrip("/"), timeout=timeout_s,
                                   headers={"Authorization": f"Bearer {token}"},
                                   transport=transport)

    def lease(self, queue: str) -> QueueItem | None:
        if queue in self.leased:
            item = self.leased.pop(queue)
        else:
            self._fence(queue)
            answer = self._post(f"/api/v1/queues/{quote(queue, safe='')}/lease", self.holder)
            if answer.status_code not in (200, 204):
                raise self._refused(queue, answer)
            item = _item(answer.json()) if answer.status_code == 200 else None
        if item is not None:
            self.started = time.monotonic()
        return item

    @staticmethod
    def _refused(queue: str, answer: httpx.Response) -> SystemFailure:
        return SystemFailure(f"work queue '{queue}': the orchestrator refused to lease an item "
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

    def report(self, queue: str, item: QueueItem, outcome: str, message: str,
               review: ReviewRequest | None = None) -> None:
        if self.started is not None:
            self.longest = max(self.longest, time.monotonic() - self.started)
            self.started = None
        # the next item comes with the report when the lease's fence lets it start now (else
        # lease() waits for the worker's renewal, as without)
        more = clock.wait_for(self.longest * 1.5, patience=0)
        body = {**self.holder, "outcome": outcome, "message": message, "next": more}
        if review is not None:  # the crops go with it, so the evidence is there at once
            body["review"] = review.to_json(
                lambda path: base64.b64encode(path.read_bytes()).decode("ascii"))
        answer = self._post(f"/api/v1/queue-items/{item.handle}/report", body)
        if answer.status_code == 409:  # taken back (our lease ran out) or already reported
            log.warning("work queue '%s': item '%s' is no longer this job's; its outcome (%s) "
                        "was not recorded: %s", queue, item.reference, outcome, _detail(answer))
            return
        if answer.status_code != 200:
            raise SystemFailure(f"work queue '{queue}': the orchestrator refused the outcome "
                                f"of item '{item.reference}' ({answer.status_code}: "
                                f"{_detail(answer)})")
        found = answer.json()
        if more and "next" in found:  # (a server without `next` leaves it out)
            self.leased[queue] = None if found["next"] is None else _item(found["next"])

    def review(self, queue: str, item: QueueItem, request: ReviewRequest) -> None:
        """libs.queues.ReviewSource: the item ends in_review, its evidence with the report."""
        self.report(queue, item, "in_review", request.reason, review=request)

    def close(self) -> None:
        self.client.close()

    def _post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        give_up = time.monotonic() + self.retry_for_s
        tries = 0
        while True:
            told: float | None = None
            try:
                answer = self.client.post(path, json=body)
                if answer.status_code not in RETRY_STATUS:
                    return answer
                problem = f"{answer.status_code} {answer.reason_phrase}"
                told = retry_after(answer)
            except httpx.TransportError as err:
                problem = f"{type(err).__name__}: {err}"
            pause = backoff(tries, told)
            tries += 1
            if time.monotonic() + pause > give_up:
                raise SystemFailure(f"the orchestrator at {self.client.base_url} did not answer "
                                    f"(or was unavailable) for {self.retry_for_s:g}s "
                                    f"({problem})")
            log.warning("the orchestrator is unavailable (%s); trying again in %.2fs", problem,
                        pause)
            time.sleep(pause)


def _item(data: dict[str, Any]) -> QueueItem:
    return QueueItem(str(data["reference"]), data["payload"], handle=int(data["id"]))


def backoff(tries: int, told: float | None = None) -> float:
    """Seconds to wait before try number tries + 2: what the server told (Retry-After), up to
    a quarter more, else BACKOFF_S's step, between half and all of it."""
    if told is not None:
        told = min(max(told, 0.1), MAX_RETRY_AFTER_S)  # "0" must not become a busy loop
        return random.uniform(told, told * 1.25)
    step = BACKOFF_S[tries] if tries < len(BACKOFF_S) else 5.0
    return random.uniform(step / 2, step)


def retry_after(answer: httpx.Response) -> float | None:
    """The answer's Retry-After in seconds (it may be a number or an HTTP date); None when it
    has none or it cannot be read."""
    value = answer.headers.get("Retry-After", "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


def _detail(answer: httpx.Response) -> str:
    try:
        return str(answer.json().get("detail", answer.text))
    except ValueError:
        return answer.text[:500]
