"""Every API limit, through HTTP on SQLite and PostgreSQL: bodies per route (413 before or
while reading), text the databases cannot store (422 sentences; a robot's reports cleaned),
artifact names, robot ids, imports, credentials and the default time limit."""

from __future__ import annotations

import io
import json
import sqlite3
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from orchestrator import deploy, queues
from orchestrator.app import create_app
from orchestrator.auth import create_token
from orchestrator.roles import Role
from orchestrator.settings import Settings
from tests.orchestrator.hostile_files import far_column, far_row

ROBOT = "robot: limits\nsteps:\n  - log: hi\n"
MakeClient = Callable[..., TestClient]


@pytest.fixture
def make_client(tmp_path: Path, db_url: str) -> Iterator[MakeClient]:
    clients: list[TestClient] = []

    def make(**limits: Any) -> TestClient:
        app = create_app(Settings(data_dir=tmp_path / f"data{len(clients)}", database_url=db_url,
                                  **limits), services=False)
        (tmp_path / "limits.yaml").write_text(ROBOT, encoding="utf-8")
        with app.state.sessions.begin() as session:
            deploy.deploy_robot(session, tmp_path / "limits.yaml")
            app.state.tokens = {role: create_token(
                session, role, worker="w1" if role is Role.WORKER else None) for role in Role}
        client = TestClient(app).__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: MakeClient) -> TestClient:
    return make_client()


def auth(client: TestClient, role: Role = Role.ADMIN) -> dict[str, str]:
    return {"Authorization": f"Bearer {client.app.state.tokens[role]}"}  # type: ignore[attr-defined]


def leased(client: TestClient, **job: Any) -> dict[str, Any]:
    """A job created and leased to worker w1: its spec."""
    created = client.post("/api/v1/jobs", json={"robot": "limits", **job}, headers=auth(client))
    assert created.status_code == 201, created.text
    answer = client.post("/api/v1/lease", json={"worker": "w1", "wait_s": 0},
                         headers=auth(client, Role.WORKER))
    assert answer.status_code == 200, answer.text
    [spec] = answer.json()["jobs"]
    return dict(spec)


def chunked(data: bytes, size: int = 4096) -> Iterator[bytes]:
    """A body sent without Content-Length, in chunks."""
    for i in range(0, len(data), size):
        yield data[i:i + size]


# -- request bodies ---------------------------------------------------------------------------

def test_a_body_over_its_routes_limit_is_413_with_a_sentence(make_client: MakeClient) -> None:
    client = make_client(max_body_bytes=2000, max_items_bytes=50_000)
    big = {"robot": "limits", "inputs": {"x": "a" * 3000}}
    declared = client.post("/api/v1/jobs", json=big, headers=auth(client))
    assert declared.status_code == 413
    assert "WORKHAND_MAX_BODY_BYTES" in declared.json()["detail"]
    streamed = client.post("/api/v1/jobs", content=chunked(json.dumps(big).encode(), 500),
                           headers={**auth(client), "content-type": "application/json"})
    assert streamed.status_code == 413
    client.post("/api/v1/queues", json={"name": "q"}, headers=auth(client)).raise_for_status()
    items = {"items": [{"reference": f"r{n}", "payload": {"v": "x" * 20}} for n in range(200)]}
    assert len(json.dumps(items)) > 2000  # over the default, under the items route's own cap
    added = client.post("/api/v1/queues/q/items", json=items, headers=auth(client))
    assert added.status_code == 200 and added.json()["added"] == 200


def test_an_artifact_streams_to_disk_and_stops_at_its_limit(make_client: MakeClient) -> None:
    client = make_client(max_artifact_bytes=100_000)
    spec = leased(client)
    work, url = auth(client, Role.WORKER), f"/api/v1/jobs/{spec['id']}/artifacts"
    holder = {"worker": "w1", "attempt": 1}
    ok = client.put(f"{url}/shot.png", params=holder, content=chunked(b"p" * 90_000),
                    headers=work)
    assert ok.status_code == 201 and ok.json()["size"] == 90_000
    too_big = client.put(f"{url}/big.bin", params=holder, content=chunked(b"b" * 300_000),
                         headers=work)
    assert too_big.status_code == 413, too_big.text
    assert "WORKHAND_MAX_ARTIFACT_BYTES" in too_big.json()["detail"]
    declared = client.put(f"{url}/big.bin", params=holder, content=b"b" * 300_000, headers=work)
    assert declared.status_code == 413
    folder = client.app.state.settings.artifacts_dir / str(spec["id"]) / "1"  # type: ignore[attr-defined]
    assert sorted(p.name for p in folder.iterdir()) == ["shot.png"]  # no partial upload left
    listed = client.get(f"/api/v1/jobs/{spec['id']}/artifacts", headers=auth(client)).json()
    assert [a["name"] for a in listed] == ["shot.png"]


