"""One lease with a long backlog: is the next job read along ix_jobs_ready, or is the backlog
sorted for every lease? (issue 3, dispatch at scale)

    .venv/bin/python bench/lease_backlog.py                       # SQLite file
    .venv/bin/python bench/lease_backlog.py --database postgresql://postgres@127.0.0.1:5432/test
    .venv/bin/python bench/lease_backlog.py --database ... --analyze   # as after autovacuum

N jobs are queued (priorities 0-2), then `dispatch.lease` takes one job per transaction, 20
times; the median is printed. PostgreSQL plans from table statistics, which autovacuum
gathers within about a minute of a bulk insert: --analyze measures that steady state.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import insert

from orchestrator import deploy, dispatch
from orchestrator.db import make_engine, migrate, private_schema, session_factory
from orchestrator.models import Job
from orchestrator.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", default="", help="default: a SQLite file")
    parser.add_argument("--jobs", type=int, default=50_000)
    parser.add_argument("--analyze", action="store_true", help="ANALYZE after the insert")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        data = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        url = (stack.enter_context(private_schema(args.database, "backlog")) if args.database
               else f"sqlite:///{data / 'workhand.db'}")
        engine = make_engine(url)
        migrate(engine)
        sessions = session_factory(engine)
        settings = Settings(data_dir=data, database_url=url)
        (data / "noop.yaml").write_text("robot: noop\nsteps:\n  - log: x\n", encoding="utf-8")
        with sessions.begin() as session:
            digest = deploy.deploy_robot(session, data / "noop.yaml").digest
            session.execute(insert(Job), [
                {"robot": "noop", "version": digest, "inputs": {}, "labels": [],
                 "state": "queued", "priority": n % 3} for n in range(args.jobs)])
        if args.analyze:
            with engine.begin() as conn:
                conn.exec_driver_sql("ANALYZE")
        took = []
        for _ in range(20):
            t0 = time.perf_counter()
            with sessions.begin() as session:
                assert dispatch.lease(session, worker="bench", labels=[], settings=settings)
            took.append(time.perf_counter() - t0)
        engine.dispose()
    print(f"{engine.dialect.name}, {args.jobs:,} queued{', analysed' if args.analyze else ''}: "
          f"lease median {statistics.median(took) * 1000:.2f} ms "
          f"(min {min(took) * 1000:.2f}, max {max(took) * 1000:.2f})")


if __name__ == "__main__":
    main()
