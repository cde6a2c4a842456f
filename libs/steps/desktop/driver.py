"""The narrow interface desktop steps drive a screen through, and its fake.

A DesktopDriver is one X display: its windows, its pointer and keyboard, its clipboard and its
pixels. Steps never talk to X themselves; they ask ``desktop_for(ctx)`` (steps.py) for the run's
driver. The real one (xdriver.py: python-xlib's XTest, mss) is imported on a robot's first
desktop step, so loading the step libraries (``workhand check``, the server, the worker's
pre-forked process) never opens a display. FakeDesktop records what a robot did to an
in-memory screen, for unit tests; acceptance tests use the real driver under Xvfb.

Coordinates are screen pixels, (0, 0) at the top left. Images are numpy arrays, height × width ×
3, BGR (OpenCV's order), uint8.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol

from libs.steps.vision.box import Box

if TYPE_CHECKING:
    from libs.steps.vision.box import Image

Button = Literal["left", "middle", "right"]


@dataclass(frozen=True)
class Window:
    """A top-level window: its X id, title (WM_NAME / _NET_WM_NAME), process and place."""

    id: int
    title: str
    box: Box
    pid: int | None = None


class DesktopDriver(Protocol):
    """What desktop steps need of a display; nothing more."""

    def screen_size(self) -> tuple[int, int]:
        """(width, height) of the screen."""
        ...

    def grab(self) -> Image:
        """The whole screen, BGR. Crop this for a region: region grabs raise X errors on Xvfb."""
        ...

    def windows(self) -> list[Window]:
        """The top-level windows that are mapped (visible), topmost last."""
        ...

    def focus(self, window: Window) -> None:
        """Raise the window and give it the keyboard."""
        ...

    def close_window(self, window: Window) -> None:
        """Ask the window to close (WM_DELETE_WINDOW), as its close button would."""
        ...

    def move(self, x: int, y: int) -> None: ...

    def click(self, x: int, y: int, button: Button = "left", count: int = 1) -> None:
        """Move to (x, y) and press and release the button `count` times."""
        ...

    def drag(self, start: tuple[int, int], end: tuple[int, int], button: Button = "left") -> None:
        """Press at start, move in steps to end, release there."""
        ...

    def type_text(self, text: str) -> None:
        """Type text into the focused field, any characters (Chinese included)."""
        ...

    def hotkey(self, keys: Sequence[str]) -> None:
        """Press keys together and release them in reverse: ["ctrl", "s"], ["Return"]."""
        ...

    def get_clipboard(self) -> str: ...

    def set_clipboard(self, text: str) -> None: ...

    def close(self) -> None:
        """Let go of the display (the run ends)."""
        ...


@dataclass
class FakeDesktop:
    """An in-memory screen: tests set its pixels and windows, then read what the robot did.

    ``events`` records every action as a tuple, e.g. ("click", 10, 20, "left", 1) or
    ("type", "张三"); typed text also goes to ``typed`` of the focused window's title.
    """

    width: int = 1920
    height: int = 1080
    screen: Image | None = None
    open_windows: list[Window] = field(default_factory=list)
    events: list[tuple[object, ...]] = field(default_factory=list)
    typed: dict[str, str] = field(default_factory=dict)
    clipboard: str = ""
    focused: Window | None = None
    closed: bool = False

    def screen_size(self) -> tuple[int, int]:
        return self.width, self.height

    def grab(self) -> Image:
        import numpy as np

        if self.screen is None:
            return np.zeros((self.height, self.width, 3), dtype=np.uint8)
        return self.screen.copy()

    def windows(self) -> list[Window]:
        return list(self.open_windows)

    def focus(self, window: Window) -> None:
        self.focused = window
        self.events.append(("focus", window.title))

    def close_window(self, window: Window) -> None:
        self.open_windows = [w for w in self.open_windows if w.id != window.id]
        self.events.append(("close_window", window.title))

    def move(self, x: int, y: int) -> None:
        self.events.append(("move", x, y))

    def click(self, x: int, y: int, button: Button = "left", count: int = 1) -> None:
        self.events.append(("click", x, y, button, count))

    def drag(self, start: tuple[int, int], end: tuple[int, int], button: Button = "left") -> None:
        self.events.append(("drag", start, end, button))

    def type_text(self, text: str) -> None:
        self.events.append(("type", text))
        title = self.focused.title if self.focused else ""
        self.typed[title] = self.typed.get(title, "") + text

    def hotkey(self, keys: Sequence[str]) -> None:
        self.events.append(("hotkey", *keys))

    def get_clipboard(self) -> str:
        return self.clipboard

    def set_clipboard(self, text: str) -> None:
        self.clipboard = text
        self.events.append(("clipboard", text))

    def close(self) -> None:
        self.closed = True
