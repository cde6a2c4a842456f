"""The runner's own cost per step, on a fake step that does nothing.

    .venv/bin/python bench/runner_overhead.py [--steps 2000] [--repeats 7]

Per step, a robot step costs: expression rendering, argument validation, a StepContext, two
events (masked, written to events.jsonl) and timing. The fake step itself does nothing, so the
time per step is the runner's overhead; a direct Python call of the same function is shown for
scale.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Annotated

from libs.checker import check_file
from libs.context import StepContext
from libs.registry import REGISTRY, step
from libs.runner import Runner


@step("bench.noop", main="value")
def noop(ctx: StepContext, value: Annotated[str, "ignored"]) -> None:
    """Does nothing (benchmark only)."""


def robot_text(steps: int) -> str:
    lines = ["robot: overhead", "credentials: [bank]", "steps:", "  - set: {n: 1}"]
    lines += [f'  - bench.noop: "field ${{n}} #{i}"' for i in range(steps)]
    return "\n".join(lines) + "\n"


def measure(steps: int, folder: Path) -> float:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "overhead.yaml"
    path.write_text(robot_text(steps), encoding="utf-8")
    plan = check_file(path)
    runner = Runner(plan, output_dir=folder / "out", credentials={"bank": {"password": "s3cret!"}})
    started = time.perf_counter()
    result = runner.run()
    elapsed = time.perf_counter() - started
    assert result.status == "passed", result.error
    return elapsed / steps * 1e6


def direct(steps: int) -> float:
    spec = REGISTRY["bench.noop"]
    started = time.perf_counter()
    for i in range(steps):
        spec.func(None, f"field 1 #{i}")
    return (time.perf_counter() - started) / steps * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        runs = [measure(args.steps, Path(tmp) / str(i)) for i in range(args.repeats)]
    calls = [direct(args.steps) for _ in range(args.repeats)]
    print(f"runner overhead per step: median {statistics.median(runs):.1f} µs "
          f"(min {min(runs):.1f}, max {max(runs):.1f}; {args.repeats} runs × {args.steps} steps, "
          "one expression each, events written to events.jsonl, one secret masked)")
    print(f"direct Python call of the same function: median {statistics.median(calls):.2f} µs")


if __name__ == "__main__":
    main()
