"""What a desktop robot's own screen costs a worker per run (orchestrator/worker_display.py):
starting a 1920×1080 Xvfb until it accepts connections, a client's first X connection to it
(python-xlib, as the desktop driver opens it), and stopping it.

    .venv/bin/python bench/display_per_run.py [--repeats 9]

Prints the median and the spread of --repeats runs of each.
"""

from __future__ import annotations

import argparse
import statistics
import time

from libs import xvfb
from orchestrator.worker_display import RunDisplay


def measure(repeats: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"start": [], "stop": [], "first connection": []}
    for _ in range(repeats):
        began = time.perf_counter()
        screen = xvfb.start()
        times["start"].append(time.perf_counter() - began)
        display = RunDisplay(screen.display, screen.xauthority, screen)
        began = time.perf_counter()
        from Xlib import display as xdisplay  # what a robot imports on its first desktop step

        connection = xdisplay.Display(display.name)
        connection.screen()
        connection.close()
        times["first connection"].append(time.perf_counter() - began)
        began = time.perf_counter()
        screen.stop()
        times["stop"].append(time.perf_counter() - began)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    for name, values in measure(args.repeats).items():
        print(f"{name:>18}: median {statistics.median(values) * 1000:7.1f} ms "
              f"(min {min(values) * 1000:.1f}, max {max(values) * 1000:.1f}; "
              f"{len(values)} runs)")


if __name__ == "__main__":
    main()
