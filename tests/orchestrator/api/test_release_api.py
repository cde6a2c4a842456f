"""POST /api/v1/jobs/{id}/release: a stopping worker hands an unfinished attempt back. The job is
leasable again at once, the attempt is recorded as released and is no try (max_attempts and
the retry delay leave it out), the KPI does not see it, and the job's queue items go back to
new without a failed try. On SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from orchestrator import deploy
from orchestrator.app import create_app
from orchestrator.arrivals import arrivals
from orchestrator.auth import create_token
from orchestrator.models import Attempt, QueueItem
from orchestrator.roles import Role
from orchestrator.settings import Settings

ROBOT = "robot: tidy\nsteps:\n  - log: hi\n"
Headers = dict[str, str]


@pytest.fixture
def client(tmp_path: Path, db_url: str) -> Iterator[TestClient]:
    app = create_app(Settings(data_dir=tmp_path / "data", database_url=db_url), services=False)
    (tmp_path / "tidy.yaml").write_text(ROBOT, encoding="utf-8")
    with app.state.sessions.begin() as session:
        deploy.deploy_robot(session, tmp_path / "tidy.yaml")
        app.state.tokens = {"operator": create_token(session, Role.OPERATOR),
                            **{w: create_token(session, Role.WORKER, worker=w)
                               for w in ("w1", "w2")}}
    with TestClient(app) as test_client:
        yield test_client


def auth(client: TestClient, who: str) -> Headers:
    return {"Authorization": f"Bearer {client.app.state.tokens[who]}"}  # type: ignore[attr-defined]


def start(client: TestClient, **fields: Any) -> int:
    made = client.post("/api/v1/jobs", json={"robot": "tidy", **fields},
                       headers=auth(client, "operator"))
    assert made.status_code == 201, made.text
    return int(made.json()["id"])


def lease(client: TestClient, worker: str) -> dict[str, Any]:
    got = client.post("/api/v1/lease", json={"worker": worker, "wait_s": 0},
                      headers=auth(client, worker))
    assert got.status_code == 200, got.text
    [spec] = got.json()["jobs"]
    return dict(spec)


def release(client: TestClient, job_id: int, worker: str, attempt: int, **extra: Any) -> Any:
    return client.post(f"/api/v1/jobs/{job_id}/release", headers=auth(client, worker),
                       json={"worker": worker, "attempt": attempt, **extra})


def complete(client: TestClient, job_id: int, worker: str, attempt: int, status: str,
             **extra: Any) -> str:
    done = client.post(f"/api/v1/jobs/{job_id}/complete", headers=auth(client, worker),
                       json={"worker": worker, "attempt": attempt, "status": status, **extra})
    assert done.status_code == 200, done.text
    return str(done.json()["state"])


def job(client: TestClient, job_id: int) -> dict[str, Any]:
    return dict(client.get(f"/api/v1/jobs/{job_id}", headers=auth(client, "operator")).json())


def attempts(client: TestClient, job_id: int) -> list[tuple[int, str, str | None]]:
    app: Any = client.app
    with app.state.sessions() as session:
        return [(a.number, a.worker, a.outcome) for a in session.scalars(
            select(Attempt).where(Attempt.job_id == job_id).order_by(Attempt.number))]


def totals(client: TestClient) -> dict[str, Any]:
    return dict(client.get("/api/v1/kpi", headers=auth(client, "operator")).json()["totals"])


SYSTEM = {"error": {"kind": "system", "message": "the bank's site did not answer"}}


def test_a_released_job_is_leasable_at_once_and_its_one_try_is_kept(client: TestClient
                                                                    ) -> None:
    job_id = start(client)  # max_attempts=1: nothing may be lost
    spec = lease(client, "w1")
    woken = arrivals.count
    answer = release(client, job_id, "w1", spec["attempt"], reason="SIGTERM")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"id": job_id, "state": "queued"}
    assert arrivals.count > woken  # waiting leases in this process were woken
    view = job(client, job_id)
    assert (view["state"], view["not_before"], view["finished"]) == ("queued", None, None)
    assert attempts(client, job_id) == [(1, "w1", "released")]
    assert totals(client)["runs"] == 0  # a released attempt is no run
    again = lease(client, "w2")  # at once, by another worker
    assert (again["id"], again["attempt"]) == (job_id, 2)
    assert complete(client, job_id, "w2", 2, "passed") == "succeeded"
    assert attempts(client, job_id) == [(1, "w1", "released"), (2, "w2", "succeeded")]
    kpi = totals(client)
    assert (kpi["runs"], kpi["successes"], kpi["failures"]) == (1, 1, 0), kpi


def test_a_released_attempt_uses_none_of_max_attempts(client: TestClient) -> None:
    job_id = start(client, max_attempts=2, retry_delay_s=10, retry_backoff=3)
    assert release(client, job_id, "w1", lease(client, "w1")["attempt"]).status_code == 200
    second = lease(client, "w2")
    before = dt.datetime.now(dt.UTC)
    # the first real try fails: one try is left, and the delay is the first try's (10 s, not 30)
    assert complete(client, job_id, "w2", second["attempt"], "failed", **SYSTEM) == "retrying"
    not_before = dt.datetime.fromisoformat(job(client, job_id)["not_before"])
    not_before = not_before if not_before.tzinfo else not_before.replace(tzinfo=dt.UTC)
    assert 5 < (not_before - before).total_seconds() < 20, not_before
    kpi = totals(client)
    assert (kpi["runs"], kpi["failures"]) == (0, 0)  # retrying: not final yet


def test_the_last_try_after_a_release_fails_as_the_last_try(client: TestClient) -> None:
    job_id = start(client, max_attempts=1)
    release(client, job_id, "w1", lease(client, "w1")["attempt"])
    second = lease(client, "w1")
    assert complete(client, job_id, "w1", second["attempt"], "failed", **SYSTEM) == "failed"
    kpi = totals(client)
    assert (kpi["runs"], kpi["failures"]) == (1, 1), kpi  # the one real try, counted once


def test_a_lease_that_expires_after_a_release_counts_one_try(client: TestClient) -> None:
    """The reaper's rule too: a job with two tries, released once, then its worker lost."""
    from orchestrator import dispatch

    job_id = start(client, max_attempts=2, retry_delay_s=0)
    release(client, job_id, "w1", lease(client, "w1")["attempt"])
    lease(client, "w2")
    app: Any = client.app
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    with app.state.sessions.begin() as session:
        assert dispatch.reap(session, app.state.settings, now=later) == 1
    assert job(client, job_id)["state"] == "retrying"  # one try used, one left


