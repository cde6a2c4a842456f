"""desktop.*: drive desktop applications on the run's screen — launch the ones the worker
allows, wait for windows, click, type (Chinese too), press keys, use the clipboard, take
screenshots — finding what to act on by picture, by OCR'd text, beside a label, or by point."""

from __future__ import annotations

import os
import subprocess
import time
from typing import Annotated, Any, Literal

from libs.context import StepContext
from libs.errors import StepArgumentError, SystemFailure
from libs.policy import Refused
from libs.registry import step
from libs.secrets import Secret, reveal
from libs.steps.desktop.driver import Window
from libs.steps.desktop.session import (
    desktop_for,
    find_window,
    locate,
    locate_all,
    save_png,
    search_area,
    wait_window,
)
from libs.steps.desktop.targets import Region, ScreenTarget, ScreenTargetArg
from libs.steps.documents.fields import FieldSpec, extract
from libs.types import Duration, SecretText, WritePath

WindowTitle = Annotated[str, "the window's title, or a part of it, e.g. 账户备案系统"]
# what a launched application may see of the worker's environment: its display and language
APP_ENV = ("DISPLAY", "XAUTHORITY", "LANG", "LC_ALL", "TZ", "HOME", "PATH")


def _window_info(window: Window) -> dict[str, Any]:
    return {"title": window.title, **window.box.to_dict(), "pid": window.pid}


def _window(ctx: StepContext, title: str) -> Window:
    window = find_window(desktop_for(ctx).driver, title)
    if window is None:
        return wait_window(ctx, title, 0)  # raises with the titles that are open
    return window


@step("desktop.launch", main="app")
def launch(ctx: StepContext,
           app: Annotated[str, "the application's name in the worker's settings (apps:)"],
           window: Annotated[str | None, "wait until a window with this title opens"] = None,
           ) -> dict[str, Any] | None:
    """Start a desktop application the worker allows, by its name (the command line is the
    admin's, in the worker's settings `apps:`; `workhand run --allow-app NAME=COMMAND`).

    With `window`, waits for its window and answers it ({title, x, y, width, height, pid}).
    The application is closed when the run ends. E.g. `- desktop.launch: {app: filing,
    window: 账户备案系统}`."""
    command = ctx.policy.apps.get(app)
    if command is None:
        allowed = ", ".join(sorted(ctx.policy.apps)) or "none"
        raise Refused(f"desktop.launch: '{app}' is not an application this worker lets robots "
                      f"start (allowed: {allowed}); ask an admin to add it to the worker's "
                      "settings (apps:)")
    session = desktop_for(ctx)
    env = {name: os.environ[name] for name in APP_ENV if name in os.environ}
    try:
        process = subprocess.Popen(list(command), env=env, cwd=ctx.output_dir,
                                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, start_new_session=True)
    except OSError as err:
        raise SystemFailure(f"desktop.launch: '{app}' could not start ({err.strerror}); the "
                            "worker's settings name a program that is not there") from None
    session.launched.append((app, process))
    ctx.log(f"started {app} (pid {process.pid})")
    if window is None:
        return None
    return _window_info(wait_window(ctx, window))


@step("desktop.wait_window", main="title")
def wait_window_step(ctx: StepContext, title: WindowTitle,
                     timeout: Annotated[Duration | None, "how long to wait (default: the "
                                                         "step's timeout)"] = None
                     ) -> dict[str, Any]:
    """Wait until a window with this title is open; answers {title, x, y, width, height, pid}."""
    return _window_info(wait_window(ctx, title, timeout))


@step("desktop.focus", main="window")
def focus(ctx: StepContext, window: WindowTitle) -> None:
    """Bring a window to the front and give it the keyboard."""
    desktop_for(ctx).driver.focus(_window(ctx, window))


@step("desktop.close", main="window")
def close(ctx: StepContext, window: WindowTitle) -> None:
    """Close a window as its close button would (the application may ask to save first)."""
    desktop_for(ctx).driver.close_window(_window(ctx, window))


