"""S1 through the orchestrator, retried from the console: the account system is down for three
accounts, so their work items fail; an operator's "retry only the failed items" (in real
Chromium, on the run's page) then works those again, and the
accounts done in the first run are not touched a second time. Checked in what the demo
systems recorded (each account's actions, each registry search), not only in what the robot
says, and in the KPI (every account counts done once).

The orchestrator runs in this process (uvicorn on a held port), its worker in a thread, each
robot in a child process with real Chromium. The robot is the repository's S1 file with a
shorter step timeout and no retry of an item, so an item failing on the outage fails in
seconds instead of minutes (its steps are the same)."""

from __future__ import annotations

import shutil
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect, sync_playwright

from libs.credentials import load_credentials
from orchestrator import deploy, people, vault
from orchestrator.app import create_app
from orchestrator.auth import create_token
from orchestrator.roles import Role
from orchestrator.settings import Settings
from orchestrator.worker import run_worker
from orchestrator.worker_settings import WorkerSettings
from tests.acceptance.test_s1_inspection import decision
from tests.servers import ThreadServer
from workhand.demo import DemoSystems

pytestmark = pytest.mark.acceptance

ROOT = Path(__file__).resolve().parents[2]
S1 = ROOT / "robots" / "s1-account-annual-inspection.yaml"
SKIPPED = "done in an earlier run; skipped by a retry of failed items"
PASSWORD = "an operator's password"


def quick_s1(folder: Path) -> None:
    """The S1 robot and its data, each step given 8 s and each item one try."""
    text = S1.read_text(encoding="utf-8")
    for slow, quick in (("timeout: 30s", "timeout: 8s"),
                        ("retry: {attempts: 3, delay: 2s}", "retry: {attempts: 1}")):
        assert text.count(slow) == 1, slow
        text = text.replace(slow, quick)
    folder.mkdir()
    (folder / S1.name).write_text(text, encoding="utf-8")
    shutil.copytree(ROOT / "robots" / "data", folder / "data")


