"""Live clusters for the reliability tests: real `workhand serve` and `workhand worker` processes
on a real SQLite file or PostgreSQL (a private schema per test), every process in a session of
its own so that a test can kill -9 it — and so that cleanup kills everything it started, robots
included, whatever the test did."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from orchestrator.auth import create_token
from orchestrator.db import make_engine, migrate, session_factory
from orchestrator.roles import Role
from tests.pg import pg_schema_url as pg_schema
from tests.servers import Port

ROOT = Path(__file__).resolve().parents[2]
WORKHAND = ROOT / ".venv" / "bin" / "workhand"
FINAL = ("succeeded", "failed", "cancelled", "timed_out")


_HELD: list[Port] = []


def free_port() -> int:
    """A port number held (bound, never listening) until this test process ends: a server may
    bind it (SO_REUSEADDR) and no other process is given it. Cluster.serve() needs none: it
    hands its server a socket bound before the server starts."""
    held = Port()
    _HELD.append(held)
    return held.number


def wait_for(what: str, check: Callable[[], Any], timeout: float = 30.0,
             every: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def epoch(value: str) -> float:
    """An API timestamp (UTC, with or without an offset) as seconds since the epoch."""
    stamp = dt.datetime.fromisoformat(value)
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.UTC)
    return stamp.timestamp()


class Proc:
    """A process leading its own session; its output goes to a log file kept for the test."""

    def __init__(self, args: list[str], log: Path, env: dict[str, str],
                 pass_fds: tuple[int, ...] = ()) -> None:
        self.args, self.log = args, log
        with log.open("ab") as out:
            self.popen = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out,
                                          stderr=subprocess.STDOUT, env=env,
                                          start_new_session=True, pass_fds=pass_fds)
        self.pid = self.popen.pid

    def kill_group(self, sig: signal.Signals = signal.SIGKILL) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)

    def kill9(self) -> None:
        """kill -9 of this process alone (its robots, in sessions of their own, live on)."""
        self.popen.kill()
        self.popen.wait(10)

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


class Server:
    def __init__(self, proc: Proc, port: int) -> None:
        self.proc, self.port = proc, port
        self.url = f"http://127.0.0.1:{port}"


class Cluster:
    """Servers and workers on one database; remembers every process and API response."""

    def __init__(self, root: Path, database: str) -> None:
        self.root, self.database = root, database
        self.data = root / "data"
        self.data.mkdir(parents=True, exist_ok=True)
        self.logs = root / "logs"
        self.logs.mkdir(exist_ok=True)
        self.procs: list[Proc] = []
        self.ports: dict[int, Port] = {}  # held from the first server on it to close()
        self.responses: list[str] = []  # every API response body a test saw (leak checks)
        engine = make_engine(database)
        migrate(engine)
        with session_factory(engine).begin() as session:
            self.operator = create_token(session, Role.OPERATOR)
            self.admin = create_token(session, Role.ADMIN)
        self.worker_tokens: dict[str, str] = {}  # worker name → its bound token
        engine.dispose()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("WORKHAND_")}

    # -- processes -------------------------------------------------------------------------

    def serve(self, port: int | None = None, lease_seconds: float = 30.0,
              data: Path | None = None, wait: bool = True) -> Server:
        """`workhand serve` on a socket bound here and handed down (--fd): the port is this
        cluster's from before the server starts until close(), so a server started again on
        it (port=server.port) finds it free, and no other process gets it meanwhile."""
        held = self.ports.get(port) if port else None
        if held is None:
            held = Port(port or 0)
            self.ports[held.number] = held
        env = {**self.env, "WORKHAND_LEASE_SECONDS": str(lease_seconds)}
        listener = held.socket()
        try:
            proc = Proc([str(WORKHAND), "serve", "--fd", str(listener.fileno()), "--data",
                         str(data or self.data), "--database", self.database],
                        self.logs / f"serve-{held.number}.log", env,
                        pass_fds=(listener.fileno(),))
        finally:
            listener.close()  # the server's copy only: nothing listens once it is killed
        self.procs.append(proc)
        server = Server(proc, held.number)
        if wait:
            self.wait_up(server)
        return server

    def wait_up(self, server: Server, timeout: float = 60.0) -> None:
        def up() -> bool:
            if server.proc.popen.poll() is not None:
                raise AssertionError(f"serve on {server.port} ended:\n"
                                     f"{server.proc.output()[-3000:]}")
            try:
                return httpx.get(f"{server.url}/api/v1/robots", timeout=2,
                                 headers=self.auth(self.operator)).status_code == 200
            except httpx.HTTPError:
                return False
        wait_for(f"the server on port {server.port}", up, timeout, every=0.2)

    def worker(self, server: Server, name: str, labels: tuple[str, ...] = (),
               options: tuple[str, ...] = ()) -> Proc:
        work_dir = self.root / "work" / name
        args = [str(WORKHAND), "worker", "--server", server.url, "--name", name,
                "--work-dir", str(work_dir), *options]
        for label in labels:
            args += ["--labels", label]
        engine = make_engine(self.database)  # a token bound to this worker and its labels
        with session_factory(engine).begin() as session:
            token = create_token(session, Role.WORKER, worker=name, labels=labels)
        engine.dispose()
        self.worker_tokens[name] = token
        # the token through the environment, as the CLI's help advises
        proc = Proc(args, self.logs / f"worker-{name}.log",
                    {**self.env, "WORKHAND_TOKEN": token})
        self.procs.append(proc)
        return proc

    def close(self) -> None:
        """SIGKILL every process group started (robots lead groups of their own: they are
        found as the workers' children first)."""
        for proc in self.procs:
            for child in children(proc.pid):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(child, signal.SIGKILL)
            proc.kill_group()
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):  # a stuck process
                proc.popen.wait(10)
        for held in self.ports.values():
            held.close()

    # -- the API ---------------------------------------------------------------------------

    @staticmethod
    def auth(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    def client(self, server: Server, token: str | None = None) -> httpx.Client:
        def keep(response: httpx.Response) -> None:
            response.read()
            self.responses.append(response.text)

        return httpx.Client(base_url=server.url, timeout=30,
                            headers=self.auth(token or self.operator),
                            event_hooks={"response": [keep]})

    def deploy(self, http: httpx.Client, text: str) -> str:
        response = http.post("/api/v1/robots", content=text.encode(),
                             headers=self.auth(self.admin))  # deploying is an author's
        assert response.status_code == 201, response.text
        return str(response.json()["deployed"][0]["version"])

    def start_job(self, http: httpx.Client, robot: str, **fields: Any) -> int:
        response = http.post("/api/v1/jobs", json={"robot": robot, **fields})
        assert response.status_code == 201, response.text
        return int(response.json()["id"])

    def job(self, http: httpx.Client, job_id: int) -> dict[str, Any]:
        response = http.get(f"/api/v1/jobs/{job_id}")
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        return data

    def ended(self, http: httpx.Client, job_id: int, timeout: float = 60.0) -> dict[str, Any]:
        return dict(wait_for(f"job {job_id} to end",
                             lambda: (j := self.job(http, job_id))["state"] in FINAL and j,
                             timeout, every=0.2))

    def events(self, http: httpx.Client, job_id: int) -> list[dict[str, Any]]:
        """The job's events as its runner wrote them, each with its seq."""
        response = http.get(f"/api/v1/jobs/{job_id}/events")
        assert response.status_code == 200, response.text
        return [{**row["event"], "seq": row["seq"]} for row in response.json()]

    def wait_for_event(self, http: httpx.Client, job_id: int, kind: str,
                       timeout: float = 60.0) -> None:
        wait_for(f"a {kind} event of job {job_id}",
                 lambda: any(e["type"] == kind for e in self.events(http, job_id)), timeout,
                 every=0.2)

    @staticmethod
    def wait_until(what: str, check: Callable[[], Any], timeout: float = 30.0) -> Any:
        return wait_for(what, check, timeout)

    def rows(self, sql: str, **params: Any) -> list[Any]:
        engine = make_engine(self.database)
        try:
            with engine.connect() as conn:
                return list(conn.execute(text(sql), params))
        finally:
            engine.dispose()


def children(pid: int) -> list[int]:
    """The direct children of a process (robots of a worker, its robot zygote)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def pg_schema_url() -> Iterator[str]:
    yield from pg_schema("r")


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        (tmp_path / "data").mkdir(exist_ok=True)
        yield f"sqlite:///{tmp_path / 'data' / 'workhand.db'}"
    else:
        yield from pg_schema_url()


@pytest.fixture
def pg_url() -> Iterator[str]:
    yield from pg_schema_url()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    (tmp_path / "data").mkdir(exist_ok=True)
    return f"sqlite:///{tmp_path / 'data' / 'workhand.db'}"


def make_cluster(tmp_path: Path, database: str) -> Iterator[Cluster]:
    cluster = Cluster(tmp_path, database)
    try:
        yield cluster
    finally:
        cluster.close()


@pytest.fixture
def cluster(tmp_path: Path, db_url: str) -> Iterator[Cluster]:
    yield from make_cluster(tmp_path, db_url)


@pytest.fixture
def pg_cluster(tmp_path: Path, pg_url: str) -> Iterator[Cluster]:
    yield from make_cluster(tmp_path, pg_url)


@pytest.fixture
def sqlite_cluster(tmp_path: Path, sqlite_url: str) -> Iterator[Cluster]:
    yield from make_cluster(tmp_path, sqlite_url)
