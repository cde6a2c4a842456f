"""The worker against a real orchestrator (uvicorn on a held port, a SQLite file): jobs run in a
child process; cancel, timeout and crashes end it; secrets stay out of everything stored; and a
server restart mid-run loses nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from orchestrator import deploy
from orchestrator.app import create_app
from orchestrator.auth import create_token
from orchestrator.models import Job
from orchestrator.roles import Role
from orchestrator.settings import Settings
from orchestrator.worker import run_worker
from tests.servers import ThreadServer

ROBOTS = {
    "batch": """robot: batch
savings: {minutes_per_item: 5}
inputs:
  greeting: {type: text, default: hi}
steps:
  - log: "${inputs.greeting} from the batch"
  - set: {rows: [A-1, B-2, C-3]}
  - for_each: "${rows}"
    as: row
    work_item: "${row}"
    steps:
      - if: "${row == 'B-2'}"
        then:
          - fail_item: "account ${row} is frozen"
      - log: "handled ${row}"
  - files.write_text: {path: out/report.txt, text: "3 rows"}
  - output: {name: 处理行数, value: "${rows | length}"}
""",
    "flaky": """robot: flaky
steps:
  - fail: the core system did not answer
""",
    "slow": """robot: slow
steps:
  - log: started
  - wait: 60s
""",
    "pause": """robot: pause
steps:
  - log: started
  - wait: 4s
  - for_each: [one, two]
    as: row
    work_item: "${row}"
    steps:
      - log: "done ${row}"
""",
    "secret": """robot: secret
credentials: [core]
steps:
  - log: "signing in as ${credentials.core.user}"
  - set: {password: "${credentials.core.password}"}
  - wait: 1s
""",
    "bound": """robot: bound
credentials: [core]
steps:
  - http.post: {url: "http://127.0.0.2:9/", headers: {X-Key: "${credentials.core.password}"}}
""",
    "inbox": """robot: inbox
steps:
  - for_each: {queue: inbox}
    as: letter
    steps:
      - if: "${letter.amount > 100}"
        then:
          - fail_item: "amount ${letter.amount} needs a second signature"
      - log: "filed ${letter.amount}"
""",
}
SECRET = "S3cr3t-Pa55word"


def wait_for(what: str, check: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class Orchestrator:
    """The real app under uvicorn in a thread; can be stopped and started again on its port
    (held by this test meanwhile: refused while stopped, never taken by another process)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.served = ThreadServer(lifespan="on")
        self.url = self.served.url

    def start(self) -> None:
        app = create_app(self.settings, services=True)
        self.sessions = app.state.sessions
        self.served.start(app)

    def stop(self) -> None:
        self.served.stop()

    def close(self) -> None:
        self.served.close()


class Setup:
    def __init__(self, orchestrator: Orchestrator, operator: str, worker_token: str,
                 work_dir: Path) -> None:
        self.orchestrator, self.work_dir = orchestrator, work_dir
        self.worker_token = worker_token  # bound to w1; token() makes one for another worker
        self.http = httpx.Client(base_url=orchestrator.url, timeout=10,
                                 headers={"Authorization": f"Bearer {operator}"})
        self.stop = threading.Event()
        self.worker = threading.Thread(target=run_worker, args=(orchestrator.url, worker_token),
                                       kwargs={"name": "w1", "work_dir": work_dir,
                                               "stop": self.stop, "wait_s": 0.5})

    def token(self, worker: str, labels: Sequence[str] = ()) -> str:
        with self.orchestrator.sessions.begin() as session:
            return create_token(session, Role.WORKER, worker=worker, labels=labels)

    def start_job(self, robot: str, **fields: Any) -> int:
        response = self.http.post("/api/v1/jobs", json={"robot": robot, **fields})
        assert response.status_code == 201, response.text
        return int(response.json()["id"])

    def job(self, job_id: int) -> dict[str, Any]:
        response = self.http.get(f"/api/v1/jobs/{job_id}")
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        return data

    def ended(self, job_id: int, timeout: float = 30.0) -> dict[str, Any]:
        finals = ("succeeded", "failed", "cancelled", "timed_out")
        return dict(wait_for(f"job {job_id} to end",
                             lambda: (j := self.job(job_id))["state"] in finals and j, timeout))

    def events(self, job_id: int) -> list[dict[str, Any]]:
        """The job's events as its runner wrote them, each with its seq."""
        response = self.http.get(f"/api/v1/jobs/{job_id}/events")
        assert response.status_code == 200, response.text
        return [{**row["event"], "seq": row["seq"]} for row in response.json()]


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    yield from started(tmp_path)