def test_queue_items_go_back_to_new_without_a_failed_try(client: TestClient) -> None:
    op = auth(client, "operator")
    assert client.post("/api/v1/queues", json={"name": "q", "max_retries": 0},
                       headers=op).status_code == 201
    client.post("/api/v1/queues/q/items", headers=op,
                json={"items": [{"reference": r} for r in ("A", "B")]})
    job_id = start(client)
    spec = lease(client, "w1")
    robot = {"Authorization": f"Bearer {spec['job_token']}"}
    holder = {"job_id": job_id, "attempt": spec["attempt"], "worker": "w1"}
    done = client.post("/api/v1/queues/q/lease", json=holder, headers=robot).json()
    client.post(f"/api/v1/queue-items/{done['id']}/report", headers=robot,
                json={**holder, "outcome": "done"})
    held = client.post("/api/v1/queues/q/lease", json=holder, headers=robot).json()
    assert release(client, job_id, "w1", spec["attempt"]).status_code == 200
    app: Any = client.app
    with app.state.sessions() as session:
        items = {i.reference: i for i in session.scalars(select(QueueItem))}
    # max_retries=0: a counted failed try would have failed B for good
    assert (items["B"].state, items["B"].attempts, items["B"].job_id) == ("new", 1, None)
    assert "released" in items["B"].message
    assert (items["A"].state, items["A"].attempts) == ("done", 1)  # what was done stays done
    # the released attempt's job token is dead; the next attempt works B
    assert client.post("/api/v1/queues/q/lease", json=holder, headers=robot).status_code in (
        401, 409)
    second = lease(client, "w2")
    robot2 = {"Authorization": f"Bearer {second['job_token']}"}
    holder2 = {"job_id": job_id, "attempt": second["attempt"], "worker": "w2"}
    again = client.post("/api/v1/queues/q/lease", json=holder2, headers=robot2).json()
    assert (again["id"], again["attempts"]) == (held["id"], 2)


def test_only_the_holder_releases_and_a_repeat_answers_the_state(client: TestClient) -> None:
    job_id = start(client)
    assert release(client, job_id, "w1", 1).status_code == 409  # queued: nobody holds it
    spec = lease(client, "w1")
    refused = [release(client, job_id, "w2", spec["attempt"]),  # not its job
               release(client, job_id, "w1", spec["attempt"] + 1),  # not this attempt
               release(client, 999_999, "w1", 1)]
    assert [r.status_code for r in refused] == [409, 409, 404], [r.text for r in refused]
    assert "not leased to worker 'w2'" in refused[0].json()["detail"]
    forged = client.post(f"/api/v1/jobs/{job_id}/release", headers=auth(client, "w2"),
                         json={"worker": "w1", "attempt": spec["attempt"]})
    assert forged.status_code == 403
    assert job(client, job_id)["state"] == "running"  # none of these took
    first = release(client, job_id, "w1", spec["attempt"])
    repeat = release(client, job_id, "w1", spec["attempt"])  # its answer was lost
    assert first.json() == repeat.json() == {"id": job_id, "state": "queued"}
    assert attempts(client, job_id) == [(1, "w1", "released")]
    lease(client, "w2")
    late = release(client, job_id, "w1", spec["attempt"])  # leased since: no longer its
    assert late.status_code == 409 and "running, attempt 2" in late.json()["detail"]
    assert job(client, job_id)["worker"] == "w2"


def test_a_release_of_a_job_whose_cancel_was_asked_cancels_it(client: TestClient) -> None:
    job_id = start(client)
    spec = lease(client, "w1")
    client.post(f"/api/v1/jobs/{job_id}/cancel", headers=auth(client, "operator"))
    answer = release(client, job_id, "w1", spec["attempt"])
    assert answer.json() == {"id": job_id, "state": "cancelled"}
    assert release(client, job_id, "w1", spec["attempt"]).json()["state"] == "cancelled"
    assert attempts(client, job_id) == [(1, "w1", "cancelled")]


def test_a_reason_is_kept_for_audit_and_bounded(client: TestClient) -> None:
    job_id = start(client)
    spec = lease(client, "w1")
    for bad in ("x" * 501, "NUL\x00"):
        refused = release(client, job_id, "w1", spec["attempt"], reason=bad)
        assert refused.status_code == 422, refused.text
    assert release(client, job_id, "w1", spec["attempt"],
                   reason=" grace of 2 s over ").status_code == 200
    app: Any = client.app
    with app.state.sessions() as session:
        [row] = session.scalars(select(Attempt).where(Attempt.job_id == job_id))
    assert row.error == {"kind": "released", "message": "handed back unfinished by worker "
                                                        "'w1': grace of 2 s over"}
    assert row.finished is not None
