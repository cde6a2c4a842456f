"""Worker identity on the worker routes: a worker token acts only as its own worker, with the
labels it was granted; bundles go only to workers running them; a robot's job token reaches
only its own job's work queue, only while the attempt runs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from orchestrator import deploy, vault
from orchestrator.app import create_app
from orchestrator.auth import create_token, digest
from orchestrator.models import Token
from orchestrator.roles import Role
from orchestrator.settings import Settings

ROBOT = "robot: guarded\ncredentials: [core]\nsteps:\n  - log: hi\n"
SECRET = "Vault-Secret-77"
Headers = dict[str, str]


@pytest.fixture
def client(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
           ) -> Iterator[TestClient]:
    monkeypatch.delenv(vault.KEY_ENV, raising=False)
    settings = Settings(data_dir=tmp_path / "data", database_url=db_url)
    app = create_app(settings, services=False)
    (tmp_path / "guarded.yaml").write_text(ROBOT, encoding="utf-8")
    with app.state.sessions.begin() as session:
        deploy.deploy_robot(session, tmp_path / "guarded.yaml")
        vault.put(session, settings, "core", {"user": "ops01", "password": SECRET})
        app.state.tokens = {
            "operator": create_token(session, Role.OPERATOR),
            "w1": create_token(session, Role.WORKER, worker="w1"),
            "w2": create_token(session, Role.WORKER, worker="w2"),
            "trusted": create_token(session, Role.WORKER, worker="vault-pc",
                                    labels=["restricted", "desktop"]),
        }
    with TestClient(app) as test_client:
        yield test_client


def auth(client: TestClient, who: str) -> Headers:
    return {"Authorization": f"Bearer {client.app.state.tokens[who]}"}  # type: ignore[attr-defined]


def start(client: TestClient, **fields: Any) -> int:
    made = client.post("/api/v1/jobs", json={"robot": "guarded", **fields},
                       headers=auth(client, "operator"))
    assert made.status_code == 201, made.text
    return int(made.json()["id"])


def lease(client: TestClient, who: str, worker: str, **fields: Any) -> Any:
    return client.post("/api/v1/lease", json={"worker": worker, "wait_s": 0, **fields},
                       headers=auth(client, who))


def test_a_worker_token_cannot_act_for_another_worker(client: TestClient) -> None:
    job_id = start(client)
    spec = lease(client, "w1", "w1").json()["jobs"][0]
    holder = {"worker": "w1", "attempt": spec["attempt"]}
    forged = {"worker": "w1", "attempt": 1}
    w2 = auth(client, "w2")  # w2's own token, naming w1 who holds the job
    answers = [
        client.post(f"/api/v1/jobs/{job_id}/heartbeat", json=forged, headers=w2),
        client.post(f"/api/v1/jobs/{job_id}/events", json={**forged, "events": [
            {"seq": 1, "type": "log", "level": "info", "step": "guarded.yaml:4:5",
             "message": "forged"}]}, headers=w2),
        client.put(f"/api/v1/jobs/{job_id}/artifacts/result.json?worker=w1&attempt=1",
                   content=b"{}", headers=w2),
        client.post(f"/api/v1/jobs/{job_id}/complete", json={
            **forged, "status": "passed", "result": {"items": {"done": 1_000_000}}},
            headers=w2),
        lease(client, "w2", "w1"),
        lease(client, "w2", "w1", max_jobs=0, finished=[
            {"job_id": job_id, "attempt": 1, "status": "passed"}]),
    ]
    for answer in answers:
        assert answer.status_code == 403, (answer.request.url, answer.text)
        assert "this token is for worker 'w2', not 'w1'" in answer.json()["detail"]
    view = client.get(f"/api/v1/jobs/{job_id}", headers=auth(client, "operator")).json()
    assert (view["state"], view["worker"]) == ("running", "w1")  # nothing forged took
    own = client.post(f"/api/v1/jobs/{job_id}/complete",
                      json={**holder, "status": "passed"}, headers=auth(client, "w1"))
    assert own.status_code == 200 and own.json()["state"] == "succeeded"


def test_labels_are_what_the_token_grants(client: TestClient) -> None:
    restricted = start(client, labels=["restricted"])
    claimed = lease(client, "w1", "w1", labels=["restricted"])
    assert claimed.status_code == 403
    assert "not granted the label(s) restricted" in claimed.json()["detail"]
    assert lease(client, "w1", "w1").status_code == 204  # never leased to w1, no credentials
    subset = lease(client, "trusted", "vault-pc", labels=["desktop"])
    assert subset.status_code == 204  # asking with fewer labels than granted is allowed
    got = lease(client, "trusted", "vault-pc", labels=["restricted", "desktop"])
    assert got.status_code == 200, got.text
    [spec] = got.json()["jobs"]
    assert spec["id"] == restricted and spec["credentials"]["core"]["password"] == SECRET


def test_only_granted_labels_count_in_the_lease(client: TestClient) -> None:
    """dispatch.lease matches a job's labels against what the worker asks with, less what its
    token was not granted (the API refuses such asks first; this is the second net)."""
    from orchestrator import dispatch

    start(client, labels=["restricted"])
    app = client.app
    with app.state.sessions.begin() as session:  # type: ignore[attr-defined]
        leased = dispatch.lease(session, worker="w1", labels=["restricted"], granted=[],
                                settings=app.state.settings)  # type: ignore[attr-defined]
    assert leased == []


def test_a_bundle_goes_only_to_a_worker_running_its_version(client: TestClient) -> None:
    start(client)
    spec = lease(client, "w1", "w1").json()["jobs"][0]
    digest = spec["version"]
    assert client.get(f"/api/v1/bundles/{digest}", headers=auth(client, "w1")).status_code == 200
    refused = client.get(f"/api/v1/bundles/{digest}", headers=auth(client, "w2"))
    assert refused.status_code == 403 and "holds no running job" in refused.json()["detail"]
    unknown = client.get(f"/api/v1/bundles/{'0' * 64}", headers=auth(client, "w1"))
    assert unknown.status_code == 403  # the same answer whether or not the version exists
    client.post(f"/api/v1/jobs/{spec['id']}/complete", headers=auth(client, "w1"),
                json={"worker": "w1", "attempt": spec["attempt"], "status": "passed"})
    assert client.get(f"/api/v1/bundles/{digest}", headers=auth(client, "w1")).status_code == 403


def test_an_unbound_worker_token_is_refused_with_the_fix(client: TestClient) -> None:
    """A worker token from before tokens named their worker (migration 0004 leaves its worker
    empty) acts as nobody: it would otherwise pick whichever name it liked."""
    app = client.app
    with app.state.sessions.begin() as session:  # type: ignore[attr-defined]
        session.add(Token(name="old", role="worker", digest=digest("wh_worker_old"),
                          worker=None, labels=[]))
    answer = client.post("/api/v1/lease", json={"worker": "w1", "wait_s": 0},
                         headers={"Authorization": "Bearer wh_worker_old"})
    assert answer.status_code == 403
    assert "--role worker --worker NAME" in answer.json()["detail"]


def test_a_job_token_reaches_only_its_own_jobs_queue_while_it_runs(client: TestClient) -> None:
    op = auth(client, "operator")
    assert client.post("/api/v1/queues", json={"name": "q"}, headers=op).status_code == 201
    client.post("/api/v1/queues/q/items", headers=op,
                json={"items": [{"reference": r} for r in ("A", "B", "C")]})
    first, second = start(client), start(client)
    specs = {s["id"]: s for s in lease(client, "w1", "w1", max_jobs=2).json()["jobs"]}
    mine, other = specs[first], specs[second]
    robot = {"Authorization": f"Bearer {mine['job_token']}"}
    holder = {"job_id": first, "attempt": mine["attempt"], "worker": "w1"}
    got = client.post("/api/v1/queues/q/lease", json=holder, headers=robot)
    assert got.status_code == 200, got.text
    done = client.post(f"/api/v1/queue-items/{got.json()['id']}/report", headers=robot,
                       json={**holder, "outcome": "done"})
    assert done.status_code == 200, done.text
    # another job's items, and every other route, are out of its reach
    theirs = client.post("/api/v1/queues/q/lease", headers=robot,
                         json={"job_id": second, "attempt": other["attempt"], "worker": "w1"})
    assert theirs.status_code == 403 and f"for job {first} attempt" in theirs.json()["detail"]
    for method, path, body in [
            ("post", "/api/v1/lease", {"worker": "w1", "wait_s": 0}),
            ("post", f"/api/v1/jobs/{first}/heartbeat", {"worker": "w1", "attempt": 1}),
            ("post", f"/api/v1/jobs/{first}/complete",
             {"worker": "w1", "attempt": 1, "status": "passed"}),
            ("get", f"/api/v1/bundles/{mine['version']}", None),
            ("get", "/api/v1/jobs", None), ("get", "/api/v1/tokens", None)]:
        answer = client.request(method, path, json=body, headers=robot)
        assert answer.status_code == 403, (path, answer.text)
    # the attempt ends: the token stops working
    client.post(f"/api/v1/jobs/{first}/complete", headers=auth(client, "w1"),
                json={"worker": "w1", "attempt": mine["attempt"], "status": "passed"})
    after = client.post("/api/v1/queues/q/lease", json=holder, headers=robot)
    assert after.status_code in (401, 409), after.text
    fresh = {"Authorization": f"Bearer {mine['job_token']}x"}  # not a token at all
    assert client.post("/api/v1/queues/q/lease", json=holder, headers=fresh).status_code == 401


def test_an_ended_attempts_job_token_is_refused_saying_the_attempt_ended(
        client: TestClient) -> None:
    """Past the 5 s cache: the lookup itself refuses a finished attempt's token, with 409 and
    why (the robot should stop), not as a token nobody knows."""
    from orchestrator.api import deps

    start(client)
    spec = lease(client, "w1", "w1").json()["jobs"][0]
    client.post(f"/api/v1/jobs/{spec['id']}/complete", headers=auth(client, "w1"),
                json={"worker": "w1", "attempt": spec["attempt"], "status": "passed"})
    deps._known.clear()
    answer = client.post("/api/v1/queues/q/lease", headers={
        "Authorization": f"Bearer {spec['job_token']}"},
        json={"job_id": spec["id"], "attempt": spec["attempt"], "worker": "w1"})
    assert answer.status_code == 409, answer.text
    assert f"job {spec['id']} attempt 1 has ended (succeeded)" in answer.json()["detail"]


def test_the_lease_carries_the_hosts_each_credential_is_bound_to(client: TestClient) -> None:
    start(client)
    assert lease(client, "w1", "w1").json()["jobs"][0]["credential_hosts"] == {"core": None}
    app: Any = client.app
    with app.state.sessions.begin() as session:
        vault.put(session, app.state.settings, "core", {"user": "ops01", "password": SECRET},
                  hosts=["ebank.bank.cn", "10.0.0.0/8"])
    start(client)
    spec = lease(client, "w2", "w2").json()["jobs"][0]
    assert spec["credential_hosts"] == {"core": ["ebank.bank.cn", "10.0.0.0/8"]}
    assert spec["credentials"]["core"]["password"] == SECRET


def test_the_workers_show_their_slots_and_the_jobs_they_run(client: TestClient) -> None:
    """A worker says its slots with each lease, in the upsert of its row; GET /workers shows
    them with the jobs it runs (from the jobs table: a worker with slots runs several)."""
    ids = [start(client) for _ in range(3)]
    taken = lease(client, "w1", "w1", max_jobs=2, slots=4).json()["jobs"]
    assert [j["id"] for j in taken] == ids[:2]
    assert lease(client, "w2", "w2").status_code == 200  # an older worker: says nothing

    def shown() -> dict[str, Any]:
        answer = client.get("/api/v1/workers", headers=auth(client, "operator"))
        assert answer.status_code == 200, answer.text
        return {w["name"]: w for w in answer.json()}

    workers = shown()
    assert (workers["w1"]["slots"], workers["w1"]["running_jobs"],
            workers["w1"]["current_job"]) == (4, ids[:2], ids[0])
    assert (workers["w2"]["slots"], workers["w2"]["running_jobs"]) == (None, [ids[2]])
    # the next lease reports one ended, leases nothing more, and says its slots again
    done = lease(client, "w1", "w1", max_jobs=0, slots=3, finished=[
        {"job_id": ids[0], "attempt": 1, "status": "passed"}])
    assert done.status_code == 200 and done.json()["finished"] == [
        {"id": ids[0], "state": "succeeded"}]
    workers = shown()
    assert (workers["w1"]["slots"], workers["w1"]["running_jobs"],
            workers["w1"]["current_job"]) == (3, [ids[1]], ids[1])
    for slots in (0, 101, "two"):
        assert lease(client, "w1", "w1", slots=slots).status_code == 422