@step("desktop.click", main="target")
def click(ctx: StepContext, target: ScreenTargetArg,
          button: Annotated[Literal["left", "right", "middle"], "which mouse button"] = "left",
          count: Annotated[int, "clicks: 2 for a double click"] = 1) -> dict[str, Any]:
    """Click the middle of a target on the screen, once it is there; answers where it was found
    ({x, y, width, height, confidence, how})."""
    if not 1 <= count <= 3:
        raise StepArgumentError(f"desktop.click: count {count} must be 1, 2 or 3")
    found = locate(ctx, target)
    _focus_target_window(ctx, target)  # before the click: the click may open a menu
    desktop_for(ctx).driver.click(*found.box.center, button=button, count=count)
    return found.to_dict()


@step("desktop.double_click", main="target")
def double_click(ctx: StepContext, target: ScreenTargetArg) -> dict[str, Any]:
    """Double-click a target (open a file, select a word)."""
    return click(ctx, target, count=2)


@step("desktop.right_click", main="target")
def right_click(ctx: StepContext, target: ScreenTargetArg) -> dict[str, Any]:
    """Right-click a target (a context menu)."""
    return click(ctx, target, button="right")


@step("desktop.drag")
def drag(ctx: StepContext, target: Annotated[ScreenTargetArg, "what to drag"],
         to: Annotated[ScreenTargetArg, "where to drop it"]) -> None:
    """Press on a target, move to another, release there."""
    start = locate(ctx, target).box.center
    end = locate(ctx, to).box.center
    desktop_for(ctx).driver.drag(start, end)


@step("desktop.type", main="text")
def type_text(ctx: StepContext,
              text: Annotated[SecretText, "what to type; Chinese works; a secret such as "
                                          "${credentials.core.password} too"],
              target: Annotated[ScreenTarget | None, "click this field first, e.g. "
                                                     "{right_of: 账户名称}"] = None,
              clear: Annotated[bool, "empty the field first (End, shift+Home, BackSpace)"]
              = False,
              enter: Annotated[bool, "press Return after typing"] = False) -> None:
    """Type text into the focused field, or into `target` after clicking it."""
    session = desktop_for(ctx)
    driver = session.driver
    if target is not None:
        found = locate(ctx, target)
        _focus_target_window(ctx, target)
        driver.click(*found.box.center)
    if clear:  # End, shift+Home selects the line in Tk, GTK, Qt and Windows fields alike
        for keys in (["End"], ["shift", "Home"], ["BackSpace"]):
            driver.hotkey(keys)
    title = target.window if target is not None and target.window else "the desktop"
    value = reveal(text, f"desktop window {title}")
    driver.type_text(value)
    if isinstance(text, Secret):
        session.secret_typed = True
        driver.set_clipboard("")  # a driver may have typed through the clipboard
    if enter:
        driver.hotkey(["Return"])


@step("desktop.hotkey", main="keys")
def hotkey(ctx: StepContext,
           keys: Annotated[str, "keys pressed together, joined by +: ctrl+s, alt+F4, Return, "
                                "Tab, shift+Tab, F5"]) -> None:
    """Press a key or a combination of keys."""
    parts = [part.strip() for part in keys.split("+")]
    if not all(parts):
        raise StepArgumentError(f"desktop.hotkey: '{keys}' has an empty key; write keys "
                                "joined by +, e.g. ctrl+s")
    desktop_for(ctx).driver.hotkey(parts)


@step("desktop.set_clipboard", main="text")
def set_clipboard(ctx: StepContext, text: Annotated[str, "the text to put on the clipboard"]
                  ) -> None:
    """Put text on the clipboard (then desktop.hotkey: ctrl+v pastes it)."""
    desktop_for(ctx).driver.set_clipboard(text)


@step("desktop.get_clipboard")
def get_clipboard(ctx: StepContext) -> str:
    """The text on the clipboard (after desktop.hotkey: ctrl+c copied a field, say)."""
    session = desktop_for(ctx)
    if session.secret_typed:
        raise Refused("desktop.get_clipboard: a secret was typed on this screen, and the "
                      "clipboard could hand it back; copy what you need before typing secrets")
    return session.driver.get_clipboard()


