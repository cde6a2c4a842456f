"""账户备案系统（演示）: a legacy desktop filing client in Tk, for desktop robots to drive.

It behaves like the old clients banks still run: widgets at fixed pixel positions, labels that
are plain text beside their fields (nothing links a label to its entry — a robot finds a field
by the label's text on the screen), a slow back end, and a confirmation number that is only
drawn (on a Canvas), never in a widget: OCR is the only way to read it.

Where everything is drawn is in ``layout`` (no Tk there, for robots' tests to import).
"""

from __future__ import annotations

import signal
import sys
import tkinter as tk
import traceback
from collections.abc import Callable
from pathlib import Path
from tkinter import font as tkfont
from tkinter import ttk
from types import FrameType, TracebackType

from workhand.demo.filing.layout import (
    BACKGROUND,
    CONFIRMATION_LABEL_AT,
    CONFIRMATION_NUMBER_AT,
    CONFIRMED_TITLE_AT,
    CONTINUE_BUTTON,
    ERROR_RED,
    FIELD_BACKGROUND,
    FONT_FAMILY,
    FORM_ENTRY_WIDTH,
    FORM_ENTRY_X,
    FORM_LABEL_X,
    FORM_MESSAGE,
    FORM_ROWS,
    HEADER_HEIGHT,
    LOGIN_BUTTON,
    LOGIN_ENTRY_X,
    LOGIN_LABEL_X,
    LOGIN_MESSAGE,
    LOGIN_PASSWORD,
    LOGIN_TELLER,
    SUBMIT_BUTTON,
    TEXT_PX,
    TITLE,
    WINDOW_HEIGHT,
    WINDOW_WIDTH,
    WINDOW_X,
    WINDOW_Y,
    Spot,
)
from workhand.demo.filing.records import FilingStore
from workhand.demo.filing.rules import ACCOUNT_TYPES, FIELDS, problems

BUSY = "系统繁忙，请稍后重试"
"""What the back end answers to every --busy-every'th filing (nothing is filed)."""


