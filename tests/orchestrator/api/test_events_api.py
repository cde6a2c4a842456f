"""Run events through HTTP: a batch is validated against the run event types (libs/events.py),
so every event the runner writes is stored and a malformed one is a 422 naming the event and
its field; GET serves each as its row (id, attempt, seq) and the event, and the OpenAPI
document shows each event type."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import TypeAdapter
from sqlalchemy import select

from orchestrator import runs
from orchestrator.api.jobs import EventView
from orchestrator.models import JobEvent
from orchestrator.roles import Role
from orchestrator.worker_files import EventTail, artifacts
from tests.libs.every_event import run_every_event
from tests.orchestrator.api.clients import auth, robot_served

ROBOT = "robot: events-check\nsteps:\n  - log: hi\n"
STEP = {"type": "step.start", "step": "events-check.yaml:3:5", "name": "log", "label": "",
        "attempt": 1}


@pytest.fixture
def client(tmp_path: Path, db_url: str) -> Iterator[TestClient]:
    with robot_served(tmp_path, db_url, "events-check", ROBOT) as served:
        yield served


def leased(client: TestClient) -> int:
    created = client.post("/api/v1/jobs", json={"robot": "events-check"},
                          headers=auth(client, Role.OPERATOR))
    assert created.status_code == 201, created.text
    answer = client.post("/api/v1/lease", json={"worker": "w1", "wait_s": 0},
                         headers=auth(client, Role.WORKER))
    assert answer.status_code == 200, answer.text
    return int(answer.json()["jobs"][0]["id"])


def send(client: TestClient, job_id: int, events: list[dict[str, Any]]) -> Any:
    return client.post(f"/api/v1/jobs/{job_id}/events", headers=auth(client, Role.WORKER),
                       json={"worker": "w1", "attempt": 1, "events": events})


def stored(client: TestClient, job_id: int) -> list[JobEvent]:
    with client.app.state.sessions() as session:  # type: ignore[attr-defined]
        return list(session.scalars(select(JobEvent).where(JobEvent.job_id == job_id)
                                    .order_by(JobEvent.seq)))


def test_every_event_the_runner_writes_is_stored_and_served_typed(client: TestClient,
                                                                   tmp_path: Path) -> None:
    """The runner's own events.jsonl, read and sent as the worker does (EventTail adds seq),
    then read back: each row's id, attempt and seq, and the event as the runner wrote it."""
    out = run_every_event(tmp_path / "robot")
    job_id = leased(client)
    events, _, _ = EventTail(out / "events.jsonl").batch()
    assert len({e["type"] for e in events}) == 13  # every event type (tests/libs/every_event)
    answer = send(client, job_id, events)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"stored": len(events)}
    rows = stored(client, job_id)
    assert [r.seq for r in rows] == [e["seq"] for e in events]
    written = [{k: v for k, v in e.items() if k != "seq"} for e in events]
    assert [r.event for r in rows] == written
    served = client.get(f"/api/v1/jobs/{job_id}/events", headers=auth(client, Role.VIEWER))
    assert served.status_code == 200
    views = TypeAdapter(list[EventView]).validate_json(served.content, strict=True)
    assert [v.event for v in views] == written
    assert [(v.attempt, v.seq) for v in views] == [(1, e["seq"]) for e in events]
    assert [v.id for v in views] == [r.id for r in rows]
    page = client.get(f"/api/v1/jobs/{job_id}/events?after={views[9].id}&limit=5",
                      headers=auth(client, Role.VIEWER)).json()
    assert [row["seq"] for row in page] == [11, 12, 13, 14, 15]


def test_the_timelines_screenshots_are_the_runs_artifacts(client: TestClient,
                                                          tmp_path: Path) -> None:
    """A failed step's screenshot, as step.end names it, is an artifact of the run by that very
    name (the worker uploads the run folder by its relative paths): the timeline finds it."""
    out = run_every_event(tmp_path / "robot")
    job_id = leased(client)
    events, _, _ = EventTail(out / "events.jsonl").batch()
    assert send(client, job_id, events).status_code == 200
    result = json.loads((out / "result.json").read_text(encoding="utf-8"))
    for name, path in artifacts(out, result).items():  # as the worker uploads them
        put = client.put(f"/api/v1/jobs/{job_id}/artifacts/{name}?worker=w1&attempt=1",
                         content=path.read_bytes(), headers=auth(client, Role.WORKER))
        assert put.status_code == 201, put.text
    shots = [e["screenshot"] for e in events if e["type"] == "step.end" and "screenshot" in e]
    assert shots == ["screenshots/0001-failed-line16.png", "screenshots/0002-failed-line18.png"]
    listed = client.get(f"/api/v1/jobs/{job_id}/artifacts",
                        headers=auth(client, Role.VIEWER)).json()
    names = {a["id"]: a["name"] for a in listed}
    assert set(shots) <= set(names.values())
    assert result["error"]["screenshot"] == shots[-1]  # the run's error names it the same way
    with client.app.state.sessions() as session:  # type: ignore[attr-defined]
        timeline = runs.detail(session, job_id).steps
    failed = [s for s in timeline if s["outcome"] == "failed"]
    assert [names[s["screenshot"]] for s in failed] == shots
    assert all(s["screenshot"] is None for s in timeline if s["outcome"] != "failed")


