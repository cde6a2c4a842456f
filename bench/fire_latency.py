"""Schedule fire → job created → job leased by a worker: latency p50/p95 (issue 3, §9).

    .venv/bin/python bench/fire_latency.py                    # SQLite file in a temporary folder
    .venv/bin/python bench/fire_latency.py --database postgresql://postgres@127.0.0.1:5432/test
    .venv/bin/python bench/fire_latency.py --orchestrators 2  # two apps, two schedulers, one DB

Runs the real orchestrator (create_app with its services: the scheduler and the reaper) under
uvicorn on 127.0.0.1, in --orchestrators separate processes on one database (PostgreSQL: a
private schema, dropped afterwards). A schedule fires every second: crontab stops at minutes, so
the bench writes the schedule row itself with the scheduler's 6-field form (seconds first,
"* * * * * *"), which schedule files do not accept. One worker long-polls POST /api/v1/lease over
HTTP, taking turns between the orchestrators, and completes each job at once (a
lease waiting in another process than the one whose scheduler made the job is woken by
PostgreSQL's NOTIFY, sent in the job's transaction: orchestrator/arrivals.py). Measured per
fire, from its fire time: the job row's creation (fire → job created) and the lease answer
arriving at the worker (fire → leased).
Also checked: one job per fire.

--real-worker runs `workhand worker` itself (run_worker in a thread, talking to the first
orchestrator) instead of the bare lease loop, and measures fire → robot started: the robot's
own `run.start` event (its timestamp, written by the robot process), so the worker's lease,
bundle and the robot process start are all inside the figure. --sandbox bubblewrap runs the
robots in the worker's sandbox (a new interpreter per robot) instead of forking them from the
zygote (--sandbox off, the default here).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import multiprocessing
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from sqlalchemy import select
from support import free_port, wait_until_listening

from orchestrator import deploy
from orchestrator.app import create_app
from orchestrator.auth import create_token
from orchestrator.db import make_engine, migrate, private_schema, session_factory
from orchestrator.models import Fire, Job, JobEvent, Schedule
from orchestrator.roles import Role
from orchestrator.settings import Settings

ROBOT = "robot: bench-noop\nsteps:\n  - log: fired\n"


def serve(url: str, data: Path, port: int) -> None:
    """One orchestrator process: the app, its scheduler and reaper, until it is terminated."""
    app = create_app(Settings(data_dir=data, database_url=url))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def start_orchestrator(url: str, data: Path) -> tuple[multiprocessing.process.BaseProcess, str]:
    port = free_port()
    process = multiprocessing.get_context("spawn").Process(target=serve, args=(url, data, port))
    process.start()
    return process, wait_until_listening(port, process)


def lease_loop(urls: list[str], token: str, received: dict[int, float],
               stop: threading.Event) -> None:
    """A worker: long-poll for a job, note when it arrived, report it done; round-robin servers."""
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(timeout=30, headers=headers) as client:
        turn = 0
        while not stop.is_set():
            url = urls[turn % len(urls)]
            turn += 1
            answer = client.post(f"{url}/api/v1/lease",
                                 json={"worker": "bench", "labels": [], "wait_s": 2})
            if answer.status_code == 204:
                continue
            answer.raise_for_status()
            job = answer.json()["jobs"][0]
            received[job["id"]] = time.time()
            client.post(f"{url}/api/v1/jobs/{job['id']}/complete",
                        json={"worker": "bench", "attempt": job["attempt"], "status": "passed",
                              "result": {}}).raise_for_status()


def robot_starts(sessions: Any, into: dict[int, float]) -> int:
    """The robots' own run.start times (epoch seconds), by job: how many have started."""
    with sessions() as session:
        for job_id, event in session.execute(select(JobEvent.job_id, JobEvent.event)):
            if event.get("type") == "run.start":
                into.setdefault(job_id, float(event["ts"]))
    return len(into)


