"""The S5 filing client (账户备案系统（演示）) under a real Xvfb, driven from outside as a robot
would: xdotool for keys and clicks (ASCII typed, Chinese pasted from the clipboard with xclip),
mss for the screen and RapidOCR (its real models) to read the confirmation number, which only
exists as pixels. The client's own records are then compared field by field.
"""

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

from libs.xvfb import VirtualScreen
from tests.display import screen  # noqa: F401
from workhand.demo.filing import layout
from workhand.demo.filing.batch import HEADERS, make_batch, write_batch
from workhand.demo.filing.records import (
    FilingStore,
    read_filings,
    read_login_attempts,
    read_rejections,
)
from workhand.demo.filing.rules import ACCOUNT_TYPES, FIELDS, id_check_character, validate
from workhand.demo.filing.tellers import DEFAULT_TELLERS

ROOT = Path(__file__).resolve().parents[2]
WAIT = 60.0  # seconds: how long to wait for a screen before failing (a loaded CI machine)
TELLER, PASSWORD = "0101", DEFAULT_TELLERS["0101"]

needs_x_tools = pytest.mark.skipif(
    not all(shutil.which(p) for p in ("Xvfb", "xdotool", "xclip")),
    reason="needs Xvfb, xdotool and xclip (scripts/install.sh installs them)")


# ---- without a display ---------------------------------------------------------------------

def test_importing_the_package_and_its_apis_opens_no_display() -> None:
    code = ("import sys, workhand.demo.filing, workhand.demo.filing.records, "
            "workhand.demo.filing.batch, workhand.demo.filing.layout, "
            "workhand.demo.filing.__main__; "
            "print(sorted(m for m in ('tkinter', 'Xlib', 'mss', 'rapidocr') if m in sys.modules))")
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"} | {"PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


def test_make_batch_is_deterministic_and_every_row_is_valid() -> None:
    first, again, other = make_batch(30, seed=7), make_batch(30, seed=7), make_batch(30, seed=8)
    assert first == again
    assert first != other
    assert make_batch(10, seed=7) == first[:10]  # a smaller batch is the same accounts' start
    assert len({r["账户名称"] for r in first}) == len({r["账号"] for r in first}) == 30
    for row in first:
        assert tuple(row) == HEADERS
        values = {f.key: row.get(f.label, "") for f in FIELDS}
        assert validate(values) == [], row
        assert row["证件号码"][17] == id_check_character(row["证件号码"][:17])
        assert row["账户类型"] in ACCOUNT_TYPES
        assert "有限" in row["账户名称"] and 2 <= len(row["法定代表人"]) <= 3


def test_write_batch_writes_text_cells_under_chinese_headers(tmp_path: Path) -> None:
    from openpyxl import load_workbook

    rows = make_batch(5, seed=3)
    path = write_batch(rows, tmp_path / "work" / "待备案.xlsx")
    sheet = load_workbook(path).active
    assert sheet is not None
    table = [[c.value for c in r] for r in sheet.iter_rows()]
    assert table[0] == list(HEADERS)
    assert table[1:] == [[row[h] for h in HEADERS] for row in rows]  # all str: no 6.2E+17


def test_validation_messages() -> None:
    good = {f.key: v for f, v in zip(FIELDS, (
        "南昌恒达建材有限公司", "360177763170669079", "基本存款账户", "2020-01-11", "赵雪",
        "360602196408013257", ""), strict=True)}
    assert validate(good) == []
    assert validate(good | {"account_number": "12345"}) == ["账号必须是12–19位数字"]
    assert validate(good | {"account_number": "３６０１７７７６３１７０６６"}) == [
        "账号必须是12–19位数字"]  # full-width digits are not digits to the back end
    assert validate(good | {"opened_on": "2020-02-30"}) == ["开户日期不是有效日期"]
    assert validate(good | {"opened_on": "2020/01/11"}) == ["开户日期格式应为YYYY-MM-DD"]
    assert validate(good | {"opened_on": "2999-01-01"}) == ["开户日期不能晚于今天"]
    assert validate(good | {"id_number": "360602196408013258"}) == ["证件号码校验位错误"]
    assert validate(good | {"account_type": "其他账户"}) == ["账户类型必须从列表中选择"]
    assert validate({}) == ["请填写账户名称", "请填写账号", "请选择账户类型", "请填写开户日期",
                            "请填写法定代表人", "请填写证件号码"]


