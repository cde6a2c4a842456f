"""The database goes away: every request answers 503 with Retry-After (never 500), the first
request after it is back answers 200, and a 1-second PostgreSQL restart in the middle of a
queue run fails no robot and loses or doubles no item.

The PostgreSQL here is a private server (tests/reliability/postgres.py) that these tests stop
and start; the machine's shared one is never touched. The app tests run the real app
in-process on it; the restart test runs real `workhand serve` and `workhand worker` processes,
and checks the robots' own side effect (one ledger file per item, written by the robot), not
only the orchestrator's counts."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, event

from orchestrator import db
from orchestrator.app import create_app
from orchestrator.auth import create_token
from orchestrator.db import normalise_url
from orchestrator.roles import Role
from orchestrator.settings import Settings
from tests.reliability.conftest import Cluster, wait_for
from tests.reliability.postgres import PrivatePostgres, private_postgres


@pytest.fixture(scope="module")
def postgres() -> Iterator[PrivatePostgres]:
    yield from private_postgres()


@pytest.fixture
def pg_db(postgres: PrivatePostgres) -> str:
    """A fresh database on the private server (started again if a failed test left it down)."""
    if not postgres.running():
        postgres.start()
    return postgres.database(f"t_{uuid.uuid4().hex[:10]}")


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def tokens(app: Any, n: int) -> list[str]:
    with app.state.sessions.begin() as session:
        return [create_token(session, Role.OPERATOR) for _ in range(n)]


def unavailable(answer: httpx.Response) -> None:
    assert answer.status_code == 503, (answer.status_code, answer.text)
    assert answer.headers["Retry-After"] == "1"
    assert "database is unavailable" in answer.json()["detail"]


# -- the app on a stopped database ------------------------------------------------------------

@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_a_stopped_database_answers_503_and_the_first_request_after_its_start_200(
        postgres: PrivatePostgres, pg_db: str, tmp_path: Path, mode: str) -> None:
    app = create_app(Settings(data_dir=tmp_path / "data", database_url=pg_db), services=False)
    known, fresh = tokens(app, 2)
    with TestClient(app, raise_server_exceptions=False) as http:
        # several connections in the pool, each to the server about to stop
        with app.state.engine.connect(), app.state.engine.connect(), app.state.engine.connect():
            pass
        assert http.get("/api/v1/queues", headers=auth(known)).status_code == 200
        with postgres.down(mode):
            unavailable(http.get("/api/v1/queues", headers=auth(known)))  # a sync route
            unavailable(http.post("/api/v1/queues", headers=auth(known), json={"name": "q"}))
            # a token not seen yet: looked up by the async auth dependency, in a thread
            unavailable(http.get("/api/v1/queues", headers=auth(fresh)))
            unavailable(http.post("/api/v1/queues/q/items/file", headers=auth(known),
                                  params={"reference_column": "id"},
                                  content=b"id\n1\n"))  # an async route
        # the first request after the start: the pool dropped its dead connections
        assert http.get("/api/v1/queues", headers=auth(known)).status_code == 200
        made = http.post("/api/v1/queues", headers=auth(fresh), json={"name": "q"})
        assert made.status_code == 201, made.text
    assert app.state.outage.total == 4


def test_no_request_meets_a_connection_a_restart_broke(postgres: PrivatePostgres, pg_db: str,
                                                       tmp_path: Path) -> None:
    """Restarted while nobody asked: the pool still holds connections to the old server, and
    none of them reaches a request (each idle for PING_IDLE_S or longer is tested before use;
    one used within that second meets the restart as a 503, and the caller's retry succeeds)."""
    app = create_app(Settings(data_dir=tmp_path / "data", database_url=pg_db), services=False)
    (token,) = tokens(app, 1)
    with TestClient(app, raise_server_exceptions=False) as http:
        with app.state.engine.connect(), app.state.engine.connect(), app.state.engine.connect():
            pass
        assert app.state.engine.pool.checkedin() >= 3
        returned = time.monotonic()
        postgres.restart(0.0)
        time.sleep(max(0.0, returned + db.PING_IDLE_S - time.monotonic()))
        for _ in range(4):
            answer = http.get("/api/v1/queues", headers=auth(token))
            assert answer.status_code == 200, answer.text
    assert app.state.outage.total == 0


def test_a_connection_lost_at_commit_answers_503_and_nothing_is_stored(
        pg_db: str, tmp_path: Path) -> None:
    """get_session commits after the route returned: the server ends the connection just
    before that commit (pg_terminate_backend), as a restart would."""
    app = create_app(Settings(data_dir=tmp_path / "data", database_url=pg_db), services=False)
    admin = create_engine(normalise_url(pg_db))
    cut = threading.Event()

    @event.listens_for(app.state.engine, "commit")
    def lose_the_connection(conn: Any) -> None:
        if cut.is_set():
            cut.clear()
            pid = conn.connection.dbapi_connection.info.backend_pid
            with admin.connect() as other:  # waits (5 s at most) until the backend is gone
                other.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)}, 5000)")

    (token,) = tokens(app, 1)
    try:
        with TestClient(app, raise_server_exceptions=False) as http:
            assert http.get("/api/v1/queues", headers=auth(token)).status_code == 200
            cut.set()
            unavailable(http.post("/api/v1/queues", headers=auth(token), json={"name": "q"}))
            assert not cut.is_set()  # the commit was reached
            listed = http.get("/api/v1/queues", headers=auth(token))
            assert (listed.status_code, listed.json()) == (200, [])
            again = http.post("/api/v1/queues", headers=auth(token), json={"name": "q"})
            assert again.status_code == 201, again.text
    finally:
        admin.dispose()


