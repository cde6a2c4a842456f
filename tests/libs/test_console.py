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
