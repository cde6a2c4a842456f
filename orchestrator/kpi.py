"""Savings figures per robot and day: recorded as jobs finish, read by the KPI board.

Jobs add to one kpi_daily row (robot, day) in the same transaction that finishes them, so the
board reads a few thousand small rows instead of scanning millions of jobs and items.

A job counts on the local date it finished on, in WORKHAND_KPI_TIMEZONE (default Asia/Shanghai:
the banks Workhand is built for close their day there, and a 07:00 run must not land on the
previous UTC day). Manual minutes saved follow the banks' own sums (libs.plan.Savings):
items done × minutes_per_item + successful runs × minutes_per_run − business exceptions ×
review_minutes (the people's time spent on what the robot handed back) − the minutes reviewers
spent on the items it handed to human review (record_review: measured, not declared).
"""

from __future__ import annotations

import datetime as dt
import math
import os
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import ColumnElement, Date, SQLColumnExpression, cast, func, select, type_coerce
from sqlalchemy.orm import Session

from libs.plan import Savings
from orchestrator.db import insert_for
from orchestrator.models import KpiDaily
from orchestrator.settings import Settings

DEFAULT_TIMEZONE = "Asia/Shanghai"
COUNTS = ("runs", "successes", "failures", "items_done", "business_exceptions", "system_errors")
SUMS = (*COUNTS, "robot_seconds", "minutes_saved", "review_minutes")
PERIODS = ("day", "week", "month")


def timezone(name: str | None = None) -> ZoneInfo:
    """The zone KPI days are counted in; check it at start-up so a typo fails early."""
    name = name or os.environ.get("WORKHAND_KPI_TIMEZONE") or DEFAULT_TIMEZONE
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"KPI time zone '{name}' is not known; use a name like "
                         "Asia/Shanghai or UTC (WORKHAND_KPI_TIMEZONE)") from None


def day_of(finished: dt.datetime, tz: str | None = None) -> dt.date:
    """The KPI day of a job that finished at `finished` (naive datetimes are taken as UTC)."""
    if finished.tzinfo is None:
        finished = finished.replace(tzinfo=dt.UTC)
    return finished.astimezone(timezone(tz)).date()


def minutes_saved(savings: Mapping[str, Any], *, succeeded: bool,
                  done: int, business_exceptions: int) -> float:
    known = {k: float(v or 0) for k, v in savings.items() if k in Savings.__dataclass_fields__}
    return Savings(**known).minutes_saved(done, business_exceptions, succeeded)


def count_job(totals: dict[str, float], *, succeeded: bool, items: Mapping[str, int],
              robot_seconds: float, savings: Mapping[str, Any]) -> None:
    """Add one finished job to a robot's day's totals (written with upsert_statement())."""
    done = int(items.get("done", 0))
    exceptions = int(items.get("business_exceptions", 0))
    totals["runs"] += 1
    totals["successes"] += int(succeeded)
    totals["failures"] += int(not succeeded)
    totals["items_done"] += done
    totals["business_exceptions"] += exceptions
    totals["system_errors"] += int(items.get("system_errors", 0))
    totals["robot_seconds"] += float(robot_seconds)
    totals["minutes_saved"] += minutes_saved(savings, succeeded=succeeded, done=done,
                                             business_exceptions=exceptions)


def upsert_statement(dialect: str) -> Any:
    """INSERT of one (robot, day) row that adds to the row already there, to execute with
    rows(): PostgreSQL's ON CONFLICT is atomic and SQLite serialises writers (BEGIN IMMEDIATE),
    so two workers finishing at once never lose a count."""
    stmt = insert_for(dialect)(KpiDaily)
    table = KpiDaily.__table__.c
    return stmt.on_conflict_do_update(index_elements=["robot", "day"], set_={
        name: table[name] + stmt.excluded[name] for name in SUMS})


def rows(totals: Mapping[tuple[str, dt.date], Mapping[str, float]]) -> list[dict[str, Any]]:
    return [{"robot": robot, "day": day,
             **{name: (int if name in COUNTS else float)(sums.get(name, 0)) for name in SUMS}}
            for (robot, day), sums in sorted(totals.items())]


def record(session: Session, *, robot: str, day: dt.date, succeeded: bool,
           items: Mapping[str, int], robot_seconds: float, savings: Mapping[str, Any]) -> None:
    """Add one finished job to its robot's day (dispatch.finish adds many at once)."""
    totals: dict[str, float] = defaultdict(float)
    count_job(totals, succeeded=succeeded, items=items, robot_seconds=robot_seconds,
              savings=savings)
    connection = session.connection()
    connection.execute(upsert_statement(connection.dialect.name), rows({(robot, day): totals}))


def record_review(session: Session, *, robot: str, day: dt.date, minutes: float) -> None:
    """A reviewer's minutes on an item `robot` handed to review (orchestrator/review.py): kept
    in review_minutes and taken off the robot's minutes saved that day (no run is counted)."""
    totals: dict[str, float] = defaultdict(float)
    totals["review_minutes"] += minutes
    totals["minutes_saved"] -= minutes
    connection = session.connection()
    connection.execute(upsert_statement(connection.dialect.name), rows({(robot, day): totals}))


