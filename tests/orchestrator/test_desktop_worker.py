"""Desktop robots through real workers (a real orchestrator, real Xvfb, bubblewrap where it
runs): a robot with desktop steps carries the label desktop; a worker with no display never
leases it, one with a display does and gives each robot a virtual screen of its own, shown in
its sandbox and stopped when the run ends; robots without desktop steps get no display."""

from __future__ import annotations

import logging
import os
import re
import shutil
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from libs import xvfb
from libs.policy import AllowedFolder
from orchestrator import deploy
from orchestrator.auth import create_token
from orchestrator.roles import Role
from orchestrator.sandbox import probe
from orchestrator.settings import Settings
from orchestrator.worker import run_worker
from orchestrator.worker_settings import WorkerSettings
from tests.orchestrator.test_worker import Orchestrator, wait_for

pytestmark = pytest.mark.skipif(shutil.which("Xvfb") is None, reason="Xvfb is not installed")
TK_WINDOW = Path(__file__).with_name("tk_window.py")
FINAL = ("succeeded", "failed", "cancelled", "timed_out")

# A desktop robot (desktop.wait_window, in a branch never taken, makes it one) that shows a
# window on its display: a headed Chromium. It waits for the test's go, so two of them run at
# the same time.
PROBE = """robot: screen-probe
inputs:
  page: {type: text}
  gate: {type: text}
settings:
  browser: {headless: false}
steps:
  - if: "${false}"
    then:
      - desktop.wait_window: 显示测试
  - browser.open: "${inputs.page}"
  - browser.screenshot: shots/page.png
  - files.wait_for_file: {pattern: "${inputs.gate}/go", timeout: 60s}
"""
# the same window from a robot without desktop steps: it has no display, so Chromium fails
HEADED = """robot: headed-browser
inputs:
  page: {type: text}
settings:
  browser: {headless: false}
steps:
  - browser.open: "${inputs.page}"
"""
# a desktop robot that holds its screen until it is stopped
HOLD = """robot: screen-hold
steps:
  - if: "${false}"
    then:
      - desktop.wait_window: 显示测试
  - log: holding the screen
  - wait: 120s
"""
# the whole desktop: an allowed Tk application, its window, a screenshot of the screen
TK = """robot: tk-window
steps:
  - desktop.launch: {app: tk, window: 显示测试}
  - desktop.wait_window: 显示测试
  - desktop.screenshot: shots/screen.png
  - desktop.close: 显示测试
"""


def xvfb_children() -> list[int]:
    """The Xvfb processes this test process started (its worker threads start them)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name, rest = stat.split("(", 1)[1].rsplit(")", 1)
        if name == "Xvfb" and int(rest.split()[1]) == os.getpid():
            found.append(int(entry.name))
    return found


@dataclass
class Fleet:
    orchestrator: Orchestrator
    http: httpx.Client
    folder: Path
    gate: Path
    workers: list[tuple[threading.Thread, threading.Event]] = field(default_factory=list)

    def worker(self, name: str, settings: WorkerSettings, slots: int = 1) -> None:
        """A worker whose token grants desktop; whether it asks for it is its display's say."""
        with self.orchestrator.sessions.begin() as session:
            token = create_token(session, Role.WORKER, worker=name, labels=["desktop"])
        stop = threading.Event()
        thread = threading.Thread(target=run_worker, args=(self.orchestrator.url, token),
                                  kwargs={"name": name, "work_dir": self.folder / name,
                                          "stop": stop, "wait_s": 0.5, "slots": slots,
                                          "settings": settings}, name=f"worker {name}")
        thread.start()
        self.workers.append((thread, stop))

    def start(self, robot: str, timeout_s: float | None = None, **inputs: str
              ) -> dict[str, Any]:
        response = self.http.post("/api/v1/jobs", json={"robot": robot, "inputs": inputs,
                                                        "timeout_s": timeout_s})
        assert response.status_code == 201, response.text
        return dict(response.json())

    def job(self, job_id: int) -> dict[str, Any]:
        return dict(self.http.get(f"/api/v1/jobs/{job_id}").json())

    def ended(self, job_id: int) -> dict[str, Any]:
        return dict(wait_for(f"job {job_id} to end", lambda: (j := self.job(job_id))["state"]
                             in FINAL and j, timeout=90))

    def seen(self, name: str) -> dict[str, Any]:
        return next((w for w in self.http.get("/api/v1/workers").json() if w["name"] == name),
                    {"last_seen": None, "labels": []})

    def artifacts(self, job_id: int) -> set[str]:
        return {a["name"] for a in self.http.get(f"/api/v1/jobs/{job_id}/artifacts").json()}


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    settings = Settings(data_dir=tmp_path / "data", lease_seconds=10,
                        database_url=f"sqlite:///{tmp_path / 'data' / 'workhand.db'}")
    (tmp_path / "data").mkdir()
    robots, gate = tmp_path / "robots", tmp_path / "gate"
    robots.mkdir()
    gate.mkdir()
    for name, text in {"screen-probe": PROBE, "headed-browser": HEADED, "tk-window": TK,
                       "screen-hold": HOLD}.items():
        (robots / f"{name}.yaml").write_text(text, encoding="utf-8")
    orchestrator = Orchestrator(settings)
    orchestrator.start()
    with orchestrator.sessions.begin() as session:
        deploy.deploy_folder(session, robots)
        admin = create_token(session, Role.ADMIN)
    http = httpx.Client(base_url=orchestrator.url, timeout=10,
                        headers={"Authorization": f"Bearer {admin}"})
    fleet = Fleet(orchestrator, http, tmp_path, gate)
    try:
        yield fleet
    finally:
        (gate / "go").touch()  # robots still waiting end
        for thread, stop in fleet.workers:
            stop.set()
            thread.join(timeout=60)
        http.close()
        orchestrator.close()
    assert not any(thread.is_alive() for thread, _ in fleet.workers)


