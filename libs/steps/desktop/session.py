"""The run's desktop: one display driver, the applications the robot launched, and finding
targets on the screen (waiting for them as Playwright's locators do).

The driver is opened on the robot's first desktop step (``desktop_for``), on the display the
worker gave the run (DISPLAY — a display of its own per robot), never on import. Tests put a
FakeDesktop (and a FakeOcr) in the run's resources first: ``use_driver(ctx, fake)``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from libs.context import StepContext
from libs.errors import StepArgumentError, SystemFailure
from libs.steps.desktop.driver import DesktopDriver, Window
from libs.steps.desktop.targets import (
    Found,
    Region,
    ScreenTarget,
    beside,
    field_beside,
    find_text,
)
from libs.steps.ocr.for_run import ocr_for, use_ocr
from libs.steps.ocr.screen_reader import ScreenReader
from libs.steps.vision.box import Box

if TYPE_CHECKING:
    from libs.steps.ocr.engine import OcrEngine, TextLine
    from libs.steps.vision.box import Image

DRIVER = "desktop"
POLL = 0.2  # seconds between looks at the screen while waiting for a target
DEFAULT_IMAGE_CONFIDENCE = 0.9
DEFAULT_TEXT_CONFIDENCE = 0.5


class NoDisplay(SystemFailure):
    """The run has no screen: a desktop robot must run on a worker with a display."""


@dataclass
class DesktopSession:
    """The run's display and what the robot started on it; closed when the run ends."""

    driver: DesktopDriver
    launched: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)
    secret_typed: bool = False
    reader: ScreenReader | None = None  # OCR that re-reads only what changed on the screen
    focused: int | None = None  # the window the robot last gave the keyboard

    def focus(self, window: Window) -> None:
        self.driver.focus(window)
        self.focused = window.id

    def read(self, ctx: StepContext, grab: Image, area: Box) -> list[TextLine]:
        """The lines OCR reads in an area of the grab (screen coordinates): finding three
        labels of one unchanged form reads it once, a typed value re-reads around it only."""
        if self.reader is None:
            self.reader = ScreenReader(ocr_for(ctx))
        return self.reader.read(grab, area)

    def capture(self, path: Path) -> Path | None:
        """A screenshot of the whole screen, for a failure report."""
        try:
            save_png(self.driver.grab(), path)
        except Exception:  # evidence is best effort: the failure itself is reported anyway
            return None
        return path

    def close(self) -> None:
        for _, process in reversed(self.launched):
            stop_process(process)
        self.launched.clear()
        self.driver.close()


def use_driver(ctx: StepContext, driver: DesktopDriver,
               ocr: OcrEngine | None = None) -> DesktopSession:
    """Make `driver` (and `ocr`) the run's: for tests and for the worker's own displays."""
    session = ctx.resources.get(DRIVER, lambda: DesktopSession(driver))
    if ocr is not None:
        use_ocr(ctx, ocr)
    return session


def desktop_for(ctx: StepContext) -> DesktopSession:
    return ctx.resources.get(DRIVER, lambda: DesktopSession(_open_display(ctx.name)))


def _open_display(step: str) -> DesktopDriver:
    display = os.environ.get("DISPLAY", "")
    if not display:
        raise NoDisplay(f"{step}: this run has no screen (DISPLAY is not set); desktop robots "
                        "run on a worker with a display: give the worker the desktop label "
                        "(workhand worker --labels desktop) or run it with "
                        "workhand run --display")
    from libs.steps.desktop.xdriver import XDesktop

    return XDesktop(display)


