# ruff: noqa: F811 (the screen fixture comes from tests/display.py)
"""XDesktop on a real Xvfb, checked by what a real Tk application saw (tk_probe.py's state file),
never by the driver's own word."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from libs import xvfb
from libs.steps.desktop.driver import Window
from libs.steps.desktop.xdriver import DesktopError, XDesktop
from tests.display import screen  # noqa: F401

PROBE = Path(__file__).with_name("tk_probe.py")
WAIT_S = 15.0  # how long an effect may take to show on a loaded machine (a wait, not a timing)
ORANGE_BGR = [0, 128, 255]  # tk_probe's PROBE_COLOUR
# An X client with a window that takes no WM_DELETE_WINDOW and sets no _NET_WM_PID.
BARE_WINDOW = """
from Xlib import X, display
connection = display.Display()
window = connection.screen().root.create_window(
    40, 700, 200, 100, 0, X.CopyFromParent, background_pixel=connection.screen().white_pixel)
window.change_property(connection.intern_atom("_NET_WM_NAME"),
                       connection.intern_atom("UTF8_STRING"), 8, "无协议窗口".encode())
window.map()
connection.sync()
while True:
    connection.next_event()
"""


class Probe:
    """A running tk_probe.py and its state file."""

    def __init__(self, process: subprocess.Popen[bytes], state_path: Path, title: str) -> None:
        self.process, self.state_path, self.title = process, state_path, title

    def state(self) -> dict[str, Any]:
        try:
            result: dict[str, Any] = json.loads(self.state_path.read_text(encoding="utf-8"))
            return result
        except (OSError, ValueError):
            return {}

    def wait_for(self, holds: Callable[[dict[str, Any]], bool], what: str) -> dict[str, Any]:
        deadline = time.monotonic() + WAIT_S
        while True:
            state = self.state()
            if state and holds(state):
                return state
            if time.monotonic() > deadline:
                raise AssertionError(f"the probe never showed {what}; its state: {state}")
            if self.process.poll() is not None and not holds(state):
                raise AssertionError(f"the probe exited ({self.process.returncode}) before "
                                     f"{what}; its state: {state}")
            time.sleep(0.02)

    def centre(self, widget: str) -> tuple[int, int]:
        x, y, width, height = self.state()["places"][widget]
        return x + width // 2, y + height // 2

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


def start_probe(screen: xvfb.VirtualScreen, folder: Path, title: str, at: str) -> Probe:
    state_path = folder / f"probe-{at.replace(',', '-')}.json"
    process = subprocess.Popen([sys.executable, str(PROBE), str(state_path), "--title", title,
                                "--at", at], env={**os.environ, **screen.env()})
    probe = Probe(process, state_path, title)
    probe.wait_for(lambda state: state.get("ready", False), "its window")
    return probe


@pytest.fixture
def desktop(screen: xvfb.VirtualScreen, monkeypatch: pytest.MonkeyPatch) -> Iterator[XDesktop]:
    monkeypatch.setenv("XAUTHORITY", str(screen.xauthority))
    driver = XDesktop(screen.display)
    yield driver
    driver.close()


@pytest.fixture
def probe(screen: xvfb.VirtualScreen, tmp_path: Path) -> Iterator[Probe]:
    started = start_probe(screen, tmp_path, "探针 甲", "100,100")
    yield started
    started.stop()


def window_titled(desktop: XDesktop, title: str) -> Window:
    deadline = time.monotonic() + WAIT_S
    while True:
        for window in desktop.windows():
            if window.title == title:
                return window
        if time.monotonic() > deadline:
            raise AssertionError(f"no window {title!r} among {desktop.windows()}")
        time.sleep(0.05)


def type_into(desktop: XDesktop, probe: Probe, entry: str, text: str) -> dict[str, Any]:
    desktop.click(*probe.centre(entry))
    probe.wait_for(lambda state: state["focus"] == entry, f"focus in {entry}")
    desktop.type_text(text)
    return probe.wait_for(lambda state: state["entries"][entry] == text, f"{text!r} in {entry}")


def test_types_chinese_and_mixed_ascii_exactly(desktop: XDesktop, probe: Probe) -> None:
    type_into(desktop, probe, "name", "张三")
    type_into(desktop, probe, "address", "广州市天河区")
    state = type_into(desktop, probe, "account", "Acct-6217 0000")
    assert state["entries"] == {"name": "张三", "address": "广州市天河区",
                                "account": "Acct-6217 0000", "paste": ""}
    assert desktop.get_clipboard() == ""  # what was pasted to type it does not stay there


def test_types_more_distinct_characters_than_there_are_spare_keycodes(
        desktop: XDesktop, probe: Probe) -> None:
    # 100 distinct characters (more than Xvfb's 19 spare keycodes) and ASCII: the clipboard
    # a robot set before is there again afterwards.
    desktop.set_clipboard("剪贴板原文")
    text = "".join(chr(0x4E00 + 37 * i) for i in range(100)) + " ~!@#$%^&*()_+{}|:\"<>? ünï"
    assert type_into(desktop, probe, "address", text)["entries"]["address"] == text
    assert desktop.get_clipboard() == "剪贴板原文"


def test_types_field_after_field_with_no_pause(desktop: XDesktop, probe: Probe) -> None:
    # Each paste waits for its SelectionRequest: the next field's text cannot overtake it.
    first = "".join(chr(0x5000 + 11 * i) for i in range(15))
    second = "".join(chr(0x6000 + 13 * i) for i in range(15))
    type_into(desktop, probe, "name", first)
    state = type_into(desktop, probe, "address", second)
    assert (state["entries"]["name"], state["entries"]["address"]) == (first, second)


def test_close_gives_lent_keycodes_back(screen: xvfb.VirtualScreen, probe: Probe,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from Xlib.display import Display

    monkeypatch.setenv("XAUTHORITY", str(screen.xauthority))
    observer = Display(screen.display)
    first = observer.display.info.min_keycode
    count = observer.display.info.max_keycode - first + 1
    before = [list(symbols) for symbols in observer.get_keyboard_mapping(first, count)]
    driver = XDesktop(screen.display, unicode_input="keymap")
    driver.hotkey(["eacute"])  # not on a US keyboard: a spare keycode is lent it
    probe.wait_for(lambda state: "eacute" in state["keys"], "é")
    during = [list(symbols) for symbols in observer.get_keyboard_mapping(first, count)]
    driver.close()
    after = [list(symbols) for symbols in observer.get_keyboard_mapping(first, count)]
    observer.close()
    assert during != before
    assert after == before


def test_clicks_double_right_and_middle(desktop: XDesktop, probe: Probe) -> None:
    desktop.click(*probe.centre("button"))
    probe.wait_for(lambda state: state["clicks"] == 1, "one click")
    desktop.click(*probe.centre("target"), count=2)
    desktop.click(*probe.centre("target"), button="right")
    desktop.click(*probe.centre("target"), button="middle")
    state = probe.wait_for(lambda state: state["middle_clicks"] == 1, "a middle click")
    assert (state["clicks"], state["double_clicks"], state["right_clicks"]) == (1, 1, 1)


def test_drag_goes_from_start_to_end(desktop: XDesktop, probe: Probe) -> None:
    x, y, _, _ = probe.state()["places"]["canvas"]
    start, end = (x + 20, y + 20), (x + 300, y + 150)
    desktop.drag(start, end)
    state = probe.wait_for(lambda state: state["drag"] and state["drag"]["end"], "a drag's end")
    assert state["drag"] == {"start": list(start), "end": list(end)}
    assert state["drag_motions"] >= 5  # it travelled, it did not jump


def test_hotkeys_press_in_order_and_release(desktop: XDesktop, probe: Probe) -> None:
    desktop.click(*probe.centre("account"))
    for keys in (["ctrl", "s"], ["Return"], ["ctrl", "shift", "z"], ["alt", "F5"], ["Escape"]):
        desktop.hotkey(keys)
    state = probe.wait_for(lambda state: "Escape" in state["keys"], "Escape")
    combos = [key for key in state["keys"] if not key.split("+")[-1].endswith(("_L", "_R"))]
    assert combos == ["ctrl+s", "Return", "ctrl+shift+Z", "alt+F5", "Escape"]
    desktop.type_text("x")  # nothing stays held: a plain x arrives as a plain x
    probe.wait_for(lambda state: state["keys"][-1] == "x", "a plain x")
    assert probe.state()["entries"]["account"] == "x"


def test_unknown_key_is_named(desktop: XDesktop) -> None:
    with pytest.raises(ValueError, match="unknown key 'ctrll'"):
        desktop.hotkey(["ctrll", "s"])


def test_clipboard_round_trips_chinese(desktop: XDesktop, probe: Probe) -> None:
    desktop.set_clipboard("广州市天河区 张三")
    desktop.click(*probe.centre("paste"))
    desktop.hotkey(["ctrl", "v"])  # Tk asks us (the owner) for UTF8_STRING
    probe.wait_for(lambda state: state["entries"]["paste"] == "广州市天河区 张三", "the paste")
    type_into(desktop, probe, "name", "李四")
    desktop.hotkey(["F2"])  # the probe copies its name entry: now Tk owns CLIPBOARD
    probe.wait_for(lambda state: state.get("copied") == "李四", "the copy")
    assert desktop.get_clipboard() == "李四"


def test_windows_lists_the_tk_window_with_its_title_pid_and_place(
        desktop: XDesktop, probe: Probe) -> None:
    window = window_titled(desktop, "探针 甲")
    assert window.pid == probe.process.pid
    assert (window.box.x, window.box.y, window.box.width, window.box.height) == (100, 100,
                                                                                 520, 460)


def test_focus_switches_between_two_windows(screen: xvfb.VirtualScreen, desktop: XDesktop,
                                            probe: Probe, tmp_path: Path) -> None:
    other = start_probe(screen, tmp_path, "Probe 乙", "700,100")
    try:
        first, second = window_titled(desktop, "探针 甲"), window_titled(desktop, "Probe 乙")
        desktop.move(*first.box.center)  # the pointer over one window, the keys to the other
        desktop.focus(second)
        desktop.type_text("乙")
        other.wait_for(lambda state: state["entries"]["name"] == "乙", "乙 in the second")
        desktop.move(*second.box.center)
        desktop.focus(first)
        desktop.type_text("甲")
        probe.wait_for(lambda state: state["entries"]["name"] == "甲", "甲 in the first")
        assert other.state()["entries"]["name"] == "乙"
        assert desktop.windows()[-1].title == "探针 甲"  # raised: topmost last
    finally:
        other.stop()


def test_close_window_makes_the_application_exit(desktop: XDesktop, probe: Probe) -> None:
    desktop.close_window(window_titled(desktop, "探针 甲"))
    assert probe.process.wait(WAIT_S) == 0
    assert probe.state()["closed"] is True
    assert all(window.title != "探针 甲" for window in desktop.windows())


def test_a_window_without_wm_delete_is_closed_by_disconnecting_its_client(
        screen: xvfb.VirtualScreen, desktop: XDesktop) -> None:
    client = subprocess.Popen([sys.executable, "-c", BARE_WINDOW],
                              env={**os.environ, **screen.env()}, stderr=subprocess.DEVNULL)
    try:
        window = window_titled(desktop, "无协议窗口")
        assert window.pid == client.pid  # no _NET_WM_PID: the X-Resource extension knows it
        desktop.close_window(window)
        assert client.wait(WAIT_S) != 0  # its connection was closed under it
    finally:
        if client.poll() is None:
            client.kill()
            client.wait()
    assert all(window.title != "无协议窗口" for window in desktop.windows())


def test_grab_shows_the_window_pixels(desktop: XDesktop, probe: Probe) -> None:
    window = window_titled(desktop, "探针 甲")
    image = desktop.grab()
    assert image.shape == (1080, 1920, 3) and desktop.screen_size() == (1920, 1080)
    assert image[window.box.y + 30, window.box.x + 60].tolist() == ORANGE_BGR
    assert image[window.box.y + 30, window.box.x - 5].tolist() != ORANGE_BGR


@pytest.mark.skipif(shutil.which("openbox") is None, reason="openbox is not installed")
def test_windows_focus_and_close_under_a_reparenting_window_manager(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with xvfb.start() as managed:  # a display of its own: the window manager stays there
        monkeypatch.setenv("XAUTHORITY", str(managed.xauthority))
        manager = subprocess.Popen(["openbox"], env={**os.environ, **managed.env()},
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        first = start_probe(managed, tmp_path, "探针 甲", "100,100")
        second = start_probe(managed, tmp_path, "Probe 乙", "700,100")
        desktop = XDesktop(managed.display)
        try:
            one, two = window_titled(desktop, "探针 甲"), window_titled(desktop, "Probe 乙")
            assert (one.pid, two.pid) == (first.process.pid, second.process.pid)
            assert one.box.x >= 100 and one.box.y >= 100  # inside openbox's frame
            assert desktop.grab()[one.box.y + 30, one.box.x + 60].tolist() == ORANGE_BGR
            desktop.focus(two)
            desktop.type_text("乙x")
            second.wait_for(lambda state: state["entries"]["name"] == "乙x", "乙x in the second")
            desktop.focus(one)
            desktop.type_text("甲y")
            first.wait_for(lambda state: state["entries"]["name"] == "甲y", "甲y in the first")
            desktop.close_window(one)
            assert first.process.wait(WAIT_S) == 0
        finally:
            desktop.close()
            first.stop()
            second.stop()
            manager.terminate()
            manager.wait(10)


def test_a_display_that_cannot_be_opened_is_explained() -> None:
    with pytest.raises(DesktopError, match=r"cannot open X display ':4242'.*DISPLAY.*XAUTHORITY"):
        XDesktop(":4242")


def test_importing_the_driver_opens_no_display() -> None:
    code = ("import sys, libs.steps.desktop.xdriver, libs.steps.desktop.xclipboard; "
            "heavy = ('Xlib', 'mss', 'numpy', 'cv2'); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))")
    env = {key: value for key, value in os.environ.items() if key != "DISPLAY"}
    found = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                           text=True, check=True, cwd=Path(__file__).parents[4])
    assert found.stdout.strip() == "[]"
