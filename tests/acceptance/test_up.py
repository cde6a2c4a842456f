"""`workhand up` on a fresh data folder: everything comes up on SQLite, the S2 schedule fires and
its robot runs on the local worker against the demo systems, and the savings show in the KPI;
a robot trying to read the data folder or the worker's environment gets nothing.

The S2 schedule is the repository's own file with its cron changed to every minute, so the test
waits at most a minute for a fire instead of until 08:00."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.servers import Port

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.acceptance


def held_ports() -> tuple[Port, Port, Port]:
    """Ports for the orchestrator, the demo systems and their mail server (`up` puts it at
    the demo port + 25), held until the test ends; each server binds its own beside the holder
    (SO_REUSEADDR), and no other process is given them meanwhile."""
    orchestrator = Port()
    while True:
        demo = Port()
        try:
            return orchestrator, demo, Port(demo.number + 25)
        except (OSError, OverflowError):  # that one is taken: another demo port
            demo.close()


@dataclass
class Up:
    proc: subprocess.Popen[str]
    port: int
    demo_port: int
    data: Path
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextlib.contextmanager
def workhand_up(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[Up]:
    """`workhand up` on fresh ports and a fresh data folder, its output in tmp_path/up.log;
    stopped with Ctrl+C (SIGINT) at the end, killed if it does not stop."""
    held = held_ports()
    port, demo_port, data = held[0].number, held[1].number, tmp_path / "data"
    log = (tmp_path / "up.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "workhand", "up", "--port", str(port), "--demo-port",
         str(demo_port), "--data", str(data), *args],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        env={**os.environ, **(env or {})})
    up = Up(proc, port, demo_port, data, tmp_path / "up.log")
    try:
        yield up
    finally:
        os.killpg(up.proc.pid, signal.SIGINT)
        try:
            up.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(up.proc.pid, signal.SIGKILL)
        log.close()
        for each in held:
            each.close()


def wait_for(what: str, check: Any, deadline_s: float, proc: subprocess.Popen[str]) -> Any:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"workhand up exited ({proc.returncode}) while waiting for {what}")
        try:
            found = check()
        except httpx.HTTPError:
            found = None
        if found:
            return found
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}")


# Each robot tries a way to the orchestrator's data folder or the worker's environment from
# `workhand up`'s local worker: a read must end the run with a refusal (robot-file errors are not
# caught by try/catch, so a robot cannot probe what it may reach), ${env} holds no WORKHAND_*.
THIEF_READS = ["${run.output}/../../../data/vault.key", "{data}/vault.key", "{data}/workhand.db",
               "{data}/admin.token", "${'/proc'}/1/environ", "${'/proc'}/self/environ"]


def thief(n: int, step: str) -> bytes:
    return f"robot: thief-{n}\nsteps:\n  - {step}\n  - log: \"got ${{got}}\"\n".encode()


def a_robot_reaches_nothing_of_the_platform(api: httpx.Client, data: Path,
                                            proc: subprocess.Popen[str]) -> None:
    steps = [f"files.read_text: {{path: \"{p.replace('{data}', str(data))}\", into: got}}"
             for p in THIEF_READS] + ["set: {got: \"${env}\"}"]
    jobs = []
    for n, step in enumerate(steps):
        deployed = api.post("/robots", content=thief(n, step))
        assert deployed.status_code == 201, deployed.text
        jobs.append(api.post("/jobs", json={"robot": f"thief-{n}"}).json()["id"])
    secrets = [(data / "vault.key").read_bytes().strip(),
               (data / "admin.token").read_bytes().strip(), b"SQLite format 3", b"WORKHAND_"]
    for n, job_id in enumerate(jobs):
        job = wait_for(f"thief {n}", lambda j=job_id: (found := api.get(f"/jobs/{j}").json())
                       ["state"] in ("succeeded", "failed") and found, 120, proc)
        if n < len(THIEF_READS):
            assert job["state"] == "failed", job
            assert "outside the folders this robot may read" in job["error"]["message"], job
        else:
            assert job["state"] == "succeeded", job
        blobs = [str(job).encode(), str(api.get(f"/jobs/{job_id}/events").json()).encode()]
        for artifact in api.get(f"/jobs/{job_id}/artifacts").json():
            blobs.append(api.get(f"/jobs/{job_id}/artifacts/{artifact['id']}").content)
        assert not [s for s in secrets if any(s in blob for blob in blobs)], n


def test_up_fires_the_s2_schedule_on_the_local_worker(tmp_path: Path) -> None:
    schedules = tmp_path / "schedules"
    schedules.mkdir()
    s2 = (ROOT / "schedules" / "s2-filing-check.yaml").read_text(encoding="utf-8")
    assert 'cron: "0 8 * * *"' in s2
    (schedules / "s2.yaml").write_text(s2.replace('cron: "0 8 * * *"', 'cron: "* * * * *"'),
                                       encoding="utf-8")
    with workhand_up(tmp_path, "--schedules", str(schedules), "--no-examples",
                     env={"WORKHAND_LEASE_SECONDS": "15"}) as up:
        proc, port, demo_port, data = up.proc, up.port, up.demo_port, up.data
        token = wait_for("the admin token", lambda: (data / "admin.token").is_file() and
                         (data / "admin.token").read_text().strip(), 90, proc)
        api = httpx.Client(base_url=f"http://127.0.0.1:{port}/api/v1",
                           headers={"Authorization": f"Bearer {token}"}, timeout=10)
        robots = wait_for("deployed robots", lambda: api.get("/robots").json(), 30, proc)
        assert {r["robot"] for r in robots} >= {"account-annual-inspection",
                                                "image-filing-check", "central-reconciliation"}
        listed = api.get("/schedules").json()
        assert [s["name"] for s in listed] == ["s2-filing-check-daily"]

        def scheduled_done() -> dict[str, Any] | None:
            for job in api.get("/jobs", params={"robot": "image-filing-check"}).json():
                if job["schedule"] == "s2-filing-check-daily" and job["state"] in (
                        "succeeded", "failed", "timed_out"):
                    return dict(job)
            return None

        job = wait_for("the S2 schedule's run", scheduled_done, 150, proc)
        full = api.get(f"/jobs/{job['id']}").json()
        assert full["state"] == "succeeded", full.get("error")
        assert full["source"] == "schedule" and full["worker"] == "local"
        outcomes = [i["outcome"] for i in full["items"]]
        assert outcomes.count("done") == 7 and outcomes.count("business_exception") == 3
        # the demo systems' own record: one notice per unfiled account
        state = httpx.get(f"http://127.0.0.1:{demo_port}/_state", timeout=10).json()
        assert len(state["mails"]) == 3
        assert api.get(f"/jobs/{job['id']}/events").json()  # every step recorded
        kpi = api.get("/kpi").json()
        row = next(r for r in kpi["robots"] if r["robot"] == "image-filing-check")
        assert row["items_done"] == 7 and row["business_exceptions"] == 3
        # another system starts a robot through the API (the "process middle platform")
        started = api.post("/jobs", json={"robot": "central-reconciliation"})
        assert started.status_code == 201
        job_id = started.json()["id"]
        wait_for("the API-started run", lambda: api.get(f"/jobs/{job_id}").json()["state"]
                 in ("succeeded", "failed"), 120, proc)
        assert api.get(f"/jobs/{job_id}").json()["state"] == "succeeded"
        kpi = api.get("/kpi").json()
        row = next(r for r in kpi["robots"] if r["robot"] == "central-reconciliation")
        assert row["runs"] == 1 and row["minutes_saved"] == 90  # minutes_per_run
        workers = api.get("/workers").json()
        assert [w["name"] for w in workers] == ["local"]
        a_robot_reaches_nothing_of_the_platform(api, data, proc)
        status = subprocess.run([sys.executable, "-m", "workhand", "status", "--server",
                                 f"http://127.0.0.1:{port}", "--data", str(data)],
                                cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert status.returncode == 0 and "image-filing-check" in status.stdout