def save_png(image: Image, path: Path) -> None:
    import cv2

    ok, data = cv2.imencode(".png", image)
    if not ok:
        raise SystemFailure(f"could not encode a screenshot for {path.name}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.tobytes())


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """End an application the robot launched, and what it started (its process group)."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(3)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


# -- windows --------------------------------------------------------------------------------


def find_window(driver: DesktopDriver, title: str) -> Window | None:
    """The topmost window whose title contains `title` (exactly equal ones first)."""
    windows = driver.windows()
    exact = [w for w in windows if w.title == title]
    having = [w for w in windows if title in w.title]
    matching = exact or having
    return matching[-1] if matching else None


def wait_window(ctx: StepContext, title: str, timeout: float | None = None) -> Window:
    session = desktop_for(ctx)
    deadline = time.monotonic() + (ctx.remaining if timeout is None else timeout)
    while True:
        window = find_window(session.driver, title)
        if window is not None:
            return window
        if time.monotonic() >= deadline:
            titles = [w.title for w in session.driver.windows() if w.title]
            raise SystemFailure(
                f"{ctx.name}: no window's title has '{title}' after {_secs(timeout, ctx)} "
                f"(open windows: {', '.join(repr(t) for t in titles[:8]) or 'none'})")
        ctx.resources.pause(POLL, ctx)


# -- targets --------------------------------------------------------------------------------


def locate(ctx: StepContext, target: ScreenTarget, timeout: float | None = None) -> Found:
    """The target on the screen, looking again until it appears or the time is up."""
    found = locate_all(ctx, target, timeout)
    index = target.nth or 0
    if not -len(found) <= index < len(found):
        raise SystemFailure(f"{ctx.name}: nth {index} asks for more matches than the "
                            f"{len(found)} found for {target.describe()}")
    return found[index]


def locate_all(ctx: StepContext, target: ScreenTarget, timeout: float | None = None,
               *, wait: bool = True) -> list[Found]:
    session = desktop_for(ctx)
    budget = ctx.remaining if timeout is None else min(timeout, ctx.remaining)
    deadline = time.monotonic() + budget
    while True:
        found = find_on(ctx, session.driver.grab(), target, session.driver)
        if found or not wait or time.monotonic() >= deadline:
            break
        ctx.resources.pause(POLL, ctx)
    if not found and wait:
        raise SystemFailure(f"{ctx.name}: nothing on the screen matches {target.describe()} "
                            f"after {_secs(timeout, ctx)}{_hint(target)}")
    return found


def find_on(ctx: StepContext, grab: Image, target: ScreenTarget,
            driver: DesktopDriver) -> list[Found]:
    """Every match of the target on one grab, best (or first, top to bottom) first."""
    area = search_area(ctx, grab, driver, target.window, target.region)
    if area is None:
        return []
    if target.x is not None and target.y is not None:
        return [Found(Box(area.x + target.x, area.y + target.y, 1, 1), 1.0, "point")]
    anchor = target.anchor
    session = desktop_for(ctx)
    candidates: list[Found] = []
    if target.image is not None:
        candidates = find_images(ctx, grab, target.image, area,
                                 target.confidence or DEFAULT_IMAGE_CONFIDENCE)
    elif target.text is not None:
        candidates = find_text(session.read(ctx, grab, area), target.text, exact=target.exact,
                               confidence=target.confidence or DEFAULT_TEXT_CONFIDENCE)
    if anchor is None:
        return candidates
    relation, words = anchor
    labels = find_text(session.read(ctx, grab, area), words,
                       confidence=DEFAULT_TEXT_CONFIDENCE if target.text is None or
                       target.confidence is None else target.confidence)
    for label in labels:
        if target.image is None and target.text is None:
            field_found = field_beside(grab, label.box, relation, area)
            if field_found is not None:
                return [field_found]
        else:
            placed = beside(label.box, candidates, relation)
            if placed:
                return placed
    return []


def search_area(ctx: StepContext, grab: Image, driver: DesktopDriver, window: str | None,
                region: Region | None) -> Box | None:
    """Where to look: the screen, or a window, narrowed by a region (measured from the window).
    None while the window is not open."""
    height, width = grab.shape[:2]
    area = Box(0, 0, width, height)
    if window is not None:
        found = find_window(driver, window)
        if found is None:
            return None
        area = found.box
    if region is not None:
        part = region.box()
        area = Box(area.x + part.x, area.y + part.y, min(part.width, area.width - part.x),
                   min(part.height, area.height - part.y))
        if area.width <= 0 or area.height <= 0:
            raise StepArgumentError(f"{ctx.name}: the region {region.model_dump()} lies "
                                    "outside the window; measure it from the window's top left")
    return area.clipped(width, height)


def find_images(ctx: StepContext, grab: Image, image: str, area: Box,
                confidence: float) -> list[Found]:
    from libs.steps.vision.match import find_image

    needle = needle_for(ctx, image)
    matches = find_image(grab, needle, region=area, confidence=confidence, find_all=True)
    return [Found(m.box, m.score, "image") for m in matches]


def needle_for(ctx: StepContext, image: str) -> Image:
    """The picture a target names, read once a run (a robot looks for it again and again)."""
    from libs.steps.vision.images import load_image

    path = ctx.input_path(image, ctx.name)
    key = f"desktop.image:{path}"
    return ctx.resources.get(key, lambda: load_image(path))


def _secs(timeout: float | None, ctx: StepContext) -> str:
    return f"{round(ctx.timeout if timeout is None else timeout, 1):g} s"


def _hint(target: ScreenTarget) -> str:
    if target.image is not None:
        return (" (a picture is matched at any scale; if the screen's colours or theme differ "
                "from the picture, take it again from this screen, or lower confidence)")
    if target.text is not None or target.anchor is not None:
        return (" (text is read by OCR: write it as the screen shows it; narrow the search "
                "with window or region)")
    return ""
