"""A small Tk application that writes down what was done to it, for the desktop driver's tests.

    python tk_probe.py STATE.json --title 探针甲 --at 100,100

It shows a colour block (top left, 120×60, PROBE_COLOUR), four entries (name, address,
account, paste), a button, a label that takes double / right / middle clicks and a canvas to
drag on. After every event it rewrites STATE.json (atomically) with the entries' values, the
counts of clicks, the drag's start and end in root coordinates, the key combinations pressed and
which entry has the focus. F2 copies the name entry to the clipboard (Tk then owns CLIPBOARD).
Closing the window (WM_DELETE_WINDOW) writes "closed": true and exits with code 0.
"""

from __future__ import annotations

import argparse
import json
import os
import tkinter as tk
from pathlib import Path
from typing import Any

PROBE_COLOUR = "#ff8000"  # BGR (0, 128, 255) on a grab
ENTRIES = ("name", "address", "account", "paste")
CONTROL, SHIFT, ALT = 0x4, 0x1, 0x8  # Tk event.state bits


class Probe:
    def __init__(self, state_path: Path, title: str, at: tuple[int, int]) -> None:
        self.state_path = state_path
        self.root = tk.Tk()
        self.root.title(title)
        self.root.geometry(f"520x460+{at[0]}+{at[1]}")
        self.state: dict[str, Any] = {
            "pid": os.getpid(), "title": title, "ready": False, "closed": False,
            "clicks": 0, "double_clicks": 0, "right_clicks": 0, "middle_clicks": 0,
            "drag": None, "drag_motions": 0, "keys": [], "focus": None,
            "entries": dict.fromkeys(ENTRIES, ""),
        }
        tk.Frame(self.root, width=120, height=60, bg=PROBE_COLOUR).place(x=0, y=0)
        self.variables: dict[str, tk.StringVar] = {}
        for row, name in enumerate(ENTRIES):
            tk.Label(self.root, text=name).place(x=140, y=10 + row * 34)
            variable = tk.StringVar(self.root)
            variable.trace_add("write", lambda *_a, n=name: self.entry_changed(n))
            entry = tk.Entry(self.root, textvariable=variable, width=30, name=name)
            entry.place(x=220, y=10 + row * 34)
            entry.bind("<FocusIn>", lambda _e, n=name: self.record(focus=n))
            self.variables[name] = variable
        tk.Button(self.root, text="点我", name="button", command=self.clicked).place(x=10, y=160)
        target = tk.Label(self.root, text="双击 / 右键", name="target", bg="#dddddd",
                          width=14, height=2)
        target.place(x=100, y=160)
        target.bind("<Double-Button-1>", lambda _e: self.count("double_clicks"))
        target.bind("<Button-3>", lambda _e: self.count("right_clicks"))
        target.bind("<Button-2>", lambda _e: self.count("middle_clicks"))
        canvas = tk.Canvas(self.root, width=400, height=200, bg="#ffffff", name="canvas")
        canvas.place(x=10, y=220)
        canvas.bind("<ButtonPress-1>", self.drag_start)
        canvas.bind("<B1-Motion>", lambda _e: self.count("drag_motions"))
        canvas.bind("<ButtonRelease-1>", self.drag_end)
        # On the toplevel, not "all": Tk's own "all" bindings (<Alt-Key> for menus) would win.
        self.root.bind("<Key>", self.key)
        self.root.bind_all("<F2>", lambda _e: self.copy_name())
        self.root.protocol("WM_DELETE_WINDOW", self.close)
        self.root.bind("<Map>", lambda _e: self.root.after(50, self.mark_ready))
        # Tk's focus within the window: the name entry gets the keys once the window has X focus.
        self.root.nametowidget("name").focus_set()

    def mark_ready(self) -> None:
        if self.state["ready"]:
            return
        self.root.update_idletasks()
        places = {name: [widget.winfo_rootx(), widget.winfo_rooty(), widget.winfo_width(),
                         widget.winfo_height()]
                  for name, widget in self.root.children.items()}
        self.record(ready=True, frame=int(self.root.wm_frame(), 16), places=places)

    def entry_changed(self, name: str) -> None:
        self.state["entries"][name] = self.variables[name].get()
        self.write()

    def clicked(self) -> None:
        self.count("clicks")

    def count(self, what: str) -> None:
        self.state[what] += 1
        self.write()

    def drag_start(self, event: tk.Event[Any]) -> None:
        self.state["drag"] = {"start": [event.x_root, event.y_root], "end": None}
        self.state["drag_motions"] = 0
        self.write()

    def drag_end(self, event: tk.Event[Any]) -> None:
        if self.state["drag"] is not None:
            self.state["drag"]["end"] = [event.x_root, event.y_root]
        self.write()

    def key(self, event: tk.Event[Any]) -> None:
        state = int(event.state)
        held = [name for bit, name in ((CONTROL, "ctrl"), (ALT, "alt"), (SHIFT, "shift"))
                if state & bit]
        # The last 100 only: rewriting an ever longer list would slow the probe down.
        self.state["keys"] = [*self.state["keys"][-99:], "+".join([*held, event.keysym])]
        self.write()

    def copy_name(self) -> None:
        self.root.clipboard_clear()
        self.root.clipboard_append(self.variables["name"].get())
        self.record(copied=self.variables["name"].get())

    def close(self) -> None:
        self.record(closed=True)
        self.root.destroy()

    def record(self, **changes: Any) -> None:
        self.state.update(changes)
        self.write()

    def write(self) -> None:
        partial = self.state_path.with_suffix(".partial")
        partial.write_text(json.dumps(self.state, ensure_ascii=False), encoding="utf-8")
        os.replace(partial, self.state_path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("state", type=Path)
    parser.add_argument("--title", default="探针")
    parser.add_argument("--at", default="100,100", help="x,y of the window's top left")
    args = parser.parse_args()
    x, y = (int(part) for part in args.at.split(","))
    Probe(args.state, args.title, (x, y)).root.mainloop()


if __name__ == "__main__":
    main()
