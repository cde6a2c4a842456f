"""The real DesktopDriver: one X display through python-xlib (XTest for input) and mss (pixels).

Input goes through the XTEST extension on one connection: no process per action (xdotool) and
no pause after each call (pyautogui). Typing works for any text under any layout: characters of
the layout go by their own keys; runs of others (Chinese) are pasted through the clipboard,
whose paste request proves the program handled every key before it (lending spare keycodes
their keysym, xkeys.py, raced in Tk: unicode_input="keymap" keeps it for programs that cannot
paste). The clipboard is served by a thread of its own (xclipboard.py). Windows are found by
walking the root window's children, which works with no window manager (Xvfb) and with a
reparenting one.

One XDesktop is used from one thread (python-xlib connections are not shared); the clipboard
thread has its own connection. Nothing here is imported at module level that would open a
display: Xlib, mss and OpenCV are imported inside the methods.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Literal

from libs.steps.desktop.driver import Button, DesktopDriver, Window
from libs.steps.desktop.xkeys import Keymap, KeyStroke, keysym_for_char, keysym_for_name
from libs.steps.vision.box import Box

if TYPE_CHECKING:
    from libs.steps.desktop.xclipboard import ClipboardThread
    from libs.steps.vision.box import Image

BUTTONS: dict[str, int] = {"left": 1, "middle": 2, "right": 3}
DRAG_STEP_PX = 20  # a motion event every 20 px, so applications see the pointer travel
DRAG_STEP_PAUSE_S = 0.005  # between motion events: some toolkits drop motion that comes at once
PASTE_TIMEOUT_S = 5.0  # how long the focused program gets to ask for pasted text
LEND_SETTLE_S = 0.05  # after lending keycodes, before pressing them ("keymap" input)
UnicodeInput = Literal["paste", "keymap"]


class DesktopError(RuntimeError):
    """The display cannot be driven: not reachable, no XTest, a window that is gone."""


class XDesktop:
    """A DesktopDriver on the X display `display` (":3"), e.g. a worker's Xvfb."""

    def __init__(self, display: str, key_pause_s: float = 0.0,
                 paste_keys: Sequence[str] = ("ctrl", "v"),
                 unicode_input: UnicodeInput = "paste") -> None:
        """Open the display. `key_pause_s` waits between typed characters (0: as fast as X).
        `unicode_input` is how characters the keyboard layout lacks (Chinese) are typed:
        "paste" (clipboard, then `paste_keys`; some legacy programs take only shift+Insert) or
        "keymap" (spare keycodes lent their keysym — for programs that cannot paste; X clients
        may read a lent keycode's symbol late, see xkeys.py, so it is not the default)."""
        from Xlib import X
        from Xlib.display import Display
        from Xlib.ext import xtest

        self.display_name = display
        self.key_pause_s = key_pause_s
        self.paste_keys = list(paste_keys)
        self.unicode_input = unicode_input
        try:
            self._display = Display(display)
        except Exception as error:
            xauthority = os.environ.get("XAUTHORITY", "")
            raise DesktopError(
                f"cannot open X display {display!r} ({error}). Check DISPLAY (the number the "
                f"display's Xvfb printed, e.g. ':3') and XAUTHORITY "
                f"({xauthority or 'not set'}: it must name an existing file, empty for Xvfb)"
            ) from error
        if not self._display.has_extension("XTEST"):
            self._display.close()
            raise DesktopError(f"X display {display!r} has no XTEST extension, which clicks and "
                               "keys go through (Xvfb has it unless started with -extension XTEST)")
        self._xtest = xtest
        self._X = X
        self._root = self._display.screen().root
        self._keymap = Keymap(self._display)
        self._atoms: dict[str, int] = {}
        self._screenshots: Any = None  # mss, opened on the first grab
        self._clipboard: ClipboardThread | None = None
        self._closed = False

    # -- pixels -----------------------------------------------------------------------------

    def screen_size(self) -> tuple[int, int]:
        screen = self._display.screen()
        return int(screen.width_in_pixels), int(screen.height_in_pixels)

    def grab(self) -> Image:
        """The whole screen, BGR: one full grab (region grabs raise X errors on Xvfb)."""
        import cv2
        import mss
        import numpy as np

        if self._screenshots is None:
            self._screenshots = mss.MSS(display=self.display_name)
        shot = self._screenshots.grab(self._screenshots.monitors[0])
        bgra = np.frombuffer(shot.raw, dtype=np.uint8).reshape(shot.height, shot.width, 4)
        # OpenCV drops alpha in ~7 ms on 1920×1080; numpy's strided copy takes ~25 ms.
        return np.asarray(cv2.cvtColor(bgra, cv2.COLOR_BGRA2BGR), dtype=np.uint8)

    # -- windows ----------------------------------------------------------------------------

    def windows(self) -> list[Window]:
        """Mapped top-level windows, bottom to top, with title, pid and box in root coordinates."""
        from Xlib import error

        found: list[Window] = []
        for window in self._top_levels():
            try:
                geometry = window.get_geometry()
                origin = self._root.translate_coords(window, 0, 0)
                box = Box(int(origin.x), int(origin.y), int(geometry.width), int(geometry.height))
                found.append(Window(int(window.id), self._title(window), box, self._pid(window)))
            except error.XError:  # it closed while we looked
                continue
        return found

    def _top_levels(self) -> Iterator[Any]:
        """Client windows: the root's mapped children, or (under a reparenting window manager)
        the child of a frame that carries WM_STATE."""
        from Xlib import X, error

        wm_state = self._atom("WM_STATE")
        for child in self._root.query_tree().children:
            try:
                attributes = child.get_attributes()
                if attributes.map_state != X.IsViewable or attributes.override_redirect:
                    continue  # hidden, or a menu / tooltip rather than a window
                if child.get_full_property(wm_state, X.AnyPropertyType) is not None:
                    yield child  # a client the window manager did not reparent
                    continue
                client = self._client_in_frame(child, wm_state)
                if client is not None:
                    yield client  # a window manager's frame: the client inside is the window
                elif self._has_title(child):
                    yield child  # no window manager (Xvfb): nothing sets WM_STATE
            except error.XError:
                continue

    def _client_in_frame(self, frame: Any, wm_state: int, depth: int = 2) -> Any:
        from Xlib import X

        for child in frame.query_tree().children:
            if child.get_full_property(wm_state, X.AnyPropertyType) is not None:
                return child
            if depth > 1:
                found = self._client_in_frame(child, wm_state, depth - 1)
                if found is not None:
                    return found
        return None

    def _has_title(self, window: Any) -> bool:
        return bool(self._title(window))

    def _title(self, window: Any) -> str:
        """_NET_WM_NAME (UTF-8) when set, else WM_NAME (Latin-1 STRING, or UTF-8 as Tk writes)."""
        from Xlib import X, Xatom

        net_name = window.get_full_property(self._atom("_NET_WM_NAME"), self._atom("UTF8_STRING"))
        if net_name is not None and net_name.value:
            return _decode(net_name.value, "utf-8")
        name = window.get_full_property(Xatom.WM_NAME, X.AnyPropertyType)
        if name is None or not name.value:
            return ""
        encoding = "latin-1" if name.property_type == Xatom.STRING else "utf-8"
        return _decode(name.value, encoding)

    def _pid(self, window: Any) -> int | None:
        """_NET_WM_PID when the application set it, else the X-Resource extension's answer
        (the server knows the process of a local client)."""
        from Xlib import Xatom

        prop = window.get_full_property(self._atom("_NET_WM_PID"), Xatom.CARDINAL)
        if prop is not None and len(prop.value):
            return int(prop.value[0])
        if not self._display.has_extension("X-Resource"):
            return None
        from Xlib.ext import res

        try:
            reply = self._display.res_query_client_ids(
                [{"client": window.id, "mask": res.LocalClientPIDMask}])
        except Exception:  # an old server, or a remote client
            return None
        for answer in reply.ids:
            if answer.spec.mask & res.LocalClientPIDMask and answer.value:
                return int(answer.value[0])
        return None

    def focus(self, window: Window) -> None:
        """Raise the window and give it the keyboard. With no window manager (Xvfb) this is
        done directly; with one, it is also asked (_NET_ACTIVE_WINDOW), since it may decide."""
        from Xlib import X, error
        from Xlib.protocol import event

        target = self._display.create_resource_object("window", window.id)
        if self._window_manager_active():
            message = event.ClientMessage(
                window=target, client_type=self._atom("_NET_ACTIVE_WINDOW"),
                data=(32, [2, X.CurrentTime, 0, 0, 0]))  # 2: asked by a pager-like tool
            self._root.send_event(message, event_mask=X.SubstructureRedirectMask
                                  | X.SubstructureNotifyMask)
        caught = error.CatchError()
        target.configure(stack_mode=X.Above, onerror=caught)
        target.set_input_focus(X.RevertToParent, X.CurrentTime, onerror=caught)
        self._display.sync()
        if caught.get_error() is not None:
            raise DesktopError(f"cannot focus window {window.title!r} (id {window.id}): "
                               f"{caught.get_error()} — it may have closed or be unmapped")

    def close_window(self, window: Window) -> None:
        """WM_DELETE_WINDOW when the window takes it (as its close button); else the client is
        disconnected (XKillClient), which ends most X programs."""
        from Xlib import X, Xatom, error
        from Xlib.protocol import event

        target = self._display.create_resource_object("window", window.id)
        caught = error.CatchError()
        protocols = target.get_full_property(self._atom("WM_PROTOCOLS"), Xatom.ATOM)
        if protocols is not None and self._atom("WM_DELETE_WINDOW") in protocols.value:
            message = event.ClientMessage(
                window=target, client_type=self._atom("WM_PROTOCOLS"),
                data=(32, [self._atom("WM_DELETE_WINDOW"), X.CurrentTime, 0, 0, 0]))
            target.send_event(message, event_mask=0, onerror=caught)
        else:
            target.kill_client(onerror=caught)
        self._display.sync()
        if caught.get_error() is not None:
            raise DesktopError(f"cannot close window {window.title!r} (id {window.id}): "
                               f"{caught.get_error()}")

    def _window_manager_active(self) -> bool:
        from Xlib import Xatom

        check = self._root.get_full_property(self._atom("_NET_SUPPORTING_WM_CHECK"),
                                             Xatom.WINDOW)
        return check is not None and len(check.value) > 0

    def _atom(self, name: str) -> int:
        if name not in self._atoms:
            self._atoms[name] = int(self._display.intern_atom(name))
        return self._atoms[name]

    # -- pointer ----------------------------------------------------------------------------

    def move(self, x: int, y: int) -> None:
        self._motion(x, y)
        self._display.sync()

    def click(self, x: int, y: int, button: Button = "left", count: int = 1) -> None:
        """Move to (x, y), press and release `count` times (2: a double click)."""
        X, code = self._X, _button_code(button)
        self._motion(x, y)
        for _ in range(count):
            self._xtest.fake_input(self._display, X.ButtonPress, code)
            self._xtest.fake_input(self._display, X.ButtonRelease, code)
        self._display.sync()

    def drag(self, start: tuple[int, int], end: tuple[int, int], button: Button = "left") -> None:
        """Press at start, move to end in steps of ~DRAG_STEP_PX, release there."""
        X, code = self._X, _button_code(button)
        self._motion(*start)
        self._xtest.fake_input(self._display, X.ButtonPress, code)
        self._display.sync()
        try:
            distance = max(abs(end[0] - start[0]), abs(end[1] - start[1]))
            steps = max(2, min(100, distance // DRAG_STEP_PX))
            for step in range(1, steps + 1):
                self._motion(start[0] + (end[0] - start[0]) * step // steps,
                             start[1] + (end[1] - start[1]) * step // steps)
                self._display.sync()
                time.sleep(DRAG_STEP_PAUSE_S)
        finally:
            self._xtest.fake_input(self._display, X.ButtonRelease, code)
            self._display.sync()

    def _motion(self, x: int, y: int) -> None:
        self._xtest.fake_input(self._display, self._X.MotionNotify, x=int(x), y=int(y))

    # -- keyboard ---------------------------------------------------------------------------

    def type_text(self, text: str) -> None:
        """Type any text into the focused field. Characters of the keyboard layout are typed
        with their own keys (Shift where needed); runs of other characters (Chinese) are pasted
        — the clipboard is put back afterwards — or, with unicode_input="keymap", typed through
        spare keycodes lent their keysym (pasted all the same when too few are free)."""
        keysyms = [keysym_for_char(char) for char in text]
        if self.unicode_input == "keymap" and self._keymap.can_lend(keysyms):
            self._type_keysyms(keysyms, lend=True)
            return
        start = 0
        for end in range(1, len(text) + 1):
            if end < len(text) and (self._keymap.in_layout(keysyms[end])
                                    == self._keymap.in_layout(keysyms[start])):
                continue  # the run goes on
            if self._keymap.in_layout(keysyms[start]):
                self._type_keysyms(keysyms[start:end], lend=False)
            else:
                self._paste(text[start:end])
            start = end

    def _type_keysyms(self, keysyms: list[int], lend: bool) -> None:
        if lend and not all(self._keymap.in_layout(keysym) for keysym in keysyms):
            self._keymap.lend(keysyms)  # one keymap change, before any press
            time.sleep(LEND_SETTLE_S)
        for keysym in keysyms:
            self._tap(self._keymap.stroke(keysym))
            if self.key_pause_s:
                self._display.sync()
                time.sleep(self.key_pause_s)
        self._display.sync()

    def _paste(self, text: str) -> None:
        """Put `text` on the clipboard, press the paste keys, wait until the program has asked
        for it (the SelectionRequest is the proof it handled every key before), put back the
        clipboard's former text (empty when there was none)."""
        from libs.steps.desktop.xclipboard import ClipboardError

        clipboard = self._clipboard_thread()
        try:
            former: str | None = clipboard.get_text()
        except ClipboardError:  # its owner did not answer: nothing to put back
            former = None
        served = clipboard.served
        clipboard.set_text(text)
        try:
            self.hotkey(self.paste_keys)
            if not clipboard.wait_served(served, PASTE_TIMEOUT_S):
                # the text is not in the message: it may be a secret
                raise DesktopError(
                    f"typing {len(text)} characters by pasting: nothing asked for the "
                    f"clipboard within {PASTE_TIMEOUT_S:.0f} s of {'+'.join(self.paste_keys)} "
                    "— is a text field focused, and is that its paste key (see XDesktop's "
                    "paste_keys)?")
        finally:
            # the former text back, or an empty one, even on failure: a typed secret must not
            # stay pasteable
            clipboard.set_text(former or "")

    def _tap(self, stroke: KeyStroke) -> None:
        X, shift = self._X, self._keymap.shift_keycode
        if stroke.shifted:
            self._xtest.fake_input(self._display, X.KeyPress, shift)
        self._xtest.fake_input(self._display, X.KeyPress, stroke.keycode)
        self._xtest.fake_input(self._display, X.KeyRelease, stroke.keycode)
        if stroke.shifted:
            self._xtest.fake_input(self._display, X.KeyRelease, shift)

    def hotkey(self, keys: Sequence[str]) -> None:
        """Press keys in order and release them in reverse: ["ctrl", "s"], ["alt", "F4"].
        A key only on the Shift level ("+", "S") is pressed with Shift unless shift is given."""
        if not keys:
            raise ValueError("hotkey needs at least one key, e.g. ['ctrl', 's']")
        keysyms = [keysym_for_name(name) for name in keys]
        self._keymap.lend(keysyms)
        strokes = [self._keymap.stroke(keysym) for keysym in keysyms]
        codes = [stroke.keycode for stroke in strokes]
        shift = self._keymap.shift_keycode
        if any(stroke.shifted for stroke in strokes) and shift not in codes:
            codes.insert(0, shift)
        X, pressed = self._X, []
        try:
            for code in codes:
                self._xtest.fake_input(self._display, X.KeyPress, code)
                pressed.append(code)
        finally:
            for code in reversed(pressed):
                self._xtest.fake_input(self._display, X.KeyRelease, code)
            self._display.sync()

    # -- clipboard --------------------------------------------------------------------------

    def get_clipboard(self) -> str:
        return self._clipboard_thread().get_text()

    def set_clipboard(self, text: str) -> None:
        """Own CLIPBOARD with `text` (pasteable until close(): X keeps nothing itself)."""
        self._clipboard_thread().set_text(text)

    def _clipboard_thread(self) -> ClipboardThread:
        from libs.steps.desktop.xclipboard import ClipboardThread

        if self._closed:
            raise DesktopError("the desktop driver is closed")
        if self._clipboard is None:
            self._clipboard = ClipboardThread(self.display_name)
        return self._clipboard

    # -- the end ----------------------------------------------------------------------------

    def close(self) -> None:
        """Give lent keycodes back, stop the clipboard thread, close the connections."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):  # the display may be gone (Xvfb stopped first)
            self._keymap.restore()
        if self._clipboard is not None:
            self._clipboard.stop()
        if self._screenshots is not None:
            self._screenshots.close()
        with contextlib.suppress(Exception):
            self._display.close()

    def __enter__(self) -> XDesktop:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _conforms(desktop: XDesktop) -> DesktopDriver:
    """mypy checks here that XDesktop has every method of the DesktopDriver protocol."""
    return desktop


def _button_code(button: str) -> int:
    try:
        return BUTTONS[button]
    except KeyError:
        raise ValueError(f"unknown mouse button {button!r}: left, middle or right") from None


def _decode(value: Any, encoding: str) -> str:
    raw = value if isinstance(value, bytes) else bytes(value)
    return raw.decode(encoding, errors="replace").rstrip("\x00")
