"""A real console to drive: the orchestrator under uvicorn on a SQLite file, a worker running
real robots (Chromium) against the demo systems, a person of every role, and real Chromium."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from orchestrator import deploy, people, queues, schedules
from orchestrator.app import create_app
from orchestrator.auth import create_token
from orchestrator.roles import PEOPLE_ROLES, Role
from orchestrator.settings import Settings
from orchestrator.worker import run_worker
from orchestrator.worker_settings import WorkerSettings
from tests.servers import ThreadServer
from workhand.demo import start as start_demo

PASSWORD = "console test password"
STAY_LOCAL = "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1 , EXCLUDE localhost"
DOCS_SHOTS = Path(__file__).parents[3] / "docs" / "console"
SAFE = ("GET", "HEAD", "OPTIONS")


@dataclass(frozen=True)
class Sent:
    """A mutating request a test made (from a page or through the API) and its answer."""
    method: str
    url: str
    status: int
    location: str


# Every mutating request of the tests, so the audit test can check each is in the audit log.
SENT: list[Sent] = []


def _keep(method: str, url: str, status: int, location: str) -> None:
    if method not in SAFE:
        SENT.append(Sent(method, url, status, location))
# Labels, messages and item ids that carry markup: the console must show them as text.
MARKUP_ROBOT = """robot: markup
title: "标记 <b>测试</b>"
savings: {minutes_per_item: 6, review_minutes: 2, build_cost: 10}
steps:
  - browser.open: "${env.ACCOUNT_SYSTEM_URL}/login"
  - for_each: ["<b>A-1</b>", "<script>window.pwned = 1</script>", "C-3"]
    as: row
    work_item: "${row}"
    steps:
      - if: "${row == 'C-3'}"
        then: [fail_item: "账户 <i>${row}</i> 已冻结"]
      - log: "handled ${row}"
  - browser.click: {target: "#no-such-button", label: "点击 <img src=x onerror=window.pwned=2>",
                    timeout: 2s}
"""
GREET_ROBOT = """robot: greet
title: 问候
description: 按份数问候（测试启动表单）
inputs:
  count: {type: integer, required: true, description: 份数}
  note: {type: text, default: 你好}
steps:
  - wait: 2s
  - log: "${inputs.note} × ${inputs.count}"
"""
SCHEDULE = """name: greet-mornings
robot: greet
cron: "30 8 * * 1-5"
timezone: Asia/Shanghai
inputs: {count: 1}
"""
SLOW_ROBOT = """robot: slow
title: 慢机器人
steps:
  - log: started
  - wait: 120s
"""


@dataclass
class Site:
    root: Path
    url: str
    settings: Settings
    sessions: Any
    tokens: dict[Role, str]
    jobs: dict[str, int] = field(default_factory=dict)

    def api(self, role: Role = Role.ADMIN) -> httpx.Client:
        def keep(answer: httpx.Response) -> None:
            _keep(answer.request.method, str(answer.request.url), answer.status_code,
                  answer.headers.get("location", ""))

        return httpx.Client(base_url=self.url, timeout=10, event_hooks={"response": [keep]},
                            headers={"Authorization": f"Bearer {self.tokens[role]}"})

    def job(self, job_id: int) -> dict[str, Any]:
        with self.api() as http:
            answer: dict[str, Any] = http.get(f"/api/v1/jobs/{job_id}").json()
            return answer


def wait_for(what: str, check: Callable[[], Any], timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("console")
    settings = Settings(data_dir=root / "data")
    app = create_app(settings, services=True)
    for name, text in {"markup": MARKUP_ROBOT, "slow": SLOW_ROBOT, "greet": GREET_ROBOT}.items():
        (root / f"{name}.yaml").write_text(text, encoding="utf-8")
    with app.state.sessions.begin() as session:
        deploy.deploy_folder(session, root)
        tokens = {role: create_token(session, role, worker="console-pc" if role is Role.WORKER
                                     else None) for role in Role}
        for role in PEOPLE_ROLES:
            people.create_user(session, role.value, role, PASSWORD)
        (root / "schedules").mkdir()
        (root / "schedules" / "greet.yaml").write_text(SCHEDULE, encoding="utf-8")
        schedules.sync(session, schedules.load_schedules(root / "schedules"),
                       str(root / "schedules"))
        queues.create_queue(session, "letters", description="来信登记")
        queues.add_items(session, "letters", [{"reference": "L-1", "payload": {"金额": 10}},
                                              {"reference": "L-2", "payload": {"金额": 20}}])
    served = ThreadServer(lifespan="on")
    stop = threading.Event()
    with start_demo() as demo:
        served.start(app)
        ready = Site(root, served.url, settings, app.state.sessions, tokens)
        worker = threading.Thread(target=run_worker, daemon=True, kwargs={
            "server": served.url, "token": tokens[Role.WORKER], "name": "console-pc",
            "work_dir": root / "runs", "stop": stop, "wait_s": 1.0,
            "settings": WorkerSettings(env=demo.env()), "protected": [settings.data_dir]})
        worker.start()
        with ready.api() as http:
            for robot in ("markup", "slow"):
                answer = http.post("/api/v1/jobs", json={"robot": robot})
                assert answer.status_code == 201, answer.text
                ready.jobs[robot] = answer.json()["id"]
        wait_for("the markup robot to end", lambda: ready.job(ready.jobs["markup"])["state"]
                 in ("failed", "succeeded"), timeout=120)
        wait_for("the slow robot to run", lambda: ready.job(ready.jobs["slow"])["state"]
                 == "running", timeout=60)
        yield ready
        stop.set()
        with ready.api() as http:
            http.post(f"/api/v1/jobs/{ready.jobs['slow']}/cancel")
        worker.join(timeout=60)
        served.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path="/usr/bin/chromium", args=[STAY_LOCAL])
        yield launched
        launched.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    made = browser.new_context(locale="zh-CN", viewport={"width": 1360, "height": 900})
    made.set_default_timeout(10_000)
    made.on("response", lambda answer: _keep(answer.request.method, answer.url, answer.status,
                                             answer.headers.get("location", "")))
    yield made
    made.close()


@pytest.fixture
def dialogs() -> list[str]:
    return []


@pytest.fixture
def page(context: BrowserContext, dialogs: list[str]) -> Page:
    """A tab that accepts every confirmation and keeps what each dialog said."""
    opened = context.new_page()

    def seen(dialog: Any) -> None:
        dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.accept()

    opened.on("dialog", seen)
    return opened


def sign_in(page: Page, site: Site, name: str, password: str = PASSWORD,
            then: str = "/console/") -> None:
    page.goto(f"{site.url}/console/sign-in?next={then}")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", password)
    page.click("#sign-in button[type=submit]")
