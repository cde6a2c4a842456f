"""The same 100-action form, filled by a Workhand robot and by a hand-written Playwright script.

    .venv/bin/python bench/form_fill.py [--runs 7]

Both use the same Chromium (launched once each, not timed), the same page served from
127.0.0.1, and the same locators (by label). Timed: from the page being open to the last action
done. Runs alternate robot/script so that machine noise hits both alike; the figure is the median
of the per-run ratios robot ÷ script. Every run's form result is checked afterwards.
"""

from __future__ import annotations

import argparse
import http.server
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, sync_playwright

from libs.checker import check_file
from libs.runner import Runner

FIELDS, CHECKS, SELECTS = 80, 10, 9  # + 1 submit click = 100 actions
CHROMIUM_ARGS = ["--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1 , EXCLUDE localhost"]


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def form_html() -> str:
    rows = [f'<label>字段{i:02d}<input name="f{i}"></label>' for i in range(FIELDS)]
    rows += [f'<label><input type="checkbox" name="c{i}">同意{i:02d}</label>'
             for i in range(CHECKS)]
    rows += [f'<label>选项{i:02d}<select name="s{i}"><option>甲</option><option>乙</option>'
             f"<option>丙</option></select></label>" for i in range(SELECTS)]
    script = """<script>document.querySelector('form').onsubmit = e => { e.preventDefault();
      const data = Object.fromEntries(new FormData(e.target));
      document.querySelector('#out').textContent = JSON.stringify(data); };</script>"""
    return ("<!doctype html><html lang=zh><meta charset=utf-8><form>" + "<br>".join(rows)
            + '<button type="submit">提交</button></form><pre id="out"></pre>' + script)


def expected() -> dict[str, str]:
    data = {f"f{i}": f"值{i}" for i in range(FIELDS)}
    data.update({f"c{i}": "on" for i in range(CHECKS)})
    data.update({f"s{i}": "乙" for i in range(SELECTS)})
    return data


def robot_text(url: str) -> str:
    lines = ["robot: form-fill-bench", "settings:", "  browser: {local_only: true}",
             "steps:", f"  - browser.open: {url}"]
    lines += [f"  - browser.fill: {{target: {{label: 字段{i:02d}}}, text: 值{i}}}"
              for i in range(FIELDS)]
    lines += [f"  - browser.check: {{label: 同意{i:02d}}}" for i in range(CHECKS)]
    lines += [f"  - browser.select: {{target: {{label: 选项{i:02d}}}, option: 乙}}"
              for i in range(SELECTS)]
    lines += ["  - browser.click: {role: button, name: 提交}",
              "  - browser.read_text: {target: '#out', into: out}",
              "  - files.write_text: {path: form.json, text: '${out}'}"]
    return "\n".join(lines) + "\n"


def script_actions(page: Page) -> None:
    for i in range(FIELDS):
        page.get_by_label(f"字段{i:02d}").fill(f"值{i}")
    for i in range(CHECKS):
        page.get_by_label(f"同意{i:02d}").check()
    for i in range(SELECTS):
        page.get_by_label(f"选项{i:02d}").select_option("乙")
    page.get_by_role("button", name="提交").click()


class Timer:
    """An event sink: times the robot from the end of browser.open to the end of the last action."""

    def __init__(self) -> None:
        self.opened = self.done = 0.0

    def __call__(self, event: dict[str, Any]) -> None:
        if event["type"] == "step.end":
            if event["name"] == "browser.open":
                self.opened = time.perf_counter()
            elif event["name"] == "browser.click":
                self.done = time.perf_counter()


def run_robot(robot: Path, out: Path) -> float:
    timer = Timer()
    result = Runner(check_file(robot), output_dir=out, sinks=[timer]).run()
    assert result.status == "passed", result.error
    return timer.done - timer.opened


def run_script(url: str) -> tuple[float, str]:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(url)
        started = time.perf_counter()
        script_actions(page)
        elapsed = time.perf_counter() - started
        text = page.locator("#out").inner_text()
        browser.close()
    return elapsed, text


def main() -> None:
    import json

    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "form.html").write_text(form_html(), encoding="utf-8")
        handler = lambda *a: QuietHandler(*a, directory=tmp)  # noqa: E731
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_port}/form.html"
        robot = folder / "form-fill.yaml"
        robot.write_text(robot_text(url), encoding="utf-8")
        robot_times, script_times, ratios = [], [], []
        for run in range(args.runs):
            out = folder / f"out{run}"
            if run % 2:
                robot_s = run_robot(robot, out)
                script_s, text = run_script(url)
            else:
                script_s, text = run_script(url)
                robot_s = run_robot(robot, out)
            assert json.loads(text) == expected(), "the script filled the form wrongly"
            filled = json.loads((out / "form.json").read_text(encoding="utf-8"))
            assert filled == expected(), "the robot filled the form wrongly"
            robot_times.append(robot_s)
            script_times.append(script_s)
            ratios.append(robot_s / script_s)
            print(f"run {run + 1}: robot {robot_s * 1000:.0f} ms, script {script_s * 1000:.0f} ms, "
                  f"ratio {robot_s / script_s:.3f}")
        server.shutdown()
    print(f"100 actions: robot median {statistics.median(robot_times) * 1000:.0f} ms, "
          f"script median {statistics.median(script_times) * 1000:.0f} ms; "
          f"median ratio robot/script {statistics.median(ratios):.3f} over {args.runs} runs")


if __name__ == "__main__":
    main()