class FilingClient:
    """The client's three screens (login, form, confirmation) in one fixed-size window."""

    def __init__(self, root: tk.Tk, store: FilingStore, tellers: dict[str, str],
                 slow_seconds: float = 0.0, busy_every: int = 0) -> None:
        self.root = root
        self.store = store
        self.tellers = tellers
        self.slow_ms = max(0, int(slow_seconds * 1000))
        self.busy_every = max(0, busy_every)
        self.valid_submissions = 0
        self.teller = ""
        self.submitting = False
        self.text_font = tkfont.Font(root, family=FONT_FAMILY, size=-TEXT_PX)
        self.bold_font = tkfont.Font(root, family=FONT_FAMILY, size=-(TEXT_PX + 4),
                                     weight="bold")
        self.big_font = tkfont.Font(root, family=FONT_FAMILY, size=-(TEXT_PX + 12),
                                    weight="bold")
        self.number_font = tkfont.Font(root, family=FONT_FAMILY, size=-(TEXT_PX + 8))
        if self.text_font.actual("family") != FONT_FAMILY:  # Tk falls back without a word
            print(f"账户备案系统: font {FONT_FAMILY!r} is missing (Debian: fonts-noto-cjk); "
                  f"drawing with {self.text_font.actual('family')!r}", file=sys.stderr)
        self._set_up_window()
        self.header_teller = tk.Label(root, text="", font=self.text_font, bg=BACKGROUND,
                                      fg="black", anchor="e")
        self.header_teller.place(x=WINDOW_WIDTH - 324, y=16, width=300, height=28)
        self.screen: tk.Frame | None = None
        self.entries: dict[str, tk.Entry | ttk.Combobox] = {}
        self.show_login()

    # ---- window and shared widgets -------------------------------------------------------

    def _set_up_window(self) -> None:
        root = self.root
        root.title(TITLE)
        root.geometry(f"{WINDOW_WIDTH}x{WINDOW_HEIGHT}+{WINDOW_X}+{WINDOW_Y}")
        root.resizable(False, False)
        root.configure(bg=BACKGROUND)
        root.option_add("*Font", self.text_font)
        # The combobox's drop-down list is a Listbox of its own: give it the same font
        root.option_add("*TCombobox*Listbox.font", self.text_font)
        root.option_add("*TCombobox*Listbox.background", FIELD_BACKGROUND)
        style = ttk.Style(root)
        style.theme_use("clam")
        style.configure("TCombobox", padding=(6, 2), foreground="black",
                        fieldbackground=FIELD_BACKGROUND, background=BACKGROUND)
        style.map("TCombobox", fieldbackground=[("readonly", FIELD_BACKGROUND)],
                  foreground=[("readonly", "black")],
                  selectbackground=[("readonly", FIELD_BACKGROUND)],
                  selectforeground=[("readonly", "black")])
        root.protocol("WM_DELETE_WINDOW", root.destroy)
        root.report_callback_exception = self._report_error
        tk.Label(root, text="账户备案系统", font=self.bold_font, bg=BACKGROUND,
                 fg="black").place(x=24, y=12, height=32)
        tk.Frame(root, bg="#9a9a9a", height=1).place(x=0, y=HEADER_HEIGHT - 1,
                                                     width=WINDOW_WIDTH, height=1)

    def _report_error(self, kind: type[BaseException], error: BaseException,
                      trace: TracebackType | None) -> None:
        """A bug in a handler must not end the client: log it and say so on screen."""
        traceback.print_exception(kind, error, trace)
        message = getattr(self, "message", None)
        if isinstance(message, tk.Label) and message.winfo_exists():
            message.configure(text=f"系统错误：{error}", fg=ERROR_RED)

    def _new_screen(self) -> tk.Frame:
        if self.screen is not None:
            self.screen.destroy()
        self.entries = {}
        self.screen = tk.Frame(self.root, bg=BACKGROUND)
        self.screen.place(x=0, y=HEADER_HEIGHT, width=WINDOW_WIDTH,
                          height=WINDOW_HEIGHT - HEADER_HEIGHT)
        return self.screen

    def _label(self, parent: tk.Misc, text: str, x: int, y: int, height: int = 38) -> tk.Label:
        label = tk.Label(parent, text=text, font=self.text_font, bg=BACKGROUND, fg="black",
                         anchor="w")
        label.place(x=x, y=y - HEADER_HEIGHT, height=height)
        return label

    def _entry(self, parent: tk.Misc, spot: Spot, show: str = "") -> tk.Entry:
        entry = tk.Entry(parent, font=self.text_font, bg=FIELD_BACKGROUND, fg="black",
                         relief="sunken", bd=2, show=show, disabledforeground="black",
                         disabledbackground="#eeeeee", highlightthickness=1,
                         highlightcolor="#3a6ea5", insertbackground="black")
        entry.place(x=spot.x, y=spot.y - HEADER_HEIGHT, width=spot.width, height=spot.height)
        entry.bind("<Control-a>", _select_all)
        entry.bind("<Control-A>", _select_all)
        entry.bind("<<Paste>>", _paste_over_selection)
        return entry

    def _button(self, parent: tk.Misc, text: str, spot: Spot,
                command: Callable[[], None]) -> tk.Button:
        button = tk.Button(parent, text=text, font=self.text_font, command=command,
                           bg="#e4e4e4", fg="black", activebackground="#d0d0d0", bd=2,
                           highlightthickness=1)
        button.place(x=spot.x, y=spot.y - HEADER_HEIGHT, width=spot.width, height=spot.height)
        button.bind("<Return>", lambda _e: button.invoke())
        button.bind("<KP_Enter>", lambda _e: button.invoke())
        return button

    def _message(self, parent: tk.Misc, spot: Spot) -> tk.Label:
        self.message = tk.Label(parent, text="", font=self.text_font, bg=BACKGROUND,
                                fg=ERROR_RED, anchor="nw", justify="left",
                                wraplength=spot.width)
        self.message.place(x=spot.x, y=spot.y - HEADER_HEIGHT, width=spot.width,
                           height=spot.height)
        return self.message

    # ---- login ---------------------------------------------------------------------------

    def show_login(self) -> None:
        screen = self._new_screen()
        tk.Label(screen, text="柜员登录", font=self.bold_font, bg=BACKGROUND,
                 fg="black").place(x=LOGIN_ENTRY_X, y=150 - HEADER_HEIGHT, height=36)
        self._label(screen, "柜员号", LOGIN_LABEL_X, LOGIN_TELLER.y)
        self.teller_entry = self._entry(screen, LOGIN_TELLER)
        self._label(screen, "密码", LOGIN_LABEL_X, LOGIN_PASSWORD.y)
        self.password_entry = self._entry(screen, LOGIN_PASSWORD, show="*")
        self._button(screen, "登录", LOGIN_BUTTON, self.log_in)
        self._message(screen, LOGIN_MESSAGE)
        for entry in (self.teller_entry, self.password_entry):
            entry.bind("<Return>", lambda _e: self.log_in())
            entry.bind("<KP_Enter>", lambda _e: self.log_in())
        self.header_teller.configure(text="")
        self._focus(self.teller_entry)

    def log_in(self) -> None:
        teller = _text(self.teller_entry)
        password = _text(self.password_entry)
        succeeded = teller in self.tellers and self.tellers[teller] == password
        self.store.record_login(teller, succeeded)
        if not succeeded:
            self.message.configure(text="柜员号或密码错误", fg=ERROR_RED)
            self.password_entry.delete(0, "end")
            self._focus(self.password_entry)
            return
        self.teller = teller
        self.header_teller.configure(text=f"柜员：{teller}")
        self.root.bind("<Control-s>", lambda _e: self.submit())
        self.root.bind("<Control-S>", lambda _e: self.submit())
        self.show_form()

    # ---- the filing form -----------------------------------------------------------------

    def show_form(self) -> None:
        screen = self._new_screen()
        for f in FIELDS:
            spot = FORM_ROWS[f.key]
            self._label(screen, f.label + ("" if f.required else "（选填）"), FORM_LABEL_X,
                        spot.y)
            if f.key == "account_type":
                self.entries[f.key] = self._choice(screen, spot)
            else:
                self.entries[f.key] = self._entry(screen, spot)
        self._label(screen, "YYYY-MM-DD", FORM_ENTRY_X + FORM_ENTRY_WIDTH + 12,
                    FORM_ROWS["opened_on"].y)
        self.submit_button = self._button(screen, "提交备案", SUBMIT_BUTTON, self.submit)
        self._label(screen, "Ctrl+S 提交", SUBMIT_BUTTON.x + SUBMIT_BUTTON.width + 20,
                    SUBMIT_BUTTON.y, height=SUBMIT_BUTTON.height)
        self._message(screen, FORM_MESSAGE)
        self.submitting = False
        self._focus(self.entries[FIELDS[0].key])

    def _choice(self, parent: tk.Misc, spot: Spot) -> ttk.Combobox:
        """账户类型: a read-only list, driven as on Windows (a robot needs no list on screen).

        Closed: Home / End choose the first / last type, Down / Up the next / previous one (from
        nothing chosen, Down gives the first). Alt+Down or F4 opens the list (so does a click):
        Down / Up move, Return or a click chooses, Escape closes it unchanged.
        """
        box = ttk.Combobox(parent, values=list(ACCOUNT_TYPES), state="readonly",
                           font=self.text_font, height=len(ACCOUNT_TYPES))
        box.place(x=spot.x, y=spot.y - HEADER_HEIGHT, width=spot.width,
                  height=spot.height)

        def step(to: Callable[[int], int]) -> Callable[[tk.Event[ttk.Combobox]], str]:
            def handler(_event: tk.Event[ttk.Combobox]) -> str:
                if str(box.cget("state")) != "disabled":
                    box.current(max(0, min(len(ACCOUNT_TYPES) - 1, to(box.current()))))
                    box.selection_clear()
                return "break"  # not ttk's own Down, which opens the list
            return handler

        box.bind("<Down>", step(lambda i: i + 1))
        box.bind("<Up>", step(lambda i: i - 1 if i >= 0 else 0))
        box.bind("<Home>", step(lambda _i: 0))
        box.bind("<End>", step(lambda _i: len(ACCOUNT_TYPES) - 1))
        for keys in ("<Alt-Down>", "<F4>"):
            box.bind(keys, lambda _e: (box.tk.call("ttk::combobox::Post", box), "break")[1])
        return box

    def form_values(self) -> dict[str, str]:
        """Each field's text exactly as the widget holds it."""
        return {key: _text(widget) for key, widget in self.entries.items()}

    def submit(self) -> None:
        if self.submitting or not self.entries:
            return  # Ctrl+S on the confirmation view, or twice while the back end works
        values = self.form_values()
        found = problems(values)
        if found:
            errors = [message for _, message in found]
            self.store.record_rejection(self.teller, errors, values)
            # three lines fit under the button: three messages, or two and how many more
            shown = "\n".join(errors if len(errors) <= 3 else
                              [*errors[:2], f"（另有{len(errors) - 2}项错误）"])
            self.message.configure(text=shown, fg=ERROR_RED)
            self._focus(self.entries[found[0][0]])  # the topmost field with a problem
            return
        self.submitting = True
        for widget in self.entries.values():
            widget.configure(state="disabled")
        self.submit_button.configure(state="disabled")
        self.message.configure(text="正在提交…", fg="black")
        self.root.after(self.slow_ms, lambda: self._file(values))

    def _file(self, values: dict[str, str]) -> None:
        self.valid_submissions += 1
        if self.busy_every and self.valid_submissions % self.busy_every == 0:
            # a busy back end, as real ones are now and then: nothing filed, try again
            self.store.record_rejection(self.teller, [BUSY], values)
            self._reopen_form(BUSY)
            return
        try:
            filing = self.store.add_filing(self.teller, values)
        except Exception as error:  # the back end failed: say so, keep what was typed
            traceback.print_exc()
            self._reopen_form(f"提交失败：{error}")
            return
        self.show_confirmation(filing.confirmation, values)

    def _reopen_form(self, message: str) -> None:
        """Back to the form as it was typed, with a red message (the filing was not made)."""
        self.submitting = False
        for widget in self.entries.values():
            widget.configure(state="readonly" if isinstance(widget, ttk.Combobox) else "normal")
        self.submit_button.configure(state="normal")
        self.message.configure(text=message, fg=ERROR_RED)
        self._focus(self.submit_button)

    # ---- the confirmation ----------------------------------------------------------------

    def show_confirmation(self, confirmation: str, values: dict[str, str]) -> None:
        """The number is drawn on a Canvas: no widget holds it, nothing can copy it."""
        screen = self._new_screen()
        canvas = tk.Canvas(screen, bg=BACKGROUND, highlightthickness=0, bd=0)
        canvas.place(x=0, y=0, width=WINDOW_WIDTH, height=WINDOW_HEIGHT - HEADER_HEIGHT)

        def at(point: tuple[int, int]) -> tuple[int, int]:
            return point[0], point[1] - HEADER_HEIGHT

        canvas.create_text(*at(CONFIRMED_TITLE_AT), text="备案成功", font=self.big_font,
                           fill="black", anchor="center")
        canvas.create_text(*at(CONFIRMATION_LABEL_AT), text="备案编号", font=self.text_font,
                           fill="black", anchor="w")
        canvas.create_text(*at(CONFIRMATION_NUMBER_AT), text=confirmation,
                           font=self.number_font, fill="black", anchor="w")
        for i, key in enumerate(("account_name", "account_number")):
            y = CONFIRMATION_LABEL_AT[1] + 60 + i * 44
            label = next(f.label for f in FIELDS if f.key == key)
            canvas.create_text(CONFIRMATION_LABEL_AT[0], y - HEADER_HEIGHT, text=label,
                               font=self.text_font, fill="black", anchor="w")
            canvas.create_text(CONFIRMATION_NUMBER_AT[0], y - HEADER_HEIGHT,
                               text=values[key][:40], font=self.text_font, fill="black",
                               anchor="w")
        self.message = tk.Label(screen)  # nothing to report here; keeps _report_error simple
        button = self._button(screen, "继续备案", CONTINUE_BUTTON, self.show_form)
        self._focus(button)

    # ---- helpers -------------------------------------------------------------------------

    def _focus(self, widget: tk.Widget) -> None:
        # focus_force also sets the X input focus: with no window manager (Xvfb) nothing else
        # would give the window the keyboard.
        widget.focus_force()


