"""The savings figures behind the KPI board: per robot and day, per robot, and in total."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import pydantic_core
from fastapi import APIRouter, HTTPException, Query, Response
from pydantic import BaseModel, Field

from orchestrator import kpi
from orchestrator.api.deps import Reader, SessionDep, SettingsDep

router = APIRouter(prefix="/api/v1", tags=["kpi"])
Period = Literal["day", "week", "month"]


class Figures(BaseModel):
    runs: int
    successes: int
    failures: int
    items_done: int
    business_exceptions: int
    system_errors: int
    robot_minutes: float
    minutes_saved: float
    review_minutes: float = Field(0.0, description="people's minutes on items handed to "
                                                  "human review (already taken off "
                                                  "minutes_saved)")
    hours_saved: float
    fte: float
    cost_saved: float
    success_rate: float | None


class RobotPeriod(Figures):
    robot: str
    day: dt.date = Field(description="the day; by week its Monday, by month its first day")


class RobotTotal(Figures):
    robot: str


class KpiReport(BaseModel):
    start: dt.date | None
    end: dt.date | None
    by: Period
    rows: list[RobotPeriod]
    robots: list[RobotTotal]
    totals: Figures


def _date(name: str, value: str | None) -> dt.date | None:
    # Parsed here rather than by FastAPI so a bad date gets a sentence, not a pydantic dump.
    if value is None or value == "":
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise HTTPException(422, f"{name} must be a date YYYY-MM-DD, got '{value}'") from None


@router.get("/kpi", response_model=KpiReport, summary="Savings figures for a date range")
def get_kpi(session: SessionDep, settings: SettingsDep, caller: Reader,
            start: Annotated[str | None, Query(description="first day, YYYY-MM-DD")] = None,
            end: Annotated[str | None, Query(description="last day (included)")] = None,
            robot: Annotated[list[str] | None, Query(description="robots (repeatable)")] = None,
            by: Annotated[str, Query(description="rows per robot and day, week or month",
                                     json_schema_extra={"enum": list(kpi.PERIODS)})] = "day",
            ) -> Response:
    if by not in kpi.PERIODS:
        raise HTTPException(422, f"by must be 'day', 'week' or 'month', got '{by}'")
    first, last = _date("start", start), _date("end", end)
    if first and last and first > last:
        raise HTTPException(422, f"start {first} is after end {last}")
    report = kpi.query(session, settings, start=first, end=last, robots=robot or None, by=by)
    # Serialised directly (pydantic-core, no model validation): a two-year report by day is
    # 36,500 rows, and validating what kpi.query() just built would double the answer time.
    # The tests check that this output matches KpiReport, which documents it in the OpenAPI.
    return Response(pydantic_core.to_json(report), media_type="application/json")