def started(tmp_path: Path, **limits: Any) -> Iterator[Setup]:
    settings = Settings(data_dir=tmp_path / "data", lease_seconds=6,
                        database_url=f"sqlite:///{tmp_path / 'data' / 'workhand.db'}", **limits)
    (tmp_path / "data").mkdir()
    orchestrator = Orchestrator(settings)
    orchestrator.start()
    for name, text in ROBOTS.items():
        (tmp_path / f"{name}.yaml").write_text(text, encoding="utf-8")
    with orchestrator.sessions.begin() as session:
        deploy.deploy_folder(session, tmp_path)
        operator = create_token(session, Role.ADMIN)  # runs jobs, and sets credentials
        worker_token = create_token(session, Role.WORKER, worker="w1")
    ready = Setup(orchestrator, operator, worker_token, tmp_path / "work")
    ready.worker.start()
    yield ready
    ready.stop.set()
    ready.worker.join(timeout=30)
    assert not ready.worker.is_alive()
    ready.http.close()
    orchestrator.close()


def robot_children(parent: int | None = None) -> list[int]:
    """Robot processes started by the parent: by default this test process, whose thread runs
    the worker."""
    parent = os.getpid() if parent is None else parent
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == parent and b"orchestrator.child" in cmdline:
            found.append(int(entry.name))
    return found


def gone(pid: int) -> bool:
    """The process and every process of its group (it leads one) no longer exist."""
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_a_job_runs_with_its_inputs_items_events_and_files(setup: Setup) -> None:
    job_id = setup.start_job("batch", inputs={"greeting": "hello"})
    job = setup.ended(job_id)
    assert job["state"] == "succeeded", job
    assert [(i["reference"], i["outcome"]) for i in job["items"]] == [
        ("A-1", "done"), ("B-2", "business_exception"), ("C-3", "done")]
    assert job["result"]["items"]["done"] == 2
    assert job["result"]["outputs"] == {"处理行数": 3}  # what a system starting robots reads
    events = setup.events(job_id)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[0]["type"] == "run.start" and events[-1]["type"] == "run.end"
    assert any(e.get("message") == "hello from the batch" for e in events)
    assert [e["item"] for e in events if e["type"] == "item.end"] == ["A-1", "B-2", "C-3"]
    listed = setup.http.get(f"/api/v1/jobs/{job_id}/artifacts").json()
    names = {a["name"] for a in listed}
    assert {"result.json", "events.jsonl", "out/report.txt"} <= names, names
    stored = setup.orchestrator.settings.artifacts_dir / str(job_id) / "1" / "out" / "report.txt"
    assert stored.read_text(encoding="utf-8") == "3 rows"
    # a second job of the same version runs from the cached bundle
    assert setup.ended(setup.start_job("batch"))["state"] == "succeeded"
    assert len(list((setup.work_dir / "bundles").iterdir())) == 1