def screens_in(caplog: pytest.LogCaptureFixture, job_id: int) -> list[str]:
    """The screens the worker's log says the job's robot started on."""
    return re.findall(rf"job {job_id} attempt \d+: robot .* on the screen (:\d+)", caplog.text)


def test_desktop_robots_go_only_to_workers_with_a_display_one_screen_each(
        fleet: Fleet, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="workhand.worker")
    robots = {r["robot"]: r for r in fleet.http.get("/api/v1/robots").json()}
    assert robots["screen-probe"]["needs"] == ["desktop"] and robots["tk-window"]["needs"] == [
        "desktop"]
    assert robots["headed-browser"]["needs"] == []
    page = f"{fleet.orchestrator.url}/console/"
    # a worker with no display: its token grants desktop, but it does not ask for it
    fleet.worker("no-screen", WorkerSettings(display="none", sandbox="off"))
    first = fleet.start("screen-probe", page=page, gate=str(fleet.gate))
    assert first["labels"] == ["desktop"]
    seen = wait_for("the worker to ask for jobs", lambda: fleet.seen("no-screen")["last_seen"])
    wait_for("it to ask again after the job was queued",
             lambda: fleet.seen("no-screen")["last_seen"] > seen, timeout=30)
    assert fleet.seen("no-screen")["labels"] == []
    assert fleet.job(first["id"])["state"] == "queued"
    # a worker with virtual screens, robots in its sandbox where bubblewrap runs: both desktop
    # robots at once, each on a display of its own
    fleet.worker("screens", WorkerSettings(display="xvfb", sandbox="auto", folders=(
        AllowedFolder(fleet.gate.resolve()),)), slots=2)
    second = fleet.start("screen-probe", page=page, gate=str(fleet.gate))
    both = (first["id"], second["id"])
    wait_for("both to run", lambda: all(fleet.job(i)["state"] == "running" for i in both)
             and all(screens_in(caplog, i) for i in both), timeout=60)
    assert fleet.seen("screens")["labels"] == ["desktop"]
    assert len(xvfb_children()) == 2
    if probe() is None:  # the display reached the robot inside bubblewrap
        assert all(re.search(rf"job {i} attempt 1: .*\(sandboxed\) on the screen", caplog.text)
                   for i in both), caplog.text
    (fleet.gate / "go").touch()
    ended = [fleet.ended(i) for i in both]
    assert [(j["state"], j["worker"]) for j in ended] == [("succeeded", "screens")] * 2, ended
    displays = [screens_in(caplog, i)[0] for i in both]
    assert displays[0] != displays[1]
    assert all("shots/page.png" in fleet.artifacts(i) for i in both)
    wait_for("the virtual screens to stop", lambda: not xvfb_children())
    # a robot without desktop steps is given no display on the same worker: its headed
    # browser has none to open a window on
    plain = fleet.ended(fleet.start("headed-browser", page=page)["id"])
    assert plain["state"] == "failed" and not screens_in(caplog, plain["id"])
    assert "display" in str(plain["error"]).lower(), plain["error"]
    assert not xvfb_children()


