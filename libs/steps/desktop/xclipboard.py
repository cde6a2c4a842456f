"""The CLIPBOARD selection of one X display, owned and read from a thread of its own.

X has no clipboard store: whoever "owns" CLIPBOARD must answer each SelectionRequest while
someone pastes, for as long as the text should stay pasteable. So the owner is a small thread
with its own Display connection (python-xlib connections are not shared between threads) and an
unmapped 1×1 window; the caller's thread hands it work through a queue and a wake-up pipe and
waits for the answer. Text goes out as UTF8_STRING (Chinese round-trips), TEXT, and STRING
(Latin-1, what cannot be encoded as "?"); reading asks for UTF8_STRING, then STRING, and takes
INCR transfers (large selections) too. The text stays pasteable until close() — X keeps nothing
after the owner goes, and a display without a clipboard manager has no one to hand it to.

Xlib is imported inside the functions that need it: importing this module opens no display.
"""

from __future__ import annotations

import contextlib
import os
import queue
import select
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

ANSWER_TIMEOUT_S = 5.0  # how long a paste source gets to answer a read
MAX_TEXT_BYTES = 200_000  # one ChangeProperty request (256 KB without BIG-REQUESTS), INCR not sent


class ClipboardError(RuntimeError):
    """The clipboard could not be set or read."""


