"""OCR of a 1920×1080 screen, both model profiles: full, changed-only re-reading, regions; and
the rendered Chinese bank lines the profiles were picked by (speed and exact reads).

    PYTHONPATH=$PWD .venv/bin/python bench/ocr_screen.py [--runs 7] [--threads 2]

The screen is synthetic (tests/libs/steps/ocr/samples.py: 15 known bank texts, 16–22 px), so
every reading is checked, not only timed. Profiles alternate run by run, so machine noise hits
both alike; figures are medians. Models are loaded (and warmed by one read) before timing.

- full: ``engine.read`` of the whole screen (detector limit 960: detection at half size);
- changed: ``ScreenReader.read`` after one value changed (a balance), against its previous
  reading: only the changed band and its margins are read again;
- unchanged: the same screen again (band hashes only, no OCR);
- regions: two regions a robot would ask for (a 920×210 panel and the button row), read cold;
- line: one rendered bank line (20 lines × 20 px and 14 px), and how many read exactly
  (ignoring spaces and full/half width).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from libs.steps.ocr.normalise import normalise_text
from libs.steps.ocr.rapid import DETECTOR_LIMIT, RapidEngine
from libs.steps.ocr.screen_reader import ScreenReader
from libs.steps.vision.box import Box
from tests.libs.steps.ocr.samples import (
    BANK_LINES,
    SCREEN_TEXTS,
    bank_screen,
    render_line,
)

PROFILES = ("fast", "accurate")
REGIONS = [Box(80, 110, 920, 210), Box(800, 930, 320, 80)]


CPU: dict[str, list[float]] = {}
"""CPU seconds (this process, all threads) of each timed action, by its label: on a machine
other work shares, CPU time moves less than wall time (with 1 thread it is the idle wall time)."""


def timed(action: Callable[..., object], *arguments: object, label: str = "") -> tuple[
        float, object]:
    """Seconds `action(*arguments)` took, and what it answered."""
    cpu = time.process_time()
    start = time.perf_counter()
    answer = action(*arguments)
    elapsed = time.perf_counter() - start
    CPU.setdefault(label, []).append(time.process_time() - cpu)
    return elapsed, answer


def screens() -> tuple[object, list[object]]:
    """The screen, and variants of it with one value changed (a different balance each)."""
    base, _ = bank_screen()
    variants = []
    for index in range(4):
        texts = list(SCREEN_TEXTS)
        texts[3] = (f"余额：￥{305_120 + 1111 * (index + 1):,}.09", 120, 260, 20)
        variants.append(bank_screen(texts)[0])
    return base, variants


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1,
                        help="onnxruntime intra-op threads (engine_for's default on 2 cores: 1)")
    parser.add_argument("--limit", type=int, default=DETECTOR_LIMIT,
                        help="the detector's longest side (limit_type max)")
    parser.add_argument("--no-lines", action="store_true", help="skip the bank lines")
    arguments = parser.parse_args()
    load = os.getloadavg()
    engines = {name: RapidEngine(name, threads=arguments.threads, detector_limit=arguments.limit)
               for name in PROFILES}
    base, variants = screens()
    expected = sorted(normalise_text(text) for text, *_ in SCREEN_TEXTS)
    for engine in engines.values():
        engine.load()
        engine.read(base)  # warm: first-run allocations are not the steady state
    results: dict[str, dict[str, list[float]]] = {
        name: {key: [] for key in ("full", "changed", "unchanged", "regions")}
        for name in PROFILES}
    correct: dict[str, int] = {}
    share: dict[str, float] = {}  # of the screen's pixels re-read after the change
    for run in range(arguments.runs):
        for name in PROFILES if run % 2 == 0 else PROFILES[::-1]:
            engine, timings = engines[name], results[name]
            seconds, lines = timed(engine.read, base, label=f"{name} full")
            timings["full"].append(seconds)
            correct[name] = sum(1 for text in expected if text in {
                normalise_text(line.text) for line in lines})  # type: ignore[attr-defined]
            reader = ScreenReader(engine)
            reader.read(base)
            variant = variants[run % len(variants)]
            timings["changed"].append(timed(reader.read, variant, label=f"{name} changed")[0])
            share[name] = reader.pixels_read / (1920 * 1080)
            timings["unchanged"].append(timed(reader.read, variant)[0])
            timings["regions"].append(timed(ScreenReader(engine).read_regions, base, REGIONS,
                                            label=f"{name} regions")[0])
    line_results: dict[tuple[str, int], tuple[float, int]] = {}
    for size in () if arguments.no_lines else (20, 14):
        images = [(text, render_line(text, size)) for text in BANK_LINES]
        for name in PROFILES:
            engine = engines[name]
            times, exact = [], 0
            for text, image in images:
                seconds, found = timed(engine.read, image)
                times.append(seconds)
                got = "".join(line.text for line in found)  # type: ignore[attr-defined]
                exact += normalise_text(got) == normalise_text(text)
            line_results[(name, size)] = (statistics.median(times), exact)

    def ms(values: list[float]) -> str:
        return f"{statistics.median(values) * 1000:.0f} ms"

    print(f"OCR of a 1920×1080 screen, RapidOCR, detector limit {arguments.limit}, "
          f"{arguments.threads} onnxruntime threads, "
          f"{os.cpu_count()} cores, medians of {arguments.runs} runs "
          f"(load average at start {load[0]:.2f})\n")
    print("| profile | models | full screen | changed-only (pixels re-read) | unchanged | "
          "2 regions | texts read exactly |")
    print("|---|---|---|---|---|---|---|")
    for name in PROFILES:
        timings = results[name]
        print(f"| {name} | {engines[name].models.version} | {ms(timings['full'])} | "
              f"{ms(timings['changed'])} ({share[name]:.0%}) | {ms(timings['unchanged'])} | "
              f"{ms(timings['regions'])} | {correct[name]}/{len(expected)} |")
    ratio = statistics.median(results["fast"]["full"]) / statistics.median(
        results["accurate"]["full"])
    print(f"\nfull screen, fast ÷ accurate: {ratio:.2f} (wall), "
          f"{statistics.median(CPU['fast full']) / statistics.median(CPU['accurate full']):.2f}"
          " (CPU)")
    for name in PROFILES:
        print(f"CPU time, {name}: full screen {ms(CPU[f'{name} full'])}, changed-only "
              f"{ms(CPU[f'{name} changed'])}, 2 regions {ms(CPU[f'{name} regions'])}")
    print()
    if line_results:
        print("| profile | line 20 px | exact 20 px | line 14 px | exact 14 px |")
        print("|---|---|---|---|---|")
        for name in PROFILES:
            (t20, e20), (t14, e14) = line_results[(name, 20)], line_results[(name, 14)]
            print(f"| {name} | {t20 * 1000:.0f} ms | {e20}/{len(BANK_LINES)} | "
                  f"{t14 * 1000:.0f} ms | {e14}/{len(BANK_LINES)} |")
    print(f"\ncommand: PYTHONPATH=$PWD .venv/bin/python bench/ocr_screen.py --runs "
          f"{arguments.runs} --threads {arguments.threads} --limit {arguments.limit}"
          f"{' --no-lines' if arguments.no_lines else ''}")


if __name__ == "__main__":
    main()
