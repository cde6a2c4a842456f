"""Turning Playwright's exceptions into messages a business user can act on.

Only the failure path looks closer: the normal path makes no extra browser call. What went
wrong is read from Playwright's own call log (did the locator resolve? was the element
disabled, hidden, covered?), so even the diagnosis needs no round trip to a page that may hang.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from libs.context import StepContext
from libs.errors import StepArgumentError, SystemFailure, WorkhandError
from libs.steps.browser.targets import describe
from libs.types import Target, TargetSpec

_NOT_READY = [  # what Playwright's call log says → how a person would say it
    ("element is not enabled", "stayed disabled"),
    ("element is not visible", "stayed hidden"),
    ("resolved to hidden", "stayed hidden"),
    ("element is not editable", "stayed read-only"),
    ("element is not stable", "kept moving"),
    ("did not find some options", "has no such option"),
    ("element is outside of the viewport", "stayed outside the visible page"),
]
_COVERED = re.compile(r"- (<.*?>) (?:from .*? )?intercepts pointer events")
_BAD_SELECTOR = ("while parsing", "Unexpected token", "Unknown engine", "is not a valid selector",
                 "Invalid flags supplied")
_CLOSED = "has been closed"


def seconds(value: float) -> str:
    """3.0 → '3s', 0.5 → '500ms': durations written the way robots write them."""
    if value < 1:
        return f"{round(value * 1000)}ms"
    return f"{value:g}s" if value < 100 else f"{round(value)}s"


def first_line(err: BaseException) -> str:
    """Playwright's message without its 'Locator.click: ' prefix and its call log."""
    text = str(err).strip().split("\nCall log:")[0].strip()
    line = text.splitlines()[0] if text else type(err).__name__
    line = re.sub(r"^[A-Za-z]+\.[a-z_A-Z]+: ", "", line)
    return line.removeprefix("Error: ")


def _not_ready(log: str) -> str:
    covered = _COVERED.findall(log)
    if covered:
        return f"stayed covered by another element {covered[-1]}"
    # The last reason logged is the one that held until the time ran out.
    best, where = "was not ready to use", -1
    for needle, reason in _NOT_READY:
        at = log.rfind(needle)
        if at > where:
            best, where = reason, at
    return best


def _strictness(err: Exception) -> str:
    text = str(err)
    count = re.search(r"resolved to (\d+) elements", text)
    matches = re.findall(r"^\s+(\d+\)) (<.*?>.*?)(?: aka .*)?$", text, re.MULTILINE)
    shown = "; ".join(f"{n} {html}" for n, html in matches[:3])
    more = " ..." if len(matches) > 3 else ""
    return f"{count.group(1) if count else 'several'} elements" + (f" ({shown}{more})"
                                                                  if shown else "")


_ENGINE = re.compile(r"^\s*([a-z][a-z-]*)=")


def pick_one(target: Target | None) -> str:
    """How to say which of several matches is meant, written out for this very target: nth is
    a key of the target (users wrote it beside the target, at step level, and were refused)."""
    if isinstance(target, TargetSpec):
        first = describe(target.model_copy(update={"nth": 0}))
    elif isinstance(target, str):
        engine = _ENGINE.match(target)
        kind = engine.group(1) if engine else ("xpath" if target.lstrip().startswith(("/", "("))
                                              else "css")
        body = target[engine.end():] if engine else target
        first = (describe(TargetSpec(**{kind: body.strip(), "nth": 0}))
                 if kind in ("css", "xpath") and ">>" not in target
                 else describe(f"{target} >> nth=0"))
    else:
        return "make the target more specific"
    return (f"write the target as {first} for the first (nth: 1 for the second), or make it "
            "more specific (e.g. {role: button, name: 登录}, or exact: true)")


def no_match(ctx: StepContext, step: str, target: Target, url: str) -> SystemFailure:
    """Nothing matched the target until the step's time ran out (a SystemFailure: from the page,
    a slow system and a wrong target look alike)."""
    return SystemFailure(ctx.masker.text(
        f"{step}: no element matches {describe(target)} on {url} after {seconds(ctx.timeout)}; "
        "check the target (the page may show it under another name)"))


def explain(ctx: StepContext, step: str, err: Exception, *, target: Target | None,
            url: str, doing: str) -> WorkhandError:
    """The Workhand error for a Playwright failure while `doing` something with `target`.

    Which kind of error: a target that matches nothing until the time is up stays a
    SystemFailure (retried by policy). From here we cannot tell a slow or broken system (the
    page did not finish, a back end is down: retrying helps) from a robot that names the wrong
    element; sending every miss back to a person would turn outages into review work. What is
    certain without the page - a target that is malformed (a bad selector) or contradictory
    (two kinds, 'name' without 'role', an unknown role: libs/steps/browser/targets.py) or
    ambiguous (several matches) - is a StepArgumentError, never retried.
    """
    what = describe(target)
    budget = seconds(ctx.timeout)
    text = str(err)
    if isinstance(err, PlaywrightTimeoutError) and target is not None:
        if "resolved to" in text:
            hint = ("the system may be slow (raise the step's timeout)" if step.endswith("wait_for")
                    else "wait until the page allows it (browser.wait_for)")
            message = (f"{step}: {what} was found on {url} but {_not_ready(text)} for {budget} "
                       f"while trying to {doing}; {hint}, or check that the target is the right "
                       "element")
            return SystemFailure(ctx.masker.text(message))
        return no_match(ctx, step, target, url)
    if isinstance(err, PlaywrightTimeoutError):
        return SystemFailure(ctx.masker.text(
            f"{step}: could not {doing} within {budget} (page: {url}); the system may be slow: "
            "raise the step's timeout, or check the page"))
    if "strict mode violation" in text:
        return StepArgumentError(ctx.masker.text(
            f"{step}: {what} matches {_strictness(err)} on {url}; {pick_one(target)}"))
    if any(marker in text for marker in _BAD_SELECTOR):
        return StepArgumentError(ctx.masker.text(
            f"{step}: {what} is not a valid selector ({first_line(err)}); write a CSS selector "
            "such as '#login', or a map such as {role: button, name: 登录}"))
    if _CLOSED in text:
        return SystemFailure(ctx.masker.text(
            f"{step}: the browser tab was closed while trying to {doing}; the page may have "
            "closed itself (use browser.switch_tab), or the browser stopped"))
    return SystemFailure(ctx.masker.text(
        f"{step}: could not {doing} {'on' if target is None else 'with ' + what + ' on'} {url}: "
        f"{first_line(err)}"))


def current_url(ctx: StepContext) -> str:
    """The current tab's address for a message (never starts a browser)."""
    session = ctx.resources.peek("browser")
    return str(session.url) if session is not None else "(no page open)"


@contextmanager
def acting(ctx: StepContext, step: str, *, target: Target | None = None,
           doing: str = "") -> Iterator[None]:
    """Re-raise Playwright errors from the block as clear Workhand errors."""
    try:
        yield
    except PlaywrightError as err:
        raise explain(ctx, step, err, target=target, url=current_url(ctx),
                      doing=doing or step.split(".")[-1]) from None