def test_records_keep_every_field_as_typed_with_sequential_numbers(tmp_path: Path) -> None:
    store = FilingStore(tmp_path)
    typed = {"account_name": " 南昌恒达建材有限公司 ", "remarks": "𠀀 emoji 🏦"}
    first = store.add_filing("0101", typed)
    second = store.add_filing("0102", {})
    assert read_filings(tmp_path) == [first, second]
    assert first.account_name == " 南昌恒达建材有限公司 " and first.remarks == "𠀀 emoji 🏦"
    assert first.confirmation.endswith("-000001") and second.confirmation.endswith("-000002")
    assert first.confirmation.startswith("BA" + first.filed_at[:10].replace("-", ""))
    assert first.as_row()["账户名称"] == " 南昌恒达建材有限公司 "
    store.record_login("0101", False)
    assert [(a.teller, a.succeeded) for a in read_login_attempts(tmp_path)] == [("0101", False)]
    assert read_filings(tmp_path / "never-used") == []


# ---- the client on a real screen -----------------------------------------------------------

class Client:
    """One running client and the robot-like hands that drive it (xdotool, xclip, mss)."""

    def __init__(self, virtual_screen: VirtualScreen, data: Path, *extra: str) -> None:
        self.screen = virtual_screen
        self.data = data
        self.env = os.environ | virtual_screen.env() | {"PYTHONPATH": str(ROOT)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "workhand.demo.filing", "--data", str(data), *extra],
            env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # by class: Tk writes WM_NAME as UTF-8 bytes typed STRING, which xdotool --name cannot
        # match; _NET_WM_NAME (UTF8_STRING) holds the title, checked in a test below
        found = self.xdotool("search", "--sync", "--class", "^Filing$")
        self.window = int(found.split()[0])
        self.ocr_engine: Any = None

    def xdotool(self, *args: str) -> str:
        return subprocess.run(["xdotool", *args], env=self.env, capture_output=True,
                              text=True, check=True, timeout=WAIT).stdout

    def key(self, *keys: str) -> None:
        self.xdotool("key", "--delay", "30", *keys)

    def type(self, ascii_text: str) -> None:
        assert ascii_text.isascii(), "xdotool types Chinese wrongly under some layouts: paste"
        self.xdotool("type", "--delay", "20", ascii_text)

    def paste(self, text: str) -> None:
        """Put text on the CLIPBOARD (xclip keeps serving it in the background), then Ctrl+V."""
        subprocess.run(["xclip", "-selection", "clipboard", "-i"], input=text.encode(),
                       env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       check=True, timeout=WAIT)
        wait_until(lambda: subprocess.run(
            ["xclip", "-selection", "clipboard", "-o"], env=self.env, capture_output=True,
            timeout=WAIT).stdout == text.encode(), "the clipboard to hold the text")
        self.key("ctrl+v")

    def click(self, spot: layout.Spot) -> None:
        x, y = spot.centre
        self.xdotool("mousemove", str(layout.WINDOW_X + x), str(layout.WINDOW_Y + y),
                     "click", "1")

    def grab(self) -> Any:
        """The window's pixels as an RGB PIL image (a crop of a full-screen grab)."""
        import mss
        from PIL import Image

        with mss.MSS(display=self.screen.display) as grabber:
            shot = grabber.grab(grabber.monitors[1])
        whole = Image.frombytes("RGB", shot.size, shot.rgb)
        return whole.crop((layout.WINDOW_X, layout.WINDOW_Y,
                           layout.WINDOW_X + layout.WINDOW_WIDTH,
                           layout.WINDOW_Y + layout.WINDOW_HEIGHT))

    def pixel(self, x: int, y: int) -> tuple[int, int, int]:
        return tuple(self.grab().getpixel((x, y)))  # type: ignore[no-any-return]

    def showing(self) -> str:
        """Which screen is up, told by the colour at a spot each screen has its own."""
        login = layout.LOGIN_TELLER
        row = layout.FORM_ROWS["account_name"]
        button = layout.CONTINUE_BUTTON
        image = self.grab()
        if image.getpixel((row.x + row.width - 8, row.y + row.height // 2)) == WHITE:
            return "form"
        if image.getpixel((login.x + login.width - 8, login.y + login.height // 2)) == WHITE:
            return "login"
        if image.getpixel((button.x + 8, button.y + 8)) == BUTTON_GREY:
            return "confirmation"
        return "other"

    def wait_for(self, name: str) -> None:
        wait_until(lambda: self.showing() == name, f"the {name} screen")

    def read(self, box: tuple[int, int, int, int]) -> str:
        """OCR of a part of the window (left, top, right, bottom), with the real models."""
        import numpy as np

        if self.ocr_engine is None:
            from rapidocr import RapidOCR

            self.ocr_engine = RapidOCR(params={"Det.limit_type": "max",
                                               "Det.limit_side_len": 960})
        crop = np.asarray(self.grab().crop(box))[:, :, ::-1]  # RGB → BGR, as OpenCV reads
        return "".join(self.ocr_engine(np.ascontiguousarray(crop)).txts or ())

    def log_in(self, teller: str = TELLER, password: str = PASSWORD) -> None:
        self.click(layout.LOGIN_TELLER)
        self.key("ctrl+a", "BackSpace")
        self.type(teller)
        self.key("Tab")
        self.type(password)
        self.key("Return")

    def fill(self, row: dict[str, str], remarks: str = "") -> None:
        """Type one batch row into the form, top to bottom with Tab, as S5's robot would."""
        self.paste(row["账户名称"])
        self.key("Tab")
        self.type(row["账号"])
        self.key("Tab")
        # the choice field: Home selects the first type, each Down the next one
        self.key("Home", *["Down"] * ACCOUNT_TYPES.index(row["账户类型"]))
        self.key("Tab")
        self.type(row["开户日期"])
        self.key("Tab")
        self.paste(row["法定代表人"])
        self.key("Tab")
        self.type(row["证件号码"])
        self.key("Tab")
        if remarks:
            self.paste(remarks)

    def net_wm_name(self) -> str:
        """The title as a robot's X driver reads it (_NET_WM_NAME, UTF-8)."""
        from Xlib import display

        x = display.Display(self.screen.display)
        try:
            window = x.create_resource_object("window", self.window)
            value = window.get_full_property(x.intern_atom("_NET_WM_NAME"),
                                             x.intern_atom("UTF8_STRING"))
            raw = value.value if value is not None else b""
            return raw.decode() if isinstance(raw, bytes) else str(raw)
        finally:
            x.close()

    def close_window(self) -> int:
        """Ask the window to close as a window manager would (WM_DELETE_WINDOW)."""
        from Xlib import X, display
        from Xlib.protocol import event

        x = display.Display(self.screen.display)
        try:
            window = x.create_resource_object("window", self.window)
            message = event.ClientMessage(
                window=window, client_type=x.intern_atom("WM_PROTOCOLS"),
                data=(32, [x.intern_atom("WM_DELETE_WINDOW"), X.CurrentTime, 0, 0, 0]))
            window.send_event(message, event_mask=X.NoEventMask)
            x.flush()
        finally:
            x.close()
        try:
            return self.process.wait(WAIT)
        except subprocess.TimeoutExpired:
            windows = self.xdotool("search", "--class", "^Filing$").split()
            raise AssertionError(f"still running {WAIT:.0f} s after WM_DELETE_WINDOW went to "
                                 f"{self.window}; its windows: {windows}") from None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(WAIT)


WHITE = (255, 255, 255)
BUTTON_GREY = (0xE4, 0xE4, 0xE4)


def wait_until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {WAIT:.0f} s for {what}")
        time.sleep(0.05)


@pytest.fixture
def client(screen: VirtualScreen, tmp_path: Path) -> Iterator[Client]:  # noqa: F811
    started = Client(screen, tmp_path / "data", "--slow", "0.5")
    try:
        yield started
    finally:
        started.stop()
        _, errors = started.process.communicate(timeout=WAIT)
        assert "Traceback" not in errors and "is missing" not in errors, errors


@needs_x_tools
def test_the_window_has_its_title_size_and_place(client: Client) -> None:
    geometry = client.xdotool("getwindowgeometry", "--shell", str(client.window))
    assert f"WIDTH={layout.WINDOW_WIDTH}" in geometry
    assert f"HEIGHT={layout.WINDOW_HEIGHT}" in geometry
    assert f"X={layout.WINDOW_X}" in geometry and f"Y={layout.WINDOW_Y}" in geometry
    assert client.xdotool("getwindowname", str(client.window)).strip() == layout.TITLE
    assert client.net_wm_name() == layout.TITLE
    client.wait_for("login")


@needs_x_tools
def test_a_wrong_password_is_refused_in_red_and_recorded(client: Client) -> None:
    client.wait_for("login")
    client.log_in(TELLER, "wrong-password")
    wait_until(lambda: len(read_login_attempts(client.data)) == 1, "the failed attempt")
    assert [(a.teller, a.succeeded) for a in read_login_attempts(client.data)] == [
        (TELLER, False)]
    message = layout.LOGIN_MESSAGE
    box = (message.x, message.y, message.x + message.width, message.y + message.height)
    wait_until(lambda: "柜员号或密码错误" in client.read(box), "the red message")
    import numpy as np

    pixels = np.asarray(client.grab().crop(box)).astype(int)
    assert ((pixels[:, :, 0] > 150) & (pixels[:, :, 1] < 80)).any(), "the message is in red"
    assert client.showing() == "login"
    # the password field was emptied and has the focus: typing the right one logs in
    client.type(PASSWORD)
    client.key("Return")
    client.wait_for("form")
    assert [a.succeeded for a in read_login_attempts(client.data)] == [False, True]


@needs_x_tools
def test_two_accounts_filed_with_chinese_match_the_records(client: Client,
                                                            tmp_path: Path) -> None:
    rows = make_batch(2, seed=11)
    remarks = ["", "法人代表变更后重新备案"]
    client.wait_for("login")
    client.log_in()
    client.wait_for("form")
    numbers_read = []
    for i, row in enumerate(rows):
        client.fill(row, remarks[i])
        client.key("ctrl+s")  # the button does the same (the second filing uses it)
        client.wait_for("confirmation")
        label_x, number_y = layout.CONFIRMATION_NUMBER_AT
        number = client.read((label_x - 10, number_y - 25, label_x + 420, number_y + 25))
        numbers_read.append(number)
        title_x, title_y = layout.CONFIRMED_TITLE_AT
        assert "备案成功" in client.read((title_x - 150, title_y - 30, title_x + 150,
                                          title_y + 30))
        if i == 0:
            client.grab().save(tmp_path / "confirmation.png")
            client.key("Return")  # 继续备案 has the focus
        else:
            client.click(layout.CONTINUE_BUTTON)
        client.wait_for("form")
    filings = read_filings(client.data)
    assert [f.confirmation for f in filings] == numbers_read  # OCR read each one exactly
    assert numbers_read[0][-6:] == "000001" and numbers_read[1][-6:] == "000002"
    for filing, row, remark in zip(filings, rows, remarks, strict=True):
        assert filing.as_row() == row | {"备注": remark}
        assert filing.teller == TELLER
    assert read_rejections(client.data) == []


@needs_x_tools
def test_a_validation_error_is_shown_and_nothing_is_filed(client: Client) -> None:
    client.wait_for("login")
    client.log_in()
    client.wait_for("form")
    row = make_batch(1, seed=4)[0]
    client.fill(row)
    client.click(layout.FORM_ROWS["account_number"])  # the field right of the label 账号
    client.key("ctrl+a", "BackSpace")
    client.type("12345")
    client.click(layout.SUBMIT_BUTTON)
    wait_until(lambda: len(read_rejections(client.data)) == 1, "the refusal")
    (refused,) = read_rejections(client.data)
    assert refused.errors == ("账号必须是12–19位数字",)
    assert refused.fields["account_number"] == "12345"
    assert refused.fields["account_name"] == row["账户名称"]
    message = layout.FORM_MESSAGE
    shown = client.read((message.x, message.y, message.x + message.width,
                         message.y + message.height))
    assert "账号必须是12" in shown and "位数字" in shown
    assert read_filings(client.data) == []
    # the focus is back on the bad field: fix it there (a paste replaces the selection, as on
    # Windows) and the filing goes through
    client.key("ctrl+a")
    client.paste(row["账号"])
    client.key("ctrl+s")
    client.wait_for("confirmation")
    assert [f.as_row() for f in read_filings(client.data)] == [row | {"备注": ""}]


@needs_x_tools
def test_anything_typed_is_kept_or_refused_and_the_client_lives(client: Client) -> None:
    client.wait_for("login")
    client.paste("柜员\t\n🏦" * 50)  # the teller field takes anything
    client.key("Return")
    wait_until(lambda: len(read_login_attempts(client.data)) == 1, "the failed attempt")
    client.log_in()
    client.wait_for("form")
    row = make_batch(1, seed=9)[0]
    client.fill(row, remarks="备注🏦含表情与生僻字𠀀")
    client.key("ctrl+s")
    client.wait_for("confirmation")
    client.key("Return")
    client.wait_for("form")
    for key in ("account_name", "account_number", "opened_on", "id_number"):
        client.click(layout.FORM_ROWS[key])
        client.paste("x" * 5000 + "’\"; DROP TABLE filings;--")
    client.key("ctrl+s", "ctrl+s")
    wait_until(lambda: len(read_rejections(client.data)) == 2, "both refusals")
    assert client.process.poll() is None
    (filing,) = read_filings(client.data)
    assert filing.remarks == "备注🏦含表情与生僻字𠀀"


@needs_x_tools
def test_closing_the_window_exits_0(client: Client) -> None:
    client.wait_for("login")
    assert client.close_window() == 0


def test_a_users_file_names_the_tellers(tmp_path: Path) -> None:
    from workhand.demo.filing.tellers import load_tellers

    users = tmp_path / "users.json"
    users.write_text('{"0301": "秘密@2026"}', encoding="utf-8")
    assert load_tellers(users) == {"0301": "秘密@2026"}
    assert load_tellers(None) == DEFAULT_TELLERS
    users.write_text('["0301"]', encoding="utf-8")
    with pytest.raises(ValueError, match="teller number"):
        load_tellers(users)
    out = subprocess.run([sys.executable, "-m", "workhand.demo.filing", "--data",
                          str(tmp_path / "d"), "--users", str(users)],
                         env=os.environ | {"PYTHONPATH": str(ROOT)}, capture_output=True,
                         text=True, timeout=WAIT)
    assert out.returncode == 2 and "teller number" in out.stderr


def test_the_layout_is_printed_for_robot_authors() -> None:
    out = subprocess.run([sys.executable, "-m", "workhand.demo.filing", "--layout"],
                         env=os.environ | {"PYTHONPATH": str(ROOT)}, capture_output=True,
                         text=True, timeout=WAIT, check=True)
    described = json.loads(out.stdout)
    assert described["title"] == layout.TITLE
    assert described["form"]["账号"] == {"x": 230, "y": 140, "width": 480, "height": 38}


@needs_x_tools
def test_a_busy_back_end_files_nothing_and_the_same_form_goes_through_again(
        screen: VirtualScreen, tmp_path: Path) -> None:  # noqa: F811
    from workhand.demo.filing.app import BUSY

    busy = Client(screen, tmp_path / "data", "--busy-every", "2")
    try:
        busy.wait_for("login")
        busy.log_in()
        busy.wait_for("form")
        first, second = make_batch(2, seed=21)
        busy.fill(first)
        busy.key("ctrl+s")
        busy.wait_for("confirmation")
        busy.key("Return")
        busy.wait_for("form")
        busy.fill(second)
        busy.key("ctrl+s")  # the second filing: the back end is busy
        wait_until(lambda: len(read_rejections(busy.data)) == 1, "the busy answer")
        assert read_rejections(busy.data)[0].errors == (BUSY,)
        assert len(read_filings(busy.data)) == 1
        busy.wait_for("form")  # still typed in: submitting again needs no retyping
        busy.key("ctrl+s")
        busy.wait_for("confirmation")
        assert [f.as_row() for f in read_filings(busy.data)] == [
            first | {"备注": ""}, second | {"备注": ""}]
    finally:
        busy.stop()
