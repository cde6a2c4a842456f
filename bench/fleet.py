"""A fleet against one orchestrator process: N simulated robots, p50/p95/p99 per route (issue 7).

    .venv/bin/python bench/fleet.py --robots 50 --minutes 1                       # SQLite
    .venv/bin/python bench/fleet.py --robots 1000 --minutes 5 --database postgresql
    .venv/bin/python bench/fleet.py --robots 200 --idle 60      # + 60 workers waiting for jobs

Starts `workhand serve` on a fresh data folder (SQLite file, or a private schema of
postgresql://postgres@127.0.0.1:5432/test, dropped afterwards), after deploying a no-op robot,
creating the work queue `fleet` (seeded with a minute of items), one worker token per robot
(bound to its worker name, granted the label `fleet`) and N jobs plus a minute's backlog. Then a
few client processes (--clients) run the robots of bench/fleet_robots.py, UiPath's per-robot
load model, plus one operator creating --job-rate jobs a minute (robots complete as many: a
job lasts robots / job-rate minutes) and one console reading jobs, KPI and queue pages about
every second. Robots start one by one over --ramp-s; the measured window is the --minutes after
the ramp (requests started in it).

Reported: per route, requests, p50/p95/p99/max latency and errors (not 2xx; transport errors
and timeouts by name); the server's CPU seconds per request (/proc/PID/stat, all its threads);
its database connections (PostgreSQL: pg_stat_activity rows of its application_name, by
state, and those backends' CPU; SQLite: the database file's open descriptors in the server,
i.e. the pool's open connections, not only checked-out ones); its threads; the clients' CPU.
Afterwards, the database is checked against what the server acknowledged (events, items,
jobs). --json FILE writes it all; --profile FILE samples the server with py-spy (pip install
py-spy) during the window, as collapsed stacks.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import multiprocessing
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from fleet_robots import Plan, client_process
from sqlalchemy import func, select
from support import TICK, free_port, proc_cpu

from orchestrator import deploy, jobs, queues
from orchestrator.auth import create_token
from orchestrator.db import make_engine, migrate, private_schema, session_factory
from orchestrator.models import Job, JobEvent, QueueItem
from orchestrator.roles import Role

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
ROBOT = "robot: fleet-noop\nsteps:\n  - log: working\n"
QUEUE = "fleet"


def machine_cpu() -> tuple[float, float]:
    """Busy and total CPU seconds of the whole machine since boot (/proc/stat)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values) - idle) / TICK, sum(values) / TICK


def py_spy() -> str:
    """py-spy from the PATH, else beside this interpreter (the venv's, not activated)."""
    return shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")


def threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return 0


