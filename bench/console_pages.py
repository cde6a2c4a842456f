"""Console pages' server time with 1,000,000 runs in the database (issue 8).

    .venv/bin/python bench/console_pages.py                      # SQLite file in a temp folder
    .venv/bin/python bench/console_pages.py --database postgresql://postgres@127.0.0.1:5432/test

Fills a freshly migrated database (PostgreSQL: a private schema, dropped afterwards) with
1,000,000 runs of 50 robots over two years and their work items (bench/kpi_query.py's data),
one run with a 400-event timeline, and the KPI rows; then asks the real app (create_app, a
signed-in admin, in-process through TestClient: the server's time, no network) for the runs
page (first page, a filtered one, a page deep in the keyset), a run's detail, the KPI board
(30 days by day; two years by month), Today and the robots catalogue: the median of --repeats.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert

from bench.kpi_query import Data, fill
from orchestrator import people
from orchestrator.app import create_app
from orchestrator.db import make_engine, migrate, private_schema
from orchestrator.models import JobEvent, Robot
from orchestrator.roles import Role
from orchestrator.settings import Settings
from orchestrator.web_sessions import COOKIE, open_session

TIMELINE_JOB = 77_777  # within the smallest --jobs worth running


def add_timeline(engine: Engine, data: Data) -> None:
    """One run's 200 steps (start and end events), as a long robot leaves them."""
    rows = []
    for n in range(200):
        step = f"robot.yaml:{10 + n}:5"
        rows.append({"job_id": TIMELINE_JOB, "attempt": 1, "seq": 2 * n, "event": {
            "type": "step.start", "step": step, "name": "browser.fill", "label": f"第 {n} 步",
            "attempt": 1, "ts": 1.7e9 + n}})
        rows.append({"job_id": TIMELINE_JOB, "attempt": 1, "seq": 2 * n + 1, "event": {
            "type": "step.end", "step": step, "name": "browser.fill", "label": f"第 {n} 步",
            "outcome": "passed", "duration_ms": 12.5, "attempt": 1, "ts": 1.7e9 + n + 0.5}})
    with engine.begin() as conn:
        conn.execute(insert(JobEvent), rows)
        conn.execute(insert(Robot), [{"name": v["robot"], "current": v["digest"]}
                                     for v in data.versions()])


def median_ms(client: TestClient, path: str, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        answer = client.get(path)
        times.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])
    return statistics.median(times)


def measure(url: str, data: Data, folder: Path, repeats: int) -> None:
    app = create_app(Settings(data_dir=folder, database_url=url), services=False)
    with app.state.sessions.begin() as session:
        user, _ = people.create_user(session, "bench", Role.ADMIN, "measuring pages")
        cookie = open_session(session, app.state.settings, user, "bench")
    client = TestClient(app, cookies={COOKIE: cookie})
    robot = data.names[7]
    cases = [
        ("runs, first page", "/console/runs"),
        ("runs, one robot's failures", f"/console/runs?robot={robot}&state=failed"),
        ("runs, a page deep in the list", "/console/runs?before=12345"),
        ("runs, one month", "/console/runs?since=2025-03-01&until=2025-03-31"),
        ("a run's detail (400 events)", f"/console/runs/{TIMELINE_JOB}"),
        ("KPI board, 30 days by day", "/console/kpi?start=2025-12-02&end=2025-12-31"),
        ("KPI board, 2 years by month", "/console/kpi?start=2024-01-01&end=2025-12-31&by=month"),
        ("today", "/console/"),
        ("robots", "/console/robots"),
    ]
    for label, path in cases:
        client.get(path)  # warm: templates compiled, caches filled
        print(f"{label:34} {median_ms(client, path, repeats):8.1f} ms   {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", default="", help="default: a SQLite file in a temp folder")
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--items", type=int, default=2_000_000)
    parser.add_argument("--robots", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="workhand-console-"))
    url = args.database or f"sqlite:///{folder / 'console.db'}"
    with contextlib.ExitStack() as stack:
        if url.startswith(("postgresql", "postgres:")):
            url = stack.enter_context(private_schema(url, "console_bench"))
        engine = make_engine(url)
        migrate(engine)
        data = Data(args.jobs, args.items, args.robots)
        took = fill(engine, data)
        add_timeline(engine, data)
        engine.dispose()
        print(f"{engine.dialect.name}: {args.jobs:,} runs, {data.items_made:,} items, filled in "
              f"{took:.0f} s; median of {args.repeats}, server time (in process)")
        measure(url, data, folder, args.repeats)


if __name__ == "__main__":
    main()