class Orchestrator:
    """The real app and one worker (w1) whose robots reach the demo systems."""

    def __init__(self, tmp_path: Path, demo: DemoSystems) -> None:
        data = tmp_path / "data"
        data.mkdir()
        self.settings = Settings(data_dir=data, lease_seconds=10,
                                 database_url=f"sqlite:///{data / 'workhand.db'}")
        app = create_app(self.settings, services=True)
        quick_s1(tmp_path / "robots")
        creds = load_credentials(ROOT / "robots" / "credentials" / "demo.yaml")
        with app.state.sessions.begin() as session:
            deploy.deploy_folder(session, tmp_path / "robots")
            vault.put(session, self.settings, "account_system",
                      {k: str(v) for k, v in creds.fields["account_system"].items()},
                      hosts=creds.hosts.get("account_system"))
            operator = create_token(session, Role.OPERATOR)
            people.create_user(session, "li.na", Role.OPERATOR, PASSWORD)
            worker_token = create_token(session, Role.WORKER, worker="w1")
        self.served = ThreadServer(lifespan="on")
        self.served.start(app)
        self.http = httpx.Client(base_url=self.served.url, timeout=30,
                                 headers={"Authorization": f"Bearer {operator}"})
        self.stop = threading.Event()
        self.worker = threading.Thread(target=run_worker, args=(self.served.url, worker_token),
                                       kwargs={"name": "w1", "work_dir": tmp_path / "work",
                                               "stop": self.stop, "wait_s": 0.5,
                                               "settings": WorkerSettings(env=demo.env()),
                                               "protected": [data]})
        self.worker.start()

    def ended(self, job_id: int, timeout: float = 240.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job: dict[str, Any] = self.http.get(f"/api/v1/jobs/{job_id}").json()
            if job["state"] in ("succeeded", "failed", "cancelled", "timed_out"):
                return job
            time.sleep(0.5)
        raise AssertionError(f"job {job_id} did not end within {timeout:g} s")

    def close(self) -> None:
        self.stop.set()
        self.worker.join(timeout=60)
        self.http.close()
        self.served.close()


@pytest.fixture
def orchestrator(tmp_path: Path, demo: DemoSystems) -> Iterator[Orchestrator]:
    running = Orchestrator(tmp_path, demo)
    try:
        yield running
    finally:
        running.close()


def retry_failed_items_in_the_console(url: str, job_id: int) -> int:
    """Sign in, open the failed run, press "retry only the failed items", watch the new run
    turn succeeded without reloading the page; the new run's id."""
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium")
        page = browser.new_page(locale="zh-CN")
        page.on("dialog", lambda dialog: dialog.accept())  # the confirmation
        page.goto(f"{url}/console/runs/{job_id}")
        page.fill("input[name=name]", "li.na")
        page.fill("input[name=password]", PASSWORD)
        page.click("#sign-in button[type=submit]")
        expect(page.locator("#run-state")).to_have_text("失败")
        page.click("#retry-failed")
        page.wait_for_url(f"{url}/console/runs/*")
        new_id = int(page.url.rsplit("/", 1)[1])
        assert new_id != job_id
        expect(page.locator("#run")).to_contain_text("跳过此前已完成的 5 个事项")
        page.evaluate("window.notReloaded = true")
        expect(page.locator("#run-state")).to_have_text("成功", timeout=240_000)
        assert page.evaluate("window.notReloaded") is True
        expect(page.locator("#items")).to_contain_text("已跳过")
        browser.close()
    return new_id


def test_a_retry_of_the_failed_items_redoes_only_what_was_not_done(
        demo: DemoSystems, orchestrator: Orchestrator) -> None:
    state = demo.state()
    expected = state["expected"]["registry"]
    due = {a["number"]: a for a in state["accounts"] if a["due"]}
    want = {n: decision(expected[a["company"]]) for n, a in due.items()}
    company = {n: a["company"] for n, a in due.items()}
    inspected = sorted(n for n, w in want.items() if w == "已年检")
    stopped = sorted(n for n, w in want.items() if w == "已止付")
    down = [*inspected[:2], stopped[0]]  # two that would be done, one to be stopped
    demo.outage(down)

    # the first run: the three accounts the system cannot serve fail, the rest are worked
    created = orchestrator.http.post("/api/v1/jobs", json={"robot": "account-annual-inspection"})
    assert created.status_code == 201, created.text
    first = orchestrator.ended(created.json()["id"])
    assert first["state"] == "failed", first["error"]
    outcomes = {i["reference"]: i["outcome"] for i in first["items"]}
    assert sorted(n for n, o in outcomes.items() if o == "system_error") == sorted(down)
    done_first = sorted(n for n, o in outcomes.items() if o == "done")
    assert done_first == inspected[2:]
    exceptions_first = sorted(n for n, o in outcomes.items() if o == "business_exception")
    assert len(exceptions_first) == 5
    between = {a["number"]: a for a in demo.state()["accounts"]}
    assert all(between[n]["actions"] == [] for n in down)  # nothing happened to them

    # the retry of the failed items, with the account system back: from the run's page
    demo.outage([])
    retried_id = retry_failed_items_in_the_console(orchestrator.served.url, first["id"])
    retried = orchestrator.http.get(f"/api/v1/jobs/{retried_id}").json()
    assert retried["retry_of"] == first["id"]
    assert retried["skip_items"] == done_first
    second = orchestrator.ended(retried_id)
    assert second["state"] == "succeeded", second["error"]

    # what the demo systems recorded: an account done in the first run was handled once, and
    # its retry did not even search the registry for it; every other account was worked again
    after = demo.state()
    accounts = {a["number"]: a for a in after["accounts"]}
    searches = Counter(after["registry_searches"])
    for number in done_first:
        assert len(accounts[number]["actions"]) == 1, accounts[number]["actions"]
        assert searches[company[number]] == 1, number
    for number in down:  # failed in the first run before anything was done; done in the retry
        assert len(accounts[number]["actions"]) == 1, accounts[number]["actions"]
        assert searches[company[number]] == 2, number
    for number in exceptions_first:  # handed back by the first run, worked again by the retry
        assert len(accounts[number]["actions"]) == 2, accounts[number]["actions"]
    assert all(a["status"] == want[n] for n, a in accounts.items() if n in want)
    assert after["logins"] == {"accounts": 2}

    # what the robot reported: the items done before listed as skipped
    outcomes = {i["reference"]: i["outcome"] for i in second["items"]}
    assert sorted(n for n, o in outcomes.items() if o == "skipped") == done_first
    assert {n: outcomes[n] for n in down} == {n: "done" if want[n] == "已年检"
                                              else "business_exception" for n in down}
    assert second["result"]["items"] == {"total": 13, "done": 2, "business_exceptions": 6,
                                         "system_errors": 0, "skipped": 5}
    assert {w["message"] for w in second["result"]["work_items"]
            if w["outcome"] == "skipped"} == {SKIPPED}

    # the KPI: each of the 7 accounts inspected counts done once, over both runs
    kpi = orchestrator.http.get("/api/v1/kpi").json()
    [row] = [r for r in kpi["robots"] if r["robot"] == "account-annual-inspection"]
    assert (row["runs"], row["items_done"], row["business_exceptions"]) == (2, 7, 5 + 6)