def test_fields_a_later_runner_adds_are_kept(client: TestClient) -> None:
    job_id = leased(client)
    later = {**STEP, "seq": 1, "ts": 1.5, "run": "r1", "window": {"title": "核心系统"}}
    assert send(client, job_id, [later]).status_code == 200
    [row] = stored(client, job_id)
    assert row.event["window"] == {"title": "核心系统"}


@pytest.mark.parametrize(("event", "sentence"), [
    ({k: v for k, v in STEP.items() if k != "label"},
     "events[1] (step.start, seq 2): field 'label' is required"),
    ({**STEP, "type": "step.end", "outcome": "passed", "duration_ms": "slow"},
     "events[1] (step.end, seq 2): field 'duration_ms': Input should be a valid number, "
     "unable to parse string as a number"),
    ({**STEP, "type": "step.end", "outcome": "failed", "duration_ms": 1.0,
      "error": {"kind": "system"}},
     "events[1] (step.end, seq 2): field 'error.message' is required"),
    ({**STEP, "type": "step.finished"},
     "events[1] (step.finished, seq 2): 'step.finished' is not an event type (known: "
     "'run.start', 'run.end', 'step.start', 'step.end', 'log', 'retry', 'loop.start', "
     "'item.start', 'item.end', 'item.skipped', 'call.start', 'call.end', 'wait.end')"),
    ({k: v for k, v in STEP.items() if k != "type"},
     "events[1]: it has no 'type' (run.start, step.end, ...)"),
])
def test_a_malformed_event_is_a_422_naming_the_event_and_field(
        client: TestClient, event: dict[str, Any], sentence: str) -> None:
    job_id = leased(client)
    answer = send(client, job_id, [{**STEP, "seq": 1}, {**event, "seq": 2}])
    assert answer.status_code == 422
    assert answer.json()["detail"] == sentence
    assert stored(client, job_id) == []  # the batch is refused whole


def test_an_event_without_its_line_number_is_a_422(client: TestClient) -> None:
    job_id = leased(client)
    answer = send(client, job_id, [{**STEP}])
    assert answer.status_code == 422
    assert answer.json()["detail"] == (
        "events[0] (step.start): seq must be the event's line number in events.jsonl, from 1")


def test_a_batch_of_bad_events_names_the_first_problems(client: TestClient) -> None:
    job_id = leased(client)
    answer = send(client, job_id, [{"seq": n, "type": "log"} for n in range(1, 101)])
    assert answer.status_code == 422
    problems = answer.json()["detail"].split("; ")
    assert len(problems) == 21 and problems[-1] == "and 280 more problems"


def test_openapi_shows_each_event_type(client: TestClient) -> None:
    schema = client.app.openapi()  # type: ignore[attr-defined]
    types = schema["components"]["schemas"]
    step_end = types["StepEnd"]
    assert step_end["description"].startswith("A step ended")
    assert set(step_end["required"]) == {"type", "step", "name", "label", "outcome",
                                         "duration_ms", "attempt"}
    assert step_end["additionalProperties"] is True
    assert "relative to the run's output folder" in (
        step_end["properties"]["screenshot"]["description"])
    every = {"run.start", "run.end", "step.start", "step.end", "log", "retry", "loop.start",
             "item.start", "item.end", "item.skipped", "call.start", "call.end", "wait.end"}
    batch = types["EventBatch"]["properties"]["events"]["items"]
    assert set(batch["discriminator"]["mapping"]) == every
    served = schema["paths"]["/api/v1/jobs/{job_id}/events"]["get"]["responses"]["200"]
    assert served["content"]["application/json"]["schema"]["items"] == {
        "$ref": "#/components/schemas/EventView"}
    view = types["EventView"]
    assert set(view["required"]) == {"id", "attempt", "seq", "event"}
    assert set(view["properties"]["event"]["discriminator"]["mapping"]) == every
