"""Shared fixtures: a helper that writes a robot file and checks/runs it."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from libs.checker import check_file
from libs.events import Collector
from libs.run_result import RunResult
from libs.runner import Runner

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def robot_file(tmp_path: Path) -> Callable[[str, str], Path]:
    def write(text: str, name: str = "robot.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
        return path

    return write


@pytest.fixture
def run_robot(tmp_path: Path, robot_file: Callable[[str, str], Path]
              ) -> Callable[..., tuple[RunResult, Collector]]:
    def run(text: str, **kwargs: Any) -> tuple[RunResult, Collector]:
        plan = check_file(robot_file(text, "robot.yaml"))
        events = Collector()
        result = Runner(plan, output_dir=tmp_path / "out", sinks=[events], **kwargs).run()
        return result, events

    return run
