"""What validating run events costs the orchestrator (issue 8: run events typed).

    .venv/bin/python -m bench.event_batch [--events 5000] [--repeats 5]

A batch of 5,000 step events (start and end, as the runner writes them, with the worker's seq;
the largest batch POST /jobs/{id}/events takes), parsed from JSON as FastAPI parses a body, then
validated by the batch model as it was (`events: list[dict[str, Any]]`) and as it is now
(`list[RunEvent]`, each checked for its type's fields and its seq), side by side. Then the
whole request through the real app (create_app in process through TestClient, a SQLite file:
parse, validate, store), and for scale what re-validating the same events on their way out of
GET /jobs/{id}/events would cost (the route serves them as stored). The median of --repeats.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from pydantic import BaseModel, Field, TypeAdapter

from orchestrator import deploy
from orchestrator.api.jobs import EventView
from orchestrator.api.work import EventBatch, Holder
from orchestrator.app import create_app
from orchestrator.auth import create_token
from orchestrator.roles import Role
from orchestrator.settings import Settings


class UntypedBatch(Holder):
    """The batch model before the events were typed."""
    events: list[dict[str, Any]] = Field(max_length=5000)


def step_events(count: int) -> list[dict[str, Any]]:
    events = []
    for n in range(count // 2):
        step = {"step": f"robots/s1.yaml:{10 + n % 400}:5", "name": "browser.fill",
                "label": f"填写 第 {n} 个字段", "attempt": 1, "ts": 1.79e9 + n,
                "run": "3f9c2a1b7d4e"}
        events.append({"type": "step.start", **step, "seq": 2 * n + 1})
        events.append({"type": "step.end", **step, "outcome": "passed", "duration_ms": 21.53,
                       "seq": 2 * n + 2})
    return events


def median_ms(work: Callable[[], Any], repeats: int) -> float:
    work()  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def validation(body: bytes, repeats: int) -> dict[str, float]:
    parsed = json.loads(body)
    models: dict[str, type[BaseModel]] = {"validated as list[dict[str, Any]] (before)":
                                          UntypedBatch,
                                          "validated as list[RunEvent] (now)": EventBatch}
    return {"the body parsed (json.loads)": median_ms(lambda: json.loads(body), repeats),
            **{name: median_ms(lambda m=model: m.model_validate(parsed), repeats)
               for name, model in models.items()}}


def through_the_app(events: list[dict[str, Any]], repeats: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder)
        (data / "bench.yaml").write_text("robot: bench\nsteps:\n  - log: hi\n", encoding="utf-8")
        app = create_app(Settings(data_dir=data / "data",
                                  database_url=f"sqlite:///{data / 'workhand.db'}"),
                         services=False)
        with app.state.sessions.begin() as session:
            deploy.deploy_robot(session, data / "bench.yaml")
            admin = create_token(session, Role.ADMIN)
            worker = create_token(session, Role.WORKER, worker="w1")
        with TestClient(app) as client:
            jobs = []
            for _ in range(repeats + 2):  # a job of its own per POST: nothing is a repeat
                made = client.post("/api/v1/jobs", json={"robot": "bench"},
                                   headers={"Authorization": f"Bearer {admin}"})
                jobs.append(made.json()["id"])
            client.post("/api/v1/lease", json={"worker": "w1", "wait_s": 0, "max_jobs": len(jobs)},
                        headers={"Authorization": f"Bearer {worker}"}).raise_for_status()
            body = {"worker": "w1", "attempt": 1, "events": events}

            posted_to: list[int] = []

            def post() -> None:
                job = jobs.pop()
                posted_to.append(job)
                client.post(f"/api/v1/jobs/{job}/events", json=body,
                            headers={"Authorization": f"Bearer {worker}"}).raise_for_status()

            posted = median_ms(post, repeats)
            read = median_ms(lambda: client.get(
                f"/api/v1/jobs/{posted_to[0]}/events?limit=10000",
                headers={"Authorization": f"Bearer {admin}"}).raise_for_status(), repeats)
            return {f"POST /jobs/{{id}}/events, {len(events):,} events (SQLite)": posted,
                    f"GET /jobs/{{id}}/events, {len(events):,} events (SQLite)": read}


def reading(events: list[dict[str, Any]], repeats: int) -> dict[str, float]:
    rows = [{"id": n, "attempt": 1, "seq": e["seq"], "event": e} for n, e in enumerate(events)]
    views, stored = TypeAdapter(list[EventView]), TypeAdapter(list[dict[str, Any]])
    return {"GET's rows written as stored (pydantic, the route)": median_ms(
                lambda: stored.dump_json(rows), repeats),
            "GET's rows validated again, then written": median_ms(
                lambda: views.dump_json(views.validate_python(rows)), repeats),
            "GET's rows written by json.dumps": median_ms(
                lambda: json.dumps(rows, ensure_ascii=False), repeats)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    events = step_events(args.events)
    body = json.dumps({"worker": "w1", "attempt": 1, "events": events}).encode()
    print(f"{len(events):,} step events, {len(body) / 2**20:.2f} MiB of JSON; "
          f"median of {args.repeats}")
    results = {**validation(body, args.repeats), **through_the_app(events, args.repeats),
               **reading(events, args.repeats)}
    for name, ms in results.items():
        print(f"  {name:<52} {ms:8.1f} ms")


if __name__ == "__main__":
    main()
