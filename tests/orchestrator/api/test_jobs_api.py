"""The jobs and worker routes through HTTP: authentication, roles, the whole job life."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from orchestrator import deploy
from orchestrator.app import create_app
from orchestrator.auth import create_token
from orchestrator.roles import Role
from orchestrator.settings import Settings
from tests.orchestrator.api.clients import auth, robot_served

ROBOT = "robot: api-check\nsavings: {minutes_per_item: 2}\nsteps:\n  - log: hi\n"


@pytest.fixture
def client(tmp_path: Path, db_url: str) -> Iterator[TestClient]:
    with robot_served(tmp_path, db_url, "api-check", ROBOT) as served:
        yield served


def test_every_route_needs_a_token_with_the_right_role(client: TestClient) -> None:
    assert client.get("/api/v1/jobs").status_code == 401
    assert client.get("/api/v1/jobs", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert client.post("/api/v1/jobs", json={"robot": "api-check"},
                       headers=auth(client, Role.VIEWER)).status_code == 403
    assert client.get("/api/v1/jobs", headers=auth(client, Role.WORKER)).status_code == 403
    assert client.post("/api/v1/lease", json={"worker": "w1", "wait_s": 0},
                       headers=auth(client, Role.OPERATOR)).status_code == 403
    # every route of the API, as its schema lists them (routers are nested in app.routes)
    routes = [(method.upper(), path) for path, methods in
              client.app.openapi()["paths"].items()  # type: ignore[attr-defined]
              for method in methods if path.startswith("/api/v1")]
    assert {("GET", "/api/v1/queues"), ("PUT", "/api/v1/credentials/{name}"),
            ("GET", "/api/v1/kpi"), ("POST", "/api/v1/lease")} <= set(routes)
    for method, path in routes:
        url = re.sub(r"\{[^}]+\}", "1", path.replace("{digest}", "0" * 64))
        assert client.request(method, url).status_code == 401, (method, url)


def test_bad_input_is_a_4xx_with_a_message(client: TestClient) -> None:
    op = auth(client, Role.OPERATOR)
    for body in ({}, {"robot": ""}, {"robot": "api-check", "max_attempts": 0},
                 {"robot": "api-check", "surprise": 1}, {"robot": "api-check", "inputs": [1]}):
        response = client.post("/api/v1/jobs", json=body, headers=op)
        assert response.status_code == 422, body
        assert response.json()["detail"]
    missing = client.post("/api/v1/jobs", json={"robot": "api-chek"}, headers=op)
    assert missing.status_code == 404 and "api-check" in missing.json()["detail"]
    assert client.get("/api/v1/jobs/999", headers=op).status_code == 404
    assert client.get("/api/v1/jobs/x", headers=op).status_code == 422


def test_a_job_from_another_system_runs_through_a_worker(client: TestClient) -> None:
    op, work = auth(client, Role.OPERATOR), auth(client, Role.WORKER)
    created = client.post("/api/v1/jobs", json={"robot": "api-check", "inputs": {}}, headers=op)
    assert created.status_code == 201
    job_id = created.json()["id"]
    leased = client.post("/api/v1/lease", json={"worker": "w1", "wait_s": 0}, headers=work)
    assert leased.status_code == 200
    [spec] = leased.json()["jobs"]
    assert (spec["id"], spec["attempt"], spec["file"]) == (job_id, 1, "api-check.yaml")
    bundle = client.get(f"/api/v1/bundles/{spec['version']}", headers=work)
    assert bundle.status_code == 200 and bundle.content.startswith(b"PK")
    holder = {"worker": "w1", "attempt": 1}
    assert client.post(f"/api/v1/jobs/{job_id}/heartbeat", json=holder,
                       headers=work).json()["cancel"] is False
    step = {"step": "api-check.yaml:3:5", "name": "log", "label": "", "attempt": 1}
    events = [{"seq": 1, "type": "step.start", **step},
              {"seq": 2, "type": "step.end", **step, "outcome": "passed", "duration_ms": 1.5}]
    for _ in range(2):  # a batch sent twice is stored once
        client.post(f"/api/v1/jobs/{job_id}/events", json={**holder, "events": events},
                    headers=work).raise_for_status()
    put = client.put(f"/api/v1/jobs/{job_id}/artifacts/screenshots/a.png?worker=w1&attempt=1",
                     content=b"\x89PNG", headers=work)
    assert put.status_code == 201
    assert client.put(f"/api/v1/jobs/{job_id}/artifacts/../x?worker=w1&attempt=1",
                      content=b"x", headers=work).status_code in (404, 422)
    result = {"status": "passed", "items": {"total": 1, "done": 1, "business_exceptions": 0,
                                            "system_errors": 0},
              "work_items": [{"id": "A-1", "outcome": "done", "message": ""}]}
    done = client.post(f"/api/v1/jobs/{job_id}/complete",
                       json={**holder, "status": "passed", "result": result}, headers=work)
    assert done.json()["state"] == "succeeded"
    view = client.get(f"/api/v1/jobs/{job_id}", headers=op).json()
    assert view["state"] == "succeeded" and view["items"][0]["reference"] == "A-1"
    assert len(client.get(f"/api/v1/jobs/{job_id}/events", headers=op).json()) == 2
    listed = client.get(f"/api/v1/jobs/{job_id}/artifacts", headers=op).json()
    assert [a["name"] for a in listed] == ["screenshots/a.png"]
    again = client.post(f"/api/v1/jobs/{job_id}/complete",  # its answer lost: sent again
                        json={**holder, "status": "passed"}, headers=work)
    assert again.status_code == 200 and again.json()["state"] == "succeeded"
    other = client.post(f"/api/v1/jobs/{job_id}/complete",
                        json={**holder, "status": "cancelled"}, headers=work)
    assert other.status_code == 409
    assert client.post("/api/v1/lease", json={"worker": "w1", "wait_s": 0},
                       headers=work).status_code == 204
    robots = client.get("/api/v1/robots", headers=op).json()
    assert robots[0]["robot"] == "api-check" and robots[0]["version"] == spec["version"]


def test_illegal_transitions_are_409_with_a_sentence(client: TestClient) -> None:
    op, work = auth(client, Role.OPERATOR), auth(client, Role.WORKER)
    waiting = client.post("/api/v1/jobs", json={"robot": "api-check"}, headers=op).json()["id"]
    ran = client.post("/api/v1/jobs", json={"robot": "api-check"}, headers=op).json()["id"]
    assert client.post(f"/api/v1/jobs/{waiting}/cancel", headers=op).json()["state"] == \
        "cancelled"
    [spec] = client.post("/api/v1/lease", json={"worker": "w1", "wait_s": 0},
                         headers=work).json()["jobs"]
    assert spec["id"] == ran  # a cancelled job is never leased
    holder = {"worker": "w1", "attempt": 1}
    assert client.post(f"/api/v1/jobs/{ran}/complete", json={**holder, "status": "passed"},
                       headers=work).json()["state"] == "succeeded"
    refused = {
        "cancel a cancelled job": client.post(f"/api/v1/jobs/{waiting}/cancel", headers=op),
        "cancel a succeeded job": client.post(f"/api/v1/jobs/{ran}/cancel", headers=op),
        "end a job never leased": client.post(f"/api/v1/jobs/{waiting}/complete",
                                              json={**holder, "status": "passed"},
                                              headers=work),
        "end an ended attempt otherwise": client.post(
            f"/api/v1/jobs/{ran}/complete", json={**holder, "status": "failed",
                                                  "error": {"kind": "business"}},
            headers=work),
        "beat for an ended attempt": client.post(f"/api/v1/jobs/{ran}/heartbeat",
                                                 json=holder, headers=work),
    }
    for what, answer in refused.items():
        assert answer.status_code == 409, (what, answer.text)
        assert answer.json()["detail"].endswith(("(cancelled)", "(succeeded)", "; stop it")), \
            what
    states = [client.get(f"/api/v1/jobs/{i}", headers=op).json()["state"] for i in (waiting,
                                                                                      ran)]
    assert states == ["cancelled", "succeeded"]
    kpi = client.get("/api/v1/kpi", headers=op).json()["totals"]
    assert (kpi["runs"], kpi["successes"], kpi["failures"]) == (1, 1, 0)


def test_a_worker_reports_an_ending_with_its_next_lease(client: TestClient) -> None:
    op, work = auth(client, Role.OPERATOR), auth(client, Role.WORKER)
    ids = [client.post("/api/v1/jobs", json={"robot": "api-check"}, headers=op).json()["id"]
           for _ in range(3)]
    first = client.post("/api/v1/lease", json={"worker": "w1", "wait_s": 0, "max_jobs": 2},
                        headers=work).json()
    assert [j["id"] for j in first["jobs"]] == ids[:2] and first["finished"] == []
    ended = [{"job_id": ids[0], "attempt": 1, "status": "passed",
              "result": {"items": {"done": 3}, "work_items": [
                  {"id": f"A-{n}", "outcome": "done"} for n in range(3)]}},
             {"job_id": ids[1], "attempt": 1, "status": "failed",
              "error": {"kind": "business", "message": "账户已注销"}},
             {"job_id": ids[2], "attempt": 1, "status": "passed"}]  # not leased yet
    answer = client.post("/api/v1/lease", json={"worker": "w1", "wait_s": 0, "finished": ended},
                         headers=work)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert [j["id"] for j in body["jobs"]] == [ids[2]]  # reported first, then leased
    assert body["finished"][:2] == [{"id": ids[0], "state": "succeeded"},
                                    {"id": ids[1], "state": "failed"}]
    assert body["finished"][2]["status"] == 409 and "not leased" in body["finished"][2]["error"]
    kpi = client.get("/api/v1/kpi", headers=op).json()
    assert kpi["totals"]["items_done"] == 3 and kpi["totals"]["runs"] == 2
    only_report = client.post("/api/v1/lease", json={
        "worker": "w1", "wait_s": 0, "max_jobs": 0,
        "finished": [{"job_id": ids[2], "attempt": 1, "status": "passed"}]}, headers=work)
    assert only_report.json() == {"jobs": [], "finished": [{"id": ids[2], "state": "succeeded"}]}


def test_an_answered_job_is_committed_before_the_answer(tmp_path: Path, db_url: str) -> None:
    """A client that got a job id reads that job at once, even when the commit is slow: the
    transaction ends before the response is sent (a regression: it once ended after)."""
    import time

    import httpx
    from sqlalchemy import event

    from tests.servers import ThreadServer

    app = create_app(Settings(data_dir=tmp_path / "data", database_url=db_url), services=False)
    (tmp_path / "api-check.yaml").write_text(ROBOT, encoding="utf-8")
    with app.state.sessions.begin() as session:
        deploy.deploy_robot(session, tmp_path / "api-check.yaml")
        token = create_token(session, Role.OPERATOR)
    event.listen(app.state.engine, "commit", lambda _conn: time.sleep(0.3))
    server = ThreadServer()
    server.start(app)
    try:
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=server.url, headers=headers) as first, \
                httpx.Client(base_url=server.url, headers=headers) as second:
            created = first.post("/api/v1/jobs", json={"robot": "api-check"})
            assert created.status_code == 201, created.text
            read = second.get(f"/api/v1/jobs/{created.json()['id']}")
            assert read.status_code == 200, read.text
    finally:
        server.close()
