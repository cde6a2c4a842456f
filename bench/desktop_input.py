"""Desktop input speed under Xvfb: XDesktop (python-xlib XTest) beside pyautogui and xdotool.

    PYTHONPATH=$PWD .venv/bin/python bench/desktop_input.py [--runs 5]

A Tk probe (tests/libs/steps/desktop/tk_probe.py) runs on an Xvfb of its own and writes down
what reached it. Timed per run: N clicks on its button, and typing into an entry — ASCII, a
Chinese address (pasted: XDesktop's default for characters the layout lacks), a Chinese name
through lent keycodes (unicode_input="keymap"), and the same with xdotool / pyautogui where they
can. "call" is the time the driver's calls took; "seen" is until the probe's state file shows
the whole effect (every click counted, the entry's text exact). The figures are medians over
the runs; the tools alternate within each run so machine noise hits all alike.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from libs import xvfb
from libs.steps.desktop.xdriver import XDesktop

PROBE = Path(__file__).parents[1] / "tests/libs/steps/desktop/tk_probe.py"
CLICKS = 100
ASCII = "Acct-6217 0000 8500 1234, Zhang San; ref #A-77/2025 " * 4  # 212 characters
CHINESE = "广州市天河区珠江新城华夏路十号富力盈凯广场三十二楼" * 4  # 100 characters
NAME = "欧阳明珠"  # few enough distinct characters for lent keycodes


class ProbeState:
    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> dict[str, Any]:
        try:
            result: dict[str, Any] = json.loads(self.path.read_text(encoding="utf-8"))
            return result
        except (OSError, ValueError):
            return {}

    def wait(self, holds: Callable[[dict[str, Any]], bool], timeout_s: float = 10) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            state = self.read()
            if state and holds(state):
                return True
            time.sleep(0.001)
        return False


def timed(action: Callable[[], None], state: ProbeState,
          done: Callable[[dict[str, Any]], bool]) -> tuple[float, float, bool]:
    """(call seconds, seen seconds, effect complete) of one action."""
    start = time.perf_counter()
    action()
    called = time.perf_counter() - start
    complete = state.wait(done)
    return called, time.perf_counter() - start, complete


def clear_entry(desktop: XDesktop, state: ProbeState, entry: str) -> None:
    x, y, width, height = state.read()["places"][entry]
    desktop.click(x + width // 2, y + height // 2)
    desktop.hotkey(["ctrl", "slash"])  # Tk's select all
    desktop.hotkey(["BackSpace"])
    state.wait(lambda s: s["entries"][entry] == "" and s["focus"] == entry)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    results: dict[str, list[tuple[float, float, bool]]] = {}

    def record(name: str, measured: tuple[float, float, bool]) -> None:
        results.setdefault(name, []).append(measured)

    with xvfb.start() as screen, tempfile.TemporaryDirectory() as folder:
        os.environ.update(screen.env())
        state = ProbeState(Path(folder) / "probe.json")
        probe = subprocess.Popen([sys.executable, str(PROBE), str(state.path)], env=os.environ)
        try:
            state.wait(lambda s: s.get("ready", False))
            desktop = XDesktop(screen.display)
            keymap_desktop = XDesktop(screen.display, unicode_input="keymap")
            import pyautogui

            pyautogui.PAUSE, pyautogui.FAILSAFE = 0, False
            x, y, width, height = state.read()["places"]["button"]
            button = (x + width // 2, y + height // 2)
            bare = (1800, 1000)  # the root window: no application reacts, the driver's own cost
            for _ in range(args.runs):
                record("click on the bare screen: XDesktop", timed(
                    lambda: [desktop.click(*bare) for _ in range(CLICKS)], state, lambda s: True))
                record("click on the bare screen: pyautogui (PAUSE=0)", timed(
                    lambda: [pyautogui.click(*bare) for _ in range(CLICKS)], state,
                    lambda s: True))
                base = state.read()["clicks"]
                record("click: XDesktop", timed(
                    lambda: [desktop.click(*button) for _ in range(CLICKS)], state,
                    lambda s, b=base: s["clicks"] >= b + CLICKS))
                base = state.read()["clicks"]
                record("click: pyautogui (PAUSE=0)", timed(
                    lambda: [pyautogui.click(*button) for _ in range(CLICKS)], state,
                    lambda s, b=base: s["clicks"] >= b + CLICKS))
                if shutil.which("xdotool"):
                    base = state.read()["clicks"]
                    record("click: xdotool (a process each)", timed(
                        lambda: [subprocess.run(["xdotool", "mousemove", str(button[0]),
                                                 str(button[1]), "click", "1"], check=True)
                                 for _ in range(CLICKS // 10)], state,
                        lambda s, b=base: s["clicks"] >= b + CLICKS // 10))
                cases: list[tuple[str, str, Callable[[str], None]]] = [
                    ("type ASCII: XDesktop", ASCII, desktop.type_text),
                    ("type ASCII: pyautogui.write", ASCII, lambda t: pyautogui.write(t)),
                    ("type Chinese: XDesktop (paste)", CHINESE, desktop.type_text),
                    ("type Chinese name: XDesktop (paste)", NAME, desktop.type_text),
                    ("type Chinese name: XDesktop (keymap)", NAME, keymap_desktop.type_text),
                ]
                if shutil.which("xdotool"):
                    cases += [
                        ("type ASCII: xdotool type --delay 0", ASCII, lambda t: subprocess.run(
                            ["xdotool", "type", "--delay", "0", t], check=True)),
                        ("type Chinese: xdotool type --delay 0", CHINESE,
                         lambda t: subprocess.run(["xdotool", "type", "--delay", "0", t],
                                                  check=True))]
                for name, text, type_text in cases:
                    clear_entry(desktop, state, "address")
                    if "keymap" in name:
                        time.sleep(1.1)  # let lent keycodes fall idle, as between robot steps
                    record(f"{name}|{len(text)}", timed(
                        lambda t=text, f=type_text: f(t), state,
                        lambda s, t=text: s["entries"]["address"] == t))
                    if not results[f"{name}|{len(text)}"][-1][2]:
                        got = state.read()["entries"]["address"]
                        print(f"{name}: typed {got[:30]!r}…, not the text", file=sys.stderr)
            operations = other_operations(desktop, state)
            desktop.close()
            keymap_desktop.close()
        finally:
            probe.terminate()
            probe.wait(10)
    print_table(results, args.runs)
    print("\n| other call | median |\n| --- | ---: |")
    for name, seconds in operations.items():
        print(f"| {name} | {seconds * 1000:.3f} ms |")


def other_operations(desktop: XDesktop, state: ProbeState) -> dict[str, float]:
    """Median time of each of the driver's other calls (20 calls each, the probe open)."""
    window = next(w for w in desktop.windows() if w.title == state.read()["title"])
    x, y, _, _ = state.read()["places"]["canvas"]
    calls: dict[str, Callable[[], object]] = {
        "windows() (one window)": desktop.windows,
        "focus(window)": lambda: desktop.focus(window),
        "grab() 1920×1080 → BGR": desktop.grab,
        "move(x, y)": lambda: desktop.move(500, 500),
        "hotkey(['ctrl', 's'])": lambda: desktop.hotkey(["ctrl", "s"]),
        "set_clipboard('广州市天河区')": lambda: desktop.set_clipboard("广州市天河区"),
        "get_clipboard() (owned by us)": desktop.get_clipboard,
        "drag() over 280 px (14 steps, 5 ms apart)": lambda: desktop.drag(
            (x + 20, y + 20), (x + 300, y + 150)),
    }
    medians: dict[str, float] = {}
    for name, call in calls.items():
        times = []
        for _ in range(20):
            start = time.perf_counter()
            call()
            times.append(time.perf_counter() - start)
        medians[name] = statistics.median(times)
    return medians


def print_table(results: dict[str, list[tuple[float, float, bool]]], runs: int) -> None:
    print(f"\n`PYTHONPATH=$PWD .venv/bin/python bench/desktop_input.py --runs {runs}` "
          "(Xvfb 1920×1080, a Tk probe; medians)\n")
    print("| action | per action (call) | per action (seen by the app) | rate | exact |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for key, measured in results.items():
        name, _, length = key.partition("|")
        count = int(length) if length else (CLICKS // 10 if "xdotool" in name else CLICKS)
        call = statistics.median(m[0] for m in measured) / count
        seen = statistics.median(m[1] for m in measured) / count
        unit = "char" if length else "click"
        exact = sum(m[2] for m in measured)
        print(f"| {name} ({count} {unit}s) | {call * 1000:.3f} ms | {seen * 1000:.3f} ms | "
              f"{1 / seen:,.0f} {unit}s/s | {exact}/{len(measured)} |")


if __name__ == "__main__":
    main()
