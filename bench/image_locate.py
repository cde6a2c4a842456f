"""Image locate on a 1920×1080 screen: Workhand's find_image against pyautogui, in one run.

    PYTHONPATH=$PWD .venv/bin/python bench/image_locate.py [--runs 9]

Needs Xvfb and, for pyautogui.locateOnScreen's own screenshot, Debian's `scrot`
(apt-get install scrot). A virtual screen of its own (libs.xvfb) shows a Tk window of a
banking client filling the screen: labels, fields, a table and buttons with Chinese text. The
needle is its 确定 button, cut from one mss grab.

Timed, alternating so that machine noise hits every method alike (median of `--runs`):
- pyautogui.locateOnScreen(needle, confidence=0.9): its screenshot (scrot) and its search;
- pyautogui.locate(needle, grab, confidence=0.9): its search alone, on our grab;
- Workhand: an mss grab + find_image, and find_image alone on the same grab;
- at 125 %: the same client drawn by Tk at 125 % (`tk scaling`: fonts and paddings in
  points, so everything is drawn larger, as on a 125 % display), the needle still the 100 %
  capture. find_image's first search there finds the scale (sweep); the next ones reuse it.
  pyautogui has no scale search: it is timed too, and finds nothing.
Every result is checked against the button's real place (Tk reports it).
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
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from libs import xvfb
from libs.steps.vision.box import Box
from libs.steps.vision.match import find_image, forget_scales

CLIENT = r"""
import json, sys, tkinter
scale = float(sys.argv[1])
root = tkinter.Tk()
root.tk.call("tk", "scaling", 96 / 72 * scale)   # pixels per point: 125 % draws 1.25× larger
root.geometry("1920x1080+0+0")
root.configure(background="#eef1f4")
font = ("Noto Sans CJK SC", 11)
tkinter.Label(root, text="对公账户年检 — 业务处理客户端 v3.2", font=("Noto Sans CJK SC", 14),
              background="#24292f", foreground="white", anchor="w", padx="6p").pack(fill="x")
body = tkinter.Frame(root, background="#eef1f4")
body.pack(fill="both", expand=True, padx="12p", pady="8p")
form = tkinter.Frame(body, background="#eef1f4")
form.grid(row=0, column=0, sticky="nw")
labels = ["企业名称", "统一社会信用代码", "账号", "开户行", "开户日期", "法定代表人", "联系电话",
          "注册资本", "经营范围", "年检状态"]
for row, label in enumerate(labels):
    tkinter.Label(form, text=label, font=font, background="#eef1f4").grid(
        row=row, column=0, sticky="w", pady="2p")
    entry = tkinter.Entry(form, font=font, width=28, borderwidth="1p")
    entry.insert(0, f"示例{row} 6217 8500 {row:04d}")
    entry.grid(row=row, column=1, padx="6p", pady="2p")
table = tkinter.Listbox(body, font=font, width=70, height=24, borderwidth="1p")
for index in range(60):
    table.insert("end", f"{index:03d}  重庆某某贸易有限公司{index}  "
                        f"6217 8500 0000 {index:04d}  存续")
table.grid(row=0, column=1, rowspan=2, padx="12p", sticky="n")
buttons = tkinter.Frame(body, background="#eef1f4")
buttons.grid(row=1, column=0, sticky="w", pady="10p")
named = {}
for column, (text, colour) in enumerate([("查询", "#0969da"), ("确定", "#2ea043"),
                                         ("取消", "#6e7681"), ("提交", "#cf222e")]):
    named[text] = tkinter.Button(buttons, text=text, font=font, background=colour,
                                 foreground="white", padx="10p", pady="2p", borderwidth="1p")
    named[text].grid(row=0, column=column, padx="6p")
root.update()
ok = named["确定"]
print(json.dumps([ok.winfo_rootx(), ok.winfo_rooty(), ok.winfo_width(), ok.winfo_height()]),
      flush=True)
