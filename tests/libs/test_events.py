"""Run events: what the runner writes to events.jsonl is, line by line, one of the types
declared in libs/events.py, with every declared field and exactly its declared type."""

from __future__ import annotations

from pathlib import Path
from typing import Any, get_args, get_type_hints

import pytest
from pydantic import TypeAdapter, ValidationError

from libs.events import RunEvent
from tests.libs.every_event import lines, run_every_event

EVENT = TypeAdapter(RunEvent)
TYPES = {get_type_hints(kind)["type"].__args__[0]: kind for kind in get_args(get_args(RunEvent)[0])}


def test_every_event_the_runner_writes_is_a_declared_type(tmp_path: Path) -> None:
    out = run_every_event(tmp_path)
    written = lines(out)
    for n, event in enumerate(written, 1):
        try:
            # strict: no coercion, so what the runner writes has the declared types exactly
            EVENT.validate_python(event, strict=True)
        except ValidationError as err:
            raise AssertionError(f"events.jsonl line {n} ({event.get('type')}): {err}") from None
        declared = get_type_hints(TYPES[event["type"]])
        assert set(event) <= set(declared), f"line {n} has undeclared fields"
        assert event["run"] and event["ts"] > 0
    assert {e["type"] for e in written} == set(TYPES)  # every type is written by this robot
    by_type: dict[str, list[dict[str, Any]]] = {}
    for event in written:
        by_type.setdefault(event["type"], []).append(event)
    assert [e["item"] for e in by_type["item.skipped"]] == ["A-1"]
    assert [e.get("queue_item") for e in by_type["item.end"]] == [None, None, 101, 102]
    assert [e["attempt"] for e in by_type["retry"]] == [1]
    failed = [e for e in by_type["step.end"] if e["outcome"] == "failed"]
    assert len(failed) == 2 and all(e["error"]["kind"] == "system" for e in failed)
    for event in failed:  # named as the run's artifacts are: relative to the output folder
        assert event["screenshot"].startswith("screenshots/")
        assert (out / event["screenshot"]).read_bytes().startswith(b"\x89PNG")
    run_end = by_type["run.end"][0]
    assert run_end["status"] == "failed"
    assert run_end["error"]["screenshot"] == failed[-1]["screenshot"]


def test_extra_fields_are_kept_and_declared_ones_required() -> None:
    later = {"type": "log", "level": "info", "step": "r.yaml:3:5", "message": "hi",
             "ts": 1.0, "run": "r1", "added_later": {"by": "a newer runner"}}
    assert EVENT.validate_python(later) == later
    with pytest.raises(ValidationError) as caught:
        EVENT.validate_python({"type": "log", "level": "info", "message": "hi"})
    assert [e["loc"] for e in caught.value.errors()] == [("log", "step")]
    with pytest.raises(ValidationError):
        EVENT.validate_python({"type": "step.finished", "step": "r.yaml:3:5"})
