"""The client side of bench/fleet.py: simulated robots, one console and one operator, run by a
few client processes, each an asyncio loop with one HTTP connection per lane.

A simulated robot is a worker holding one long job at a time (labels ["fleet"]), with two lanes
as a real one has: the worker's own (events, heartbeats, then the job's report with its next
lease, as orchestrator/worker.py does) and the robot process's (queue leases and reports with
the attempt's job token, and queue adds). Per minute, on average (UiPath's per-robot model):
2 heartbeats, 15–40 events (Poisson, pushed at the worker's EVENTS_EVERY ticks, so a request carries
every event written since the last tick), 6 queue adds and 6 items worked: each report leases
the next item with it, as orchestrator/queue_client.py does (a lease of its own only when the
robot starts on the queue or found it empty). UiPath's model also has 6 asset reads a minute:
Workhand hands a job its credentials with the lease, so a robot never asks for them. An idle
robot (--idle) only long-polls for a job it will never get. Every timer is jittered.

Requests go over a small HTTP/1.1 client on asyncio streams (keep-alive, Content-Length
bodies), measured at about a quarter of httpx.AsyncClient's CPU per request (--client httpx
for the comparison): the clients share the 2 cores with the server they measure.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from orchestrator.worker import EVENTS_EVERY  # seconds between a running robot's uploads

TIMEOUT_S = 60.0  # a request still unanswered after this long counts as an error


class Closed(ConnectionError):
    """The server closed the connection before answering."""


class RawConnection:
    """One keep-alive HTTP/1.1 connection. uvicorn closes connections idle for 5 s: a request
    on a connection found closed before any answer byte is sent again on a new one (as httpx
    does), and the reconnect is inside its measured time."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.connects = 0

    async def _connect(self) -> None:
        self.close()
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.connects += 1

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def request(self, method: str, path: str, token: str,
                      body: bytes | None = None) -> tuple[int, bytes]:
        head = (f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n"
                f"Authorization: Bearer {token}\r\n")
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        data = head.encode() + b"\r\n" + (body or b"")
        for again in (False, True):
            fresh = self.reader is None or self.reader.at_eof()
            if fresh:
                await self._connect()
            assert self.reader is not None and self.writer is not None
            try:
                self.writer.write(data)
                raw = await self.reader.readuntil(b"\r\n\r\n")
            except (ConnectionError, asyncio.IncompleteReadError):
                self.close()
                if fresh or again:
                    raise Closed("the server closed the connection") from None
                continue
            return await self._answer(raw)
        raise AssertionError("unreachable")

    async def _answer(self, raw: bytes) -> tuple[int, bytes]:
        assert self.reader is not None
        status = int(raw[9:12])
        length, chunked, close = 0, False, False
        for line in raw.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"connection":
                close = b"close" in value.lower()
        if chunked:
            parts = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                parts.append(await self.reader.readexactly(size + 2))
                if size == 0:
                    break
            content = b"".join(p[:-2] for p in parts)
        else:
            content = await self.reader.readexactly(length) if length else b""
        if close:
            self.close()
        return status, content


