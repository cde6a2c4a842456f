"""Run events: every step's start and end, work items, logs. Declared here once, as TypedDicts.

The runner builds each event through its type (so mypy checks its fields) and gets a plain dict:
nothing is validated on emit, which a run does thousands of times. The orchestrator validates
what workers send against RunEvent (pydantic reads these types), and its OpenAPI shows each.
Fields a later runner adds are kept (extra allowed); the declared ones are required.

Every event is masked before any sink sees it, so no sink can leak a secret.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Annotated, Any, Literal, NotRequired

from pydantic import ConfigDict, Field, with_config
from typing_extensions import TypedDict  # pydantic reads only this one on Python < 3.12

Where = Annotated[str, Field(description="the step's place in its robot file: file:line:col")]


OPTIONAL_FAILED = "optional step failed, continuing: "
"""How the warning for a failed optional step begins (the console shortens it)."""


@with_config(ConfigDict(extra="allow"))  # what a later runner adds is kept, not refused
class Stamped(TypedDict):
    """What every event carries once emitted (Runner.emit adds both)."""
    ts: NotRequired[Annotated[float, Field(description="when, in seconds since 1970 (UTC)")]]
    run: NotRequired[Annotated[str, Field(description="the run's id")]]


class StepError(TypedDict):
    """Why a step failed: kind (business, system, robot_file, ...) and the error's message."""
    kind: str
    message: str


class RunStart(Stamped):
    """The run began: the robot, its title and file, and the job's attempt."""
    type: Literal["run.start"]
    robot: str
    title: str
    file: str
    attempt: int


class RunEnd(Stamped):
    """The run ended: passed or failed, its work items by outcome, duration and error."""
    type: Literal["run.end"]
    status: str
    items: dict[str, int]
    duration_s: float
    error: dict[str, Any] | None
    minutes_saved: float


class StepStart(Stamped):
    """A step began (attempt: its try, 1 for the first)."""
    type: Literal["step.start"]
    step: Where
    name: str
    label: str
    attempt: int


class StepEnd(Stamped):
    """A step ended: passed, failed or business_exception, its duration, error and screenshot."""
    type: Literal["step.end"]
    step: Where
    name: str
    label: str
    outcome: str
    duration_ms: float
    attempt: int
    screenshot: NotRequired[Annotated[str, Field(
        description="relative to the run's output folder, as the run's artifacts are named, "
                    "e.g. screenshots/0001-failed-line12.png")]]
    error: NotRequired[StepError]


class Log(Stamped):
    """A log line of a step (level: info, warning or error)."""
    type: Literal["log"]
    level: str
    step: Where
    message: str


class Retry(Stamped):
    """A try failed with a system error and is retried after next_in_s seconds."""
    type: Literal["retry"]
    attempt: int
    next_in_s: float
    message: str
    step: str


class LoopStart(Stamped):
    """A for_each over a list began: how many items, and whether they are work items."""
    type: Literal["loop.start"]
    step: Where
    total: int
    work_items: bool


class ItemStart(Stamped):
    """A work item began (index: its place in the loop, from 0)."""
    type: Literal["item.start"]
    item: str
    index: int


class ItemEnd(Stamped):
    """A work item ended: done, business_exception or system_error, with its message."""
    type: Literal["item.end"]
    item: str
    index: int
    outcome: str
    message: str
    attempts: int
    duration_ms: float
    step: str
    queue_item: NotRequired[Annotated[int, Field(description="its work-queue item")]]
    interrupted: NotRequired[Annotated[bool, Field(
        description="the robot was stopped during the item: not done, and not reported")]]


class ItemSkipped(Stamped):
    """A work item done in an earlier run, skipped by a retry of the failed items."""
    type: Literal["item.skipped"]
    item: str
    index: int
    outcome: str
    message: str


class CallStart(Stamped):
    """A call of another robot began."""
    type: Literal["call.start"]
    step: Where
    robot: str


class CallEnd(Stamped):
    """A call of another robot ended (passed or not: the error follows in step.end)."""
    type: Literal["call.end"]
    step: Where
    robot: str


class WaitEnd(Stamped):
    """A wait_until ended: met (its condition became true) or not, after how many checks."""
    type: Literal["wait.end"]
    step: Where
    condition: str
    met: bool
    checks: int
    waited_s: float
    screenshot: NotRequired[Annotated[str, Field(
        description="taken when the wait gave up, named as the run's artifacts are")]]


RunEvent = Annotated[RunStart | RunEnd | StepStart | StepEnd | Log | Retry | LoopStart
                     | ItemStart | ItemEnd | ItemSkipped | CallStart | CallEnd | WaitEnd,
                     Field(discriminator="type")]

Sink = Callable[[RunEvent], None]


class JsonlSink:
    """Appends one JSON object per line to OUTPUT/events.jsonl, flushed per event so a crash
    loses nothing that happened before it."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] = path.open("a", encoding="utf-8")

    def __call__(self, event: RunEvent) -> None:
        self._file.write(json.dumps(event, ensure_ascii=False, default=str) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


class Collector:
    """Keeps events in memory (tests, and the worker's upload buffer)."""

    def __init__(self) -> None:
        self.events: list[RunEvent] = []

    def __call__(self, event: RunEvent) -> None:
        self.events.append(event)

    def of_type(self, kind: str) -> list[RunEvent]:
        return [e for e in self.events if e["type"] == kind]


def stamp(event: RunEvent) -> RunEvent:
    if "ts" not in event:
        event["ts"] = round(time.time(), 3)
    return event
