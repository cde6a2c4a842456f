"""Work-queue routes (TestClient), and HttpQueueSource feeding a real robot run from a live
uvicorn server — on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from openpyxl import Workbook
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from libs.checker import check_file
from libs.errors import SystemFailure
from libs.runner import Runner
from orchestrator import deploy, dispatch, jobs
from orchestrator.app import create_app
from orchestrator.auth import create_token
from orchestrator.models import QueueItem
from orchestrator.queue_client import HttpQueueSource
from orchestrator.roles import Role
from orchestrator.settings import Settings
from tests.servers import ThreadServer

Sessions = sessionmaker[Session]
Headers = dict[str, dict[str, str]]
QUEUE = "年检 #1"  # a name that needs quoting in a URL
URL = "/api/v1/queues/%E5%B9%B4%E6%A3%80%20%231"


def make_app(db_url: str, tmp_path: Path) -> FastAPI:
    """The real app (create_app: every router, the BodyGuard) on the test's database."""
    return create_app(Settings(data_dir=tmp_path / "data", database_url=db_url,
                               lease_seconds=30), services=False)


@pytest.fixture
def client(db_url: str, tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(make_app(db_url, tmp_path)) as c:
        yield c


@pytest.fixture
def tokens(sessions: Sessions) -> Headers:
    with sessions.begin() as s:
        made = {role: create_token(s, role, worker="w1" if role is Role.WORKER else None)
                for role in Role}
        return {role.value: {"Authorization": f"Bearer {token}"} for role, token in made.items()}


@pytest.fixture
def queue(client: TestClient, tokens: Headers) -> str:
    made = client.post("/api/v1/queues", headers=tokens["operator"],
                       json={"name": QUEUE, "max_retries": 1, "description": "S1 年检"})
    assert made.status_code == 201, made.text
    return QUEUE


@pytest.fixture
def job(sessions: Sessions, tmp_path: Path) -> dict[str, Any]:
    """A job leased to worker w1 (the queue routes check that the worker holds it)."""
    robot = tmp_path / "robots" / "queue-consumer.yaml"
    robot.parent.mkdir()
    robot.write_text(ROBOT, encoding="utf-8")
    with sessions.begin() as session:
        deploy.deploy_robot(session, robot)
        jobs.create_job(session, robot="queue-consumer")
    with sessions.begin() as session:
        [leased] = dispatch.lease(session, worker="w1", labels=[],
                                  settings=Settings(data_dir=tmp_path / "data", lease_seconds=60))
        return {"job_id": leased["id"], "attempt": leased["attempt"], "worker": "w1",
                "robot": robot, "job_token": leased["job_token"]}


def add(client: TestClient, tokens: Headers, items: list[dict[str, Any]],
        **extra: Any) -> Any:
    return client.post(f"{URL}/items", headers=tokens["operator"],
                       json={"items": items, **extra})


def holder(job: dict[str, Any]) -> dict[str, Any]:
    return {k: job[k] for k in ("job_id", "attempt", "worker")}


@pytest.mark.parametrize(("method", "path", "role", "code"), [
    ("post", "/api/v1/queues", "viewer", 403), ("post", "/api/v1/queues", "worker", 403),
    ("post", "/api/v1/queues", None, 401), ("get", "/api/v1/queues", "worker", 403),
    ("post", f"{URL}/items", "viewer", 403), ("post", f"{URL}/lease", "operator", 403),
    ("post", "/api/v1/queue-items/1/report", "admin", 403),
    ("post", "/api/v1/queue-items/1/abandon", "viewer", 403),
    ("post", "/api/v1/queue-items/1/retry", "worker", 403),
])
def test_roles(client: TestClient, tokens: Headers, method: str, path: str, role: str | None,
               code: int) -> None:
    got = client.request(method, path, headers=tokens[role] if role else {}, json={})
    assert got.status_code == code and isinstance(got.json()["detail"], str)


def test_operators_abandon_and_retry_items(client: TestClient, tokens: Headers,
                                           queue: str) -> None:
    add(client, tokens, [{"reference": "A-1"}])
    [item] = client.get(f"{URL}/items", headers=tokens["viewer"]).json()
    given_up = client.post(f"/api/v1/queue-items/{item['id']}/abandon",
                           headers=tokens["operator"])
    assert given_up.status_code == 200 and given_up.json()["state"] == "abandoned"
    twice = client.post(f"/api/v1/queue-items/{item['id']}/abandon", headers=tokens["operator"])
    assert twice.status_code == 409 and "can be abandoned" in twice.json()["detail"]
    back = client.post(f"/api/v1/queue-items/{item['id']}/retry", headers=tokens["operator"])
    assert back.status_code == 200 and back.json()["state"] == "new"
    assert client.post("/api/v1/queue-items/999999/retry",
                       headers=tokens["operator"]).status_code == 404


def test_create_list_and_count(client: TestClient, tokens: Headers, queue: str) -> None:
    again = client.post("/api/v1/queues", headers=tokens["admin"], json={"name": queue})
    assert again.status_code == 409 and "already exists" in again.json()["detail"]
    added = add(client, tokens, [{"reference": "0012345", "payload": {"企业名称": "甲公司"}},
                                 {"reference": "0012346", "priority": 3,
                                  "deadline": "2026-11-30T17:00:00+08:00"},
                                 {"reference": "0012345"}])
    assert added.status_code == 200 and added.json() == {"added": 2, "skipped": 1}
    clash = add(client, tokens, [{"reference": "0012346"}], on_duplicate="error")
    assert clash.status_code == 409 and "0012346" in clash.json()["detail"]
    listed = client.get("/api/v1/queues", headers=tokens["viewer"]).json()
    assert [(q["name"], q["max_retries"], q["counts"]["new"], q["counts"]["total"])
            for q in listed] == [(queue, 1, 2, 2)]
    one = client.get(URL, headers=tokens["viewer"]).json()
    assert one["description"] == "S1 年检" and one["counts"]["done"] == 0
    items = client.get(f"{URL}/items", headers=tokens["viewer"], params={"state": "new"}).json()
    assert [(i["reference"], i["priority"], i["payload"]) for i in items] == [
        ("0012345", 0, {"企业名称": "甲公司"}), ("0012346", 3, {})]
    assert items[1]["deadline"].startswith("2026-11-30T09:00:00")
    page = client.get(f"{URL}/items", headers=tokens["viewer"],
                      params={"after": items[0]["id"], "limit": 5}).json()
    assert [i["reference"] for i in page] == ["0012346"]


@pytest.mark.parametrize(("method", "path", "body", "code", "says"), [
    ("post", "/api/v1/queues", {"name": "a/b"}, 422, "should match pattern"),
    ("post", "/api/v1/queues", {"name": "a\u0000"}, 422, "name holds a NUL character"),
    ("post", "/api/v1/queues", {"name": "x", "max_retries": 101}, 422, "less than or equal"),
    ("get", "/api/v1/queues/nope", None, 404, "no work queue 'nope'"),
    ("get", "/api/v1/queues/a%00b", None, 422, "the URL holds a NUL character"),
    ("post", f"{URL}/items", {"items": [{"reference": ""}]}, 422, "at least 1 character"),
    ("post", f"{URL}/items", {"items": [{"reference": "a\u0000"}]}, 422, "NUL"),
    ("post", f"{URL}/items", {"items": [{"reference": "a", "payload": {"k": "\u0000"}}]}, 422,
     "NUL"),
    ("post", f"{URL}/items", {"items": [], "on_duplicate": "replace"}, 422, "'skip' or"),
    ("post", "/api/v1/queues/nope/items", {"items": [{"reference": "a"}]}, 404, "no work"),
    ("get", f"{URL}/items?state=lost", None, 422, "'new'"),
])
def test_bad_input_is_4xx_with_a_reason(client: TestClient, tokens: Headers, queue: str,
                                        method: str, path: str, body: Any, code: int,
                                        says: str) -> None:
    got = client.request(method, path, headers=tokens["admin"], json=body)
    assert got.status_code == code and says in got.text


def test_text_the_databases_cannot_hold_is_refused(client: TestClient, tokens: Headers,
                                                   queue: str) -> None:
    # JSON can carry a lone surrogate; neither database can store it: the app's body guard
    # names the place (behind it, queues.add_items refuses it too)
    got = client.post(f"{URL}/items", headers={**tokens["operator"],
                                               "content-type": "application/json"},
                      content='{"items": [{"reference": "A", "payload": {"k": "\\ud800"}}]}')
    assert got.status_code == 422, got.text
    assert got.json()["detail"].startswith("items[0].payload.k holds a lone UTF-16 surrogate")


def test_files_upload_raw_or_multipart(client: TestClient, tokens: Headers, queue: str) -> None:
    gbk = "账号,企业名称,网点\n0012345,甲商贸有限公司,长春分行\n".encode("gbk")
    raw = client.post(f"{URL}/items/file", headers=tokens["operator"], content=gbk,
                      params={"reference_column": "账号"})
    assert raw.status_code == 200 and raw.json() == {"added": 1, "skipped": 0}
    book = Workbook()
    book.active.append(["账号", "企业名称"])
    book.active.append(["0012345", "甲商贸有限公司"])
    book.active.append(["0012346", "乙公司"])
    data = io.BytesIO()
    book.save(data)
    multi = client.post(f"{URL}/items/file", headers=tokens["operator"],
                        files={"file": ("accounts.xlsx", data.getvalue())},
                        params={"reference_column": "账号"})
    assert multi.status_code == 200 and multi.json() == {"added": 1, "skipped": 1}
    wrong = client.post(f"{URL}/items/file", headers=tokens["operator"], content=gbk,
                        params={"reference_column": "帐号", "format": "csv"})
    assert wrong.status_code == 422 and "账号, 企业名称, 网点" in wrong.json()["detail"]
    empty = client.post(f"{URL}/items/file", headers=tokens["operator"],
                        params={"reference_column": "账号"})
    assert empty.status_code == 422 and "no file" in empty.json()["detail"]
    broken = client.post(f"{URL}/items/file", headers=tokens["operator"],
                         content=b"PK\x03\x04 not really a workbook",
                         params={"reference_column": "账号"})
    assert broken.status_code == 422 and "xlsx" in broken.json()["detail"]


def test_lease_and_report_need_the_job_lease(client: TestClient, tokens: Headers, queue: str,
                                             job: dict[str, Any]) -> None:
    add(client, tokens, [{"reference": "A", "payload": {"账号": "A"}}, {"reference": "B"}])
    stranger = client.post(f"{URL}/lease", headers=tokens["worker"],
                           json={**holder(job), "worker": "w2"})
    assert stranger.status_code == 403 and "for worker 'w1', not 'w2'" in stranger.text
    got = client.post(f"{URL}/lease", headers=tokens["worker"], json=holder(job))
    assert got.status_code == 200, got.text
    item = got.json()
    assert (item["reference"], item["payload"], item["attempts"]) == ("A", {"账号": "A"}, 1)
    # the reply was lost and the worker asks again: A is taken back and leased anew
    again = client.post(f"{URL}/lease", headers=tokens["worker"], json=holder(job)).json()
    assert (again["id"], again["attempts"]) == (item["id"], 2)
    report = f"/api/v1/queue-items/{item['id']}/report"
    done = client.post(report, headers=tokens["worker"], json={**holder(job), "outcome": "done"})
    assert done.status_code == 200 and done.json()["state"] == "done"
    # its reply lost, the report is sent again: the same answer
    repeat = client.post(report, headers=tokens["worker"],
                         json={**holder(job), "outcome": "done"})
    assert (repeat.status_code, repeat.json()) == (200, done.json())
    late = client.post(report, headers=tokens["worker"],
                       json={**holder(job), "outcome": "system_error"})
    assert late.status_code == 409 and "no longer held" in late.json()["detail"]
    second = client.post(f"{URL}/lease", headers=tokens["worker"], json=holder(job)).json()
    ok = client.post(f"/api/v1/queue-items/{second['id']}/report", headers=tokens["worker"],
                     json={**holder(job), "outcome": "business_exception",
                           "message": "企业已注销"})
    assert ok.status_code == 200 and ok.json()["state"] == "business_exception"
    assert client.post(f"{URL}/lease", headers=tokens["worker"],
                       json=holder(job)).status_code == 204
    assert client.post("/api/v1/queue-items/99999999/report", headers=tokens["worker"],
                       json={**holder(job), "outcome": "done"}).status_code == 404
    assert client.post(f"/api/v1/queue-items/{2**63}/report", headers=tokens["worker"],
                       json={**holder(job), "outcome": "done"}).status_code == 422
    assert client.post("/api/v1/queues/nope/lease", headers=tokens["worker"],
                       json=holder(job)).status_code == 404


def test_a_report_can_lease_the_next_item(client: TestClient, tokens: Headers, queue: str,
                                          job: dict[str, Any]) -> None:
    add(client, tokens, [{"reference": "A"}, {"reference": "B"}])
    first = client.post(f"{URL}/lease", headers=tokens["worker"], json=holder(job)).json()
    report = f"/api/v1/queue-items/{first['id']}/report"
    done = client.post(report, headers=tokens["worker"],
                       json={**holder(job), "outcome": "done", "next": True})
    assert done.status_code == 200, done.text
    answer = done.json()
    assert (answer["state"], answer["queue"]) == ("done", queue)
    assert (answer["next"]["reference"], answer["next"]["attempts"]) == ("B", 1)
    with_next = {**holder(job), "outcome": "done", "next": True}
    last = client.post(f"/api/v1/queue-items/{answer['next']['id']}/report",
                       headers=tokens["worker"], json=with_next)
    assert last.status_code == 200 and last.json()["next"] is None  # none left
    # refused reports lease nothing: the item is no longer this job's
    again = client.post(report, headers=tokens["worker"],
                        json={**with_next, "outcome": "system_error"})
    assert again.status_code == 409 and "next" not in again.json()
    assert "next" not in client.post(report, headers=tokens["worker"], json={
        **holder(job), "outcome": "done"}).json()  # asked without next: answered without


# -- HttpQueueSource against a live server ----------------------------------------------------

ROBOT = """robot: queue-consumer
steps:
  - for_each: {queue: "年检 #1"}
    as: account
    steps:
      - if: "${account.状态 == '注销'}"
        then:
          - fail_item: 企业已注销，转网点复核
      - if: "${account.状态 == '超时'}"
        then:
          - fail: 页面超时
      - log: "${account.账号} 年检通过"
"""


class LiveServer(ThreadServer):
    """The app under uvicorn in a thread, on a port held from the start: connections are
    refused until start() is called, as when the orchestrator restarts."""

    def __init__(self, app: FastAPI) -> None:
        super().__init__(lifespan="off")
        self.app = app

    def start(self, app: Any = None, timeout: float = 30.0) -> None:
        super().start(app or self.app, timeout)


@pytest.fixture
def live(db_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    server = LiveServer(make_app(db_url, tmp_path))
    yield server
    server.close()


def test_a_robot_works_through_a_queue(live: LiveServer, client: TestClient, tokens: Headers,
                                       queue: str, job: dict[str, Any], sessions: Sessions,
                                       tmp_path: Path) -> None:
    states = {"0012345": "存续", "0012346": "注销", "0012347": "超时", "0012348": "存续"}
    add(client, tokens, [{"reference": k, "payload": {"账号": k, "状态": v}}
                         for k, v in states.items()])
    live.start()
    source = HttpQueueSource(live.url, job["job_token"], job["job_id"], job["attempt"], "w1")
    calls: list[str] = []
    source.client.event_hooks["request"].append(lambda request: calls.append(request.url.path))
    result = Runner(check_file(job["robot"]), output_dir=tmp_path / "out", queues=source).run()
    source.close()
    # one lease, then each report brings the next item: one call per item
    assert [c.rsplit("/", 1)[-1] for c in calls] == ["lease"] + ["report"] * 5
    outcomes = [(i.id, i.outcome) for i in result.work_items]
    # the system error is leased again at once and fails again: max_retries=1 allows 2 tries
    assert outcomes == [("0012345", "done"), ("0012346", "business_exception"),
                        ("0012347", "system_error"), ("0012347", "system_error"),
                        ("0012348", "done")]
    with sessions.begin() as session:
        stored = {i.reference: (i.state, i.attempts, i.message) for i in
                  session.scalars(select(QueueItem).where(QueueItem.queue == queue))}
    assert stored == {"0012345": ("done", 1, ""),
                      "0012346": ("business_exception", 1, "企业已注销，转网点复核"),
                      "0012347": ("failed", 2, "页面超时"), "0012348": ("done", 1, "")}


def test_the_source_waits_for_a_restarting_server(live: LiveServer, client: TestClient,
                                                  tokens: Headers, queue: str,
                                                  job: dict[str, Any]) -> None:
    add(client, tokens, [{"reference": "A"}])
    token = tokens["worker"]["Authorization"].split()[1]
    source = HttpQueueSource(live.url, token, job["job_id"], job["attempt"], "w1",
                             retry_for_s=30)
    timer = threading.Timer(0.8, live.start)  # refused until then
    timer.start()
    try:
        item = source.lease(queue)
    finally:
        timer.join()
    assert item is not None and item.reference == "A"
    source.report(queue, item, "done", "")
    assert source.lease(queue) is None
    source.close()


def test_the_source_gives_up_and_lets_go(live: LiveServer, client: TestClient, tokens: Headers,
                                         queue: str, job: dict[str, Any],
                                         caplog: pytest.LogCaptureFixture) -> None:
    token = tokens["worker"]["Authorization"].split()[1]
    down = HttpQueueSource(live.url, token, job["job_id"], job["attempt"], "w1",
                           retry_for_s=0.5)
    with pytest.raises(SystemFailure, match="did not answer"):
        down.lease(queue)
    live.start()
    add(client, tokens, [{"reference": "A"}])
    up = HttpQueueSource(live.url, token, job["job_id"], job["attempt"], "w1")
    item = up.lease(queue)
    assert item is not None
    up.report(queue, item, "done", "")
    with caplog.at_level(logging.WARNING, logger="workhand.queues"):
        up.report(queue, item, "business_exception", "")  # another outcome: 409, logged
    assert "is no longer this job's" in caplog.text
    with pytest.raises(SystemFailure, match="refused to lease"):
        up.lease("no such queue")
    stranger = HttpQueueSource(live.url, token, job["job_id"], job["attempt"] + 1, "w1")
    with pytest.raises(SystemFailure, match="not leased to worker"):
        stranger.lease(queue)
    for source in (down, up, stranger):
        source.close()