def test_a_retry_of_the_failed_items_reaches_the_robot(setup: Setup) -> None:
    first = setup.ended(setup.start_job("batch"))
    retried = setup.http.post(f"/api/v1/jobs/{first['id']}/retry",
                              json={"only_failed_items": True})
    assert retried.status_code == 201, retried.text
    job = setup.ended(retried.json()["id"])
    assert job["skip_items"] == ["A-1", "C-3"]
    assert [(i["reference"], i["outcome"]) for i in job["items"]] == [
        ("A-1", "skipped"), ("B-2", "business_exception"), ("C-3", "skipped")]
    assert job["result"]["items"]["skipped"] == 2 and job["result"]["minutes_saved"] == 0
    events = setup.events(job["id"])
    assert [e["item"] for e in events if e["type"] == "item.start"] == ["B-2"]  # only it ran
    assert [e["message"] for e in events if e["type"] == "log"].count("handled A-1") == 0


def test_an_outcome_over_the_report_limit_is_reported_as_its_summary(tmp_path: Path) -> None:
    """A lease request whose reports are too large (413) must not be retried for ever: each
    outcome goes alone, shortened to its summary if need be, and the job ends as it ran."""
    running = started(tmp_path, max_report_bytes=20_000)
    setup = next(running)
    try:
        job = setup.ended(setup.start_job("batch", inputs={"greeting": "长" * 10_000}))
        assert job["state"] == "succeeded", job
        assert job["result"]["items"] == {"total": 3, "done": 2, "business_exceptions": 1,
                                          "system_errors": 0}
    finally:
        next(running, None)


def test_a_robot_works_through_a_queue(setup: Setup) -> None:
    created = setup.http.post("/api/v1/queues", json={"name": "inbox"})
    assert created.status_code == 201, created.text
    items = [{"reference": f"L-{n}", "payload": {"amount": n * 60}} for n in (1, 2, 3)]
    added = setup.http.post("/api/v1/queues/inbox/items", json={"items": items})
    assert added.status_code == 200, added.text
    job = setup.ended(setup.start_job("inbox"))
    assert job["state"] == "succeeded", job
    assert [(i["reference"], i["outcome"]) for i in job["items"]] == [
        ("L-1", "done"), ("L-2", "business_exception"), ("L-3", "business_exception")]
    listed = setup.http.get("/api/v1/queues/inbox/items").json()
    assert {i["reference"]: i["state"] for i in listed} == {
        "L-1": "done", "L-2": "business_exception", "L-3": "business_exception"}


def test_a_system_failure_is_retried_up_to_max_attempts(setup: Setup) -> None:
    job = setup.ended(setup.start_job("flaky", max_attempts=2, retry_delay_s=0))
    assert job["state"] == "failed" and job["attempt"] == 2, job
    assert job["error"]["kind"] == "system"
    assert "the core system did not answer" in job["error"]["message"]
    attempts = {e["attempt"] for e in setup.events(job["id"]) if e["type"] == "run.start"}
    assert attempts == {1, 2}


def test_cancel_kills_the_robot_process(setup: Setup) -> None:
    job_id = setup.start_job("slow")
    pid = wait_for("the robot process", robot_children)[0]
    wait_for("the first event", lambda: setup.events(job_id))
    assert setup.http.post(f"/api/v1/jobs/{job_id}/cancel").status_code == 200
    job = setup.ended(job_id)
    assert job["state"] == "cancelled", job
    assert gone(pid)


def test_a_job_over_its_timeout_is_stopped(setup: Setup) -> None:
    job_id = setup.start_job("slow", timeout_s=2)
    pid = wait_for("the robot process", robot_children)[0]
    job = setup.ended(job_id)
    assert job["state"] == "timed_out", job
    assert "timeout of 2 s" in job["error"]["message"]
    assert gone(pid)


def test_a_robot_process_killed_from_outside_fails_the_attempt(setup: Setup) -> None:
    job_id = setup.start_job("slow")
    pid = wait_for("the robot process", robot_children)[0]
    os.kill(pid, signal.SIGKILL)
    job = setup.ended(job_id)
    assert job["state"] == "failed", job
    assert job["error"] == {"kind": "system", "message": "the robot process ended unexpectedly "
                                                         "(exit code -9, signal SIGKILL)"}


