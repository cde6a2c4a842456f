"""A small robot that makes the runner write every type of event it has (libs/events.py): a
log, a call (whose robot waits until a condition holds), a work-item loop with a done, a
business exception and a skipped item, a work queue, a retried step and a failing step with its
screenshot. Used by the events tests of libs and of the orchestrator."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Annotated, Any

from libs.checker import check_file
from libs.context import StepContext
from libs.errors import SystemFailure
from libs.queues import QueueItem
from libs.registry import REGISTRY, step
from libs.runner import Runner

ROBOT = """
    robot: every-event
    title: Every event the runner writes
    steps:
      - log: "starting ${run.id}"
      - call: child
      - for_each: [A-1, A-2, A-3]
        as: ref
        work_item: "${ref}"
        steps:
          - if: "${ref == 'A-3'}"
            then: [fail_item: "account ${ref} is frozen"]
          - log: "handled ${ref}"
      - for_each: {queue: inbox}
        as: letter
        steps: [log: "filed ${letter}"]
      - fake.page: {key: flaky, fail_times: 1}
        retry: {attempts: 2}
      - fake.page: {key: broken, fail_times: 9, label: 查询账户}
    """
CHILD = """
    robot: child
    steps:
      - log: in the child
      - set: {checks: 0}
      - wait_until: "${checks >= 2}"
        read: [set: {checks: "${checks + 1}"}]
        every: 50ms
    """


class FakePage:
    """A page that can be captured: its screenshot is a few bytes of PNG."""

    def capture(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"\x89PNG fake")
        return path


class Inbox:
    """A work queue of two letters."""

    def __init__(self) -> None:
        self.items = [QueueItem("L-1", "letter one", handle=101),
                      QueueItem("L-2", "letter two", handle=102)]
        self.reports: list[tuple[str, str]] = []

    def lease(self, queue: str) -> QueueItem | None:
        return self.items.pop(0) if self.items else None

    def report(self, queue: str, item: QueueItem, outcome: str, message: str) -> None:
        self.reports.append((item.reference, outcome))


def run_every_event(folder: Path) -> Path:
    """Runs the robot in `folder`; returns its output folder (events.jsonl, screenshots/)."""
    calls: dict[str, int] = {}

    @step("fake.page")
    def page(ctx: StepContext, key: Annotated[str, "counter"],
             fail_times: Annotated[int, "fail this often first"] = 0) -> None:
        """Opens a fake page, then fails `fail_times` times per key."""
        ctx.resources.get("page", FakePage)
        calls[key] = calls.get(key, 0) + 1
        if calls[key] <= fail_times:
            raise SystemFailure(f"the page {key} did not load (call {calls[key]})")

    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in (("robot.yaml", ROBOT), ("child.yaml", CHILD)):
            (folder / name).write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
        out = folder / "out"
        Runner(check_file(folder / "robot.yaml"), output_dir=out, queues=Inbox(),
               skip_items=frozenset({"A-1"})).run()
        return out
    finally:
        REGISTRY.pop("fake.page")


def lines(out: Path) -> list[dict[str, Any]]:
    """Every line of the run's events.jsonl."""
    text = (out / "events.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]
