"""Waiting leases cost nothing: 200 workers long-polling hold no thread and no database
connection, an admin is answered while they all wait, and a new job wakes one worker that can
run it — on a real uvicorn server, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from orchestrator import arrivals, deploy
from orchestrator.app import create_app
from orchestrator.auth import create_token
from orchestrator.roles import Role
from orchestrator.settings import Settings
from tests.servers import ThreadServer

ROBOT = "robot: waiting-check\nsteps:\n  - log: hi\n"
WAITERS = 200


@pytest.fixture
def served(tmp_path: Path, db_url: str) -> Iterator[tuple[FastAPI, ThreadServer, dict[str, str]]]:
    app = create_app(Settings(data_dir=tmp_path / "data", database_url=db_url,
                              long_poll_seconds=60))
    (tmp_path / "waiting-check.yaml").write_text(ROBOT, encoding="utf-8")
    with app.state.sessions.begin() as session:
        deploy.deploy_robot(session, tmp_path / "waiting-check.yaml")
        tokens = {f"w{n}": create_token(session, Role.WORKER, worker=f"w{n}",
                                        labels=["desktop"] if n == WAITERS - 1 else [])
                  for n in range(WAITERS)}
        tokens["admin"] = create_token(session, Role.ADMIN)
    server = ThreadServer(timeout_graceful_shutdown=1)  # lifespan on: the app's services run
    server.start(app)
    yield app, server, tokens
    server.close()


def test_200_waiting_leases_hold_nothing_and_wake_one_worker_per_job(
        served: tuple[FastAPI, ThreadServer, dict[str, str]]) -> None:
    app, server, tokens = served

    async def scenario() -> None:
        limits = httpx.Limits(max_connections=WAITERS + 10)
        async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=90) as http:
            async def lease(n: int) -> httpx.Response:
                labels = ["desktop"] if n == WAITERS - 1 else []
                return await http.post("/api/v1/lease", json={
                    "worker": f"w{n}", "labels": labels, "wait_s": 55},
                    headers={"Authorization": f"Bearer {tokens[f'w{n}']}"})

            admin = {"Authorization": f"Bearer {tokens['admin']}"}
            while (await http.get("/api/v1/jobs", headers=admin)).status_code != 200:
                await asyncio.sleep(0.05)  # the server is starting
            waits = {n: asyncio.ensure_future(lease(n)) for n in range(WAITERS)}
            while arrivals.arrivals.waiting < WAITERS:
                assert not any(w.done() for w in waits.values()), "a lease ended early"
                await asyncio.sleep(0.05)
            # all 200 wait: none holds a database connection, the thread pool is idle
            assert app.state.engine.pool.checkedout() == 0
            assert threading.active_count() < 60

            listed = await http.get("/api/v1/jobs", headers=admin)
            assert listed.status_code == 200
            assert not any(w.done() for w in waits.values())  # answered before any wait ends

            # a job for the one desktop worker wakes that worker, not the oldest waiter
            made = await http.post("/api/v1/jobs", headers=admin, json={
                "robot": "waiting-check", "labels": ["desktop"]})
            assert made.status_code == 201, made.text
            answer = await asyncio.wait_for(waits.pop(WAITERS - 1), 30)
            assert [j["id"] for j in answer.json()["jobs"]] == [made.json()["id"]]
            # a plain job goes to one of the others
            plain = await http.post("/api/v1/jobs", headers=admin,
                                    json={"robot": "waiting-check"})
            done, _ = await asyncio.wait(waits.values(), timeout=30,
                                         return_when=asyncio.FIRST_COMPLETED)
            [first] = done
            assert [j["id"] for j in first.result().json()["jobs"]] == [plain.json()["id"]]
            while arrivals.arrivals.waiting > WAITERS - 2:
                await asyncio.sleep(0.02)  # the woken one has left the waiting room
            assert sum(w.done() for w in waits.values()) == 1
            for w in waits.values():
                w.cancel()
            await asyncio.gather(*waits.values(), return_exceptions=True)

    asyncio.run(scenario())


def test_a_worker_that_hangs_up_stops_waiting_and_is_leased_nothing(
        served: tuple[FastAPI, ThreadServer, dict[str, str]]) -> None:
    _, server, tokens = served
    headers = {"Authorization": f"Bearer {tokens['w0']}"}

    async def scenario() -> Any:
        async with httpx.AsyncClient(base_url=server.url, timeout=90) as http:
            wait = asyncio.ensure_future(http.post("/api/v1/lease", headers=headers,
                                                   json={"worker": "w0", "wait_s": 55}))
            while arrivals.arrivals.waiting < 1:
                await asyncio.sleep(0.02)
            wait.cancel()  # the worker closes the connection
            await asyncio.gather(wait, return_exceptions=True)
        while arrivals.arrivals.waiting:
            await asyncio.sleep(0.02)

    asyncio.run(asyncio.wait_for(scenario(), 30))
    with httpx.Client(base_url=server.url, timeout=30) as http:
        admin = {"Authorization": f"Bearer {tokens['admin']}"}
        made = http.post("/api/v1/jobs", headers=admin, json={"robot": "waiting-check"})
        job = http.get(f"/api/v1/jobs/{made.json()['id']}", headers=admin).json()
        assert job["state"] == "queued" and job["worker"] is None