def test_a_forked_robot_gets_its_screen_and_loses_it_however_it_ends(
        fleet: Fleet, caplog: pytest.LogCaptureFixture) -> None:
    """No sandbox: the robot is forked from the zygote, whose environment has no display; the
    spec on stdin gives it one. Timed out or cancelled, its screen is stopped all the same."""
    caplog.set_level(logging.INFO, logger="workhand.worker")
    (fleet.gate / "go").touch()
    fleet.worker("forks", WorkerSettings(display="xvfb", sandbox="off", folders=(
        AllowedFolder(fleet.gate.resolve()),)))
    probe_job = fleet.ended(fleet.start("screen-probe", page=f"{fleet.orchestrator.url}/console/",
                                        gate=str(fleet.gate))["id"])
    assert probe_job["state"] == "succeeded", probe_job
    assert screens_in(caplog, probe_job["id"]) and "(sandboxed)" not in caplog.text
    late = fleet.ended(fleet.start("screen-hold", timeout_s=3)["id"])
    assert late["state"] == "timed_out" and screens_in(caplog, late["id"])
    wait_for("the timed-out robot's screen to stop", lambda: not xvfb_children())
    held = fleet.start("screen-hold")["id"]
    wait_for("the robot to hold its screen", lambda: xvfb_children() and any(
        e["event"].get("message") == "holding the screen" for e in fleet.http.get(
            f"/api/v1/jobs/{held}/events").json()), timeout=60)
    assert fleet.http.post(f"/api/v1/jobs/{held}/cancel").status_code == 200
    assert fleet.ended(held)["state"] == "cancelled"
    wait_for("the cancelled robot's screen to stop", lambda: not xvfb_children())


def test_a_real_screen_runs_one_desktop_robot_at_a_time(
        fleet: Fleet, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """display: ":N" — the machine's own screen (here an Xvfb of the test's): two slots, but
    the second desktop robot waits until the first has given the screen back."""
    caplog.set_level(logging.INFO, logger="workhand.worker")
    with xvfb.start(1280, 800) as screen:
        monkeypatch.setenv("XAUTHORITY", str(screen.xauthority))
        fleet.worker("console-pc", WorkerSettings(display=screen.display, sandbox="off",
                                                  folders=(AllowedFolder(fleet.gate.resolve()),
                                                           )), slots=2)
        page = f"{fleet.orchestrator.url}/console/"
        first, second = (fleet.start("screen-probe", page=page, gate=str(fleet.gate))["id"]
                         for _ in range(2))
        on_screen = wait_for("one robot on the screen", lambda: [
            i for i in (first, second) if screens_in(caplog, i)], timeout=60)
        assert len(on_screen) == 1
        seen = fleet.seen("console-pc")["last_seen"]
        wait_for("the worker to ask again", lambda: fleet.seen("console-pc")["last_seen"] > seen,
                 timeout=30)
        waiting = second if on_screen == [first] else first
        assert fleet.job(waiting)["state"] == "queued"  # handed back, or never leased
        assert fleet.seen("console-pc")["labels"] == []  # not asking for desktop meanwhile
        (fleet.gate / "go").touch()
        ended = [fleet.ended(i) for i in (first, second)]
        assert [j["state"] for j in ended] == ["succeeded"] * 2, ended
        assert {screens_in(caplog, i)[-1] for i in (first, second)} == {screen.display}
        assert screen.process.poll() is None  # a real screen is not the worker's to stop


@pytest.mark.skipif(probe() is not None, reason=f"no sandbox here: {probe()}")
def test_a_sandboxed_desktop_robot_drives_an_allowed_app_on_its_own_screen(
        fleet: Fleet, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="workhand.worker")
    apps = fleet.folder / "apps"
    apps.mkdir()
    shutil.copy(TK_WINDOW, apps / "tk_window.py")  # the sandbox shows allowed folders only
    fleet.worker("desk", WorkerSettings(
        display="xvfb", sandbox="bubblewrap", folders=(AllowedFolder(apps.resolve()),),
        apps={"tk": (sys.executable, str(apps / "tk_window.py"))}))
    job = fleet.ended(fleet.start("tk-window")["id"])
    assert job["state"] == "succeeded", job
    assert "shots/screen.png" in fleet.artifacts(job["id"])
    assert screens_in(caplog, job["id"])
    assert "(sandboxed)" in caplog.text
    wait_for("its virtual screen to stop", lambda: not xvfb_children())
