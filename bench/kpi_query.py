"""KPI query time with 1,000,000 jobs and 10,000,000 work items in the database (issue 3, §9).

    .venv/bin/python bench/kpi_query.py                      # SQLite file in a temporary folder
    .venv/bin/python bench/kpi_query.py --database postgresql://postgres@127.0.0.1:5432/test

Fills a freshly migrated database (PostgreSQL: a private schema, dropped afterwards) with jobs
spread over ~50 robots and two years, their work items, and the kpi_daily rows those jobs imply
(as kpi.record() would have left them), then times orchestrator.kpi.query() — and the same report
through GET /api/v1/kpi, JSON included — for the whole range (rows by day and by month), one
robot over a quarter and all robots over a month: the median of --repeats runs each. For scale
it also times per-robot item counts straight from jobs + job_items, a floor for what the board
would cost without kpi_daily.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert, text

from libs.plan import Savings
from orchestrator import kpi
from orchestrator.api.kpi import router
from orchestrator.auth import create_token
from orchestrator.db import make_engine, migrate, private_schema, session_factory
from orchestrator.models import KpiDaily, RobotVersion
from orchestrator.roles import Role
from orchestrator.settings import Settings

START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
DAYS = 730
BATCH = 100_000
JOB_COLUMNS = ("id", "robot", "version", "inputs", "state", "priority", "labels", "attempt",
               "max_attempts", "retry_delay_s", "retry_backoff", "cancel_requested", "source",
               "created", "started", "finished")
ITEM_COLUMNS = ("id", "job_id", "reference", "outcome", "message", "attempts", "duration_ms")
# Per 100 items: 90 done, 8 handed back for review, 2 system errors.
OUTCOMES = ["done"] * 90 + ["business_exception"] * 8 + ["system_error"] * 2


class Data:
    """Deterministic jobs and items; kpi_daily sums gathered while the jobs are generated."""

    def __init__(self, jobs: int, items: int, robots: int, seed: int = 7) -> None:
        self.jobs, self.items_target, self.robots = jobs, items, robots
        rng = random.Random(seed)
        self.names = [f"robot_{n:02d}" for n in range(robots)]
        self.savings = [Savings(minutes_per_item=rng.choice([0.5, 2, 2.5, 7, 10]),
                                minutes_per_run=rng.choice([0, 5, 30, 90]),
                                review_minutes=rng.choice([0, 3, 15])) for _ in range(robots)]
        # Busy robots and quiet ones, as in a real bank.
        self.weights = [rng.uniform(0.1, 3.0) for _ in range(robots)]
        self.rng = rng
        self.kpi: dict[tuple[int, dt.date], list[float]] = {}
        self.items_made = 0

    def versions(self) -> list[dict[str, Any]]:
        return [{"digest": f"{n:064x}", "robot": name, "title": name, "file": f"{name}.yaml",
                 "bundle": b"", "savings": asdict(s), "credentials": []}
                for n, (name, s) in enumerate(zip(self.names, self.savings, strict=True))]

    def rows(self) -> Iterator[tuple[tuple[Any, ...], list[tuple[Any, ...]]]]:
        """(job row, its item rows) for every job, jobs in finishing order."""
        rng, span = self.rng, DAYS * 86400 / self.jobs
        picks = rng.choices(range(self.robots), self.weights, k=self.jobs)
        per_job = self.items_target / self.jobs
        item_id = 0
        for job_id in range(1, self.jobs + 1):
            r = picks[job_id - 1]
            finished = START + dt.timedelta(seconds=(job_id - 1) * span + rng.random() * span)
            seconds = rng.uniform(20, 1800)
            started = finished - dt.timedelta(seconds=seconds)
            ok = rng.random() < 0.93
            # Exactly items_target items in all: each job takes its share, rounded.
            count = round(job_id * per_job) - round((job_id - 1) * per_job)
            counts = {"done": 0, "business_exception": 0, "system_error": 0}
            items = []
            for k in range(count):
                item_id += 1
                outcome = OUTCOMES[(item_id * 37) % 100]
                counts[outcome] += 1
                items.append((item_id, job_id, f"ACC{job_id:07d}-{k:02d}", outcome, "", 1,
                              round(seconds * 1000 / max(count, 1), 1)))
            self.items_made += count
            job = (job_id, self.names[r], f"{r:064x}", "{}",
                   "succeeded" if ok else "failed", 0, "[]", 1, 1, 10.0, 2.0, False, "schedule",
                   started, started, finished)
            day = kpi.day_of(finished)
            sums = self.kpi.setdefault((r, day), [0.0] * 8)
            for n, v in enumerate((1, ok, not ok, counts["done"], counts["business_exception"],
                                   counts["system_error"], seconds,
                                   self.savings[r].minutes_saved(
                                       counts["done"], counts["business_exception"], ok))):
                sums[n] += v
            yield job, items

    def kpi_rows(self) -> list[dict[str, Any]]:
        keys = ("runs", "successes", "failures", "items_done", "business_exceptions",
                "system_errors", "robot_seconds", "minutes_saved")
        return [{"robot": self.names[r], "day": day,
                 **{k: (int(v) if n < 6 else v)
                    for n, (k, v) in enumerate(zip(keys, s, strict=True))}}
                for (r, day), s in sorted(self.kpi.items())]


def batches(data: Data) -> Iterator[tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]]:
    jobs: list[tuple[Any, ...]] = []
    items: list[tuple[Any, ...]] = []
    for job, its in data.rows():
        jobs.append(job)
        items.extend(its)
        if len(items) >= BATCH:
            yield jobs, items
            jobs, items = [], []
    if jobs:
        yield jobs, items


def fill_sqlite(engine: Engine, data: Data) -> None:
    """One transaction, executemany in large batches (the raw sqlite3 driver: no ORM cost)."""
    raw = engine.raw_connection()
    try:
        con: Any = raw.driver_connection
        cur = con.cursor()
        cur.execute("BEGIN")
        job_sql = (f"INSERT INTO jobs ({', '.join(JOB_COLUMNS)}) "
                   f"VALUES ({', '.join('?' * len(JOB_COLUMNS))})")
        item_sql = (f"INSERT INTO job_items ({', '.join(ITEM_COLUMNS)}) "
                    f"VALUES ({', '.join('?' * len(ITEM_COLUMNS))})")

        def stamp(row: tuple[Any, ...]) -> tuple[Any, ...]:
            # SQLAlchemy's SQLite DateTime format, so the ORM reads these rows back.
            return (*row[:-3], *(d.strftime("%Y-%m-%d %H:%M:%S.%f") for d in row[-3:]))

        for jobs, items in batches(data):
            cur.executemany(job_sql, [stamp(j) for j in jobs])
            cur.executemany(item_sql, items)
        cur.execute("COMMIT")
        cur.close()
    finally:
        raw.close()


def _copy_text(rows: list[tuple[Any, ...]]) -> str:
    # No value here holds a tab, newline or backslash, so COPY's text format needs no escaping.
    return "".join("\t".join(_pg(v) for v in row) + "\n" for row in rows)


def _pg(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, bool):
        return "t" if value else "f"
    return str(value)


def fill_postgresql(engine: Engine, data: Data) -> None:
    """COPY through psycopg, in one transaction."""
    raw = engine.raw_connection()
    try:
        con: Any = raw.driver_connection
        with con.cursor() as cur:
            for jobs, items in batches(data):
                with cur.copy(f"COPY jobs ({', '.join(JOB_COLUMNS)}) FROM STDIN") as copy:
                    copy.write(_copy_text(jobs))
                with cur.copy(f"COPY job_items ({', '.join(ITEM_COLUMNS)}) FROM STDIN") as copy:
                    copy.write(_copy_text(items))
        con.commit()
    finally:
        raw.close()


def fill(engine: Engine, data: Data) -> float:
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(insert(RobotVersion), data.versions())
    (fill_sqlite if engine.dialect.name == "sqlite" else fill_postgresql)(engine, data)
    with engine.begin() as conn:
        conn.execute(insert(KpiDaily), data.kpi_rows())
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    return time.perf_counter() - started


def median_ms(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), result


def measure(engine: Engine, data: Data, repeats: int) -> None:
    sessions = session_factory(engine)
    settings = Settings(data_dir=Path(tempfile.gettempdir()), database_url="sqlite://")
    app = FastAPI()
    app.include_router(router)
    app.state.sessions, app.state.settings = sessions, settings
    with sessions.begin() as s:
        token = create_token(s, Role.VIEWER, "bench")
    client = TestClient(app, headers={"Authorization": f"Bearer {token}"})
    cases: list[tuple[str, dict[str, Any]]] = [
        ("whole range (2 years, all robots)", {}),
        ("whole range by month", {"by": "month"}),
        ("one robot over a quarter", {"start": dt.date(2025, 4, 1), "end": dt.date(2025, 6, 30),
                                      "robots": [data.names[7]]}),
        ("all robots over one month", {"start": dt.date(2025, 3, 1),
                                       "end": dt.date(2025, 3, 31)}),
    ]
    print(f"{'query':34} {'kpi.query()':>12} {'GET /kpi':>10} {'JSON':>8} {'rows':>7}  totals")
    whole: dict[str, Any] = {}
    for label, args in cases:
        def call(args: dict[str, Any] = args) -> dict[str, Any]:
            with sessions() as s:
                return kpi.query(s, settings, **args)

        params = [(k, str(v)) for k, v in args.items() if k != "robots"]
        params += [("robot", r) for r in args.get("robots", [])]

        def http(params: list[tuple[str, str]] = params) -> int:
            got = client.get("/api/v1/kpi", params=params)
            assert got.status_code == 200, got.text
            return len(got.content)  # the answer's time, not the client's JSON parsing

        ms, report = median_ms(call, repeats)
        http_ms, size = median_ms(http, repeats)
        t = report["totals"]
        print(f"{label:34} {ms:9.1f} ms {http_ms:7.1f} ms {size / 1e6:5.2f} MB "
              f"{len(report['rows']):7,}  "
              f"runs {t['runs']:,}, items {t['items_done']:,}, {t['hours_saved']:,.0f} h saved")
        if not args:
            whole = report["totals"]
    assert whole["runs"] == data.jobs, whole
    # What the board would cost without kpi_daily: per-robot item counts straight from the rows.
    started = time.perf_counter()
    with engine.connect() as conn:
        done = conn.execute(text(
            "SELECT j.robot, sum(CASE WHEN i.outcome = 'done' THEN 1 ELSE 0 END), "
            "sum(CASE WHEN i.outcome = 'business_exception' THEN 1 ELSE 0 END) "
            "FROM job_items i JOIN jobs j ON j.id = i.job_id GROUP BY j.robot")).all()
    scan = time.perf_counter() - started
    assert sum(int(r[1]) for r in done) == whole["items_done"], (done, whole["items_done"])
    print(f"for scale: per-robot item counts straight from jobs + job_items took "
          f"{scan * 1000:,.0f} ms (they agree with kpi_daily)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", default="", help="default: a SQLite file in a temp folder")
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--items", type=int, default=10_000_000)
    parser.add_argument("--robots", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    folder = None
    url = args.database
    with contextlib.ExitStack() as stack:
        if not url:
            folder = Path(tempfile.mkdtemp(prefix="workhand-kpi-"))
            url = f"sqlite:///{folder / 'kpi.db'}"
        elif url.startswith(("postgresql", "postgres:")):
            url = stack.enter_context(private_schema(url, "kpi_bench"))
        engine = make_engine(url)
        try:
            migrate(engine)
            data = Data(args.jobs, args.items, args.robots)
            seconds = fill(engine, data)
            print(f"{engine.dialect.name}: {args.jobs:,} jobs, {data.items_made:,} items, "
                  f"{len(data.kpi):,} kpi_daily rows ({args.robots} robots × {DAYS} days) "
                  f"filled in {seconds:,.0f} s")
            if folder is not None:
                size = sum(p.stat().st_size for p in folder.iterdir()) / 1e9
                print(f"database file: {size:.2f} GB")
            measure(engine, data, args.repeats)
        finally:
            engine.dispose()
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)

if __name__ == "__main__":
    main()
