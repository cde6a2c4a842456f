"""What a run leaves behind: its result (result.json), the work items it handled and how each
step fared."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

SKIPPED = "skipped"  # the outcome of an item a retry of the failed items did not run
SKIPPED_MESSAGE = "done in an earlier run; skipped by a retry of failed items"


@dataclass
class ItemRecord:
    id: str
    index: int
    outcome: str = "done"  # done | business_exception | system_error | skipped | in_review
    message: str = ""
    attempts: int = 1
    duration_ms: float = 0.0
    step: str = ""
    queue_item: Any = None  # the work-queue item's id: the orchestrator records its outcome


@dataclass
class StepStats:
    step: str
    name: str
    label: str
    runs: int = 0
    failures: int = 0
    total_ms: float = 0.0
    max_ms: float = 0.0


@dataclass
class RunResult:
    run_id: str
    robot: str
    title: str
    file: str
    status: str = "running"
    started: str = ""
    finished: str = ""
    duration_s: float = 0.0
    error: dict[str, Any] | None = None
    work_items: list[ItemRecord] = field(default_factory=list)
    steps: dict[str, StepStats] = field(default_factory=dict)
    minutes_saved: float = 0.0
    artifacts: list[dict[str, str]] = field(default_factory=list)
    inputs: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)

    @property
    def counts(self) -> dict[str, int]:
        """Items by outcome. `skipped` (items done in an earlier run, left out by a retry of
        the failed items) is there only when some were: the counts of every other run keep
        their shape. Skipped items are in `total`, never in `done`."""
        outcomes = [i.outcome for i in self.work_items]
        counts = {"total": len(outcomes), "done": outcomes.count("done"),
                  "business_exceptions": outcomes.count("business_exception"),
                  "system_errors": outcomes.count("system_error")}
        if skipped := outcomes.count(SKIPPED):
            counts["skipped"] = skipped
        if in_review := outcomes.count("in_review"):  # handed to people (review.request)
            counts["in_review"] = in_review
        return counts

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id, "robot": self.robot, "title": self.title, "file": self.file,
            "status": self.status, "started": self.started, "finished": self.finished,
            "duration_s": self.duration_s, "error": self.error, "items": self.counts,
            "work_items": [asdict(i) for i in self.work_items],
            "steps": [{**asdict(s), "total_ms": round(s.total_ms, 2),
                       "max_ms": round(s.max_ms, 2)} for s in self.steps.values()],
            "minutes_saved": self.minutes_saved, "artifacts": self.artifacts,
            "inputs": self.inputs, "outputs": self.outputs,
        }