sys.stdin.readline()
"""


class Client:
    """The Tk client on the virtual screen, drawn at `scale`; knows where its 确定 button is."""

    def __init__(self, scale: float) -> None:
        self.process = subprocess.Popen([sys.executable, "-c", CLIENT, str(scale)],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        text=True)
        assert self.process.stdout is not None
        self.button = Box(*json.loads(self.process.stdout.readline()))
        time.sleep(0.5)  # let the X server finish drawing

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(10)


_shooter: Any = None


def grab() -> Any:
    """The whole screen as BGR (mss, one connection kept open as a desktop driver keeps it;
    region grabs raise X errors on Xvfb)."""
    global _shooter
    import mss

    if _shooter is None:
        _shooter = mss.MSS()
    shot = _shooter.grab(_shooter.monitors[0])
    # BGRA as it comes (find_image drops alpha with cvtColor, ~1 ms; numpy's strided
    # `[:, :, :3]` copy took 40 ms)
    return np.frombuffer(shot.raw, np.uint8).reshape(shot.height, shot.width, 4)


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = action()
    return time.perf_counter() - start, result


def pyautogui_box(search: Callable[[], Any]) -> Box | None:
    import pyautogui

    try:
        found = search()
    except pyautogui.ImageNotFoundException:  # raised instead of returning None since 0.9.41
        return None
    return None if found is None else Box(int(found.left), int(found.top), int(found.width),
                                          int(found.height))


def ours_box(found: list[Any]) -> Box | None:
    return found[0].box if found else None


def run(runs: int) -> None:
    if shutil.which("scrot") is None:
        sys.exit("pyautogui.locateOnScreen needs scrot here: apt-get install scrot")
    with xvfb.start() as screen:
        os.environ.update(screen.env())
        os.environ["XDG_SESSION_TYPE"] = "x11"  # pyscreeze takes scrot only on X11
        os.chdir(tempfile.mkdtemp(prefix="image-locate-"))  # scrot's files land here
        warnings.simplefilter("ignore")
        import cv2
        import pyautogui
        from PIL import Image as PILImage

        client = Client(1.0)
        screen_100 = cv2.cvtColor(grab(), cv2.COLOR_BGRA2BGR)
        needle = client.button.crop(screen_100).copy()
        needle_pil = PILImage.fromarray(needle[:, :, ::-1])
        expected_100 = client.button
        client.close()

        client = Client(1.25)
        screen_125 = cv2.cvtColor(grab(), cv2.COLOR_BGRA2BGR)
        expected_125 = client.button
        client.close()
        if os.environ.get("IMAGE_LOCATE_SAVE"):  # to look at what was searched
            cv2.imwrite(os.environ["IMAGE_LOCATE_SAVE"] + "-100.png", screen_100)
            cv2.imwrite(os.environ["IMAGE_LOCATE_SAVE"] + "-125.png", screen_125)
            cv2.imwrite(os.environ["IMAGE_LOCATE_SAVE"] + "-needle.png", needle)
        client = Client(1.0)  # back to 100 % for the live locateOnScreen / grab runs

        methods: dict[str, Callable[[], Box | None]] = {
            "pyautogui.locateOnScreen (scrot + search)": lambda: pyautogui_box(
                lambda: pyautogui.locateOnScreen(needle_pil, confidence=0.9)),
            "pyautogui.locate on the same grab": lambda: pyautogui_box(
                lambda: pyautogui.locate(needle_pil, PILImage.fromarray(screen_100[:, :, ::-1]),
                                         confidence=0.9)),
            "Workhand: mss grab alone": lambda: (grab(), expected_100)[1],
            "Workhand: mss grab + find_image": lambda: ours_box(find_image(grab(), needle)),
            "Workhand: find_image on the same grab": lambda: ours_box(
                find_image(screen_100, needle)),
            "125 %: pyautogui.locate on the grab": lambda: pyautogui_box(
                lambda: pyautogui.locate(needle_pil, PILImage.fromarray(screen_125[:, :, ::-1]),
                                         confidence=0.9)),
            "125 %: find_image, first search (finds the scale)": lambda: (
                forget_scales(), ours_box(find_image(screen_125, needle)))[1],
            "125 %: find_image, scale remembered": lambda: ours_box(
                find_image(screen_125, needle)),
        }
        expected = {name: expected_125 if name.startswith("125") else expected_100
                    for name in methods}
        samples: dict[str, list[float]] = {name: [] for name in methods}
        results: dict[str, Box | None] = {}
        ours_125 = find_image(screen_125, needle)  # warm-up, and the scale it found
        for _ in range(runs):
            for name, method in methods.items():
                # the scale a needle was last found at is tried first: a robot's screen keeps
                # its scale, here 100 % and 125 % alternate on one screen size, so each of
                # our searches starts from the state a robot on that screen would be in
                if name.startswith("Workhand"):
                    find_image(screen_100, needle)
                elif name.endswith("scale remembered"):
                    find_image(screen_125, needle)
                seconds, results[name] = timed(method)
                samples[name].append(seconds)
        client.close()

    baseline = median_ms(samples["pyautogui.locateOnScreen (scrot + search)"])
    print(f"\n`PYTHONPATH=$PWD .venv/bin/python bench/image_locate.py --runs {runs}` "
          f"(1920×1080 Xvfb, needle {needle.shape[1]}×{needle.shape[0]} px, "
          f"{os.cpu_count()} cores, medians of {runs} runs)\n")
    print("| method | median ms | ÷ locateOnScreen | found the button |")
    print("|---|---:|---:|---|")
    for name in methods:
        found = results[name]
        verdict = ("no" if found is None else
                   "yes" if _close(found, expected[name]) else f"wrong place {found}")
        print(f"| {name} | {median_ms(samples[name]):.1f} | "
              f"{median_ms(samples[name]) / baseline:.3f} | {verdict} |")
    if ours_125:
        print(f"\n125 %: the Tk button is {expected_125.width}×{expected_125.height} at "
              f"({expected_125.x}, {expected_125.y}); find_image: {ours_125[0].box.width}×"
              f"{ours_125[0].box.height} at ({ours_125[0].box.x}, {ours_125[0].box.y}), "
              f"scale {ours_125[0].scale}, score {ours_125[0].score}")


def _close(found: Box, expected: Box) -> bool:
    """Centre within 3 px (Tk at 125 % rounds paddings and borders to whole pixels)."""
    return (abs(found.center[0] - expected.center[0]) <= 3
            and abs(found.center[1] - expected.center[1]) <= 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    run(parser.parse_args().runs)


if __name__ == "__main__":
    main()