class HttpxConnection:
    """The same through httpx.AsyncClient (one connection): to compare the clients' CPU."""

    def __init__(self, host: str, port: int) -> None:
        import httpx

        self.client = httpx.AsyncClient(base_url=f"http://{host}:{port}", timeout=TIMEOUT_S,
                                        limits=httpx.Limits(max_connections=1))
        self.connects = 0

    async def request(self, method: str, path: str, token: str,
                      body: bytes | None = None) -> tuple[int, bytes]:
        headers = {"Authorization": f"Bearer {token}"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        answer = await self.client.request(method, path, content=body, headers=headers)
        return answer.status_code, answer.content

    def close(self) -> None:
        pass


@dataclass
class Plan:
    """What every client process is told (plain values: it crosses a process boundary)."""
    host: str
    port: int
    queue: str
    robot: str
    operator_token: str
    start: float = 0.0  # wall-clock time the ramp starts (set when every process is ready)
    ramp_s: float = 10.0
    minutes: float = 1.0
    wait_s: float = 20.0
    job_minutes: float = 2.0  # mean length of a job
    job_rate: float = 0.0  # jobs the operator creates per minute (all processes together)
    heartbeats: float = 2.0  # per robot and minute
    events: tuple[float, float] = (15.0, 40.0)  # per robot and minute, drawn per robot
    queue_ops: float = 6.0  # adds, leases and reports, each, per robot and minute
    client: str = "raw"
    seed: int = 0

    @property
    def window(self) -> tuple[float, float]:
        begin = self.start + self.ramp_s
        return begin, begin + self.minutes * 60


@dataclass
class Tally:
    """What one client process measured and what the server acknowledged to it."""
    samples: dict[str, list[tuple[float, float, int | str]]] = field(
        default_factory=lambda: defaultdict(list))
    acked: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    cpu_s: float = 0.0  # this process, over the measured window
    connects: int = 0


class Client:
    """Measured requests: (start, seconds, status or error name) per route."""

    def __init__(self, plan: Plan, tally: Tally) -> None:
        self.plan, self.tally = plan, tally
        self.stopping = False
        self.connections: list[Any] = []

    def connection(self) -> Any:
        kind = RawConnection if self.plan.client == "raw" else HttpxConnection
        conn = kind(self.plan.host, self.plan.port)
        self.connections.append(conn)
        return conn

    async def call(self, conn: Any, route: str, method: str, path: str, token: str,
                   payload: Any = None, timeout: float = TIMEOUT_S) -> tuple[int, bytes] | None:
        body = None if payload is None else json.dumps(payload).encode()
        began, clock = time.time(), time.perf_counter()
        try:
            async with asyncio.timeout(timeout):
                status, content = await conn.request(method, path, token, body)
        except Exception as err:  # OSError, a timeout, a bad answer; httpx's own errors
            conn.close()
            self.tally.samples[route].append((began, time.perf_counter() - clock,
                                              type(err).__name__))
            return None
        self.tally.samples[route].append((began, time.perf_counter() - clock, status))
        return status, content

    async def sleep_until(self, when: float) -> bool:
        """Sleep until the wall-clock time `when`; False when the run ends first."""
        end = self.plan.window[1]
        delay = min(when, end) - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        return time.time() < end and not self.stopping


@dataclass
class Held:
    id: int
    attempt: int
    token: str


class Robot:
    """One simulated worker with its robot process (see the module's text)."""

    def __init__(self, client: Client, name: str, token: str, rng: random.Random,
                 *, idle: bool = False) -> None:
        self.client, self.name, self.token, self.rng, self.idle = client, name, token, rng, idle
        self.plan = client.plan
        self.job: Held | None = None
        self.item_lock = asyncio.Lock()  # an item in hand: the job does not end under it
        self.added = 0

    async def run(self) -> None:
        if not await self.client.sleep_until(self.plan.start + self.rng.uniform(
                0, self.plan.ramp_s)):
            return
        if self.idle:
            await self.idle_lane(self.client.connection())
            return
        await asyncio.gather(self.worker_lane(self.client.connection()),
                             self.robot_lane(self.client.connection()))

    async def lease(self, conn: Any, finished: list[dict[str, Any]]) -> Held | None:
        """Report the ended attempt with the next lease (long-poll) until a job comes."""
        labels = [] if self.idle else ["fleet"]
        while not self.client.stopping and time.time() < self.plan.window[1]:
            ask = {"worker": self.name, "labels": labels, "wait_s": self.plan.wait_s,
                   "max_jobs": 1, "slots": 1, "finished": finished}
            route = "POST /lease (idle, long-poll)" if self.idle else "POST /lease"
            answer = await self.client.call(conn, route, "POST", "/api/v1/lease", self.token,
                                            ask, timeout=self.plan.wait_s + TIMEOUT_S)
            if answer is None:
                await asyncio.sleep(self.rng.uniform(0.5, 1.5))
                continue
            status, content = answer
            if status == 200:
                data = json.loads(content)
                self.client.tally.acked["jobs succeeded"] += sum(
                    1 for f in data.get("finished", []) if f.get("state") == "succeeded")
                finished = []
                if data["jobs"]:
                    job = data["jobs"][0]
                    self.client.tally.acked["jobs leased"] += 1
                    return Held(job["id"], job["attempt"], job["job_token"])
            elif status == 204:
                finished = []
            else:
                await asyncio.sleep(self.rng.uniform(0.5, 1.5))
        return None

    async def idle_lane(self, conn: Any) -> None:
        await self.lease(conn, [])

    async def worker_lane(self, conn: Any) -> None:
        plan, rng = self.plan, self.rng
        per_minute = rng.uniform(*plan.events)
        beat_every = 60 / plan.heartbeats
        first = True
        finished: list[dict[str, Any]] = []
        while True:
            self.job = await self.lease(conn, finished)
            if self.job is None:
                return
            job, now = self.job, time.time()
            # the first jobs are already under way when the run starts: their ends spread out
            length = plan.job_minutes * 60 * (rng.uniform(0, 2) if first else rng.uniform(0.5,
                                                                                        1.5))
            ends, beat = now + length, now + rng.uniform(0, beat_every)
            if first:  # under way already: the worker's next look at the file is any time
                tick, next_event = now + rng.uniform(0, EVENTS_EVERY), now + rng.expovariate(
                    per_minute / 60)
            else:  # a new run: its run.start goes at the worker's next tick (0.1 s)
                tick, next_event = now + 0.1, now
            first, seq, sent = False, 0, 0
            holder = {"worker": self.name, "attempt": job.attempt}
            while True:
                # the worker sends at the first tick after the robot wrote an event
                push = tick if next_event <= tick else tick + EVENTS_EVERY * -(
                    -(next_event - tick) // EVENTS_EVERY)
                upcoming = min(push, beat, ends)
                if not await self.client.sleep_until(upcoming):
                    return
                if upcoming == beat:
                    beat += beat_every * rng.uniform(0.9, 1.1)
                    answer = await self.client.call(
                        conn, "POST /jobs/{id}/heartbeat", "POST",
                        f"/api/v1/jobs/{job.id}/heartbeat", self.token, holder)
                    if answer is not None and answer[0] == 409:
                        break  # the lease was lost: ask for another job
                    continue
                if upcoming == ends:
                    break
                while next_event <= push:
                    seq += 1
                    next_event += rng.expovariate(per_minute / 60)
                events = [event(n, push) for n in range(sent + 1, seq + 1)]
                answer = await self.client.call(
                    conn, "POST /jobs/{id}/events", "POST", f"/api/v1/jobs/{job.id}/events",
                    self.token, {**holder, "events": events})
                if answer is not None and answer[0] == 200:
                    self.client.tally.acked["events stored"] += json.loads(answer[1])["stored"]
                sent = seq  # as the worker does: a refused batch is not sent again
                tick = push + EVENTS_EVERY
            async with self.item_lock:  # the robot ends after its item: then the job ends
                self.job = None
            finished = [{"job_id": job.id, "attempt": job.attempt, "status": "passed",
                         "result": {"status": "passed", "items": {"done": 1}}}]

    async def robot_lane(self, conn: Any) -> None:
        """6 items a minute, as orchestrator/queue_client.py works them: a lease when the robot
        starts on the queue (or found it empty), then each report brings the next item."""
        plan, rng = self.plan, self.rng
        every = 60 / plan.queue_ops
        path = f"/api/v1/queues/{plan.queue}"
        when = time.time() + rng.uniform(0, every)
        ahead: tuple[Held, dict[str, Any]] | None = None  # the next item, leased with a report
        while await self.client.sleep_until(when):
            cycle = every * rng.uniform(0.5, 1.5)
            when += cycle
            await self.add_item(conn, path)
            async with self.item_lock:
                job = self.job
                if job is None:
                    continue
                holder = {"job_id": job.id, "attempt": job.attempt, "worker": self.name}
                if ahead is not None and ahead[0] is job:
                    item = ahead[1]
                else:
                    answer = await self.client.call(conn, "POST /queues/{q}/lease", "POST",
                                                    f"{path}/lease", job.token, holder)
                    if answer is None or answer[0] != 200:
                        continue
                    item = json.loads(answer[1])
                ahead = None
                if not await self.client.sleep_until(time.time() + cycle * rng.uniform(0.2,
                                                                                        0.6)):
                    return
                answer = await self.client.call(
                    conn, "POST /queue-items/{id}/report", "POST",
                    f"/api/v1/queue-items/{item['id']}/report", job.token,
                    {**holder, "outcome": "done", "next": True})
                if answer is not None and answer[0] == 200:
                    self.client.tally.acked["items reported done"] += 1
                    following = json.loads(answer[1]).get("next")
                    ahead = None if following is None else (job, following)

    async def add_item(self, conn: Any, path: str) -> None:
        self.added += 1
        reference = f"{self.name}-{self.added}"
        answer = await self.client.call(
            conn, "POST /queues/{q}/items", "POST", f"{path}/items", self.plan.operator_token,
            {"items": [{"reference": reference, "payload": {"account": reference,
                                                            "amount": self.added}}]})
        if answer is not None and answer[0] == 200:
            self.client.tally.acked["items added"] += json.loads(answer[1])["added"]


def event(seq: int, ts: float) -> dict[str, Any]:
    """A step event as the runner writes it (about 200 bytes; libs/events.py)."""
    step = {"seq": seq, "ts": ts, "run": "3f9c2a1b7d4e", "step": f"s1.yaml:{10 + seq % 40}:5",
            "name": "browser.fill", "label": "填写 账户名称", "attempt": 1}
    if seq % 2:
        return {"type": "step.start", **step}
    return {"type": "step.end", **step, "outcome": "passed", "duration_ms": 21.5}


async def console(client: Client, token: str) -> None:
    """One person with the console open: a page refresh about every second (jobs, KPI, the
    queue, and in turn the queue list, a job's page and its events)."""
    plan = client.plan
    rng = random.Random(plan.seed + 7)
    conn = client.connection()
    turn, recent = 0, 0
    when = plan.start + rng.uniform(0, 1)
    while await client.sleep_until(when):
        when += rng.uniform(0.8, 1.2)
        answer = await client.call(conn, "GET /jobs", "GET", "/api/v1/jobs?limit=50", token)
        if answer is not None and answer[0] == 200:
            listed = json.loads(answer[1])
            recent = listed[len(listed) // 2]["id"] if listed else 0
        await client.call(conn, "GET /kpi", "GET", "/api/v1/kpi", token)
        await client.call(conn, "GET /queues/{q}", "GET", f"/api/v1/queues/{plan.queue}",
                          token)
        turn += 1
        if turn % 3 == 0:
            await client.call(conn, "GET /queues", "GET", "/api/v1/queues", token)
        elif recent and turn % 3 == 1:
            await client.call(conn, "GET /jobs/{id}", "GET", f"/api/v1/jobs/{recent}", token)
        elif recent:
            await client.call(conn, "GET /jobs/{id}/events", "GET",
                              f"/api/v1/jobs/{recent}/events?limit=200", token)


async def operator(client: Client, token: str) -> None:
    """New jobs at the set rate (Poisson), as schedules and callers would start them."""
    plan = client.plan
    rng = random.Random(plan.seed + 11)
    conn = client.connection()
    when = plan.start
    while plan.job_rate > 0:
        when += rng.expovariate(plan.job_rate / 60)
        if not await client.sleep_until(when):
            return
        answer = await client.call(conn, "POST /jobs", "POST", "/api/v1/jobs", token,
                                   {"robot": plan.robot, "labels": ["fleet"]})
        if answer is not None and answer[0] == 201:
            client.tally.acked["jobs created"] += 1


def cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


async def simulate(plan: Plan, robots: list[tuple[str, str]], idle: list[tuple[str, str]],
                   admin_token: str | None) -> Tally:
    tally = Tally()
    client = Client(plan, tally)
    loop = asyncio.get_running_loop()
    begin, end = plan.window
    marks: list[float] = []
    loop.call_at(loop.time() + begin - time.time(), lambda: marks.append(cpu_seconds()))
    rng = random.Random(f"{plan.seed}-{robots[0][0] if robots else idle[0][0]}")
    tasks = [Robot(client, name, token, random.Random(rng.random())).run()
             for name, token in robots]
    tasks += [Robot(client, name, token, random.Random(rng.random()), idle=True).run()
              for name, token in idle]
    if admin_token is not None:
        tasks += [console(client, admin_token), operator(client, admin_token)]
    runs = [asyncio.ensure_future(t) for t in tasks]
    await asyncio.sleep(max(0.0, end - time.time()))
    finished_at = cpu_seconds()
    client.stopping = True
    # in-flight requests are answered (or time out); long polls end within wait_s
    await asyncio.wait(runs, timeout=plan.wait_s + 5)
    for run in runs:
        run.cancel()
    tally.cpu_s = finished_at - (marks[0] if marks else finished_at)
    tally.connects = sum(c.connects for c in client.connections)
    for conn in client.connections:
        conn.close()
    return tally


def client_process(plan: Plan, robots: list[tuple[str, str]], idle: list[tuple[str, str]],
                   admin_token: str | None, ready: Any, go: Any, results: Any) -> None:
    """A client process: says it is ready, waits for the start time, simulates, reports."""
    if plan.client == "httpx":
        import httpx  # noqa: F401  (imported before the start, not during it)
    ready.put(os.getpid())
    plan.start = go.get()
    tally = asyncio.run(simulate(plan, robots, idle, admin_token))
    results.put({"samples": dict(tally.samples), "acked": dict(tally.acked),
                 "cpu_s": tally.cpu_s, "connects": tally.connects})
