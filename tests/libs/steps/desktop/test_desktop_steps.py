"""desktop.* steps on a FakeDesktop and a FakeOcr: what is clicked and typed where, the field
beside a label, windows, launching only what the worker allows, secrets and the clipboard, and
contradictory targets refused at check time. The real display is test_desktop_xvfb.py's."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from libs.context import StepContext
from libs.errors import SystemFailure
from libs.policy import Policy, Refused
from libs.registry import REGISTRY, load_libraries
from libs.secrets import Secret
from libs.steps.desktop.driver import FakeDesktop, Window
from libs.steps.desktop.session import use_driver
from libs.steps.ocr.engine import FakeOcr, TextLine
from libs.steps.vision.box import Box
from tests.libs.test_checker import Write, problems

load_libraries()
FORM = Window(7, "账户备案系统（演示）", Box(100, 50, 900, 640), pid=4242)


def run(ctx: StepContext, name: str, args: dict[str, Any] | None = None) -> Any:
    ctx.name = name  # as the runner names the step it runs
    return REGISTRY[name].call(ctx, args or {})


def form_screen() -> np.ndarray:
    """A grey window with a label at (160..280, 200..224) and an entry right of it: a dark
    border at x=330 and x=629, white inside — as Tk draws a label and an Entry."""
    screen = np.full((1080, 1920, 3), 30, dtype=np.uint8)
    screen[50:690, 100:1000] = 236
    screen[196:229, 330:630] = 90
    screen[198:227, 332:628] = 255
    return screen


@pytest.fixture
def fake(tmp_path: Path) -> tuple[StepContext, FakeDesktop, FakeOcr]:
    ctx = StepContext.for_tests(tmp_path, timeout=1.0)
    desktop = FakeDesktop(screen=form_screen(), open_windows=[FORM])
    ocr = FakeOcr([TextLine("账户名称", Box(160, 200, 120, 24), 0.98),
                   TextLine("提交备案 确定", Box(400, 600, 240, 30), 0.95)])
    use_driver(ctx, desktop, ocr)
    return ctx, desktop, ocr


def test_a_word_in_a_line_is_clicked_in_its_own_part_of_the_line(fake: Any) -> None:
    ctx, desktop, _ = fake
    found = run(ctx, "desktop.click", {"target": {"text": "确定"}})
    # "提交备案确定" without the space: 确定 is the last 2 of 6 characters of the line's box
    assert (found["x"], found["width"]) == (560, 80)
    assert desktop.events[-1] == ("click", 600, 615, "left", 1)


def test_the_field_right_of_a_label_is_found_by_looking_beside_it(fake: Any) -> None:
    ctx, desktop, _ = fake
    run(ctx, "desktop.type", {"target": {"right_of": "账户名称", "window": "账户备案"},
                              "text": "广州市天河区恒达贸易有限公司"})
    focus, click, typed = desktop.events[-3:]
    assert focus == ("focus", FORM.title)
    assert click[0] == "click" and 330 <= click[1] <= 630 and 196 <= click[2] <= 229
    assert typed == ("type", "广州市天河区恒达贸易有限公司")
    assert desktop.typed[FORM.title] == "广州市天河区恒达贸易有限公司"


def test_a_point_is_measured_from_its_window(fake: Any) -> None:
    ctx, desktop, _ = fake
    run(ctx, "desktop.double_click", {"target": {"x": 10, "y": 20, "window": "账户备案"}})
    assert desktop.events[-1] == ("click", 110, 70, "left", 2)


def test_nothing_found_says_what_was_looked_for_and_how_long(fake: Any) -> None:
    ctx, _, _ = fake
    with pytest.raises(SystemFailure) as caught:
        run(ctx, "desktop.click", {"target": {"text": "取消"}})
    assert str(caught.value).startswith(
        "desktop.click: nothing on the screen matches {text: 取消} after 1 s (text is read by "
        "OCR: write it as the screen shows it; narrow the search with window or region)")
    assert run(ctx, "desktop.exists", {"target": {"text": "取消"}}) is False
    assert run(ctx, "desktop.exists", {"target": {"text": "确定"}}) is True


def test_windows_are_waited_for_focused_and_closed(fake: Any) -> None:
    ctx, _, _ = fake
    info = run(ctx, "desktop.wait_window", {"title": "账户备案"})
    assert info == {"title": FORM.title, "x": 100, "y": 50, "width": 900, "height": 640,
                    "pid": 4242}
    run(ctx, "desktop.close", {"window": "账户备案"})
    with pytest.raises(SystemFailure) as caught:
        run(ctx, "desktop.focus", {"window": "账户备案"})
    assert "no window's title has '账户备案'" in str(caught.value)
    assert "(open windows: none)" in str(caught.value)


def test_hotkeys_clipboard_and_a_typed_secret(fake: Any) -> None:
    ctx, desktop, _ = fake
    run(ctx, "desktop.hotkey", {"keys": "ctrl+s"})
    assert desktop.events[-1] == ("hotkey", "ctrl", "s")
    run(ctx, "desktop.set_clipboard", {"text": "张三"})
    assert run(ctx, "desktop.get_clipboard") == "张三"
    run(ctx, "desktop.type", {"text": Secret("s3cret!", "core.password"), "enter": True})
    assert ("type", "s3cret!") in desktop.events and desktop.clipboard == ""
    assert desktop.events[-1] == ("hotkey", "Return")
    with pytest.raises(Refused, match="a secret was typed on this screen"):
        run(ctx, "desktop.get_clipboard")


def test_only_applications_the_worker_allows_are_launched(tmp_path: Path) -> None:
    ctx = StepContext.for_tests(tmp_path, policy=Policy(apps={
        "pause": (sys.executable, "-c", "import time; time.sleep(60)")}))
    desktop = FakeDesktop()
    session = use_driver(ctx, desktop)
    with pytest.raises(Refused) as caught:
        run(ctx, "desktop.launch", {"app": "xterm"})
    assert str(caught.value) == (
        "desktop.launch: 'xterm' is not an application this worker lets robots start "
        "(allowed: pause); ask an admin to add it to the worker's settings (apps:)")
    run(ctx, "desktop.launch", {"app": "pause"})
    [(name, process)] = session.launched
    assert name == "pause" and process.poll() is None
    ctx.resources.close()  # the run ends: what it launched ends with it
    assert process.poll() is not None and desktop.closed


def test_screenshots_of_the_screen_and_of_a_window(fake: Any) -> None:
    import cv2

    ctx, _, _ = fake
    whole = Path(run(ctx, "desktop.screenshot", {"path": "screen.png"}))
    window = Path(run(ctx, "desktop.screenshot", {"path": "截图/窗口.png", "window": "账户备案"}))
    assert cv2.imdecode(np.fromfile(whole, np.uint8), cv2.IMREAD_COLOR).shape == (1080, 1920, 3)
    assert cv2.imdecode(np.fromfile(window, np.uint8), cv2.IMREAD_COLOR).shape == (640, 900, 3)


def test_contradictory_screen_targets_are_refused_at_check_time(robot_file: Write) -> None:
    found = problems(robot_file("""
        robot: r
        steps:
          - desktop.click: {target: {image: ok.png, text: 确定}}
          - desktop.click: {target: {x: 10}}
          - desktop.type: {text: 张三, target: {right_of: 户名, below: 账号}}
          - desktop.click: {target: {window: 账户备案}}
    """))
    assert found == [
        "r.yaml:3:29: argument 'target' of 'desktop.click': a screen target is found one way: "
        "image or text, not both; keep one (an image beside a text: {image: ..., right_of: "
        "...})",
        "r.yaml:4:29: argument 'target' of 'desktop.click': a point needs both x and y, not "
        "only x",
        "r.yaml:5:38: argument 'target' of 'desktop.type': a target sits beside one text, not "
        "right_of and below; keep one",
        "r.yaml:6:29: argument 'target' of 'desktop.click': a screen target needs image, text, "
        "x and y, or a label's text to sit beside (right_of, below, ...), e.g. {text: 确定} or "
        "{right_of: 账户名称}",
    ]


def test_an_unchanged_screen_is_read_once(fake: Any) -> None:
    ctx, desktop, ocr = fake
    for _ in range(3):
        run(ctx, "desktop.click", {"target": {"right_of": "账户名称", "window": "账户备案"}})
    assert len(ocr.calls) == 1
    desktop.screen[600:610, 120:130] = 0  # something on the form changed: it is read again
    run(ctx, "desktop.click", {"target": {"right_of": "账户名称", "window": "账户备案"}})
    assert len(ocr.calls) == 2