def test_artifact_names_that_cannot_be_stored_are_refused(client: TestClient) -> None:
    spec = leased(client)
    work, url = auth(client, Role.WORKER), f"/api/v1/jobs/{spec['id']}/artifacts"
    holder = {"worker": "w1", "attempt": 1}
    assert client.put(f"{url}/a/b.txt", params=holder, content=b"1",
                      headers=work).status_code == 201
    for name, status in (("a", 409), ("a/b.txt/c", 409), ("bad%00name", 422),
                         ("x" * 401, 422), (("y" * 300) + "/z", 422), ("a/%2E%2E/up", 422)):
        answer = client.put(f"{url}/{name}", params=holder, content=b"2", headers=work)
        assert answer.status_code == status, (name, answer.text)
        assert answer.json()["detail"]


def test_a_robot_deploy_over_its_limit_is_413(make_client: MakeClient) -> None:
    client = make_client(max_deploy_bytes=10_000)
    answer = client.post("/api/v1/robots", content=ROBOT.encode() + b"#" * 20_000,
                         headers=auth(client))
    assert answer.status_code == 413 and "WORKHAND_MAX_DEPLOY_BYTES" in answer.json()["detail"]


def zip_bomb() -> bytes:
    """About 1 MB that unpacks to 1 GiB: a robot and a data file of zeros."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr("limits.yaml", ROBOT)
        with archive.open("data/zeros.bin", "w", force_zip64=True) as out:
            block = bytes(2**20)
            for _ in range(1024):
                out.write(block)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def bomb() -> bytes:
    return zip_bomb()


def test_a_zip_bomb_is_refused_at_deploy(client: TestClient, bomb: bytes) -> None:
    assert len(bomb) < 5 * 2**20
    answer = client.post("/api/v1/robots", content=bomb, headers=auth(client))
    assert answer.status_code == 422, answer.text
    assert "zip bomb" in answer.json()["detail"] or "unpacks to" in answer.json()["detail"]


def test_a_deploy_of_too_many_robots_at_once_is_422(client: TestClient) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for n in range(201):
            archive.writestr(f"r{n}.yaml", f"robot: r{n}\nsteps:\n  - log: hi\n")
    answer = client.post("/api/v1/robots", content=buffer.getvalue(), headers=auth(client))
    assert answer.status_code == 422, answer.text
    assert "at most 200 at a time" in answer.json()["detail"]
    listed = client.get("/api/v1/robots", headers=auth(client)).json()
    assert not any(r["robot"].startswith("r") and r["robot"][1:].isdigit() for r in listed)


def test_a_robot_id_longer_than_100_characters_is_422(client: TestClient) -> None:
    long_id = "r" + "-x" * 60
    robot = client.post("/api/v1/robots", content=f"robot: {long_id}\nsteps:\n  - log: hi\n",
                        headers=auth(client))
    assert robot.status_code == 422 and "at most 100 characters" in str(robot.json())
    job = client.post("/api/v1/jobs", json={"robot": long_id}, headers=auth(client))
    assert job.status_code == 422


# -- text the databases cannot store ------------------------------------------------------------

def deep(levels: int) -> str:
    return "[" * levels + "]" * levels


@pytest.mark.parametrize("body", [
    '{"robot": "limits", "inputs": {"note": "a\\u0000b"}}',
    '{"robot": "limits", "inputs": {"a\\u0000": 1}}',
    '{"robot": "limits", "labels": ["x\\u0000"]}',
    '{"robot": "limits", "inputs": {"x": NaN}}',
    '{"robot": "limits", "inputs": {"x": -Infinity}}',
    '{"robot": "limits", "inputs": {"x": "\\ud800"}}',
    f'{{"robot": "limits", "inputs": {{"x": {deep(100)}}}}}',
    f'{{"robot": "limits", "inputs": {{"x": {deep(5000)}}}}}',
], ids=["nul", "nul-key", "nul-label", "nan", "infinity", "surrogate", "deep", "very-deep"])
def test_a_job_with_text_no_database_stores_is_422(client: TestClient, body: str) -> None:
    for headers in ({"content-type": "application/json"}, {}):  # FastAPI may read both
        answer = client.post("/api/v1/jobs", content=body.encode(),
                             headers={**auth(client), **headers})
        assert answer.status_code == 422, answer.text
        assert answer.json()["detail"].endswith(("text", "null", "structure"))
    assert client.get("/api/v1/jobs", headers=auth(client)).json() == []


def test_queue_items_schedules_and_credentials_refuse_nul_too(client: TestClient) -> None:
    admin = auth(client)
    assert client.post("/api/v1/queues", content=b'{"name": "q", "description": "\\u0000"}',
                       headers=admin).status_code == 422
    client.post("/api/v1/queues", json={"name": "q"}, headers=admin).raise_for_status()
    for item in ('{"reference": "a\\u0000"}', '{"reference": "a", "payload": {"\\u0000": 1}}',
                 '{"reference": "a", "payload": {"n": Infinity}}'):
        answer = client.post("/api/v1/queues/q/items", content=f'{{"items": [{item}]}}'.encode(),
                             headers=admin)
        assert answer.status_code == 422, item
        assert "items[0]" in answer.json()["detail"]
    secret = client.put("/api/v1/credentials/bank", headers=admin,
                        content=b'{"fields": {"user": "ops\\u0000", "password": "p"}}')
    assert secret.status_code == 422 and "ops" not in secret.text
    for url in ("/api/v1/jobs?robot=a%00b", "/api/v1/kpi?robot=%00", "/api/v1/credentials/a%00"):
        method = "DELETE" if "credentials" in url else "GET"
        assert client.request(method, url, headers=admin).status_code == 422, url


def test_what_a_robot_reports_is_cleaned_never_refused(client: TestClient) -> None:
    spec = leased(client)
    work, job_id = {**auth(client, Role.WORKER), "content-type": "application/json"}, spec["id"]
    events = ('[{"seq": 1, "type": "log", "level": "info", "step": "robot.yaml:3:5", '
              '"message": "a\\u0000b", "value": NaN, '
              f'"nested": {deep(80)}, "long": "{"z" * 70_000}", "\\ud800k": "\\udfff"}}]')
    stored = client.post(f"/api/v1/jobs/{job_id}/events", headers=work,
                         content=f'{{"worker": "w1", "attempt": 1, "events": {events}}}'.encode())
    assert stored.status_code == 200, stored.text
    [row] = client.get(f"/api/v1/jobs/{job_id}/events", headers=auth(client)).json()
    event = row["event"]
    assert event["message"] == "ab" and event["value"] is None
    assert "cut by the orchestrator" in json.dumps(event["nested"])
    assert len(event["long"]) < 70_000 and "more characters cut" in event["long"]
    assert event["\ufffdk"] == "\ufffd"
    result = ('{"work_items": [{"id": "A-1\\u0000", "outcome": "done", "message": '
              '"paid \\u0000 twice", "duration_ms": NaN}], "items": {"done": 1}}')
    done = client.post(f"/api/v1/jobs/{job_id}/complete", headers=work, content=(
        f'{{"worker": "w1", "attempt": 1, "status": "passed", "result": {result}}}').encode())
    assert done.status_code == 200 and done.json()["state"] == "succeeded", done.text
    job = client.get(f"/api/v1/jobs/{job_id}", headers=auth(client)).json()
    assert job["items"][0]["reference"] == "A-1"
    assert job["items"][0]["message"] == "paid  twice"


def test_an_outcome_reported_with_the_next_lease_is_cleaned(client: TestClient) -> None:
    spec = leased(client)
    error = '{"kind": "business", "message": "no \\u0000 account", "score": Infinity}'
    ask = (f'{{"worker": "w1", "wait_s": 0, "finished": [{{"job_id": {spec["id"]}, '
           f'"attempt": 1, "status": "failed", "error": {error}}}]}}')
    work = {**auth(client, Role.WORKER), "content-type": "application/json"}
    answer = client.post("/api/v1/lease", content=ask.encode(), headers=work)
    assert answer.status_code in (200, 204), answer.text
    job = client.get(f"/api/v1/jobs/{spec['id']}", headers=auth(client)).json()
    assert job["state"] == "failed"
    assert job["error"] == {"kind": "business", "message": "no  account", "score": None}


def test_a_job_with_odd_but_storable_data_never_stops_leasing(client: TestClient) -> None:
    odd = {"robot": "limits", "priority": 10, "labels": [], "inputs": {
        "控制": "\u0001\u001f\u200f\ufeff", "emoji": "🏦" * 100, "big": 1e308, "small": -1e-308,
        "deep": json.loads(deep(60)), "": "", "long": "x" * 200_000}}
    first = client.post("/api/v1/jobs", json=odd, headers=auth(client))
    assert first.status_code == 201, first.text
    client.post("/api/v1/jobs", json={"robot": "limits"}, headers=auth(client)).raise_for_status()
    work = auth(client, Role.WORKER)
    for expected in (first.json()["id"], first.json()["id"] + 1):
        answer = client.post("/api/v1/lease", json={"worker": "w1", "wait_s": 0,
                                                     "max_jobs": 1}, headers=work)
        assert answer.status_code == 200, answer.text
        [spec] = answer.json()["jobs"]
        assert spec["id"] == expected
    assert spec["timeout_s"] == 4 * 3600  # no timeout asked: the default time limit


def test_the_default_time_limit_and_its_maximum(make_client: MakeClient) -> None:
    client = make_client(job_timeout_s=60, max_job_timeout_s=600)
    first = leased(client)
    assert first["timeout_s"] == 60
    client.post(f"/api/v1/jobs/{first['id']}/complete", headers=auth(client, Role.WORKER), json={
        "worker": "w1", "attempt": 1, "status": "passed"}).raise_for_status()
    assert leased(client, timeout_s=3600)["timeout_s"] == 600


# -- imports ----------------------------------------------------------------------------------

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def import_file(client: TestClient, data: bytes, fmt: str = "xlsx") -> Any:
    return client.post("/api/v1/queues/q/items/file", content=data,
                       params={"reference_column": "账号", "format": fmt},
                       headers={**auth(client), "content-type": XLSX if fmt == "xlsx"
                                else "text/csv"})


def test_hostile_workbooks_are_refused_at_once(client: TestClient) -> None:
    client.post("/api/v1/queues", json={"name": "q"}, headers=auth(client)).raise_for_status()
    far = import_file(client, far_row())
    assert len(far_row()) < 2000
    assert far.status_code == 422 and "more than 100000 rows" in far.json()["detail"]
    wide = import_file(client, far_column())
    assert wide.status_code == 422 and "beyond column 1000" in wide.json()["detail"]
    styled = import_file(client, far_column(value=False))  # an empty formatted cell at XFD
    assert styled.status_code == 200 and styled.json()["added"] == 200
    first = client.get("/api/v1/queues/q/items", params={"limit": 1}, headers=auth(client))
    assert first.json()[0]["payload"] == {"账号": "00002", "name": None}


def test_a_file_import_is_capped_like_a_request(client: TestClient) -> None:
    client.post("/api/v1/queues", json={"name": "q"}, headers=auth(client)).raise_for_status()
    rows = "账号\n" + "".join(f"{n}\n" for n in range(queues.MAX_ITEMS + 1))
    answer = import_file(client, rows.encode(), "csv")
    assert answer.status_code == 422 and "more than 100000 rows" in answer.json()["detail"]
    wide = import_file(client, ("账号," + ",".join(f"c{n}" for n in range(1000)) + "\n1\n")
                       .encode(), "csv")
    assert wide.status_code == 422 and "1000 columns" in wide.json()["detail"]
    assert client.get("/api/v1/queues/q", headers=auth(client)).json()["counts"]["total"] == 0


def test_a_file_is_parsed_with_no_write_lock_held(client: TestClient, sqlite_url: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    url = str(client.app.state.engine.url)  # type: ignore[attr-defined]
    if not url.startswith("sqlite"):
        pytest.skip("the write lock is SQLite's")
    client.post("/api/v1/queues", json={"name": "q"}, headers=auth(client)).raise_for_status()
    parse = queues.items_of_file
    seen: list[str] = []

    def parse_and_write(*args: Any, **kwargs: Any) -> Any:
        other = sqlite3.connect(url.split("///", 1)[1], timeout=0, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")  # fails at once if the import held the lock
            other.execute("ROLLBACK")
            seen.append("free")
        finally:
            other.close()
        return parse(*args, **kwargs)

    monkeypatch.setattr(queues, "items_of_file", parse_and_write)
    answer = import_file(client, "账号\n001\n002\n".encode(), "csv")
    assert answer.status_code == 200 and answer.json()["added"] == 2 and seen == ["free"]


def test_credentials_are_bounded(client: TestClient) -> None:
    admin = auth(client)
    many = {f"f{n}": "v" for n in range(51)}
    for fields, words in ((many, "at most 50"), ({"password": "s3cret" * 11_000}, "at most 65536"),
                          ({"f" * 201: "v"}, "at most 200 characters")):
        answer = client.put("/api/v1/credentials/bank", json={"fields": fields}, headers=admin)
        assert answer.status_code == 422 and words in answer.json()["detail"], answer.text
        assert "s3cret" not in answer.text
    ok = client.put("/api/v1/credentials/bank", json={"fields": {"key": "k" * 65_536}},
                    headers=admin)
    assert ok.status_code == 204
