"""效益看板 The KPI board: the savings per robot (scenario) and in total, with the formulas.

Its figures are kpi.query()'s — the same as GET /api/v1/kpi for the same range — and its
charts are drawn by ECharts from those very rows, embedded in the page as JSON.
"""

from __future__ import annotations

import datetime as dt
import io
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy import select

from orchestrator import kpi, runs
from orchestrator.console import i18n
from orchestrator.console.web import ConsoleError, Viewer, json_data, render
from orchestrator.models import Robot, RobotVersion

router = APIRouter(prefix="/console", include_in_schema=False)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
Text = Annotated[str | None, Query(max_length=20)]
FIGURES = ("runs", "successes", "failures", "items_done", "business_exceptions",
           "system_errors", "success_rate", "robot_minutes", "hours_saved", "fte", "cost_saved")


def _range(start: str | None, end: str | None, by: str | None) -> tuple[dt.date, dt.date, str]:
    """The range asked for; by default the last 30 days to today, by day."""
    try:
        last = dt.date.fromisoformat(end) if end else runs.today()
        first = dt.date.fromisoformat(start) if start else last - dt.timedelta(days=29)
    except ValueError:
        raise ConsoleError(422, "start and end are dates (YYYY-MM-DD)") from None
    if first > last:
        raise ConsoleError(422, f"start {first} is after end {last}")
    period = by or "day"
    if period not in kpi.PERIODS:
        raise ConsoleError(422, f"by must be one of {', '.join(kpi.PERIODS)}, not '{by}'")
    return first, last, period


def charts(report: dict[str, Any]) -> dict[str, Any]:
    """What the charts draw: per period, hours saved per robot (stacked), items done and
    handed back, success rate."""
    periods = sorted({row["day"].isoformat() for row in report["rows"]})
    robots = [r["robot"] for r in report["robots"]]
    at = {p: i for i, p in enumerate(periods)}
    hours = {robot: [0.0] * len(periods) for robot in robots}
    done = [0] * len(periods)
    back = [0] * len(periods)
    runs_in = [0] * len(periods)
    good = [0] * len(periods)
    for row in report["rows"]:
        i = at[row["day"].isoformat()]
        hours[row["robot"]][i] = round(hours[row["robot"]][i] + row["hours_saved"], 2)
        done[i] += row["items_done"]
        back[i] += row["business_exceptions"]
        runs_in[i] += row["runs"]
        good[i] += row["successes"]
    rate = [round(g / r, 4) if r else None for g, r in zip(good, runs_in, strict=True)]
    return {"periods": periods, "hours": hours, "done": done, "handed_back": back,
            "success_rate": rate}


@router.get("/kpi")
def kpi_page(request: Request, person: Viewer, start: Text = None, end: Text = None,
             by: Text = None) -> Response:
    first, last, period = _range(start, end, by)
    settings = request.app.state.settings
    with request.app.state.sessions.begin() as session:
        report = kpi.query(session, settings, start=first, end=last, by=period)
        costs = {robot: float((savings or {}).get("build_cost") or 0) for robot, savings in
                 session.execute(select(Robot.name, RobotVersion.savings).join(
                     RobotVersion, RobotVersion.digest == Robot.current))}
        payback = kpi.payback(session, settings, costs, runs.today())
    return render(request, "kpi.html", report=report, first=first, last=last, by=period,
                  payback=payback,
                  chart_data=json_data(charts(report)), figures=FIGURES,
                  hours_per_fte=settings.hours_per_fte, hourly_cost=settings.hourly_cost)


@router.get("/kpi.xlsx")
def kpi_excel(request: Request, person: Viewer, start: Text = None, end: Text = None,
              by: Text = None) -> Response:
    from openpyxl import Workbook

    first, last, period = _range(start, end, by)
    language = person.user.language
    with request.app.state.sessions.begin() as session:
        report = kpi.query(session, request.app.state.settings, start=first, end=last,
                           by=period)
    book = Workbook()
    sheet = book.active
    sheet.title = i18n.text("KPI board", language)
    heads = [i18n.text(h, language) for h in ("Robot", "Total")]
    sheet.append([heads[0], i18n.text(period, language), *FIGURES])
    for row in report["rows"]:
        sheet.append([row["robot"], row["day"], *(row[f] for f in FIGURES)])
    for row in report["robots"]:
        sheet.append([row["robot"], heads[1], *(row[f] for f in FIGURES)])
    sheet.append([heads[1], f"{first} – {last}", *(report["totals"][f] for f in FIGURES)])
    out = io.BytesIO()
    book.save(out)
    name = f"workhand-kpi-{first}-{last}.xlsx"
    return Response(out.getvalue(), media_type=XLSX,
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