@step("desktop.wait_for", main="target")
def wait_for(ctx: StepContext, target: ScreenTargetArg,
             state: Annotated[Literal["visible", "gone"], "wait until it is on the screen "
                                                         "(visible) or no longer (gone)"]
             = "visible",
             timeout: Annotated[Duration | None, "how long to wait (default: the step's "
                                                 "timeout)"] = None) -> dict[str, Any] | None:
    """Wait until a target shows on the screen (answers where) or is gone."""
    if state == "visible":
        return locate(ctx, target, timeout).to_dict()
    budget = ctx.remaining if timeout is None else min(timeout, ctx.remaining)
    deadline = time.monotonic() + budget
    while locate_all(ctx, target, wait=False):
        if time.monotonic() >= deadline:
            raise SystemFailure(f"desktop.wait_for: {target.describe()} is still on the "
                                f"screen after {budget:g} s")
        ctx.resources.pause(0.2, ctx)
    return None


@step("desktop.exists", main="target")
def exists(ctx: StepContext, target: ScreenTargetArg,
           timeout: Annotated[Duration, "look for this long before answering no"] = 0) -> bool:
    """Whether a target is on the screen (yes/no, never a failure)."""
    if timeout:
        try:
            locate(ctx, target, timeout)
        except SystemFailure:
            return False
        return True
    return bool(locate_all(ctx, target, wait=False))


@step("desktop.find_all", main="target")
def find_all(ctx: StepContext, target: ScreenTargetArg) -> list[dict[str, Any]]:
    """Every match of a target on the screen now, top to bottom ({x, y, width, height,
    confidence, how} each); an empty list when there is none."""
    found = locate_all(ctx, target, wait=False)
    return [f.to_dict() for f in sorted(found, key=lambda f: (f.box.y, f.box.x))]


@step("desktop.read_text")
def read_text(ctx: StepContext,
              window: Annotated[str | None, "read only this window (title or part of it)"]
              = None,
              region: Annotated[Region | None, "read only {x, y, width, height} (of the "
                                               "window, with window)"] = None,
              label: Annotated[str | None, "read the value printed beside this label, e.g. "
                                           "备案编号"] = None,
              where: Annotated[Literal["right", "below"], "with label: the value is right of "
                                                          "it or below it"] = "right",
              pattern: Annotated[str | None, "keep only what matches this regular expression "
                                             "(its first group, if it has one)"] = None) -> str:
    """Read text on the screen by OCR: a window, a region, or the value beside a label (a
    confirmation number drawn where nothing can copy it). Lines are joined by newlines."""
    session = desktop_for(ctx)
    grab = session.driver.grab()
    area = search_area(ctx, grab, session.driver, window, region)
    if area is None:
        _window(ctx, window or "")  # raises: names the open windows
        raise AssertionError("unreachable")
    lines = session.read(ctx, grab, area)
    if label is None and pattern is None:
        return "\n".join(line.text for line in lines)
    found = extract(lines, label or pattern or "", FieldSpec(label=label, where=where,
                                                             pattern=pattern))
    if found.value is None:
        seen = "; ".join(line.text for line in lines[:12]) or "no text"
        raise SystemFailure(f"desktop.read_text: no text {_beside(label, where, pattern)} on "
                            f"the screen (OCR read: {seen})")
    return found.text


def _beside(label: str | None, where: str, pattern: str | None) -> str:
    parts = [f"{'right of' if where == 'right' else 'below'} '{label}'"] if label else []
    if pattern:
        parts.append(f"matching '{pattern}'")
    return " and ".join(parts)


@step("desktop.screenshot", main="path")
def screenshot(ctx: StepContext,
               path: Annotated[WritePath, "the PNG file to write, in the run folder"],
               window: Annotated[str | None, "only this window (title or part of it)"] = None,
               ) -> str:
    """Save a screenshot of the screen (or of one window) as PNG; answers the path."""
    out = ctx.output_path(path, "desktop.screenshot")
    driver = desktop_for(ctx).driver
    grab = driver.grab()
    if window is not None:
        grab = _window(ctx, window).box.crop(grab)
    save_png(grab, out)
    ctx.artifact(out, "screenshot")
    return str(out)


def _focus_target_window(ctx: StepContext, target: ScreenTarget) -> None:
    """Typing goes to the window the target is in (without a window manager, nothing gives a
    clicked window the keyboard by itself)."""
    if target.window is not None:
        window = find_window(desktop_for(ctx).driver, target.window)
        if window is not None:
            desktop_for(ctx).driver.focus(window)

