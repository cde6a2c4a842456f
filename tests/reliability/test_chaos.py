"""Chaos on PostgreSQL with real processes: a work queue of 300 items, six jobs of one robot
(max_attempts=1) worked by two workers of two slots each, while the database is restarted and
then the orchestrator is killed -9 and kept down longer than the lease before it comes back on
the same port and database.

What must hold afterwards: every item done; the robots' own side effect — a POST of each item's
reference to a ledger the test serves (tests/reliability/ledger.py) — happened exactly once per
item (none twice, none missing), which is the robots' word, not the orchestrator's; the KPI's
items done equals the items done; every job ended; no 500 anywhere. A summary of what happened
(timeline, duplicates and the attempts behind them, job states, KPI, 409s, reaper) is printed,
and shown by pytest when the test fails.

The PostgreSQL is a private server (tests/reliability/postgres.py): the machine's shared one is
never restarted."""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.reliability.conftest import FINAL, Cluster, epoch, wait_for
from tests.reliability.ledger import Entry, Ledger
from tests.reliability.postgres import PrivatePostgres, private_postgres

ITEMS = 300
JOBS = 6
LEASE = 6.0  # seconds: short, so that "down longer than the lease" is quick
DOWN = LEASE + 5.0  # the orchestrator stays dead this long
QUEUE = "chaos"
# one robot per job, the same steps under another name: the KPI per robot is then the KPI per
# job, which the summary sets beside the items each job has recorded
ROBOT = """robot: chaos-{n}
savings: {minutes_per_item: 1}
steps:
  - for_each: {queue: chaos}
    as: entry
    steps:
      - http.post:
          url: "${env.LEDGER}/worked"
          json: {reference: "${entry.ref}", run: "${run.id}"}
          expect_status: [200]
      - wait: 300ms
"""
# what must appear in no log: a bug, a 500 seen by a worker or a robot
BAD = ("Exception in ASGI application", "Traceback", "internal error", "HTTP 500", "(500:",
       "500 Internal Server Error")


@pytest.fixture(scope="module")
def postgres() -> Iterator[PrivatePostgres]:
    yield from private_postgres()


@pytest.fixture
def pg_db(postgres: PrivatePostgres) -> str:
    if not postgres.running():  # a failed test may have left it down
        postgres.start()
    return postgres.database(f"c_{uuid.uuid4().hex[:10]}")


@dataclass
class Timeline:
    start: float = field(default_factory=time.time)
    marks: list[tuple[str, float, int]] = field(default_factory=list)  # what, when, ledger size

    def mark(self, what: str, ledger: Ledger) -> None:
        self.marks.append((what, time.time(), len(ledger)))

    def rel(self, at: float) -> str:
        return f"{at - self.start:6.2f}s"

    def clock(self, at: float) -> str:
        """As the processes' logs write it (asctime, local time), to line them up."""
        return time.strftime("%H:%M:%S", time.localtime(at)) + f",{int(at % 1 * 1000):03d}"


@dataclass
class Facts:
    """What the orchestrator, the database and the logs say once the dust has settled."""

    jobs: dict[int, dict[str, Any]]
    attempts: list[tuple[int, int, str, str | None, str | None]]
    items: list[dict[str, Any]]
    counts: dict[str, int]
    kpi: dict[str, Any]  # totals
    kpi_robots: dict[str, dict[str, Any]]  # robot → its totals
    job_items: list[tuple[int, str, str, Any]]
    results: dict[str, dict[str, Any]]  # run folder (JOB-ATTEMPT on WORKER) → result.json
    logs: dict[str, str]  # name → text


