"""Watching a page from the inside, so that waits see states that last only a moment.

Playwright's own waits sample: locator.wait_for re-checks after 0, 20, 50, 100, 100 ms and then
every 500 ms, expect() after 100, 250, 500 ms and then every second (see retryWithProgressAndBackoff
and pollAgainstDeadline in the driver's coreBundle.js). A progress text shown for 150 ms falls
between two samples and a robot waits for it in vain. Here the page reports instead:

- on an element that is in the page, a watcher runs inside the page (an evaluate on it):
  a MutationObserver checks the condition on every change of the document, the moment it
  happens, and requestAnimationFrame checks it every frame (for changes no mutation shows, such
  as a CSS transition);
- for an element that is not in the page yet, a MutationObserver counts the document's changes,
  and the next change (not a timer) makes us look for the element again.

Targets keep Playwright's selector engines (role, label, text...): those live in Playwright's
own script, which page scripts cannot call, so the element is found by Playwright and only the
watching happens in the page. A target inside an iframe is looked for again every 50 ms
instead, because the main document's observer does not see the iframe's changes.
"""

from __future__ import annotations

import contextlib
import re
import time
from typing import Any, Literal, NamedTuple

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Locator, Page
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from libs.types import Target

Condition = Literal["visible", "hidden", "attached", "detached", "text", "no_text"]
GONE: tuple[Condition, ...] = ("hidden", "detached", "no_text")  # met when nothing matches
FRAME_SLICE = 0.05  # seconds between looks for a target inside an iframe
_KEY = "__workhand_changes__"

# Visible as Playwright means it: a non-empty box and not visibility:hidden.
_VISIBLE = """el => {
  const style = getComputedStyle(el);
  if (style.display === "contents") {
    return [...el.children].some(child => isVisible(child));
  }
  if (!el.checkVisibility({visibilityProperty: true})) return false;
  const box = el.getBoundingClientRect();
  return box.width > 0 && box.height > 0;
}"""

_HOLDS = f"""(el, a) => {{
  const isVisible = {_VISIBLE};
  const shows = () => {{
    const norm = s => String(s ?? "").replace(/\\s+/g, " ").trim();
    return norm(el.innerText ?? el.textContent).includes(norm(a.text));
  }};
  const here = el.isConnected;
  switch (a.cond) {{
    case "visible": return here && isVisible(el);
    case "hidden": return !here || !isVisible(el);
    case "attached": return here;
    case "detached": return !here;
    case "text": return here && shows();
    case "no_text": return !here || !shows();
  }}
  return false;
}}"""

# Runs in the page on the element until it answers: "met"; "gone" when the element left the
# page (the target may match a new element: the caller finds it again); "time" at a.ms. It
# checks at every change of the document, the moment it happens (MutationObserver), and every
# frame (requestAnimationFrame: changes no mutation shows, such as a CSS transition).
# An evaluate, not wait_for_function: after a navigation Playwright retries a wait_for_function
# in the new document, where the element's handle cannot go, until the time is up; an
# evaluate fails at once and the caller looks again.
_WATCH = f"""(el, a) => new Promise(resolve => {{
  const holds = {_HOLDS};
  let done = false, frame = 0, timer = 0, slow = false;
  // A check that costs (innerText of a large page) waits for the next frame instead of running
  // at every change: a busy page must not be slowed down by the robot watching it.
  const observer = new MutationObserver(() => slow || check());
  const finish = answer => {{
    done = true;
    observer.disconnect();
    cancelAnimationFrame(frame);
    clearTimeout(timer);
    resolve(answer);
  }};
  const check = () => {{
    if (done) return;
    const started = performance.now();
    if (holds(el, a)) finish("met");
    else if (!el.isConnected) finish("gone");
    slow = performance.now() - started > 4;
  }};
  const tick = () => {{ check(); if (!done) frame = requestAnimationFrame(tick); }};
  observer.observe(el.ownerDocument, {{subtree: true, childList: true, attributes: true,
                                       characterData: true}});
  timer = setTimeout(() => done || finish("time"), a.ms);
  tick();
}})"""

# Counts the document's changes; installed once per document, read by next_change.
_ARM = f"""() => {{
  let w = window["{_KEY}"];
  if (!w) {{
    w = {{n: 0}};
    Object.defineProperty(window, "{_KEY}", {{value: w}});
    new MutationObserver(() => {{ w.n += 1; }}).observe(document, {{subtree: true,
      childList: true, attributes: true, characterData: true}});
  }}
  return w.n;
}}"""
_CHANGED = f"""m => {{ const w = window["{_KEY}"]; return !w || w.n > m; }}"""

