"""Where the filing client draws everything: pixels inside its window, for robots and tests.

The window (TITLE, WINDOW_WIDTH × WINDOW_HEIGHT) is put at WINDOW_X, WINDOW_Y on the screen;
with no window manager (Xvfb) it stays there, so screen = window position + these offsets.
A robot should still find fields by their labels' text (anchors), as it would in a real legacy
client; these numbers are for checking it and for tests. ``describe()`` gives them as JSON
(``python -m workhand.demo.filing --layout``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from workhand.demo.filing.rules import FIELDS


@dataclass(frozen=True)
class Spot:
    """A widget's box inside the window (pixels from the window's top-left corner)."""

    x: int
    y: int
    width: int
    height: int

    @property
    def centre(self) -> tuple[int, int]:
        return self.x + self.width // 2, self.y + self.height // 2


TITLE = "账户备案系统（演示）"
WINDOW_WIDTH, WINDOW_HEIGHT = 900, 640
WINDOW_X, WINDOW_Y = 100, 80
FONT_FAMILY = "Noto Sans CJK SC"
TEXT_PX = 18  # OCR reads 14 px and up; 18 leaves room
BACKGROUND = "#f5f5f0"
FIELD_BACKGROUND = "#ffffff"
ERROR_RED = "#c00000"

HEADER_HEIGHT = 56  # the title bar inside the window (账户备案系统, 柜员：…)

# The login screen
LOGIN_LABEL_X, LOGIN_ENTRY_X = 280, 380
LOGIN_TELLER = Spot(LOGIN_ENTRY_X, 230, 240, 38)
LOGIN_PASSWORD = Spot(LOGIN_ENTRY_X, 290, 240, 38)
LOGIN_BUTTON = Spot(LOGIN_ENTRY_X, 356, 120, 42)
LOGIN_MESSAGE = Spot(LOGIN_LABEL_X, 416, 400, 34)

# The filing form: one row per field, top to bottom (the tab order)
FORM_LABEL_X, FORM_ENTRY_X, FORM_ENTRY_WIDTH = 90, 230, 480
FORM_FIRST_ROW_Y, FORM_ROW_STEP, FORM_ROW_HEIGHT = 84, 56, 38
CHOICE_WIDTH = 280  # 账户类型 is narrower than the text fields
FORM_ROWS: dict[str, Spot] = {
    f.key: Spot(FORM_ENTRY_X, FORM_FIRST_ROW_Y + i * FORM_ROW_STEP,
                CHOICE_WIDTH if f.key == "account_type" else FORM_ENTRY_WIDTH, FORM_ROW_HEIGHT)
    for i, f in enumerate(FIELDS)
}
"""Each field's entry (or choice) box; its label's text starts at FORM_LABEL_X on the same row,
vertically centred in it (备注 reads 备注（选填）)."""
SUBMIT_BUTTON = Spot(FORM_ENTRY_X, 486, 140, 42)
FORM_MESSAGE = Spot(FORM_ENTRY_X, 540, 620, 90)

# The confirmation view: a Canvas under the header; texts drawn at these points (window coords)
CONFIRMED_TITLE_AT = (WINDOW_WIDTH // 2, 150)  # "备案成功", centred
CONFIRMATION_LABEL_AT = (200, 240)  # "备案编号", left-anchored
CONFIRMATION_NUMBER_AT = (340, 240)  # the number, left-anchored, TEXT_PX + 8 px high
CONTINUE_BUTTON = Spot(380, 440, 140, 42)


def describe() -> dict[str, Any]:
    """Every position above as plain data (window coordinates, plus where the window is)."""
    return {
        "title": TITLE,
        "window": asdict(Spot(WINDOW_X, WINDOW_Y, WINDOW_WIDTH, WINDOW_HEIGHT)),
        "login": {"labels_x": LOGIN_LABEL_X, "柜员号": asdict(LOGIN_TELLER),
                  "密码": asdict(LOGIN_PASSWORD), "登录": asdict(LOGIN_BUTTON),
                  "message": asdict(LOGIN_MESSAGE)},
        "form": {"labels_x": FORM_LABEL_X,
                 **{f.label: asdict(FORM_ROWS[f.key]) for f in FIELDS},
                 "提交备案": asdict(SUBMIT_BUTTON), "message": asdict(FORM_MESSAGE)},
        "confirmation": {"备案成功 (centre)": CONFIRMED_TITLE_AT,
                         "备案编号 (left, middle)": CONFIRMATION_LABEL_AT,
                         "number (left, middle)": CONFIRMATION_NUMBER_AT,
                         "继续备案": asdict(CONTINUE_BUTTON)},
    }