def _figures(settings: Settings, runs: int, successes: int, failures: int, items_done: int,
             business_exceptions: int, system_errors: int, robot_seconds: float,
             minutes_saved: float, review_minutes: float = 0.0) -> dict[str, Any]:
    # Called once per row of a two-year report (tens of thousands): kept to plain arithmetic.
    hours = minutes_saved / 60
    return {
        "runs": runs, "successes": successes, "failures": failures, "items_done": items_done,
        "business_exceptions": business_exceptions, "system_errors": system_errors,
        "robot_minutes": round(robot_seconds / 60, 2),
        "minutes_saved": round(minutes_saved, 2),
        "review_minutes": round(review_minutes, 2),
        "hours_saved": round(hours, 2),
        # FTE-years of work: over a one-year range this is the FTE equivalent.
        "fte": round(hours / settings.hours_per_fte, 4) if settings.hours_per_fte else 0.0,
        "cost_saved": round(hours * settings.hourly_cost, 2),
        "success_rate": round(successes / runs, 4) if runs else None,
    }


def _period(session: Session, by: str) -> SQLColumnExpression[dt.date]:
    """A day's period: itself, its week's Monday or its month's first day."""
    if by == "day":
        return KpiDaily.day
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.date_trunc(by, KpiDaily.day), Date)
    if by == "week":  # SQLite: the Monday on or before the day
        return type_coerce(func.date(KpiDaily.day, "-6 days", "weekday 1"), Date)
    return type_coerce(func.date(KpiDaily.day, "start of month"), Date)


def _sums(session: Session, keys: list[SQLColumnExpression[Any]],
          where: list[ColumnElement[bool]],
          grouped: bool) -> Sequence[Sequence[Any]]:
    """Rows of (*keys, *SUMS) in key order; one per kpi_daily row unless grouped."""
    columns = [getattr(KpiDaily, name) for name in SUMS]
    if not grouped:
        stmt = select(*keys, *columns).where(*where).order_by(*keys)
        return session.connection().execute(stmt).all()
    stmt = (select(*keys, *(func.sum(c) for c in columns)).where(*where)
            .group_by(*keys).order_by(*keys))
    n = len(keys)
    # PostgreSQL sums BIGINT columns as NUMERIC (Decimal): hence int() and float().
    return [(*row[:n], *(int(v) for v in row[n:n + 6]), *(float(v) for v in row[n + 6:]))
            for row in session.connection().execute(stmt)]


def query(session: Session, settings: Settings, *, start: dt.date | None = None,
          end: dt.date | None = None, robots: list[str] | None = None,
          by: str = "day") -> dict[str, Any]:
    """Figures per robot and day (by="month": per robot and month), per robot, and in total,
    for days start..end (both included).

    Returns {"start", "end", "by", "rows": [{robot, day, ...}], "robots": [{robot, ...}],
    "totals": {...}} — a month row's day is the month's first day. Each figure set has runs,
    successes, failures, items_done, business_exceptions, system_errors, robot_minutes,
    minutes_saved, hours_saved, fte, cost_saved and success_rate (None with no runs).
    A two-year range of 50 robots is 36,500 day rows but 1,200 month rows: boards showing
    long ranges should ask by month.
    """
    if by not in PERIODS:
        raise ValueError(f"by must be 'day', 'week' or 'month', not '{by}'")
    where: list[ColumnElement[bool]] = []
    if start is not None:
        where.append(KpiDaily.day >= start)
    if end is not None:
        where.append(KpiDaily.day <= end)
    if robots:
        where.append(KpiDaily.robot.in_(robots))
    period = _period(session, by)
    rows = [{"robot": robot, "day": day, **_figures(settings, *sums)}
            for robot, day, *sums in _sums(session, [KpiDaily.robot, period], where,
                                           grouped=by != "day")]
    per_robot = _sums(session, [KpiDaily.robot], where, grouped=True)
    totals = [sum(col) for col in zip(*(sums for _, *sums in per_robot), strict=True)]
    return {
        "start": start, "end": end, "by": by, "rows": rows,
        "robots": [{"robot": robot, **_figures(settings, *sums)} for robot, *sums in per_robot],
        "totals": _figures(settings, *(totals or [0] * len(SUMS))),
    }


def payback(session: Session, settings: Settings, build_costs: Mapping[str, float],
            today: dt.date) -> dict[str, dict[str, Any]]:
    """For each robot that declares a build cost: the cost saved so far, the day the savings
    passed the build cost ("paid_on") or, not yet, the day they will at the last 30 days' pace
    ("expected_on"; None while it saves nothing)."""
    costly = sorted(robot for robot, cost in build_costs.items() if cost > 0)
    if not costly:
        return {}
    days = query(session, settings, robots=costly, end=today)["rows"]  # by day, in order
    out: dict[str, dict[str, Any]] = {}
    for robot in costly:
        cost, saved, paid_on, recent = build_costs[robot], 0.0, None, 0.0
        for row in (r for r in days if r["robot"] == robot):
            saved += row["cost_saved"]
            if paid_on is None and saved >= cost:
                paid_on = row["day"]
            if row["day"] > today - dt.timedelta(days=30):
                recent += row["cost_saved"]
        expected = None
        if paid_on is None and recent > 0:
            expected = today + dt.timedelta(days=math.ceil((cost - saved) / (recent / 30)))
        out[robot] = {"build_cost": cost, "saved": round(saved, 2), "paid_on": paid_on,
                      "expected_on": expected}
    return out