# For a target the page can find by itself (css, xpath, a non-exact text), the wait for the
# next change also checks the target at that change, the moment it happens, so an element that
# is in the page for a moment is seen even when the look that follows comes too late (a loaded
# machine: 100 ms between a change and our next look). Evaluated once per wait (Playwright
# caches the function it yields and calls it every frame).
_APPEARS = f"""(() => {{
  const holds = {_HOLDS};
  const norm = s => String(s ?? "").replace(/\\s+/g, " ").trim().toLowerCase();
  const find = p => {{
    if (p.css !== undefined) return [...document.querySelectorAll(p.css)];
    if (p.xpath !== undefined) {{
      const found = document.evaluate(p.xpath, document, null,
                                      XPathResult.ORDERED_NODE_SNAPSHOT_TYPE, null);
      return [...Array(found.snapshotLength).keys()].map(i => found.snapshotItem(i))
        .filter(node => node instanceof Element);
    }}
    // a text: the page shows it (its own element is the one Playwright finds)
    return norm(document.body?.innerText).includes(norm(p.text)) ? [document.body] : [];
  }};
  const there = a => {{
    let els = find(a.probe);
    if (a.probe.nth !== undefined) els = els.slice(a.probe.nth, a.probe.nth + 1);
    if (a.probe.text !== undefined || a.cond === "attached") return els.length > 0;
    return els.some(el => holds(el, a));
  }};
  let seen = false, observer = null, broken = false;
  return a => {{
    if (observer === null && !broken) {{
      try {{ seen = there(a); }} catch (e) {{ broken = true; }}  // e.g. Playwright-only CSS
      observer = new MutationObserver(() => {{
        try {{ if (!seen && !broken && there(a)) seen = true; }} catch (e) {{ broken = true; }}
      }});
      observer.observe(document, {{subtree: true, childList: true, attributes: true,
                                   characterData: true}});
      setTimeout(() => observer.disconnect(), a.ms + 1000);  // the wait gave up
    }}
    const w = window["{_KEY}"];
    if (seen) {{ observer.disconnect(); return "seen"; }}
    // Any other change: Playwright looks again (it finds what the page cannot, e.g. in a
    // shadow root). The observer saw that change first, so nothing is lost by returning.
    if (!w || w.n > a.mark) {{ observer?.disconnect(); return "changed"; }}
    return false;
  }};
}})()"""

# One look, one round trip: arm the counter, then find the elements and check each, so an
# element that is there now is judged now (not a round trip later, when it may be gone).
_LOOK = f"""(els, a) => {{
  const arm = {_ARM};
  const holds = {_HOLDS};
  return {{mark: arm(), held: els.map(el => holds(el, a))}};
}}"""


# What Playwright says when a navigation (or a re-render) took the document or the element away
# mid-look: look again. Any other error (a bad selector, a closed page) is the caller's to tell.
_MOVED_ON = ("context was destroyed", "was detached", "Cannot find context", "different document",
             "is disposed", "not attached")


def _moved_on(err: PlaywrightError) -> bool:
    return any(marker in str(err) for marker in _MOVED_ON)


class Watched(NamedTuple):
    met: bool
    found: bool  # an element matched at some point (a message says "stayed hidden", not "none")


def _left_ms(until: float) -> float:
    return max((until - time.monotonic()) * 1000, 1.0)


def next_change(page: Page, mark: int, until: float, in_frame: bool,
                probe: dict[str, Any] | None = None, cond: Condition = "attached",
                text: str = "") -> bool:
    """Return at the page's next change after `mark` (or at `until`, or after a short slice for
    targets in an iframe). With a probe, return only when the page saw the target meet `cond`
    (True: trust it, even if it is gone by now) or at `until`."""
    if mark < 0 or in_frame:
        page.wait_for_timeout(min(FRAME_SLICE * 1000, _left_ms(until)))
        return False
    try:
        if probe is None:
            page.wait_for_function(_CHANGED, arg=mark, polling="raf", timeout=_left_ms(until))
            return False
        left = _left_ms(until)
        seen = page.wait_for_function(
            _APPEARS, arg={"probe": probe, "cond": cond, "text": text, "mark": mark, "ms": left},
            polling="raf", timeout=left)
        return bool(seen.json_value() == "seen")
    except PlaywrightTimeoutError:
        return False
    except PlaywrightError as err:
        if not _moved_on(err):
            raise
        return False  # a navigation replaced the document: look again