def _select_all(event: tk.Event[tk.Entry]) -> str:
    """Ctrl+A selects the whole field (as on Windows; Tk's default moves to the line start)."""
    event.widget.select_range(0, "end")
    event.widget.icursor("end")
    return "break"


def _paste_over_selection(event: tk.Event[tk.Entry]) -> str:
    """Ctrl+V replaces the selected text, as on Windows (Tk on X11 inserts beside it: a robot
    that selects all and pastes would double the field)."""
    entry = event.widget
    try:
        text = entry.clipboard_get()
    except tk.TclError:
        return "break"  # an empty clipboard pastes nothing
    if entry.selection_present():
        entry.delete("sel.first", "sel.last")
    entry.insert("insert", text)
    entry.tk.call("::tk::EntrySeeInsert", str(entry))  # what Tk's own paste does next
    return "break"


def _text(widget: tk.Entry | ttk.Combobox) -> str:
    """The widget's text; characters outside the BMP reach Python from Tk as surrogate halves,
    which SQLite cannot store: pairs are joined back, a lone half becomes U+FFFD."""
    text = widget.get()
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def run(data_dir: Path, tellers: dict[str, str], slow_seconds: float = 0.0,
        busy_every: int = 0) -> int:
    """Open the window and run until it is closed (or SIGTERM/SIGINT); returns the exit code."""
    store = FilingStore(data_dir)
    root = tk.Tk(className="filing")  # WM_CLASS: filing, Filing
    FilingClient(root, store, tellers, slow_seconds, busy_every)

    def stop(_signal: int, _frame: FrameType | None) -> None:
        root.after_idle(root.destroy)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    def wake() -> None:  # Python runs signal handlers only between Tk events: make some
        root.after(200, wake)

    wake()
    root.mainloop()
    sys.stdout.flush()
    return 0