def test_a_queue_survives_a_database_restart_and_a_killed_orchestrator(
        postgres: PrivatePostgres, pg_db: str, tmp_path: Path) -> None:
    cluster = Cluster(tmp_path, pg_db)
    ledger = Ledger().start()
    timeline = Timeline()
    options = ("--sandbox", "off", "--slots", "2", "--allow-host", "127.0.0.1",
               "--env", f"LEDGER={ledger.url}")
    try:
        server = cluster.serve(lease_seconds=LEASE)
        with cluster.client(server) as http:
            for n in range(1, JOBS + 1):
                cluster.deploy(http, ROBOT.replace("{n}", str(n)))
            assert http.post("/api/v1/queues", json={"name": QUEUE}).status_code == 201
            added = http.post(f"/api/v1/queues/{QUEUE}/items", json={"items": [
                {"reference": ref(n), "payload": {"ref": ref(n)}} for n in range(ITEMS)]})
            assert added.json() == {"added": ITEMS, "skipped": 0}, added.text
            jobs = [cluster.start_job(http, f"chaos-{n}", max_attempts=1)
                    for n in range(1, JOBS + 1)]
        timeline.mark("workers start", ledger)
        cluster.worker(server, "w1", options=options)
        cluster.worker(server, "w2", options=options)

        wait_for("a third of the items worked", lambda: len(ledger) >= ITEMS // 3, 120)
        timeline.mark("PostgreSQL stops", ledger)
        postgres.restart(1.0)
        timeline.mark("PostgreSQL accepts again", ledger)

        after_restart = len(ledger)
        wait_for("more items worked after the restart",
                 lambda: len(ledger) >= max(ITEMS * 55 // 100, after_restart + 40), 120)
        timeline.mark("orchestrator killed -9", ledger)
        server.proc.kill9()
        time.sleep(DOWN)
        timeline.mark("orchestrator starts again", ledger)
        again = cluster.serve(port=server.port, lease_seconds=LEASE)
        timeline.mark("orchestrator answers", ledger)

        with cluster.client(again) as http:
            every_job_ends(cluster, http, jobs, timeout=120)
            timeline.mark("jobs ended (or waited for)", ledger)
            facts = gather(cluster, http, jobs, tmp_path)
    finally:
        cluster.close()
        ledger.stop()

    entries = ledger.snapshot()
    summary = summarise(timeline, entries, ledger.twice(), facts)
    print(summary)
    hit = {what: size for what, _, size in timeline.marks}
    assert hit["PostgreSQL stops"] < ITEMS and hit["orchestrator killed -9"] < ITEMS, (
        "the queue was worked through before the faults: they tested nothing\n" + summary)
    problems = judge(entries, facts)
    assert not problems, "\n".join(["", *problems, summary])


def ref(n: int) -> str:
    return f"item-{n:03d}"


def every_job_ends(cluster: Cluster, http: httpx.Client, jobs: list[int], timeout: float
                   ) -> None:
    """Waits for the jobs to end; a job that does not is judged afterwards, not here, so that
    the summary shows everything else too."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(cluster.job(http, job)["state"] in FINAL for job in jobs):
            return
        time.sleep(0.5)


def gather(cluster: Cluster, http: httpx.Client, jobs: list[int], root: Path) -> Facts:
    items = http.get(f"/api/v1/queues/{QUEUE}/items", params={"limit": 1000})
    assert items.status_code == 200, items.text
    kpi = http.get("/api/v1/kpi").json()
    logs = {path.name: path.read_text(errors="replace") for path in sorted(root.glob("logs/*"))}
    results = {}
    for run in sorted(root.glob("work/*/runs/[0-9]*")):
        where = f"{run.name} on {run.parents[1].name}"
        if (run / "child.log").is_file():
            logs[f"robot {where}"] = (run / "child.log").read_text(errors="replace")
        with contextlib.suppress(OSError, ValueError):
            results[where] = json.loads((run / "result.json").read_text())
    return Facts(
        jobs={job: cluster.job(http, job) for job in jobs},
        attempts=[(int(r[0]), int(r[1]), str(r[2]), r[3], r[4]) for r in cluster.rows(
            "SELECT job_id, number, worker, outcome, error FROM attempts "
            "ORDER BY job_id, number")],
        items=list(items.json()),
        counts=dict(http.get(f"/api/v1/queues/{QUEUE}").json()["counts"]),
        kpi=dict(kpi["totals"]), kpi_robots={r["robot"]: r for r in kpi["robots"]},
        job_items=[(int(r[0]), str(r[1]), str(r[2]), r[3]) for r in cluster.rows(
            "SELECT job_id, reference, outcome, worked_by FROM job_items ORDER BY reference")],
        results=results, logs=logs)


def judge(entries: list[Entry], facts: Facts) -> list[str]:
    """Every rule the test defends, each broken one as a sentence."""
    problems = []
    done = sum(1 for i in facts.items if i["state"] == "done")
    if done != ITEMS or facts.counts.get("done") != ITEMS:
        problems.append(f"items done: {done} listed, counts {facts.counts}; expected {ITEMS}")
    posted = Counter(e.reference for e in entries)
    missing = sorted({ref(n) for n in range(ITEMS)} - set(posted))
    twice = sorted(r for r, n in posted.items() if n > 1)
    if missing:
        problems.append(f"{len(missing)} item(s) never worked (not in the ledger): {missing}")
    if twice:
        problems.append(f"{len(twice)} item(s) worked more than once (the ledger): {twice}")
    if facts.kpi.get("items_done") != done:
        problems.append(f"KPI items_done {facts.kpi.get('items_done')} != items done {done}")
    unfinished = {j: d["state"] for j, d in facts.jobs.items() if d["state"] not in FINAL}
    if unfinished:
        problems.append(f"jobs that did not end: {unfinished}")
    for name, text in facts.logs.items():
        for bad in BAD:
            if bad in text:
                at = text.index(bad)
                problems.append(f"{bad!r} in {name}: ...{text[max(0, at - 400):at + 400]}...")
    return problems


def summarise(timeline: Timeline, entries: list[Entry], twice: dict[str, list[Entry]],
              facts: Facts) -> str:
    lines = ["", "== chaos summary =="]
    lines.append("timeline (since the workers started; clock as in the logs; ledger size):")
    for what, at, size in timeline.marks:
        lines.append(f"  {timeline.rel(at)}  {timeline.clock(at)}  {size:4d}  {what}")
    if entries:
        lines.append(f"  last ledger entry at {timeline.rel(entries[-1].at)}")
    lines.append(f"ledger: {len(entries)} posts, {len({e.reference for e in entries})} distinct "
                 f"references, {len(twice)} posted more than once")
    items = {i["reference"]: i for i in facts.items}
    for reference, seen in twice.items():
        item = items.get(reference, {})
        posts = ", ".join(f"run {e.run} at {timeline.rel(e.at)} ({timeline.clock(e.at)})"
                          for e in seen)
        lines.append(f"  {reference}: {posts}; item {item.get('id')} {item.get('state')}, "
                     f"attempts {item.get('attempts')}, worked_by {item.get('worked_by')}, "
                     f"message {item.get('message')!r}")
    states = Counter(d["state"] for d in facts.jobs.values())
    lines.append(f"jobs: {dict(states)}")
    recorded = Counter(r[0] for r in facts.job_items if r[2] == "done")
    for job, data in facts.jobs.items():
        error = (data.get("error") or {}).get("message", "") if isinstance(
            data.get("error"), dict) else data.get("error") or ""
        done = sum(1 for i in data.get("items") or [] if i.get("outcome") == "done")
        counted = facts.kpi_robots.get(str(data.get("robot")), {}).get("items_done")
        differs = " (differs)" if counted != recorded[job] else ""
        lines.append(f"  job {job}: {data['state']}, attempt {data.get('attempt')}, worker "
                     f"{data.get('worker')}, {done} item(s) done as shown, {recorded[job]} "
                     f"in job_items, {counted} in the KPI{differs}"
                     f"; {str(error)[:200]}")
        if differs and data.get("finished"):  # the items last reported for it, by time
            finished = epoch(data["finished"])
            last = sorted((epoch(i["updated"]), i["reference"]) for i in facts.items
                          if i.get("job_id") == job and i["state"] == "done")[-3:]
            lines.append(f"    it finished at {timeline.rel(finished)}; its last items "
                         "recorded: " + ", ".join(f"{r} at {timeline.rel(t)}" for t, r in last))
    lines.append("the robots' results (their own word):")
    for where, result in facts.results.items():
        said = result.get("error") or {}
        lines.append(f"  run {where}: {result.get('status')}, "
                     f"{(result.get('items') or {}).get('done')} item(s) done; "
                     f"{str(said.get('message', '') if isinstance(said, dict) else said)[:200]}")
    lines.append("attempts (job, number, worker, outcome, error):")
    lines.extend(f"  {a[0]} #{a[1]} {a[2]} {a[3]} {str(a[4] or '')[:160]}"
                 for a in facts.attempts)
    reworked = [r for r in facts.job_items if r[3] and len(r[3]) > 1]
    lines.append(f"job_items: {len(facts.job_items)} rows, {sum(recorded.values())} done, "
                 f"{len(reworked)} with more than one attempt")
    lines.append(f"queue counts: {facts.counts}")
    lines.append("KPI totals: " + ", ".join(f"{k} {facts.kpi.get(k)}" for k in (
        "runs", "successes", "failures", "items_done", "system_errors")))
    multi = [i for i in facts.items if len(i.get("worked_by") or []) > 1]
    lines.append(f"queue items leased more than once (worked_by): {len(multi)}")
    lines.extend(f"  {i['reference']}: {i['state']}, worked_by {i['worked_by']}, "
                 f"{i['message']!r}" for i in multi[:20])
    lines.extend(grace(timeline, facts.logs))
    lines.append("what the logs say:")
    lines.extend(notable(facts.logs))
    return "\n".join(lines)


def logged_at(line: str) -> float | None:
    """The time of a log line that starts with asctime (local time, as serve and worker log)."""
    try:
        stamp, millis = line[:23].split(",")
        return time.mktime(time.strptime(stamp, "%Y-%m-%d %H:%M:%S")) + int(millis) / 1000
    except ValueError:
        return None


def grace(timeline: Timeline, logs: dict[str, str]) -> list[str]:
    """When the restarted orchestrator's grace for running jobs (one lease period, from
    services/reaper.py) ended, and when each worker was heard from again after the kill: a
    worker back after the grace finds its jobs reaped, and their unreported items re-worked."""
    killed = next((at for what, at, _ in timeline.marks if "killed" in what), None)
    lines = []
    for name, text in logs.items():
        for line in text.splitlines():
            at = logged_at(line)
            if at is None or killed is None or at < killed:
                continue
            if "lease period for their workers" in line:
                lines.append(f"  {timeline.rel(at)}  {name}: running jobs extended; the grace "
                             f"ends at {timeline.rel(at + LEASE)}")
            elif "answers again" in line or "lost their worker" in line:
                lines.append(f"  {timeline.rel(at)}  {name}: {line[24:160]}")
    return ["after the kill:", *sorted(lines)] if lines else []


RETRYING = "trying again in"  # a robot's queue client waiting out an outage: counted, not shown
NOTABLE = ("no longer this job's", "no longer holds", "dropped", "refused", "expired",
           "lost their worker", "lease period", "not answering", "answers again",
           "did not answer", "could not be renewed", "ended unexpectedly", "failed")


def notable(logs: dict[str, str], limit: int = 60) -> list[str]:
    """The lines about leases, 409s, outages and the reaper, per log (the first `limit`)."""
    found = []
    for name, text in logs.items():
        lines = text.splitlines()
        retries = sum(RETRYING in line for line in lines)
        hits = [line for line in lines
                if RETRYING not in line and any(n in line for n in NOTABLE)]
        if hits or retries:
            found.append(f"  -- {name}: {len(hits)} line(s)"
                         + (f", {retries} queue call(s) retried" if retries else ""))
            found.extend(f"     {line[:300]}" for line in hits[:limit])
    return found
