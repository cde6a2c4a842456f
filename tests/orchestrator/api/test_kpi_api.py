"""GET /api/v1/kpi: figures for a range and robots; bad dates are 422 with a sentence."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from orchestrator import kpi
from orchestrator.api.kpi import KpiReport, router
from orchestrator.auth import create_token
from orchestrator.roles import Role
from orchestrator.settings import Settings

SAVINGS = {"minutes_per_item": 6, "minutes_per_run": 0, "review_minutes": 0}


@pytest.fixture
def client(sessions: sessionmaker[Session], tmp_path: Path) -> Iterator[TestClient]:
    app = FastAPI()
    app.include_router(router)
    app.state.sessions = sessions
    app.state.settings = Settings(data_dir=tmp_path, hours_per_fte=1000, hourly_cost=200)
    with sessions.begin() as s:
        for robot, day, done in (("s1", 1, 10), ("s1", 2, 20), ("s2", 2, 40), ("s3", 3, 5)):
            kpi.record(s, robot=robot, day=dt.date(2024, 5, day), succeeded=True,
                       items={"done": done}, robot_seconds=60, savings=SAVINGS)
    with TestClient(app) as c:
        yield c


@pytest.fixture
def viewer(sessions: sessionmaker[Session]) -> dict[str, str]:
    with sessions.begin() as s:
        return {"Authorization": f"Bearer {create_token(s, Role.VIEWER)}"}


def test_range_and_robots(client: TestClient, viewer: dict[str, str]) -> None:
    got = client.get("/api/v1/kpi?start=2024-05-02&end=2024-05-02&robot=s1&robot=s2",
                     headers=viewer)
    assert got.status_code == 200, got.text
    body = got.json()
    assert KpiReport.model_validate(body).model_dump(mode="json") == body  # the documented shape
    assert [(d["robot"], d["day"]) for d in body["rows"]] == [("s1", "2024-05-02"),
                                                              ("s2", "2024-05-02")]
    # 60 items × 6 min = 6 h; 6 h / 1000 h per FTE-year; 6 h × 200 an hour
    assert body["totals"]["items_done"] == 60
    assert (body["totals"]["hours_saved"], body["totals"]["fte"],
            body["totals"]["cost_saved"]) == (6.0, 0.006, 1200.0)
    assert body["start"] == "2024-05-02" and body["end"] == "2024-05-02"
    everything = client.get("/api/v1/kpi", headers=viewer).json()
    assert everything["totals"]["runs"] == 4 and len(everything["robots"]) == 3
    months = client.get("/api/v1/kpi?by=month&robot=s1", headers=viewer).json()
    assert KpiReport.model_validate(months).by == "month"
    assert [(r["day"], r["items_done"]) for r in months["rows"]] == [("2024-05-01", 30)]


@pytest.mark.parametrize(("query", "message"), [
    ("start=2024-13-01", "start must be a date YYYY-MM-DD, got '2024-13-01'"),
    ("end=yesterday", "end must be a date YYYY-MM-DD, got 'yesterday'"),
    ("start=2024-05-03&end=2024-05-01", "start 2024-05-03 is after end 2024-05-01"),
    ("by=year", "by must be 'day', 'week' or 'month', got 'year'"),
])
def test_bad_dates(client: TestClient, viewer: dict[str, str], query: str,
                   message: str) -> None:
    got = client.get(f"/api/v1/kpi?{query}", headers=viewer)
    assert got.status_code == 422 and got.json() == {"detail": message}


def test_needs_a_reader(client: TestClient, sessions: sessionmaker[Session]) -> None:
    assert client.get("/api/v1/kpi").status_code == 401
    with sessions.begin() as s:
        worker = create_token(s, Role.WORKER, worker="w1")
    assert client.get("/api/v1/kpi",
                      headers={"Authorization": f"Bearer {worker}"}).status_code == 403
