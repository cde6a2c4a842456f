"""POST /jobs/{id}/retry through HTTP: a finished job runs again as a new job; a retry of the
failed items skips what any run of its chain did; unfinished jobs are refused with a sentence;
only operators may retry."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from orchestrator import deploy
from orchestrator.auth import Role
from orchestrator.models import JobItem
from tests.orchestrator.api.clients import auth, robot_served

ROBOT = "robot: retry-check\nsavings: {minutes_per_item: 2}\nsteps:\n  - log: hi\n"
SKIPPED = "done in an earlier run; skipped by a retry of failed items"


@pytest.fixture
def client(tmp_path: Path, db_url: str) -> Iterator[TestClient]:
    with robot_served(tmp_path, db_url, "retry-check", ROBOT, worker_labels=["desktop"]) as served:
        yield served


def lease(client: TestClient) -> dict[str, Any]:
    answer = client.post("/api/v1/lease", json={"worker": "w1", "labels": ["desktop"],
                                                "wait_s": 0}, headers=auth(client, Role.WORKER))
    assert answer.status_code == 200, answer.text
    [spec] = answer.json()["jobs"]
    return dict(spec)


def end(client: TestClient, spec: dict[str, Any], status: str,
        items: dict[str, str]) -> None:
    """Report the leased attempt as the runner would: one work item per id and outcome."""
    work_items = [{"id": ref, "outcome": outcome, "attempts": 0 if outcome == "skipped" else 1,
                   "message": SKIPPED if outcome == "skipped" else ""}
                  for ref, outcome in items.items()]
    result = {"status": status, "work_items": work_items}
    error = None if status == "passed" else {"kind": "system", "message": "1 item failed"}
    answer = client.post(f"/api/v1/jobs/{spec['id']}/complete", headers=auth(client, Role.WORKER),
                         json={"worker": "w1", "attempt": spec["attempt"], "status": status,
                               "error": error, "result": result})
    assert answer.status_code == 200, answer.text


def retry(client: TestClient, job_id: int, **body: Any) -> dict[str, Any]:
    answer = client.post(f"/api/v1/jobs/{job_id}/retry", json=body,
                         headers=auth(client, Role.OPERATOR))
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def test_a_finished_job_runs_again_as_a_new_job_of_the_same_version(client: TestClient) -> None:
    op = auth(client, Role.OPERATOR)
    first = client.post("/api/v1/jobs", headers=op, json={
        "robot": "retry-check", "inputs": {"day": "2026-12-01"}, "priority": 7,
        "labels": ["desktop"], "timeout_s": 600, "max_attempts": 2, "retry_delay_s": 3,
        "retry_backoff": 1.5}).json()
    spec = lease(client)
    assert spec["skip_items"] == []
    end(client, spec, "passed", {"A": "done"})
    # a newer version of the robot is deployed meanwhile: the retry repeats the run it retries
    robot_dir = client.app.state.robot_dir  # type: ignore[attr-defined]
    (robot_dir / "retry-check.yaml").write_text(ROBOT + "  - log: changed\n", encoding="utf-8")
    with client.app.state.sessions.begin() as session:  # type: ignore[attr-defined]
        deploy.deploy_robot(session, robot_dir / "retry-check.yaml")

    again = retry(client, first["id"])
    same = ("robot", "version", "inputs", "priority", "labels", "max_attempts")
    assert {k: again[k] for k in same} == {k: first[k] for k in same}
    assert again["id"] != first["id"] and again["state"] == "queued" and again["attempt"] == 0
    assert (again["retry_of"], again["skip_items"], again["items"]) == (first["id"], None, [])
    assert client.get(f"/api/v1/jobs/{again['id']}", headers=op).json() == again
    spec = lease(client)
    assert (spec["id"], spec["version"], spec["timeout_s"]) == (again["id"], first["version"],
                                                                600)
    assert spec["skip_items"] == []
    # no body at all: the same as {"only_failed_items": false}
    end(client, spec, "passed", {"A": "done"})
    answer = client.post(f"/api/v1/jobs/{again['id']}/retry", headers=op)
    assert answer.status_code == 201 and answer.json()["skip_items"] is None
    assert answer.json()["retry_of"] == again["id"]


def test_a_job_that_has_not_finished_is_refused_with_a_sentence(client: TestClient) -> None:
    op = auth(client, Role.OPERATOR)
    job_id = client.post("/api/v1/jobs", json={"robot": "retry-check"}, headers=op).json()["id"]
    queued = client.post(f"/api/v1/jobs/{job_id}/retry", json={}, headers=op)
    assert queued.status_code == 409
    assert queued.json()["detail"] == (f"job {job_id} is queued: only a finished job can be "
                                       "retried; wait for it to end, or cancel it first")
    lease(client)
    running = client.post(f"/api/v1/jobs/{job_id}/retry", json={"only_failed_items": True},
                          headers=op)
    assert running.status_code == 409 and f"job {job_id} is running" in running.json()["detail"]
    assert [j["id"] for j in client.get("/api/v1/jobs", headers=op).json()] == [job_id]
    assert client.post("/api/v1/jobs/999/retry", json={}, headers=op).status_code == 404
    bad = client.post(f"/api/v1/jobs/{job_id}/retry", json={"only_failed": True}, headers=op)
    assert bad.status_code == 422


def test_only_failed_items_skips_what_any_run_of_the_chain_did(client: TestClient) -> None:
    op = auth(client, Role.OPERATOR)
    first = client.post("/api/v1/jobs", headers=op, json={"robot": "retry-check",
                                                          "labels": ["desktop"]}).json()
    end(client, lease(client), "failed", {"A": "done", "B": "business_exception",
                                          "C": "system_error", "D": "done"})
    with client.app.state.sessions.begin() as session:  # type: ignore[attr-defined]
        # a work-queue item done by the job: its queue retries its own items, never skipped
        session.add(JobItem(job_id=first["id"], reference="Q-1", outcome="done",
                            queue_item_id=1, worked_by=[1]))

    second = retry(client, first["id"], only_failed_items=True)
    assert second["retry_of"] == first["id"] and second["skip_items"] == ["A", "D"]
    spec = lease(client)
    assert spec["skip_items"] == ["A", "D"]  # what the worker hands the robot
    end(client, spec, "failed", {"A": "skipped", "B": "done", "C": "system_error",
                                 "D": "skipped"})
    seen = client.get(f"/api/v1/jobs/{second['id']}", headers=op).json()
    assert [(i["reference"], i["outcome"]) for i in seen["items"]] == [
        ("A", "skipped"), ("B", "done"), ("C", "system_error"), ("D", "skipped")]

    third = retry(client, second["id"], only_failed_items=True)  # a retry of a retry
    assert third["retry_of"] == second["id"] and third["skip_items"] == ["A", "B", "D"]
    end(client, lease(client), "passed", {"A": "skipped", "B": "skipped", "C": "done",
                                          "D": "skipped"})
    # a whole retry in the chain works every item again, but what was done stays known
    whole = retry(client, third["id"])
    assert whole["skip_items"] is None
    end(client, lease(client), "failed", {"A": "system_error", "B": "system_error",
                                          "C": "system_error", "D": "system_error"})
    assert retry(client, whole["id"], only_failed_items=True)["skip_items"] == [
        "A", "B", "C", "D"]

    # each item counts done once in the KPI, in the run that did it; skipped ones never
    kpi = client.get("/api/v1/kpi", headers=op).json()
    [row] = [r for r in kpi["robots"] if r["robot"] == "retry-check"]
    assert (row["runs"], row["items_done"]) == (4, 4)  # A and D, then B, then C
    assert row["minutes_saved"] == 4 * 2


def test_only_operators_may_retry(client: TestClient) -> None:
    op = auth(client, Role.OPERATOR)
    job_id = client.post("/api/v1/jobs", headers=op, json={"robot": "retry-check",
                                                           "labels": ["desktop"]}).json()["id"]
    end(client, lease(client), "passed", {})
    for role in (Role.VIEWER, Role.WORKER):
        refused = client.post(f"/api/v1/jobs/{job_id}/retry", json={}, headers=auth(client, role))
        assert refused.status_code == 403, role
    assert client.post(f"/api/v1/jobs/{job_id}/retry", json={}).status_code == 401
    assert client.post(f"/api/v1/jobs/{job_id}/retry", json={},
                       headers=auth(client, Role.ADMIN)).status_code == 201
