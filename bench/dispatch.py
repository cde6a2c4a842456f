"""Dispatch throughput: lease + complete of no-op jobs over HTTP, vs procrastinate (issue 3, §9).

    .venv/bin/python bench/dispatch.py                        # 3 rounds, N=2,000, K=4
    .venv/bin/python bench/dispatch.py --rounds 5 --jobs 3000
    .venv/bin/python bench/dispatch.py --profile              # where a lease + complete goes

Three sides, run one after the other in each round (so machine noise hits them alike), each on a
fresh database with the same N jobs queued beforehand (not timed) and the same concurrency K:

- workhand-sqlite / workhand-pg: the real orchestrator (create_app with its services, the
  scheduler and the lease reaper, as `workhand serve` runs it) under uvicorn in its own process
  on 127.0.0.1, on a SQLite file / on PostgreSQL in a private schema. K client threads in this
  process, each a worker with its own name and keep-alive connection, loop over
  POST /api/v1/lease (wait_s=0) then POST /api/v1/jobs/{id}/complete (status passed) until a
  lease answers 204. Timed from the clients' start to the last completion.
- procrastinate: its worker (one process, async no-op task, concurrency=K, wait=False so it
  stops once the queue is empty) on the same PostgreSQL, in a private schema with procrastinate's
  own schema applied. Timed around run_worker_async (the pool is opened beforehand, as the
  Workhand server and clients are warmed up beforehand).

Jobs/s = N / elapsed. Also shown per job: CPU time of the server (or procrastinate's worker),
of the HTTP clients, and of the PostgreSQL processes (from /proc; other users of the server add
to it). CPU per job moves much less than jobs/s when other work loads the machine: the load
average is printed with each round. Each side's outcome is checked afterwards: N jobs
succeeded, each run exactly once. N=2,000 keeps a full run near 7 minutes on 2 cores.

--profile instead runs one pass per Workhand database with meters in the server: CPU time
(time.thread_time, so lock and database waits are not counted) of the event loop thread, of
each thread-pool call by route or dependency, and of the dispatch functions inside them; SQL
statements per job by kind; then the dispatch functions called directly, without HTTP.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import multiprocessing
import os
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, func, select, text
from support import free_port, proc_cpu, wait_until_listening

from orchestrator import deploy, dispatch, jobs
from orchestrator.auth import create_token
from orchestrator.db import make_engine, migrate, normalise_url, private_schema, session_factory
from orchestrator.models import Job
from orchestrator.roles import Role
from orchestrator.settings import Settings

PG_URL = os.environ.get("WORKHAND_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
ROBOT = "robot: bench-noop\nsteps:\n  - log: nothing to do\n"
RESULT = {"status": "passed"}  # a no-op robot's result.json, as small as it gets
SPAWN = multiprocessing.get_context("spawn")


@dataclass
class Outcome:
    side: str
    elapsed: float
    jobs: int
    cpu: dict[str, float] = field(default_factory=dict)  # whose CPU → seconds in the timed part

    @property
    def rate(self) -> float:
        return self.jobs / self.elapsed


# --- measuring CPU ------------------------------------------------------------------------

def postgres_cpu() -> dict[int, float]:
    """CPU seconds of each PostgreSQL process on this machine, by pid."""
    found: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    found[int(entry.name)] = proc_cpu(int(entry.name))
            except OSError:
                continue
    return found


def postgres_spent(before: dict[int, float]) -> float:
    """PostgreSQL CPU since `before`: processes that ended meanwhile are not counted (ours stay
    connected; other users' sessions that come and go would otherwise blur it)."""
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in postgres_cpu().items())


# --- databases ----------------------------------------------------------------------------

def pg_schema(base: str, prefix: str) -> contextlib.AbstractContextManager[str]:
    return private_schema(base, prefix)


# --- Workhand: the server process ---------------------------------------------------------

def serve(url: str, data: Path, port: int, profile_to: str | None) -> None:
    """The orchestrator as `workhand serve` runs it, until SIGTERM."""
    import uvicorn

    from orchestrator.app import create_app

    app = create_app(Settings(data_dir=data, database_url=url))
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                            access_log=False)
    server = uvicorn.Server(config)
    if profile_to is None:
        server.run()
        return
    meter = Meter(app.state.engine)
    # uvicorn re-raises the SIGTERM it caught once it has shut down: let that one return here,
    # so the figures are written.
    signal.signal(signal.SIGTERM, lambda *_: None)
    loop0 = time.thread_time()
    try:
        server.run()
    finally:
        meter.add("event loop thread (HTTP, routing, validation, JSON)",
                  time.thread_time() - loop0)
        meter.dump(profile_to)