def test_sqlite_locked_past_its_busy_timeout_answers_503(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path / "data"), services=False)

    @event.listens_for(app.state.engine, "connect")
    def short_wait(conn: Any, _: Any) -> None:  # 30 s in production; after the app's pragmas
        conn.execute("PRAGMA busy_timeout=200")

    app.state.engine.dispose()  # connections made before are gone
    (token,) = tokens(app, 1)
    holder = sqlite3.connect(tmp_path / "data" / "workhand.db", isolation_level=None)
    try:
        with TestClient(app, raise_server_exceptions=False) as http:
            holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
            unavailable(http.post("/api/v1/queues", headers=auth(token), json={"name": "q"}))
            holder.execute("ROLLBACK")
            made = http.post("/api/v1/queues", headers=auth(token), json={"name": "q"})
            assert made.status_code == 201, made.text
    finally:
        holder.close()


def test_a_bug_is_a_500_with_a_sentence_and_logged_not_a_503(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The 503 must not hide real bugs: a missing table is not an outage, nor is a crash."""
    app = create_app(Settings(data_dir=tmp_path / "data"), services=False)

    def crash() -> None:
        raise RuntimeError("a bug in a route")

    app.add_api_route("/api/v1/crash", crash)
    (token,) = tokens(app, 1)
    with sqlite3.connect(tmp_path / "data" / "workhand.db") as db:
        db.execute("ALTER TABLE queues RENAME TO queues_gone")
    with (TestClient(app, raise_server_exceptions=False) as http,
          caplog.at_level(logging.ERROR, logger="workhand.orchestrator")):
        for path in ("/api/v1/queues", "/api/v1/crash"):
            answer = http.get(path, headers=auth(token))
            assert answer.status_code == 500, answer.text
            detail = answer.json()["detail"]
            assert "internal error, logged as error" in detail and "Traceback" not in detail
            assert detail.split("error ")[1][:12] in caplog.text
    assert "no such table: queues" in caplog.text and "a bug in a route" in caplog.text
    assert app.state.outage.total == 0


# -- a 1-second restart under real processes --------------------------------------------------

ITEMS = 90
DRAIN = """robot: drain
savings: {minutes_per_item: 1}
steps:
  - for_each: {queue: accounts}
    as: account
    steps:
      - wait: 200ms
      - files.write_text:
          path: "${env.LEDGER}/item-${account.n}.txt"
          text: "worked\\n"
          append: true
"""


class Probe(threading.Thread):
    """A console's view: one read every 50 ms, each answer's (time, status, Retry-After)."""

    def __init__(self, url: str, token: str) -> None:
        super().__init__(daemon=True)
        self.http = httpx.Client(base_url=url, headers=auth(token), timeout=10)
        self.seen: list[tuple[float, int, str | None]] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.05):
            try:
                answer = self.http.get("/api/v1/queues/accounts")
            except httpx.HTTPError:
                continue
            self.seen.append((time.monotonic(), answer.status_code,
                              answer.headers.get("Retry-After")))

    def stop(self) -> None:
        self.done.set()
        self.join(10)
        self.http.close()


def test_a_one_second_postgres_restart_fails_no_robot(
        postgres: PrivatePostgres, pg_db: str, tmp_path: Path) -> None:
    cluster = Cluster(tmp_path, pg_db)
    ledger = tmp_path / "ledger"
    ledger.mkdir()
    options = ("--sandbox", "off", "--allow-folder", f"{ledger}:rw", "--env",
               f"LEDGER={ledger}")
    try:
        server = cluster.serve()
        with cluster.client(server) as http:
            cluster.deploy(http, DRAIN)
            assert http.post("/api/v1/queues", json={"name": "accounts"}).status_code == 201
            added = http.post("/api/v1/queues/accounts/items", json={"items": [
                {"reference": f"acct-{n:03d}", "payload": {"n": n}} for n in range(ITEMS)]})
            assert added.json() == {"added": ITEMS, "skipped": 0}, added.text
            jobs = [cluster.start_job(http, "drain", max_attempts=1) for _ in range(3)]
            cluster.worker(server, "w1", options=(*options, "--slots", "2"))
            cluster.worker(server, "w2", options=options)
            wait_for("a third of the items worked",
                     lambda: len(list(ledger.iterdir())) >= ITEMS // 3, 90)
            probe = Probe(server.url, cluster.operator)
            probe.start()
            time.sleep(0.3)
            before = len(list(ledger.iterdir()))
            stopped, started = postgres.restart(1.0)
            wait_for("a read answered after the restart",
                     lambda: any(t > started and s == 200 for t, s, _ in probe.seen), 30)
            probe.stop()
            ended = [cluster.ended(http, job, timeout=120) for job in jobs]
            stats = http.get("/api/v1/queues/accounts").json()["counts"]
    finally:
        cluster.close()
    assert before < ITEMS, "the queue was worked through before the restart"
    assert [(j["state"], j["attempt"]) for j in ended] == [("succeeded", 1)] * 3, ended
    # the robots' side effect: every item worked exactly once
    worked = {p.name: p.read_text() for p in ledger.iterdir()}
    assert worked == {f"item-{n}.txt": "worked\n" for n in range(ITEMS)}
    assert (stats["done"], stats["total"]) == (ITEMS, ITEMS), stats
    assert sum(i["outcome"] == "done" for j in ended for i in j["items"]) == ITEMS
    # what a client saw: 503s with Retry-After while the database was away, never a 500
    statuses = [s for _, s, _ in probe.seen]
    assert 500 not in statuses and set(statuses) <= {200, 503}, statuses
    assert 503 in statuses, "the probe never saw the outage"
    assert all(after == "1" for _, s, after in probe.seen if s == 503)
    # the server's, the workers' and the robots' logs: no bug, no 500, no robot giving up
    logs = "".join([*(p.output() for p in cluster.procs),
                    *(p.read_text(errors="replace")
                      for p in tmp_path.glob("work/*/runs/*/child.log"))])
    for bad in ("Exception in ASGI application", "Traceback", "internal error", "HTTP 500",
                "(500:", "500 Internal Server Error", "did not answer"):
        assert bad not in logs, f"{bad!r} in the logs:\n{logs[-5000:]}"
    report(probe, stopped, started, tmp_path, logs)


def report(probe: Probe, stopped: float, started: float, root: Path, logs: str) -> None:
    """The numbers docs/orchestrator.md quotes (printed: pytest -s shows them)."""
    first_200 = min(t for t, s, _ in probe.seen if t > started and s == 200)
    refused = [t for t, s, _ in probe.seen if s == 503]
    robot_retries = sum(p.read_text(errors="replace").count("503 Service Unavailable")
                        for p in root.glob("work/*/runs/*/child.log"))
    recovered = [line.split("(after ")[1].split(")")[0] for line in logs.splitlines()
                 if "answers again (after" in line]
    print(f"\noutage: database down {started - stopped:.2f} s; the probe got {len(refused)} "
          f"503s over {refused[-1] - refused[0]:.2f} s and its first 200 "
          f"{first_200 - started:.3f} s after the start; robots retried {robot_retries} "
          f"queue calls after a 503; workers back after {', '.join(recovered) or '-'}")