def test_a_lost_lease_stops_the_robot_and_drops_the_job(setup: Setup,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="workhand.worker")
    job_id = setup.start_job("slow")
    pid = wait_for("the robot process", robot_children)[0]
    with setup.orchestrator.sessions.begin() as session:  # as if it expired and w2 took it
        job = session.get(Job, job_id)
        assert job is not None
        job.worker, job.attempt = "w2", 2
    wait_for("the robot process to be stopped", lambda: gone(pid))
    # A report of the dropped attempt would ride on the worker's next lease request (or go
    # before it): the next job, leased by that request and run to its end, orders after it.
    after = setup.ended(setup.start_job("batch"))
    assert (after["state"], after["worker"]) == ("succeeded", "w1"), after
    job_view = setup.job(job_id)
    assert (job_view["state"], job_view["worker"], job_view["attempt"]) == ("running", "w2", 2)
    about = [r for r in caplog.records if f"job {job_id} attempt 1" in r.getMessage()]
    assert any("dropped" in r.getMessage() for r in about), caplog.text
    assert not [r for r in about if r.levelname == "ERROR"], caplog.text  # nothing reported


def test_a_stopping_worker_stops_the_robot_and_hands_its_job_back(setup: Setup) -> None:
    """A stop event without a grace period: the robot is killed at once and its job queued
    again for another worker, its one try unused (tests/reliability/test_graceful_stop.py has
    SIGTERM with a grace period)."""
    job_id = setup.start_job("slow")
    pid = wait_for("the robot process", robot_children)[0]
    started = time.monotonic()
    setup.stop.set()
    setup.worker.join(timeout=30)
    assert time.monotonic() - started < 5
    wait_for("init to reap the killed robot's processes", lambda: gone(pid))
    job = setup.job(job_id)
    assert (job["state"], job["attempt"], job["finished"]) == ("queued", 1, None), job


def test_a_robot_does_not_outlive_its_worker(setup: Setup, tmp_path: Path) -> None:
    """kill -9 of the worker: the robot stops itself rather than run on unsupervised while
    the job is handed to another worker."""
    code = ("import sys; from pathlib import Path; from orchestrator.worker import run_worker; "
            "run_worker(sys.argv[1], sys.argv[2], name='w9', labels=['solo'], "
            "work_dir=Path(sys.argv[3]), wait_s=0.5)")
    worker = subprocess.Popen([sys.executable, "-c", code, setup.orchestrator.url,
                               setup.token("w9", ["solo"]), str(tmp_path / "w9")])
    try:
        setup.start_job("slow", labels=["solo"])  # the worker thread has no labels
        pid = wait_for("the robot process", lambda: robot_children(worker.pid))[0]
    finally:
        worker.kill()
        worker.wait()
    wait_for("the orphaned robot to stop", lambda: gone(pid), timeout=10)


