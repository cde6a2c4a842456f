"""Acceptance: the example robots run for real (`workhand run`, real Chromium) against the demo
bank systems, and the tests check what the systems recorded, not only what the robot says."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from workhand.demo import DemoSystems, start

ROOT = Path(__file__).resolve().parents[2]
WORKHAND = Path(sys.executable).with_name("workhand")


@dataclass
class Run:
    code: int
    output: Path
    log: str
    result: dict[str, Any]

    def outcomes(self) -> dict[str, str]:
        return {w["id"]: w["outcome"] for w in self.result["work_items"]}


@pytest.fixture(scope="session")
def demo_systems() -> Iterator[DemoSystems]:
    with start() as demo:
        yield demo


@pytest.fixture
def demo(demo_systems: DemoSystems) -> DemoSystems:
    demo_systems.reset()
    return demo_systems


@pytest.fixture
def run_robot(demo: DemoSystems, tmp_path: Path) -> Callable[..., Run]:
    """Run robots/<name> with the demo's URLs and credentials; returns its result.json."""

    def run(name: str, *inputs: str) -> Run:
        out = tmp_path / name.removesuffix(".yaml")
        args = [str(WORKHAND), "run", f"robots/{name}", "--credentials",
                "robots/credentials/demo.yaml", "--output", str(out)]
        for pair in inputs:
            args += ["--input", pair]
        proc = subprocess.run(args, cwd=ROOT, env={**os.environ, **demo.env()},
                              capture_output=True, text=True, timeout=300)
        log = proc.stdout + proc.stderr
        result_file = out / "result.json"
        assert result_file.exists(), f"no result.json; the run printed:\n{log}"
        return Run(proc.returncode, out, log, json.loads(result_file.read_text("utf-8")))

    return run
