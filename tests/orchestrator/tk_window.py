"""A tiny desktop application for tests: a Tk window titled 显示测试 with a label, which ends
when its window is closed (or its display goes away)."""

from __future__ import annotations

import tkinter

TITLE = "显示测试"


def main() -> None:
    root = tkinter.Tk()
    root.title(TITLE)
    root.geometry("360x160+40+40")
    tkinter.Label(root, text="一个窗口 on its own display", font=("Noto Sans CJK SC", 16)).pack(
        expand=True)
    root.protocol("WM_DELETE_WINDOW", root.destroy)
    root.mainloop()


if __name__ == "__main__":
    main()
