"""A Tk window with Chinese bank labels at known places, for the OCR test on a real X screen.

    python bank_window.py SIGNAL_FILE     (DISPLAY set)

Shows the labels on a white 1920×1080 window at (0, 0) (no window manager: the geometry
holds). When SIGNAL_FILE appears, the balance changes, and the window writes SIGNAL_FILE.done
once it has drawn the new text.
"""

from __future__ import annotations

import sys
import tkinter
from pathlib import Path

LABELS = [
    ("账号：6217 8500 0012 3456 789", 120, 140),
    ("户名：深圳市华强电子科技有限公司", 120, 200),
    ("余额：￥305,120.09", 120, 260),
    ("交易日期：2023-12-31", 1100, 140),
    ("确定", 860, 960),
]
NEW_BALANCE = "余额：￥999,120.09"


def main() -> None:
    signal = Path(sys.argv[1])
    root = tkinter.Tk()
    root.geometry("1920x1080+0+0")
    root.configure(background="white")
    labels = []
    for text, x, y in LABELS:
        label = tkinter.Label(root, text=text, font=("Noto Sans CJK SC", 15),
                              background="white", foreground="black")
        label.place(x=x, y=y)
        labels.append(label)

    def watch() -> None:
        if signal.exists() and labels[2].cget("text") != NEW_BALANCE:
            labels[2].configure(text=NEW_BALANCE)
            root.update_idletasks()
            root.update()
            signal.with_suffix(".done").write_text("drawn")
        root.after(50, watch)

    root.after(50, watch)
    root.mainloop()


if __name__ == "__main__":
    main()
