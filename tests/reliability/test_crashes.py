"""kill -9 of a worker, or of the orchestrator, in the middle of a job: real `workhand serve` and
`workhand worker` processes on a real SQLite file and on PostgreSQL. The job ends succeeded
exactly once — one successful attempt, one run in the savings figures."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import text

from orchestrator.db import make_engine

WAIT_ROBOT = """robot: waiter
savings: {minutes_per_item: 5}
steps:
  - log: started
  - wait: 5s
  - for_each: [one, two]
    as: row
    work_item: "${row}"
    steps:
      - log: "done ${row}"
"""


def attempts(cluster: Any, job_id: int) -> list[tuple[int, str, str | None]]:
    engine = make_engine(cluster.database)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT number, worker, outcome FROM attempts "
                                     "WHERE job_id = :j ORDER BY number"), {"j": job_id})
            return [(int(r[0]), str(r[1]), r[2]) for r in rows]
    finally:
        engine.dispose()


def robots_running_in(folder: Path) -> list[int]:
    """Robot processes (anyone's children) whose run folder is under the folder."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if b"orchestrator.child" in cmdline and os.fsencode(folder) in cmdline:
            found.append(int(entry.name))
    return found


def one_success(cluster: Any, http: Any, job_id: int) -> None:
    succeeded = [a for a in attempts(cluster, job_id) if a[2] == "succeeded"]
    assert len(succeeded) == 1, attempts(cluster, job_id)
    kpi = http.get("/api/v1/kpi").json()
    assert kpi["totals"]["runs"] == 1 and kpi["totals"]["successes"] == 1, kpi["totals"]
    assert kpi["totals"]["items_done"] == 2, kpi["totals"]


def test_a_killed_worker_s_job_is_retried_on_another_worker(cluster: Any) -> None:
    server = cluster.serve(lease_seconds=4)
    with cluster.client(server) as http:
        cluster.deploy(http, WAIT_ROBOT)
        first = cluster.worker(server, "w1")
        job_id = cluster.start_job(http, "waiter", max_attempts=2, retry_delay_s=0)
        cluster.wait_for_event(http, job_id, "run.start")
        assert cluster.job(http, job_id)["worker"] == "w1"
        first.kill9()  # the worker alone: its robot must notice and stop by itself
        cluster.wait_until("w1's robot to stop itself",
                           lambda: not robots_running_in(cluster.root / "work" / "w1"), 15)
        cluster.worker(server, "w2")
        job = cluster.ended(http, job_id, timeout=60)
        assert (job["state"], job["attempt"], job["worker"]) == ("succeeded", 2, "w2"), job
        assert [i["outcome"] for i in job["items"]] == ["done", "done"]
        rows = attempts(cluster, job_id)
        assert [(n, w) for n, w, _ in rows] == [(1, "w1"), (2, "w2")], rows
        assert rows[0][2] != "succeeded" and rows[1][2] == "succeeded", rows
        assert "expired" in str(cluster.rows("SELECT error FROM attempts WHERE job_id = :j "
                                             "AND number = 1", j=job_id)[0][0])
        one_success(cluster, http, job_id)


def test_the_orchestrator_killed_mid_run_comes_back_and_the_run_finishes(cluster: Any) -> None:
    server = cluster.serve()
    with cluster.client(server) as http:
        cluster.deploy(http, WAIT_ROBOT)
        cluster.worker(server, "w1")
        job_id = cluster.start_job(http, "waiter")
        cluster.wait_for_event(http, job_id, "run.start")
    server.proc.kill9()
    again = cluster.serve(port=server.port)  # the same database, the same address
    with cluster.client(again) as http:
        job = cluster.ended(http, job_id, timeout=60)
        assert (job["state"], job["attempt"], job["worker"]) == ("succeeded", 1, "w1"), job
        assert [i["outcome"] for i in job["items"]] == ["done", "done"]
        events = cluster.events(http, job_id)
        assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
        assert [e["type"] for e in events].count("run.end") == 1
        assert [(n, w, o) for n, w, o in attempts(cluster, job_id)] == [(1, "w1", "succeeded")]
        one_success(cluster, http, job_id)


def zygotes(worker_pid: int) -> list[int]:
    found = []
    for pid in children_of(worker_pid):
        try:
            if b"child.zygote()" in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(pid)
        except OSError:
            continue
    return found


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and int((entry / "stat").read_text().rsplit(")", 1)[1]
                                            .split()[1]) == pid:
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def test_a_killed_robot_zygote_is_started_again(sqlite_cluster: Any) -> None:
    """The worker forks robots from a zygote process; kill -9 of the zygote costs no job."""
    cluster = sqlite_cluster
    server = cluster.serve()
    with cluster.client(server) as http:
        cluster.deploy(http, "robot: tick\nsteps:\n  - log: tick\n")
        # robots in a sandbox start as new processes: the zygote serves unsandboxed workers
        worker = cluster.worker(server, "w1", options=("--sandbox", "off"))
        assert cluster.ended(http, cluster.start_job(http, "tick"))["state"] == "succeeded"
        first = cluster.wait_until("the robot zygote", lambda: zygotes(worker.pid))
        os.kill(first[0], 9)
        job = cluster.ended(http, cluster.start_job(http, "tick"))
        assert job["state"] == "succeeded", job
        again = cluster.wait_until("a new robot zygote", lambda: zygotes(worker.pid))
        assert again != first
        assert "robots start as new processes" not in worker.output()  # forked, not spawned