def test_credentials_reach_the_robot_and_nothing_stored(setup: Setup, tmp_path: Path,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    response = setup.http.put("/api/v1/credentials/core",
                              json={"fields": {"user": "ops01", "password": SECRET}})
    assert response.status_code == 204, response.text
    caplog.set_level("DEBUG")
    job_id = setup.start_job("secret")
    pid = wait_for("the robot process", robot_children)[0]
    # what ps shows of the robot process: neither its command line nor its environment
    seen = Path(f"/proc/{pid}/cmdline").read_bytes() + Path(f"/proc/{pid}/environ").read_bytes()
    assert SECRET.encode() not in seen
    job = setup.ended(job_id)
    assert job["state"] == "succeeded", job
    events = setup.events(job_id)
    assert any(e.get("message") == "signing in as ops01" for e in events), events
    assert SECRET not in str(events) + str(job) + caplog.text
    leaks = [p for p in tmp_path.rglob("*") if p.is_file() and SECRET.encode() in p.read_bytes()]
    assert leaks == []  # the database, its WAL, the artifacts, the worker's run folders


def test_a_credential_bound_to_hosts_is_bound_in_the_robot(setup: Setup) -> None:
    response = setup.http.put("/api/v1/credentials/core", json={
        "fields": {"user": "ops01", "password": SECRET}, "hosts": ["ebank.bank.cn"]})
    assert response.status_code == 204, response.text
    job = setup.ended(setup.start_job("bound"))
    assert job["state"] == "failed", job
    assert ("the secret 'credentials.core.password' may only be sent to ebank.bank.cn; this "
            "step would send it to 127.0.0.2") in str(job["error"]), job
    assert SECRET not in str(job)


def test_the_worker_reconnects_after_a_server_restart(setup: Setup,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="workhand.worker")
    job_id = setup.start_job("pause")
    wait_for("the robot process", robot_children)
    wait_for("the first event", lambda: setup.events(job_id))
    setup.orchestrator.stop()
    wait_for("the worker to find the server away", lambda: "is not answering" in caplog.text)
    setup.orchestrator.start()
    job = setup.ended(job_id)
    assert job["state"] == "succeeded" and job["attempt"] == 1, job
    assert [i["outcome"] for i in job["items"]] == ["done", "done"]
    events = setup.events(job_id)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert [e["type"] for e in events].count("run.end") == 1


def test_a_worker_with_slots_runs_robots_side_by_side(setup: Setup) -> None:
    stop = threading.Event()
    wide = threading.Thread(target=run_worker,
                            args=(setup.orchestrator.url, setup.token("w3", ["wide"])),
                            kwargs={"name": "w3", "labels": ["wide"], "slots": 3,
                                    "work_dir": setup.work_dir / "w3", "stop": stop,
                                    "wait_s": 0.5})
    wide.start()
    try:
        ids = [setup.start_job("pause", labels=["wide"]) for _ in range(3)]  # w1 lacks it

        def w3() -> dict[str, Any]:
            return next((w for w in setup.http.get("/api/v1/workers").json()
                         if w["name"] == "w3"), {"running_jobs": []})  # until it leases

        # it says its slots with each lease; the jobs table says what runs on it
        shown = wait_for("w3 to run the three", lambda: (w := w3())["running_jobs"] == ids
                         and w, timeout=30)
        assert (shown["slots"], shown["current_job"]) == (3, ids[0])
        ran = [setup.ended(job_id, timeout=60) for job_id in ids]
        assert w3()["running_jobs"] == []
    finally:
        stop.set()
        wide.join(timeout=30)
    assert [(j["state"], j["worker"], j["attempt"]) for j in ran] == [("succeeded", "w3", 1)] * 3
    # each robot waits 4 s: one after another they would take 12 s
    assert max(j["started"] for j in ran) < min(j["finished"] for j in ran), ran
    assert all([i["outcome"] for i in j["items"]] == ["done", "done"] for j in ran)


def test_a_worker_keeps_only_its_newest_run_folders(setup: Setup,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from orchestrator.worker import KEEP_RUNS_ENV

    monkeypatch.setenv(KEEP_RUNS_ENV, "1")
    stop = threading.Event()
    tidy = threading.Thread(target=run_worker,
                            args=(setup.orchestrator.url, setup.token("w4", ["tidy"])),
                            kwargs={"name": "w4", "labels": ["tidy"], "stop": stop,
                                    "work_dir": setup.work_dir / "w4", "wait_s": 0.5})
    tidy.start()
    try:
        ids = [setup.start_job("batch", labels=["tidy"]) for _ in range(3)]
        assert all(setup.ended(job_id)["state"] == "succeeded" for job_id in ids)
        runs = setup.work_dir / "w4" / "runs"
        wait_for("older run folders to go",
                 lambda: sorted(p.name for p in runs.iterdir()) == [f"{ids[-1]}-1"])
    finally:
        stop.set()
        tidy.join(timeout=30)
    # the artifacts stay on the server
    assert setup.http.get(f"/api/v1/jobs/{ids[0]}/artifacts").json()
