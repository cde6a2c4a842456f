"""OCR of a real X screen: a Tk window with Chinese labels on Xvfb, grabbed with mss, read by
the real engine through ScreenReader — the full read, then a changed-only re-read."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from libs import xvfb
from libs.steps.ocr.normalise import normalise_text
from libs.steps.ocr.rapid import RapidEngine
from libs.steps.ocr.screen_reader import ScreenReader
from tests.display import screen  # noqa: F401  (the fixture)
from tests.libs.steps.ocr.bank_window import LABELS, NEW_BALANCE

if TYPE_CHECKING:
    from libs.steps.vision.box import Image

WINDOW = Path(__file__).with_name("bank_window.py")


def grab(display: str) -> Image:
    import mss
    import numpy as np

    with mss.MSS(display=display) as grabber:
        shot = grabber.grab(grabber.monitors[0])  # a full grab (region grabs fail on Xvfb)
    return np.ascontiguousarray(np.asarray(shot)[:, :, :3])


def wait_for(condition: object, what: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen in {timeout_s:.0f} s")
        time.sleep(0.1)


def settled(display: str) -> Image:
    """A grab once two grabs in a row are the same (the window has finished drawing)."""
    import numpy as np

    previous = grab(display)
    for _ in range(300):
        time.sleep(0.1)
        current = grab(display)
        if np.array_equal(previous, current):
            return current
        previous = current
    raise AssertionError("the screen never settled")


def test_a_real_screen_is_read_and_reread_where_it_changed(
        screen: xvfb.VirtualScreen, tmp_path: Path,  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in screen.env().items():
        monkeypatch.setenv(name, value)
    signal = tmp_path / "change"
    window = subprocess.Popen([sys.executable, str(WINDOW), str(signal)],
                              env={**os.environ, **screen.env()})
    try:
        # drawn: the white window covers the black root window
        wait_for(lambda: grab(screen.display).mean() > 240,
                 "the window being drawn")
        reader = ScreenReader(RapidEngine("fast"))
        lines = reader.read(settled(screen.display))
        read = [normalise_text(line.text) for line in lines]
        assert read == [normalise_text(text) for text, _, _ in
                        sorted(LABELS, key=lambda label: (label[2], label[1]))]
        for text, x, y in LABELS:
            (line,) = [line for line in lines if normalise_text(line.text) ==
                       normalise_text(text)]
            assert abs(line.box.x - x) < 20 and abs(line.box.y - y) < 20, (text, line.box)
        signal.write_text("change")
        wait_for(signal.with_suffix(".done").exists, "the balance changing")
        changed = reader.read(settled(screen.display))
        assert 0 < reader.pixels_read < 1920 * 1080 // 10
        assert normalise_text(NEW_BALANCE) in [normalise_text(line.text) for line in changed]
        assert len(changed) == len(LABELS)
    finally:
        window.kill()
        window.wait(10)