class ClipboardThread:
    """Owns and reads CLIPBOARD on `display_name` from a daemon thread; stop() ends it."""

    def __init__(self, display_name: str) -> None:
        from Xlib import X
        from Xlib.display import Display

        self._display = Display(display_name)
        root = self._display.screen().root
        self._window = root.create_window(-10, -10, 1, 1, 0, X.CopyFromParent,
                                          event_mask=X.PropertyChangeMask)
        atom = self._display.intern_atom
        self._atoms = {name: atom(name) for name in (
            "CLIPBOARD", "TARGETS", "UTF8_STRING", "STRING", "TEXT", "INCR", "ATOM",
            "MULTIPLE", "TIMESTAMP", "WORKHAND_CLIPBOARD", "text/plain;charset=utf-8")}
        self._text: str | None = None  # what we serve while we own CLIPBOARD
        self._served = 0  # text answers given (not TARGETS): a paste that happened
        self._served_changed = threading.Condition()
        self._work: queue.Queue[tuple[Callable[[], Any], Future[Any]] | None] = queue.Queue()
        self._wake_read, self._wake_write = os.pipe()
        self._thread = threading.Thread(target=self._run, name="workhand-clipboard", daemon=True)
        self._thread.start()

    # -- the caller's side ----------------------------------------------------------------

    def set_text(self, text: str) -> None:
        if len(text.encode()) > MAX_TEXT_BYTES:
            raise ClipboardError(f"clipboard text over {MAX_TEXT_BYTES} bytes is not supported "
                                 "(write it to a file instead)")
        self._call(lambda: self._own(text))

    def get_text(self) -> str:
        result: str = self._call(self._read)
        return result

    @property
    def served(self) -> int:
        """How many times a program has been given our text (each paste is one or more)."""
        with self._served_changed:
            return self._served

    def wait_served(self, beyond: int, timeout_s: float) -> bool:
        """Wait until `served` passes `beyond` (someone pasted); False after `timeout_s`."""
        with self._served_changed:
            return self._served_changed.wait_for(lambda: self._served > beyond, timeout_s)

    def stop(self) -> None:
        if self._thread.is_alive():
            self._work.put(None)
            os.write(self._wake_write, b"x")
            self._thread.join(ANSWER_TIMEOUT_S)
        for fd in (self._wake_read, self._wake_write):
            with contextlib.suppress(OSError):
                os.close(fd)

    def _call(self, work: Callable[[], Any]) -> Any:
        if not self._thread.is_alive():
            raise ClipboardError("the clipboard thread has stopped")
        done: Future[Any] = Future()
        self._work.put((work, done))
        os.write(self._wake_write, b"x")
        return done.result(ANSWER_TIMEOUT_S * 2)

    # -- the thread's side ----------------------------------------------------------------

    def _run(self) -> None:
        try:
            while True:
                self._pump(until=None, stop_after=0.5)
                while True:
                    try:
                        item = self._work.get_nowait()
                    except queue.Empty:
                        break
                    if item is None:
                        return
                    work, done = item
                    try:
                        done.set_result(work())
                    except Exception as error:  # the caller gets it, the thread goes on
                        done.set_exception(error)
        finally:
            try:
                self._window.destroy()
                self._display.close()
            except Exception:  # the display may be gone already (Xvfb stopped)
                pass

    def _pump(self, until: Callable[[Any], bool] | None, stop_after: float) -> Any:
        """Handle events until `until(event)` holds (returns it) or `stop_after` seconds pass
        or (with no `until`) work arrives on the wake-up pipe."""
        deadline = time.monotonic() + stop_after
        while True:
            while self._display.pending_events():
                event = self._display.next_event()
                if until is not None and until(event):
                    return event
                self._serve(event)
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([self._display.fileno(), self._wake_read], [], [], left)
            if self._wake_read in ready:
                os.read(self._wake_read, 64)
                if until is None:
                    return None

    def _own(self, text: str) -> None:
        from Xlib import X

        clipboard = self._atoms["CLIPBOARD"]
        self._window.set_selection_owner(clipboard, X.CurrentTime)
        self._display.sync()
        if self._display.get_selection_owner(clipboard) != self._window:
            raise ClipboardError("another program kept the CLIPBOARD selection")
        self._text = text

    def _serve(self, event: Any) -> None:
        from Xlib import X
        from Xlib.protocol import event as events

        if event.type == X.SelectionClear and event.window == self._window:
            self._text = None  # someone else copied: they serve it now
            return
        if event.type != X.SelectionRequest:
            return
        target, prop = event.target, event.property or event.target  # old clients: property 0
        answered = self._text is not None and self._answer(event.requestor, target, prop)
        reply = events.SelectionNotify(time=event.time, requestor=event.requestor,
                                       selection=event.selection, target=target,
                                       property=prop if answered else X.NONE)
        event.requestor.send_event(reply, onerror=_ignore)
        self._display.flush()
        if answered and target != self._atoms["TARGETS"]:
            with self._served_changed:
                self._served += 1
                self._served_changed.notify_all()

    def _answer(self, requestor: Any, target: int, prop: int) -> bool:
        atoms, text = self._atoms, self._text or ""
        if target == atoms["TARGETS"]:
            offered = [atoms[name] for name in (
                "TARGETS", "UTF8_STRING", "TEXT", "STRING", "text/plain;charset=utf-8")]
            requestor.change_property(prop, atoms["ATOM"], 32, offered, onerror=_ignore)
        elif target in (atoms["UTF8_STRING"], atoms["TEXT"], atoms["text/plain;charset=utf-8"]):
            kind = atoms["UTF8_STRING"] if target == atoms["TEXT"] else target
            requestor.change_property(prop, kind, 8, text.encode(), onerror=_ignore)
        elif target == atoms["STRING"]:
            requestor.change_property(prop, atoms["STRING"], 8,
                                      text.encode("latin-1", "replace"), onerror=_ignore)
        else:
            return False
        return True

    def _read(self) -> str:
        from Xlib import X

        clipboard = self._atoms["CLIPBOARD"]
        if self._text is not None and self._display.get_selection_owner(clipboard) == self._window:
            return self._text
        if self._display.get_selection_owner(clipboard) == X.NONE:
            return ""
        for target in ("UTF8_STRING", "STRING"):
            data = self._convert(self._atoms[target])
            if data is not None:
                return data.decode("utf-8" if target == "UTF8_STRING" else "latin-1",
                                   errors="replace")
        raise ClipboardError("the program that owns the clipboard offers no text")

    def _convert(self, target: int) -> bytes | None:
        from Xlib import X

        prop = self._atoms["WORKHAND_CLIPBOARD"]
        self._window.convert_selection(self._atoms["CLIPBOARD"], target, prop, X.CurrentTime)
        self._display.flush()
        notify = self._pump(lambda e: e.type == X.SelectionNotify
                            and e.requestor == self._window, ANSWER_TIMEOUT_S)
        if notify is None:
            raise ClipboardError(f"the program that owns the clipboard did not answer within "
                                 f"{ANSWER_TIMEOUT_S:.0f} s")
        if notify.property == X.NONE:
            return None
        reply = self._window.get_full_property(prop, X.AnyPropertyType, sizehint=1 << 16)
        self._window.delete_property(prop)
        self._display.flush()
        if reply is None:
            return b""
        if reply.property_type == self._atoms["INCR"]:
            return self._read_incremental(prop)
        return _as_bytes(reply.value)

    def _read_incremental(self, prop: int) -> bytes:
        """An INCR transfer: the owner writes chunks, each after we delete the last one."""
        from Xlib import X

        chunks: list[bytes] = []
        while True:
            new_value = self._pump(lambda e: e.type == X.PropertyNotify and e.atom == prop
                                   and e.state == X.PropertyNewValue, ANSWER_TIMEOUT_S)
            if new_value is None:
                raise ClipboardError("a large clipboard transfer stopped half-way")
            reply = self._window.get_full_property(prop, X.AnyPropertyType, sizehint=1 << 16)
            self._window.delete_property(prop)
            self._display.flush()
            chunk = _as_bytes(reply.value) if reply is not None else b""
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)


def _as_bytes(value: Any) -> bytes:
    return value if isinstance(value, bytes) else bytes(value)


def _ignore(*_args: Any) -> None:
    """An error handler for requests to windows that may vanish (a pasting client quits)."""
