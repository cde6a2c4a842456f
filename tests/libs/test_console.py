"""The terminal's live lines (libs/console.py), recorded with a rich Console that is no tty."""

from __future__ import annotations

import io

from rich.console import Console

from libs import events
from libs.console import ConsoleReporter


def test_a_failed_step_names_itself_once() -> None:
    out = io.StringIO()
    with ConsoleReporter(Console(file=out, width=400)) as reporter:
        reporter(events.StepEnd(
            type="step.end", step="e4.yaml:6:5", name="browser.read_text", label="",
            attempt=1, outcome="failed", duration_ms=3.0,
            error={"kind": "robot_file", "message": "browser.read_text: 'p' matches 2 elements"}))
    assert out.getvalue().strip() == "✗ e4.yaml:6:5 browser.read_text: 'p' matches 2 elements"


def test_a_failed_optional_step_is_told_once() -> None:
    out = io.StringIO()
    with ConsoleReporter(Console(file=out, width=400)) as reporter:
        reporter(events.StepEnd(
            type="step.end", step="r.yaml:4:5", name="browser.click", label="", attempt=1,
            outcome="failed", duration_ms=3.0,
            error={"kind": "robot_file", "message": "browser.click: 'p' matches 2 elements"}))
        reporter(events.Log(type="log", level="warning", step="r.yaml:4:5",
                            message=f"{events.OPTIONAL_FAILED}r.yaml:4:5: browser.click: 'p' "
                                    "matches 2 elements"))
    assert out.getvalue().strip().splitlines() == [
        "✗ r.yaml:4:5 browser.click: 'p' matches 2 elements",
        "› optional step: the robot goes on"]