# What --profile times inside the server: (module, attribute) wrapped with a CPU-time meter.
METERED = (("orchestrator.api.deps", "find_token"), ("orchestrator.dispatch", "lease"),
           ("orchestrator.dispatch", "_assignment"),
           ("orchestrator.dispatch", "complete"), ("orchestrator.dispatch", "finish"),
           ("orchestrator.kpi", "add"))


class Meter:
    """CPU time (time.thread_time, so waiting for a lock or the database is not counted) of
    every call FastAPI hands to its thread pool, by what it calls, and of the functions in
    METERED; SQL statements by kind, with the wall time spent in the driver's execute."""

    def __init__(self, engine: Any) -> None:
        import importlib

        import anyio.to_thread
        from sqlalchemy import event
        from sqlalchemy.orm import Session

        self.lock = threading.Lock()
        self.cpu: dict[str, list[float]] = {}  # name → [calls, seconds]
        self.sql: dict[str, list[float]] = {}
        original = anyio.to_thread.run_sync

        async def run_sync(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
            name = "thread pool: " + _label(func)

            def metered(*inner: Any) -> Any:
                t0 = time.thread_time()
                try:
                    return func(*inner)
                finally:
                    self.add(name, time.thread_time() - t0)

            return await original(metered, *args, **kwargs)

        anyio.to_thread.run_sync = run_sync  # type: ignore[assignment]
        for module_name, attr in METERED:
            module = importlib.import_module(module_name)
            setattr(module, attr, self.wrap(f"{module_name.split('.')[-1]}.{attr}",
                                            getattr(module, attr)))
        Session.commit = self.wrap("Session.commit (flush + COMMIT)",  # type: ignore[method-assign]
                                   Session.commit)

        @event.listens_for(engine, "before_cursor_execute")
        def _before(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
            conn.info["bench_t0"] = time.perf_counter()

        @event.listens_for(engine, "after_cursor_execute")
        def _after(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
            took = time.perf_counter() - conn.info.pop("bench_t0", time.perf_counter())
            kind = " ".join(statement.split()[:3])[:50]
            with self.lock:
                entry = self.sql.setdefault(kind, [0, 0.0])
                entry[0] += 1
                entry[1] += took

    def add(self, name: str, seconds: float) -> None:
        with self.lock:
            entry = self.cpu.setdefault(name, [0, 0.0])
            entry[0] += 1
            entry[1] += seconds

    def wrap(self, name: str, func: Callable[..., Any]) -> Callable[..., Any]:
        def metered(*args: Any, **kwargs: Any) -> Any:
            t0 = time.thread_time()
            try:
                return func(*args, **kwargs)
            finally:
                self.add(name, time.thread_time() - t0)

        return metered

    def dump(self, path: str) -> None:
        lines = [f"cpu\t{n:.0f}\t{s:.6f}\t{k}" for k, (n, s) in self.cpu.items()]
        lines += [f"sql\t{n:.0f}\t{s:.6f}\t{k}" for k, (n, s) in self.sql.items()]
        lines.append(f"process\t1\t{time.process_time():.6f}\twhole server process")
        Path(path).write_text("\n".join(lines), encoding="utf-8")


def _label(func: Callable[..., Any]) -> str:
    """What a thread-pool call runs: the route or dependency's name."""
    while isinstance(func, functools.partial):
        func = func.func
    owner = getattr(func, "__self__", None)
    gen = getattr(owner, "gen", None)  # a generator dependency's __enter__ / __exit__
    if gen is not None:
        return f"{gen.__name__} ({func.__name__})"
    return str(getattr(func, "__qualname__", func))


def start_server(url: str, data: Path, profile_to: str | None
                 ) -> tuple[multiprocessing.process.BaseProcess, str]:
    port = free_port()
    process = SPAWN.Process(target=serve, args=(url, data, port, profile_to))
    process.start()
    return process, wait_until_listening(port, process)


# --- Workhand: the clients ----------------------------------------------------------------

def client_loop(client: httpx.Client, base: str, name: str, slots: int,
                start: threading.Barrier, done: list[int]) -> None:
    """One worker with `slots` robot slots: each request reports the jobs it ran (no-ops, so
    all of them) and leases as many again, until the queue is empty."""
    ask = {"worker": name, "labels": [], "wait_s": 0, "max_jobs": slots, "slots": slots}
    start.wait()
    count, finished = 0, []
    while True:
        answer = client.post(f"{base}/api/v1/lease", json={**ask, "finished": finished})
        if answer.status_code == 204:
            break
        answer.raise_for_status()
        body = answer.json()
        refused = [f for f in body["finished"] if "error" in f]
        if refused:
            raise SystemExit(f"{name}: reports refused: {refused[:3]}")
        count += len(body["finished"])
        finished = [{"job_id": job["id"], "attempt": job["attempt"], "status": "passed",
                     "result": RESULT} for job in body["jobs"]]
    done.append(count)


def workhand(side: str, url: str, n: int, k: int, slots: int,
             profile_to: str | None = None) -> Outcome:
    data = Path(tempfile.mkdtemp(prefix="workhand-dispatch-"))
    url = url or f"sqlite:///{data / 'workhand.db'}"
    engine = make_engine(url)
    migrate(engine)
    sessions = session_factory(engine)
    robot = data / "bench-noop.yaml"
    robot.write_text(ROBOT, encoding="utf-8")
    with sessions.begin() as session:
        deploy.deploy_robot(session, robot)
        tokens = [create_token(session, Role.WORKER, "bench", worker=f"bench-{i}")
                  for i in range(k)]
    process, base = start_server(url, data / "server", profile_to)
    clients = [httpx.Client(timeout=60, headers={"Authorization": f"Bearer {token}"})
               for token in tokens]
    try:
        for i, client in enumerate(clients):  # warm: connections, pools, first-call imports
            assert client.post(f"{base}/api/v1/lease", json={
                "worker": f"bench-{i}", "labels": [], "wait_s": 0}).status_code == 204
        with sessions.begin() as session:
            for _ in range(n):
                jobs.create_job(session, robot="bench-noop", source="api")
        start = threading.Barrier(k + 1)
        done: list[int] = []
        threads = [threading.Thread(target=client_loop,
                                    args=(c, base, f"bench-{i}", slots, start, done))
                   for i, c in enumerate(clients)]
        for thread in threads:
            thread.start()
        cpu0 = (proc_cpu(process.pid or 0), time.process_time(), postgres_cpu())
        start.wait()
        t0 = time.perf_counter()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - t0
        cpu1 = (proc_cpu(process.pid or 0), time.process_time(), postgres_spent(cpu0[2]))
    finally:
        for client in clients:
            client.close()
        process.terminate()
        process.join(timeout=30)
    with sessions() as session:
        ok = session.scalar(select(func.count()).select_from(Job).where(
            Job.state == "succeeded", Job.attempt == 1))
    engine.dispose()
    shutil.rmtree(data, ignore_errors=True)
    if ok != n or sum(done) != n:
        raise SystemExit(f"{side}: {ok} of {n} jobs succeeded once, clients counted {sum(done)}")
    cpu = {"server": cpu1[0] - cpu0[0], "clients": cpu1[1] - cpu0[1]}
    if url.startswith("postgres"):
        cpu["postgres"] = cpu1[2]
    return Outcome(side, elapsed, n, cpu)


# --- procrastinate ------------------------------------------------------------------------

async def noop() -> None:
    """The task: nothing, like the Workhand side's robot."""


def procrastinate_worker(url: str, n: int, k: int, pipe: Connection) -> None:
    """In its own process: apply the schema, defer N jobs, then (on "go") run the worker."""
    import procrastinate

    async def main() -> None:
        connector = procrastinate.PsycopgConnector(
            conninfo=url, min_size=k + 2, max_size=k + 4)  # never short of one
        app = procrastinate.App(connector=connector)
        task = app.task(name="bench_noop", queue="bench")(noop)
        async with app.open_async():
            await app.schema_manager.apply_schema_async()
            for first in range(0, n, 500):
                await task.batch_defer_async(*({} for _ in range(first, min(n, first + 500))))
            pipe.send("ready")
            pipe.recv()
            cpu0 = time.process_time()
            t0 = time.perf_counter()
            await app.run_worker_async(queues=["bench"], concurrency=k, wait=False,
                                       install_signal_handlers=False)
            elapsed = time.perf_counter() - t0
            pipe.send((elapsed, time.process_time() - cpu0))

    asyncio.run(main())


def procrastinate_side(base: str, n: int, k: int) -> Outcome:
    with pg_schema(base, "procrastinate_bench") as url:
        ours, theirs = SPAWN.Pipe()
        process = SPAWN.Process(target=procrastinate_worker, args=(url, n, k, theirs))
        process.start()
        try:
            if not ours.poll(120):
                raise RuntimeError("procrastinate's side did not get ready")
            assert ours.recv() == "ready"
            pg0 = postgres_cpu()
            ours.send("go")
            elapsed, worker_cpu = ours.recv()
            pg1 = postgres_spent(pg0)
        finally:
            process.join(timeout=60)
        engine = create_engine(normalise_url(url))
        with engine.connect() as conn:
            ok = conn.scalar(text("SELECT count(*) FROM procrastinate_jobs "
                                  "WHERE status = 'succeeded' AND attempts = 1"))
            started = conn.scalar(text("SELECT count(*) FROM procrastinate_events "
                                       "WHERE type = 'started'"))
        engine.dispose()
    if ok != n or started != n:
        raise SystemExit(f"procrastinate: {ok} of {n} jobs succeeded, {started} starts")
    return Outcome("procrastinate", elapsed, n, {"server": worker_cpu, "postgres": pg1})


# --- the run ------------------------------------------------------------------------------

SIDES = ("workhand-sqlite", "workhand-pg", "procrastinate")


def side_name(base: str, slots: int) -> str:
    return f"{base} ×{slots}"


def run_side(base: str, pg: str, n: int, k: int, slots: int) -> Outcome:
    name = side_name(base, slots)
    if base == "workhand-sqlite":
        return workhand(name, "", n, k, slots)
    if base == "workhand-pg":
        with pg_schema(pg, "dispatch_bench") as url:
            return workhand(name, url, n, k, slots)
    outcome = procrastinate_side(pg, n, k * slots)
    outcome.side = name
    return outcome


def report(results: dict[str, list[Outcome]], n: int, k: int, slots: list[int], rounds: int,
           command: str) -> None:
    med = {s: statistics.median(o.rate for o in rs) for s, rs in results.items() if rs}
    print(f"\n```bash\n{command}\n```\n")
    print(f"N = {n:,} no-op jobs per side and round, K = {k} workers with ×S slots each "
          f"(procrastinate: concurrency K×S), {rounds} rounds (sides alternating), "
          f"{time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores.\n")
    print("| side | jobs/s (median) | per round | CPU ms per job: server or worker / "
          "HTTP clients / PostgreSQL |")
    print("|---|---|---|---|")
    for side, outcomes in results.items():
        if not outcomes:
            continue
        rates = ", ".join(f"{o.rate:.0f}" for o in outcomes)

        def per_job(who: str, outcomes: list[Outcome] = outcomes) -> str:
            values = [o.cpu[who] / o.jobs * 1000 for o in outcomes if who in o.cpu]
            return f"{statistics.median(values):.2f}" if values else "–"

        print(f"| {side} | **{med[side]:.0f}** | {rates} | {per_job('server')} / "
              f"{per_job('clients')} / {per_job('postgres')} |")
    theirs_all = [side for side in results if side.startswith("procrastinate") and side in med]
    if not theirs_all:
        return
    best = max(theirs_all, key=lambda side: med[side])
    print(f"\n| ratio (same run) | ÷ procrastinate at the same concurrency: median of the "
          f"medians | per round | ÷ procrastinate's best side ({best}) |")
    print("|---|---|---|---|")
    for size in slots:
        theirs = side_name("procrastinate", size)
        for base in ("workhand-pg", "workhand-sqlite"):
            ours = side_name(base, size)
            if ours not in med or theirs not in med:
                continue
            per_round = ", ".join(f"{a.rate / b.rate:.2f}" for a, b in zip(
                results[ours], results[theirs], strict=False))
            print(f"| {ours} | **{med[ours] / med[theirs]:.2f}** | {per_round} | "
                  f"{med[ours] / med[best]:.2f} |")


# --- profiling ----------------------------------------------------------------------------

def profile(pg: str, n: int, k: int, slots: int) -> None:
    """Where a lease + complete goes: CPU time per job by part inside the server (over HTTP,
    K clients), SQL statements per job, and the dispatch functions called directly (no HTTP)."""
    for side, with_url in (("workhand-sqlite", False), ("workhand-pg", True)):
        out = tempfile.mktemp(prefix="dispatch-profile-")
        with contextlib.ExitStack() as stack:
            url = stack.enter_context(pg_schema(pg, "dispatch_prof")) if with_url else ""
            outcome = workhand(side, url, n, k, slots, profile_to=out)
        rows = [line.split("\t") for line in Path(out).read_text().splitlines()]
        Path(out).unlink()
        print(f"\n## {side}: {outcome.rate:.0f} jobs/s with the meters on; server CPU "
              f"{outcome.cpu['server'] / n * 1000:.2f} ms per job (from /proc, timed part)")
        print("\nCPU per job inside the server (whole run, warm-up included; nested parts are "
              "also counted in what contains them):\n")
        print("| part | ms per job | calls per job |\n|---|---|---|")
        for kind, calls, seconds, name in sorted(rows, key=lambda r: -float(r[2])):
            if kind != "sql":
                print(f"| {name} | {float(seconds) / n * 1000:.3f} | {int(calls) / n:.2f} |")
        total = sum(int(r[1]) for r in rows if r[0] == "sql")
        wall = sum(float(r[2]) for r in rows if r[0] == "sql")
        print(f"\nSQL: {total / n:.1f} statements per job, {wall / n * 1000:.2f} ms per job "
              "waiting in the driver's execute (wall time, summed over threads):\n")
        print("| statement | per job | ms per job |\n|---|---|---|")
        for _, calls, seconds, name in sorted((r for r in rows if r[0] == "sql"),
                                              key=lambda r: -int(r[1]))[:16]:
            print(f"| {name} | {int(calls) / n:.2f} | {float(seconds) / n * 1000:.3f} |")
        with contextlib.ExitStack() as stack:
            url = stack.enter_context(pg_schema(pg, "dispatch_direct")) if with_url else ""
            direct(side, url, n)


def direct(side: str, url: str, n: int) -> None:
    """The same lease + complete as the routes do, without HTTP, one worker, one thread."""
    data = Path(tempfile.mkdtemp(prefix="workhand-direct-"))
    url = url or f"sqlite:///{data / 'workhand.db'}"
    engine = make_engine(url)
    migrate(engine)
    sessions = session_factory(engine)
    settings = Settings(data_dir=data, database_url=url)
    robot = data / "bench-noop.yaml"
    robot.write_text(ROBOT, encoding="utf-8")
    with sessions.begin() as session:
        deploy.deploy_robot(session, robot)
        for _ in range(n):
            jobs.create_job(session, robot="bench-noop")
    t0 = time.perf_counter()
    cpu = {"lease": 0.0, "complete": 0.0}
    while True:
        c = time.thread_time()
        with sessions.begin() as session:
            leased = dispatch.lease(session, worker="direct", labels=[], settings=settings,
                                    slots=1)
        cpu["lease"] += time.thread_time() - c
        if not leased:
            break
        c = time.thread_time()
        with sessions.begin() as session:
            dispatch.complete(session, [dispatch.Ending(leased[0]["id"], "direct",
                                                        leased[0]["attempt"], "passed", None,
                                                        dict(RESULT))], settings)
        cpu["complete"] += time.thread_time() - c
    elapsed = time.perf_counter() - t0
    engine.dispose()
    shutil.rmtree(data, ignore_errors=True)
    print(f"\n{side}, dispatch.lease + dispatch.complete called directly, each in its own "
          f"transaction (no HTTP, no auth), 1 thread: {n / elapsed:.0f} jobs/s; CPU per "
          f"job: lease {cpu['lease'] / n * 1000:.2f} ms, complete "
          f"{cpu['complete'] / n * 1000:.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=2000, help="N: jobs per side and round")
    parser.add_argument("--concurrency", type=int, default=4, help="K: concurrent workers")
    parser.add_argument("--slots", default="1,10",
                        help="S: robot slots per worker, comma-separated (each a side); "
                             "--profile uses the last")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database", default=PG_URL, help="the PostgreSQL server to use")
    parser.add_argument("--sides", default=",".join(SIDES), help="comma-separated, of " +
                        ", ".join(SIDES))
    parser.add_argument("--profile", action="store_true",
                        help="instead: profile the Workhand server and print where time goes")
    args = parser.parse_args()
    slot_counts = [int(v) for v in args.slots.split(",") if v]
    if args.profile:
        profile(args.database, args.jobs, args.concurrency, slot_counts[-1])
        return
    sides = [s for s in args.sides.split(",") if s]
    unknown = set(sides) - set(SIDES)
    if unknown:
        parser.error(f"unknown sides: {', '.join(sorted(unknown))}")
    results: dict[str, list[Outcome]] = {side_name(b, n): [] for n in slot_counts
                                         for b in sides}
    for number in range(1, args.rounds + 1):
        for size in slot_counts:
            for base in sides:
                outcome = run_side(base, args.database, args.jobs, args.concurrency, size)
                results[outcome.side].append(outcome)
                cpu = ", ".join(f"{who} {sec:.1f} s" for who, sec in outcome.cpu.items())
                print(f"round {number}: {outcome.side:20} {outcome.rate:7.0f} jobs/s  "
                      f"({outcome.elapsed:.2f} s; CPU {cpu}; load average "
                      f"{os.getloadavg()[0]:.1f})", flush=True)
    report(results, args.jobs, args.concurrency, slot_counts, args.rounds,
           " ".join([".venv/bin/python", "bench/dispatch.py", *sys.argv[1:]]))


if __name__ == "__main__":
    main()