def percentiles(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return (f"p50 {statistics.median(ordered) * 1000:7.1f} ms   p95 {p95 * 1000:7.1f} ms   "
            f"max {ordered[-1] * 1000:7.1f} ms")


def run(url: str, data: Path, fires: int, orchestrators: int, real_worker: bool,
        sandbox: str = "off") -> None:
    engine = make_engine(url)
    migrate(engine)
    sessions = session_factory(engine)
    robot = data / "bench-noop.yaml"
    robot.write_text(ROBOT, encoding="utf-8")
    with sessions.begin() as session:
        deploy.deploy_robot(session, robot)
        token = create_token(session, Role.WORKER, worker="bench")
    servers = [start_orchestrator(url, data / f"o{i}") for i in range(orchestrators)]
    received: dict[int, float] = {}
    stop = threading.Event()
    if real_worker:
        from orchestrator.worker import run_worker
        from orchestrator.worker_settings import parse

        worker = threading.Thread(target=run_worker, args=(servers[0][1], token), kwargs={
            "name": "bench", "work_dir": data / "worker", "stop": stop, "wait_s": 2,
            "settings": parse({"sandbox": sandbox})}, daemon=True)
    else:
        worker = threading.Thread(target=lease_loop, args=(
            [u for _, u in servers], token, received, stop), daemon=True)
    try:
        worker.start()
        with sessions.begin() as session:
            session.add(Schedule(name="bench-every-second", robot="bench-noop",
                                 cron="* * * * * *", timezone="UTC", misfire="skip",
                                 source="bench", last_fire=dt.datetime.now(dt.UTC)))
        deadline = time.monotonic() + fires + 30
        while time.monotonic() < deadline and (
                len(received) if not real_worker else robot_starts(sessions, {})) < fires:
            time.sleep(0.1)
        with sessions.begin() as session:  # no more fires while we count
            schedule = session.get(Schedule, "bench-every-second")
            assert schedule is not None
            schedule.enabled = False
        time.sleep(1.5 if not real_worker else 4)  # a fire under way finishes; its job runs
    finally:
        stop.set()
        worker.join(timeout=10)
        for process, _ in servers:
            process.terminate()
            process.join(timeout=10)

    with sessions() as session:
        rows = session.execute(select(Fire.fire_time, Job.id, Job.created)
                               .join(Job, Fire.job_id == Job.id).order_by(Fire.fire_time)).all()
        fire_count = len(session.scalars(select(Fire.id)).all())
        job_count = len(session.scalars(select(Job.id)).all())
    if real_worker:
        robot_starts(sessions, received)
    engine.dispose()

    def utc(value: dt.datetime) -> dt.datetime:
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value

    # The first fire is shown apart: a schedule added while the scheduler sleeps is noticed
    # within its longest sleep (1 s); every later fire is waited for to the millisecond.
    created = [(utc(c) - utc(f)).total_seconds() for f, _, c in rows]
    started = [received[j] - utc(f).timestamp() for f, j, _ in rows if j in received]
    first_created, first_started = created.pop(0), started.pop(0)
    name = url.split(":", 1)[0].split("+", 1)[0]
    print(f"{name}, {orchestrators} orchestrator process(es) (scheduler each), 1 worker over "
          f"HTTP: {fire_count} fires, {job_count} jobs, {len(started) + 1} leased; "
          "figures over all fires but the first:")
    print(f"  fire → job created  {percentiles(created)}")
    what = "robot started" if real_worker else "job leased  "
    print(f"  fire → {what} {percentiles(started)}")
    print(f"  first fire of the new schedule: job created after {first_created * 1000:.0f} ms, "
          f"{what.strip()} after {first_started * 1000:.0f} ms")
    if fire_count != job_count:
        raise SystemExit("a fire without exactly one job: the scheduler is broken")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", default="", help="default: a SQLite file in a temp folder")
    parser.add_argument("--fires", type=int, default=30, help="fires to measure (one a second)")
    parser.add_argument("--orchestrators", type=int, default=1)
    parser.add_argument("--real-worker", action="store_true",
                        help="run workhand's worker and measure fire → robot started")
    parser.add_argument("--sandbox", choices=("off", "bubblewrap"), default="off",
                        help="with --real-worker: robots forked from the zygote (off) or "
                             "started in the sandbox")
    args = parser.parse_args()
    data = Path(tempfile.mkdtemp(prefix="workhand-fire-"))
    url = args.database or f"sqlite:///{data / 'workhand.db'}"
    with contextlib.ExitStack() as stack:
        if url.startswith(("postgresql", "postgres:")):
            url = stack.enter_context(private_schema(url, "fire_bench"))
        try:
            run(url, data, args.fires, args.orchestrators, args.real_worker, args.sandbox)
        finally:
            shutil.rmtree(data, ignore_errors=True)

if __name__ == "__main__":
    main()