def open_db_files(pid: int, database: Path) -> int:
    """The server's open descriptors of the SQLite file: one per pooled connection."""
    count = 0
    with contextlib.suppress(OSError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                count += os.readlink(fd) == str(database)
    return count


# -- setting up -----------------------------------------------------------------------------

def prepare(url: str, data: Path, robots: int, idle: int, backlog: int, seed_items: int
            ) -> dict[str, Any]:
    """The robot, the queue with its seed items, the jobs and every token."""
    engine = make_engine(url)
    migrate(engine)
    sessions = session_factory(engine)
    robot = data / "fleet-noop.yaml"
    robot.write_text(ROBOT, encoding="utf-8")
    with sessions.begin() as session:
        deploy.deploy_robot(session, robot)
        queues.create_queue(session, QUEUE, max_retries=2)
        queues.add_items(session, QUEUE, [{"reference": f"seed-{n}", "payload": {"n": n}}
                                          for n in range(seed_items)])
        for _ in range(robots + backlog):
            jobs.create_job(session, robot="fleet-noop", labels=["fleet"], source="bench")
        tokens = {
            "admin": create_token(session, Role.ADMIN, "fleet console"),
            "operator": create_token(session, Role.OPERATOR, "fleet queue adds"),
            "robots": [(f"fleet-{n:04d}", create_token(session, Role.WORKER,
                                                       worker=f"fleet-{n:04d}",
                                                       labels=["fleet"]))
                       for n in range(robots)],
            "idle": [(f"idle-{n:04d}", create_token(session, Role.WORKER,
                                                    worker=f"idle-{n:04d}"))
                     for n in range(idle)],
        }
    engine.dispose()
    return tokens


def start_server(url: str, data: Path, lease_s: float) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    log = (data / "server.log").open("wb")
    workhand = Path(sys.executable).parent / "workhand"
    server = subprocess.Popen(
        [str(workhand), "serve", "--port", str(port), "--data", str(data / "server"),
         "--database", url], stdout=log, stderr=subprocess.STDOUT,
        env={**os.environ, "WORKHAND_LEASE_SECONDS": str(lease_s)})
    deadline = time.monotonic() + 60
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return server, port
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                raise SystemExit("the orchestrator did not start:\n" +
                                 (data / "server.log").read_text()[-3000:]) from None
            time.sleep(0.1)


# -- watching the server --------------------------------------------------------------------

class Watch:
    """Samples the server once a second during the window: its threads and its database
    connections (and, on PostgreSQL, those backends' CPU)."""

    def __init__(self, pid: int, url: str, app_name: str, database: Path | None) -> None:
        self.pid, self.app_name, self.database = pid, app_name, database
        self.threads: list[int] = []
        self.connections: list[dict[str, int]] = []
        self.backend_cpu: dict[int, tuple[float, float]] = {}  # pid → (first, last) seen
        self.last_queries: Counter[str] = Counter()
        self.pg = None
        if database is None:
            import psycopg

            self.pg = psycopg.connect(url.split("?", 1)[0], autocommit=True)

    def sample(self, first: bool = False) -> None:
        self.threads.append(threads(self.pid))
        if self.pg is None:
            assert self.database is not None
            self.connections.append({"open": open_db_files(self.pid, self.database)})
            return
        rows = self.pg.execute("SELECT pid, coalesce(state, '?'), coalesce(wait_event, ''), "
                               "left(query, 70) FROM pg_stat_activity "
                               "WHERE application_name = %s", (self.app_name,)).fetchall()
        self.connections.append(dict(Counter(state for _, state, _, _ in rows)))
        for _, state, wait, query in rows:  # what connections in a transaction last ran
            if state != "idle":
                self.last_queries[f"{state} {wait}: {' '.join(query.split())}"] += 1
        for pid, *_ in rows:
            cpu = proc_cpu(pid)
            start = self.backend_cpu.get(pid, (cpu if first else 0.0, 0.0))[0]
            self.backend_cpu[pid] = (start, cpu)

    def summary(self) -> dict[str, Any]:
        states = sorted({s for row in self.connections for s in row})
        held = {s: {"mean": round(statistics.mean(r.get(s, 0) for r in self.connections), 1),
                    "max": max(r.get(s, 0) for r in self.connections)} for s in states}
        totals = [sum(r.values()) for r in self.connections]
        return {"threads": {"mean": round(statistics.mean(self.threads), 1),
                            "max": max(self.threads)},
                "db_connections": {"by_state": held,
                                   "total": {"mean": round(statistics.mean(totals), 1),
                                             "max": max(totals)}},
                "db_busy_connections_last_query": dict(self.last_queries.most_common(8)),
                "db_backend_cpu_s": (None if self.pg is None else round(sum(
                    last - first for first, last in self.backend_cpu.values()), 2))}

    def close(self) -> None:
        if self.pg is not None:
            self.pg.close()


def watch(watcher: Watch, server_pid: int, window: tuple[float, float],
          profile: str | None) -> dict[str, float]:
    """Until the window ends: the server's CPU at both ends, a sample every second."""
    begin, end = window
    time.sleep(max(0.0, begin - time.time()))
    cpu0, watcher_started, machine0 = proc_cpu(server_pid), time.time(), machine_cpu()
    load0 = os.getloadavg()[0]
    spy = None
    if profile:
        spy = subprocess.Popen([py_spy(), "record", "--pid", str(server_pid), "--duration",
                                str(int(end - begin)), "--rate", "100", "--gil", "--format", "raw",
                                "--output", profile, "--nonblocking"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    watcher.sample(first=True)
    while time.time() < end:
        time.sleep(max(0.0, min(1.0, end - time.time())))
        watcher.sample()
    cpu1, machine1 = proc_cpu(server_pid), machine_cpu()
    if spy is not None:
        spy.wait(timeout=60)
    return {"server_cpu_s": cpu1 - cpu0, "seconds": time.time() - watcher_started,
            "machine_busy": (machine1[0] - machine0[0]) / max(1e-9, machine1[1] - machine0[1]),
            "load_at_start": load0}


# -- the figures ----------------------------------------------------------------------------

def quantile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


def routes_table(samples: dict[str, list[tuple[float, float, Any]]], window: tuple[float, float]
                 ) -> dict[str, dict[str, Any]]:
    begin, end = window
    table: dict[str, dict[str, Any]] = {}
    for route in sorted(samples):
        kept = [(s, status) for t, s, status in samples[route] if begin <= t < end]
        if not kept:
            continue
        ordered = sorted(s for s, _ in kept)
        errors = Counter(str(status) for _, status in kept
                         if not (isinstance(status, int) and 200 <= status < 300))
        table[route] = {
            "requests": len(kept), "per_s": round(len(kept) / (end - begin), 2),
            "p50_ms": round(quantile(ordered, 0.50) * 1000, 1),
            "p95_ms": round(quantile(ordered, 0.95) * 1000, 1),
            "p99_ms": round(quantile(ordered, 0.99) * 1000, 1),
            "max_ms": round(ordered[-1] * 1000, 1),
            "errors": sum(errors.values()), "error_kinds": dict(errors),
            "no_content": sum(1 for _, status in kept if status == 204)}
    return table


def database_checks(url: str, seed_items: int, acked: Counter[str]) -> dict[str, Any]:
    """What the database holds against what the server acknowledged to the robots."""
    engine = make_engine(url)
    with session_factory(engine)() as session:
        def count(*where: Any, table: Any = Job) -> int:
            return int(session.scalar(select(func.count()).select_from(table).where(*where))
                       or 0)

        found = {
            "events stored": count(table=JobEvent),
            "items reported done": count(QueueItem.state == "done", table=QueueItem),
            "items added": count(table=QueueItem) - seed_items,
            "jobs succeeded": count(Job.state == "succeeded"),
        }
        backlog = count(Job.state == "queued")
    engine.dispose()
    return {"backlog_at_end": backlog,
            **{name: {"database": n, "acknowledged": acked.get(name, 0)}
               for name, n in found.items()}}


def server_errors(log: Path) -> dict[str, int]:
    """The exceptions in the server's log (the last line of each traceback), counted."""
    found: Counter[str] = Counter()
    lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    for before, line in zip(lines, [*lines[1:], ""], strict=True):
        if before.startswith("  ") and line and not line.startswith((" ", "Traceback")):
            found[line[:200]] += 1
    return dict(found)


def show(result: dict[str, Any]) -> None:
    args, routes = result["options"], result["routes"]
    print(f"\n{args['robots']} robots (+{args['idle']} idle), {args['database']}, "
          f"{result['window_s']:.0f} s measured after a {args['ramp_s']:.0f} s ramp, "
          f"{args['clients']} client processes ({args['client']}), job rate "
          f"{args['job_rate']:g}/min, wait_s {args['wait_s']:g}")
    print(f"{'route':<32} {'requests':>8} {'per s':>7} {'p50 ms':>8} {'p95 ms':>8} "
          f"{'p99 ms':>8} {'max ms':>8} {'errors':>7}")
    for route, row in routes.items():
        kinds = ", ".join(f"{k}×{n}" for k, n in row["error_kinds"].items())
        print(f"{route:<32} {row['requests']:>8} {row['per_s']:>7.1f} {row['p50_ms']:>8.1f} "
              f"{row['p95_ms']:>8.1f} {row['p99_ms']:>8.1f} {row['max_ms']:>8.1f} "
              f"{row['errors']:>7}{'  ' + kinds if kinds else ''}")
    s = result["server"]
    total = result["requests"]
    print(f"all routes: {total} requests, {total / result['window_s']:.1f}/s; "
          f"errors {result['errors']}")
    m = result["machine"]
    print(f"machine: {m['cores']} cores {m['busy'] * 100:.0f}% busy over the window (all "
          f"processes, this benchmark's and others'), load {m['load_at_start']:.1f} at its start")
    print(f"server: {s['server_cpu_s']:.1f} CPU s = {s['cores']:.2f} cores, "
          f"{s['cpu_ms_per_request']:.2f} ms CPU per request; threads mean {s['threads']['mean']}"
          f" max {s['threads']['max']}")
    connections = s["db_connections"]
    by_state = ", ".join(f"{k} {v['mean']}/{v['max']}" for k, v in connections["by_state"].items())
    print(f"database connections (mean/max): total {connections['total']['mean']}/"
          f"{connections['total']['max']} ({by_state})")
    if s["db_backend_cpu_s"] is not None:
        print(f"PostgreSQL backends: {s['db_backend_cpu_s']:.1f} CPU s, "
              f"{s['db_backend_cpu_s'] * 1000 / max(1, total):.2f} ms per request")
    c = result["clients"]
    print(f"clients: {c['cpu_s']:.1f} CPU s, {c['cpu_ms_per_request']:.3f} ms per request; "
          f"{c['connects']} TCP connections opened")
    for line, n in result["server_errors"].items():
        print(f"server log: {n} × {line}")
    checks = result["checks"]
    print(f"checks (whole run): jobs left queued {checks.pop('backlog_at_end')}; " + "; ".join(
        f"{name} {v['database']} in the database / {v['acknowledged']} acknowledged"
        f"{'' if v['database'] == v['acknowledged'] else ' MISMATCH'}"
        for name, v in checks.items()))


# -- the run --------------------------------------------------------------------------------

def run(args: argparse.Namespace, url: str, data: Path) -> dict[str, Any]:
    job_rate = args.job_rate if args.job_rate is not None else args.robots / 2
    backlog = max(20, math.ceil(job_rate))  # a minute of jobs: finished robots never wait
    seed_items = max(100, args.robots * int(args.queue_ops))  # a minute of queue leases
    tokens = prepare(url, data, args.robots, args.idle, backlog, seed_items)
    app_name = f"workhand-fleet-{os.getpid()}"
    server_url = url
    if url.startswith("postgresql"):
        server_url = f"{url}{'&' if '?' in url else '?'}application_name={app_name}"
    server, port = start_server(server_url, data, lease_s=4 * 60 / args.heartbeats)
    watcher = Watch(server.pid, url, app_name,
                    None if url.startswith("postgresql") else data / "workhand.db")
    plan = Plan(host="127.0.0.1", port=port, queue=QUEUE, robot="fleet-noop",
                operator_token=tokens["operator"], ramp_s=args.ramp_s, minutes=args.minutes,
                wait_s=args.wait_s, job_minutes=args.robots / job_rate if job_rate else 1e6,
                job_rate=job_rate, heartbeats=args.heartbeats, queue_ops=args.queue_ops,
                client=args.client, seed=args.seed)
    spawn = multiprocessing.get_context("spawn")
    ready, results = spawn.Queue(), spawn.Queue()
    gos, processes = [], []
    for n in range(args.clients):
        go = spawn.Queue()
        mine = tokens["robots"][n::args.clients]
        idle = tokens["idle"][n::args.clients]
        process = spawn.Process(target=client_process, args=(
            plan, mine, idle, tokens["admin"] if n == 0 else None, ready, go, results))
        process.start()
        gos.append(go)
        processes.append(process)
    try:
        client_pids = [ready.get(timeout=120) for _ in processes]
        plan.start = time.time() + 1.0
        for go in gos:
            go.put(plan.start)
        measured = watch(watcher, server.pid, plan.window, args.profile)
        tallies = [results.get(timeout=args.wait_s + 120) for _ in processes]
        for process in processes:
            process.join(timeout=30)
    finally:
        for process in processes:
            if process.is_alive():
                process.kill()
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        summary = watcher.summary()
        watcher.close()
    samples: dict[str, list[Any]] = {}
    acked: Counter[str] = Counter()
    for tally in tallies:
        for route, rows in tally["samples"].items():
            samples.setdefault(route, []).extend(rows)
        acked.update(tally["acked"])
    routes = routes_table(samples, plan.window)
    requests = sum(r["requests"] for r in routes.values())
    window_s = plan.window[1] - plan.window[0]
    client_cpu = sum(t["cpu_s"] for t in tallies)
    result = {
        "options": {**vars(args), "job_rate": job_rate},
        "window_s": window_s, "routes": routes, "requests": requests,
        "errors": sum(r["errors"] for r in routes.values()),
        "machine": {"cores": os.cpu_count(), "busy": round(measured["machine_busy"], 3),
                    "load_at_start": measured["load_at_start"]},
        "server": {**summary, "server_cpu_s": round(measured["server_cpu_s"], 2),
                   "cores": measured["server_cpu_s"] / window_s,
                   "cpu_ms_per_request": measured["server_cpu_s"] * 1000 / max(1, requests)},
        "clients": {"processes": len(client_pids), "cpu_s": round(client_cpu, 2),
                    "cpu_ms_per_request": client_cpu * 1000 / max(1, requests),
                    "connects": sum(t["connects"] for t in tallies)},
        "checks": database_checks(url, seed_items, acked),
        "server_errors": server_errors(data / "server.log"),
    }
    if args.server_log:
        shutil.copy(data / "server.log", args.server_log)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--robots", type=int, default=50, help="busy simulated robots (N)")
    parser.add_argument("--idle", type=int, default=0,
                        help="more workers that only long-poll for jobs (never get one)")
    parser.add_argument("--minutes", type=float, default=1.0, help="the measured window")
    parser.add_argument("--ramp-s", type=float, default=None,
                        help="robots start one by one over this long (default N/50, ≥ 5 s)")
    parser.add_argument("--database", default="sqlite",
                        help=f"sqlite, postgresql ({PG_URL}, a private schema) or a URL")
    parser.add_argument("--job-rate", type=float, default=None,
                        help="jobs created and completed per minute (default N/2)")
    parser.add_argument("--wait-s", type=float, default=20.0, help="long-poll of a lease")
    parser.add_argument("--heartbeats", type=float, default=2.0, help="per robot and minute")
    parser.add_argument("--queue-ops", type=float, default=6.0,
                        help="queue adds, leases and reports (each) per robot and minute")
    parser.add_argument("--clients", type=int, default=None,
                        help="client processes (default one per 250 robots, 2 to 4)")
    parser.add_argument("--client", choices=("raw", "httpx"), default="raw")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", help="write the figures to this file")
    parser.add_argument("--server-log", help="keep the server's log in this file")
    parser.add_argument("--profile", help="py-spy the server during the window into this file")
    args = parser.parse_args()
    if args.ramp_s is None:
        args.ramp_s = max(5.0, args.robots / 50)
    if args.clients is None:
        args.clients = max(2, min(4, math.ceil((args.robots + args.idle) / 250)))
    if args.profile and not Path(py_spy()).exists():
        raise SystemExit("--profile needs py-spy: .venv/bin/pip install py-spy")
    data = Path(tempfile.mkdtemp(prefix="workhand-fleet-"))
    url = {"sqlite": f"sqlite:///{data / 'workhand.db'}", "postgresql": PG_URL}.get(
        args.database, args.database)
    with contextlib.ExitStack() as stack:
        if url.startswith(("postgresql", "postgres:")):
            url = stack.enter_context(private_schema(url, "fleet"))
        try:
            result = run(args, url, data)
        finally:
            shutil.rmtree(data, ignore_errors=True)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1, default=str), encoding="utf-8")
    show(result)


if __name__ == "__main__":
    main()
