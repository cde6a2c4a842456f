"""Savings figures on a real SQLite file and a real PostgreSQL: the banks' sums, exactly."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from orchestrator import kpi
from orchestrator.settings import Settings

D1, D2 = dt.date(2024, 3, 1), dt.date(2024, 3, 2)
S1 = {"minutes_per_item": 10, "minutes_per_run": 30, "review_minutes": 15}
S2 = {"minutes_per_run": 90, "build_cost": 120000}  # missing keys count 0, unknown ones nothing


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, hours_per_fte=100, hourly_cost=50)


def record(s: Session, robot: str, day: dt.date, ok: bool, done: int, exceptions: int,
           errors: int, seconds: float, savings: dict[str, Any]) -> None:
    kpi.record(s, robot=robot, day=day, succeeded=ok, robot_seconds=seconds, savings=savings,
               items={"done": done, "business_exceptions": exceptions, "system_errors": errors})


@pytest.fixture
def recorded(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    with sessions.begin() as s:
        record(s, "s1", D1, True, 9, 2, 0, 300, S1)   # 90 + 30 − 30 = 90
        record(s, "s1", D1, False, 3, 0, 1, 60, S1)   # 30 (no run minutes: it failed)
    with sessions.begin() as s:
        record(s, "s1", D2, True, 0, 4, 0, 30, S1)    # 0 + 30 − 60 = −30: review outweighs
        record(s, "s2", D2, True, 5, 0, 0, 120, S2)   # 90
    with sessions.begin() as s:  # rolled back with the job it belonged to: not counted
        record(s, "s2", D2, True, 100, 0, 0, 1, S2)
        s.rollback()
    return sessions


def figures(runs: int, ok: int, failed: int, done: int, exceptions: int, errors: int,
            robot_minutes: float, saved: float, hours: float, fte: float, cost: float,
            rate: float | None) -> dict[str, Any]:
    return {"runs": runs, "successes": ok, "failures": failed, "items_done": done,
            "business_exceptions": exceptions, "system_errors": errors,
            "robot_minutes": robot_minutes, "minutes_saved": saved, "review_minutes": 0,
            "hours_saved": hours, "fte": fte, "cost_saved": cost, "success_rate": rate}


def test_figures_per_day_robot_and_total(recorded: sessionmaker[Session],
                                         settings: Settings) -> None:
    with recorded() as s:
        report = kpi.query(s, settings)
    assert report["rows"] == [
        {"robot": "s1", "day": D1, **figures(2, 1, 1, 12, 2, 1, 6.0, 120, 2.0, 0.02, 100, 0.5)},
        {"robot": "s1", "day": D2, **figures(1, 1, 0, 0, 4, 0, 0.5, -30, -0.5, -0.005, -25, 1)},
        {"robot": "s2", "day": D2, **figures(1, 1, 0, 5, 0, 0, 2.0, 90, 1.5, 0.015, 75, 1)},
    ]
    assert report["robots"] == [
        {"robot": "s1", **figures(3, 2, 1, 12, 6, 1, 6.5, 90, 1.5, 0.015, 75, 0.6667)},
        {"robot": "s2", **figures(1, 1, 0, 5, 0, 0, 2.0, 90, 1.5, 0.015, 75, 1)},
    ]
    assert report["totals"] == figures(4, 3, 1, 17, 6, 1, 8.5, 180, 3.0, 0.03, 150, 0.75)


def test_filters(recorded: sessionmaker[Session], settings: Settings) -> None:
    with recorded() as s:
        later = kpi.query(s, settings, start=D2)
        first = kpi.query(s, settings, end=D1)
        only_s2 = kpi.query(s, settings, start=D1, end=D2, robots=["s2", "nobody"])
        empty = kpi.query(s, settings, start=dt.date(2025, 1, 1))
    assert [(d["robot"], d["day"]) for d in later["rows"]] == [("s1", D2), ("s2", D2)]
    assert later["totals"]["minutes_saved"] == 60 and later["start"] == D2
    assert [(d["robot"], d["day"]) for d in first["rows"]] == [("s1", D1)]
    assert [r["robot"] for r in only_s2["robots"]] == ["s2"]
    assert only_s2["totals"]["runs"] == 1
    assert empty["rows"] == [] and empty["robots"] == []
    assert empty["totals"] == figures(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, None)


def test_by_month(recorded: sessionmaker[Session], settings: Settings) -> None:
    with recorded.begin() as s:
        record(s, "s1", dt.date(2024, 2, 29), True, 1, 0, 0, 60, S1)   # 10 + 30
        record(s, "s1", dt.date(2024, 4, 1), False, 0, 0, 1, 60, S1)   # 0
    with recorded() as s:
        report = kpi.query(s, settings, by="month", end=dt.date(2024, 3, 31))
        with pytest.raises(ValueError, match="by must be"):
            kpi.query(s, settings, by="year")
    march = figures(3, 2, 1, 12, 6, 1, 6.5, 90, 1.5, 0.015, 75, 0.6667)
    assert report["rows"] == [
        {"robot": "s1", "day": dt.date(2024, 2, 1),
         **figures(1, 1, 0, 1, 0, 0, 1.0, 40, 0.67, 0.0067, 33.33, 1)},
        {"robot": "s1", "day": dt.date(2024, 3, 1), **march},
        {"robot": "s2", "day": dt.date(2024, 3, 1),
         **figures(1, 1, 0, 5, 0, 0, 2.0, 90, 1.5, 0.015, 75, 1)},
    ]
    assert report["by"] == "month" and report["totals"]["runs"] == 5


def test_by_week_rows_start_on_monday(sessions: sessionmaker[Session],
                                      settings: Settings) -> None:
    with sessions.begin() as s:
        for day in (dt.date(2024, 3, 6), dt.date(2024, 3, 10), dt.date(2024, 3, 11)):
            record(s, "s1", day, True, 1, 0, 0, 60, S1)  # Wednesday, Sunday, Monday
    with sessions() as s:
        report = kpi.query(s, settings, by="week")
    assert [(r["day"], r["runs"]) for r in report["rows"]] == [
        (dt.date(2024, 3, 4), 2), (dt.date(2024, 3, 11), 1)]


def test_concurrent_records_lose_nothing(sessions: sessionmaker[Session],
                                         settings: Settings) -> None:
    """Workers finishing at the same moment, each in its own transaction, several of them
    creating the same new (robot, day) row at once."""
    threads_n, per_thread = 6, 20
    barrier = threading.Barrier(threads_n)
    errors: list[BaseException] = []

    def finish_jobs() -> None:
        try:
            barrier.wait()
            for n in range(per_thread):
                with sessions.begin() as s:
                    record(s, "s1", D1 if n % 2 else D2, n % 3 != 0, 2, 1, 0, 1.5, S1)
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=finish_jobs) for _ in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with sessions() as s:
        totals = kpi.query(s, settings)["totals"]
    runs = threads_n * per_thread
    ok = threads_n * sum(n % 3 != 0 for n in range(per_thread))
    assert (totals["runs"], totals["successes"], totals["failures"]) == (runs, ok, runs - ok)
    assert (totals["items_done"], totals["business_exceptions"]) == (2 * runs, runs)
    assert totals["robot_minutes"] == runs * 1.5 / 60
    assert totals["minutes_saved"] == runs * (20 - 15) + ok * 30


def test_day_is_the_local_finish_date(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WORKHAND_KPI_TIMEZONE", raising=False)
    late = dt.datetime(2024, 3, 31, 23, 30, tzinfo=dt.UTC)  # 07:30 on 1 April in Shanghai
    assert kpi.day_of(late) == dt.date(2024, 4, 1)
    assert kpi.day_of(late.replace(tzinfo=None)) == dt.date(2024, 4, 1)  # naive = UTC
    assert kpi.day_of(late, "UTC") == dt.date(2024, 3, 31)
    monkeypatch.setenv("WORKHAND_KPI_TIMEZONE", "America/New_York")
    assert kpi.day_of(late) == dt.date(2024, 3, 31)
    monkeypatch.setenv("WORKHAND_KPI_TIMEZONE", "Asia/Shang_hai")
    with pytest.raises(ValueError, match="'Asia/Shang_hai' is not known"):
        kpi.timezone()


def test_payback_is_the_day_the_savings_pass_the_build_cost(
        sessions: sessionmaker[Session], settings: Settings) -> None:
    today = dt.date(2024, 5, 31)
    with sessions.begin() as s:  # 60 min a run at 50 an hour: 50 saved a run
        for day in (dt.date(2024, 5, 1), dt.date(2024, 5, 2), dt.date(2024, 5, 3)):
            record(s, "paid", day, True, 0, 0, 0, 60, {"minutes_per_run": 60})
        record(s, "slow", dt.date(2024, 5, 20), True, 0, 0, 0, 60, {"minutes_per_run": 60})
    with sessions() as s:
        found = kpi.payback(s, settings, {"paid": 100, "slow": 200, "idle": 10, "free": 0},
                            today)
    assert found["paid"] == {"build_cost": 100, "saved": 150.0,
                             "paid_on": dt.date(2024, 5, 2), "expected_on": None}
    # 50 saved in the last 30 days: 150 to go at 50/30 a day is 90 days from today
    assert found["slow"]["paid_on"] is None
    assert found["slow"]["expected_on"] == today + dt.timedelta(days=90)
    assert found["idle"] == {"build_cost": 10, "saved": 0.0, "paid_on": None,
                             "expected_on": None}
    assert "free" not in found