_ENGINE = re.compile(r"^\s*([a-z][a-z-]*)=")


def probe_for(target: Target | None) -> dict[str, Any] | None:
    """How the page itself can find `target` (None: only Playwright can, e.g. roles, labels,
    targets in an iframe, exact texts)."""
    if isinstance(target, str):
        engine = _ENGINE.match(target)
        if ">>" in target or (engine and engine.group(1) not in ("css", "xpath")):
            return None
        kind = engine.group(1) if engine else (
            "xpath" if target.lstrip().startswith(("/", "(")) else "css")
        return {kind: target[engine.end():] if engine else target}
    if target is None or target.frame is not None:
        return None
    nth = {} if target.nth is None else {"nth": target.nth}
    if target.css is not None:
        return {"css": target.css, **nth}
    if target.xpath is not None:
        return {"xpath": target.xpath, **nth}
    if target.text is not None and not target.exact and target.nth is None:
        return {"text": target.text}
    return None


def watch(page: Page, locator: Locator, cond: Condition, until: float, *,
          text: str = "", in_frame: bool = False, strict: bool = True,
          probe: dict[str, Any] | None = None) -> Watched:
    """Wait until the element of `locator` meets `cond`, watching inside the page.

    Strict (as Playwright is): several matches raise Playwright's strict mode violation, except
    with strict=False, where any match meeting `cond` will do (a question: is there any?).
    """
    found = False
    while True:
        look = _look(locator, cond, text)
        mark, held = look if look is not None else (-1, [])  # None: a new document is loading
        found = found or bool(held)
        if look is not None and not held and cond in GONE:
            return Watched(True, found)
        if held and (not strict or len(held) == 1) and any(held):
            return Watched(True, True)
        if len(held) > 1 and strict:
            with contextlib.suppress(PlaywrightTimeoutError):  # (unless they went away)
                locator.element_handle(timeout=1)  # raises Playwright's strict mode violation
            continue
        if len(held) == 1 and strict:
            if time.monotonic() >= until:
                return Watched(False, True)
            outcome = _watch_element(locator, cond, text, until)
            if outcome is not None:
                return Watched(outcome, True)
            continue  # the element went away (or the document changed): look again
        if time.monotonic() >= until:
            return Watched(False, found)
        watching = probe if cond in ("visible", "attached", "text") else None
        if next_change(page, mark, until, in_frame, watching, cond, text):
            return Watched(True, True)  # the page saw it: it may be gone again by now


def _look(locator: Locator, cond: Condition, text: str) -> tuple[int, list[bool]] | None:
    try:
        answer = locator.evaluate_all(_LOOK, {"cond": cond, "text": text})
    except PlaywrightError as err:
        if not _moved_on(err):
            raise
        return None
    return int(answer["mark"]), [bool(held) for held in answer["held"]]


def _watch_element(locator: Locator, cond: Condition, text: str, until: float) -> bool | None:
    """True when met, False at `until`, None when the element is gone and may come back."""
    try:
        # Strict, like Playwright's own waits; short: the element was there a moment ago.
        handle = locator.element_handle(timeout=min(250.0, _left_ms(until)))
    except PlaywrightTimeoutError:
        return None if time.monotonic() < until else False  # it went away meanwhile
    try:
        # The page keeps the time (a.ms): an evaluate has no timeout of its own. A page whose
        # script never yields holds it, as it would hold any step; the job's time limit ends it.
        answer = handle.evaluate(_WATCH, {"cond": cond, "text": text, "ms": _left_ms(until)})
    except PlaywrightError as err:
        if not _moved_on(err):
            raise
        return None  # a navigation took the element with it
    finally:
        with contextlib.suppress(PlaywrightError):  # its page may be gone
            handle.dispose()
    return {"met": True, "time": False}.get(answer)


def first_shown(page: Page, locators: list[Locator], until: float, in_frame: bool) -> int | None:
    """The index of the first locator with a visible element (several matches are fine), or None
    at `until`."""
    while True:
        mark = -1
        for index, locator in enumerate(locators):
            look = _look(locator, "visible", "")
            if look is None:
                break  # a new document is loading
            if index == 0:
                mark = look[0]  # counted before any of the looks
            if any(look[1]):
                return index
        if time.monotonic() >= until:
            return None
        next_change(page, mark, until, in_frame)
