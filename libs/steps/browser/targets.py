"""Turning a robot's Target (a selector string or a {role/label/text/...} map) into a Locator.

Building a Locator costs no round trip to the browser: the element is only looked for when the
step acts on it, with Playwright's auto-waiting and strictness (one match, or an error).
"""

from __future__ import annotations

import json
from typing import Any, Literal, cast

from playwright.sync_api import FrameLocator, Locator, Page

from libs.errors import StepArgumentError
from libs.target_rules import RELATIONS, flow_value, selector_problem
from libs.types import Target, TargetSpec

PLACE_ENGINE = "workhand-place"
"""A selector engine (registered in each browser, session.py) for right_of/below/...: Playwright's
own :right-of() matches at any height and is deprecated; a person means the same line."""

PLACE_SCRIPT = """{
  queryAll(root, body) {
    const {rel, text} = JSON.parse(body);
    const norm = s => (s || '').replace(/\\s+/g, ' ').trim().toLowerCase();
    const want = norm(text);
    const all = [...root.querySelectorAll('*')].filter(e => !['SCRIPT', 'STYLE', 'HEAD',
      'TITLE', 'NOSCRIPT', 'TEMPLATE'].includes(e.tagName));
    const shown = e => { const r = e.getBoundingClientRect(); return r.width > 0 || r.height > 0; };
    const own = all.filter(e => norm(e.textContent).includes(want) && shown(e)
      && ![...e.children].some(c => norm(c.textContent).includes(want)));
    const exact = own.filter(e => norm(e.textContent) === want);
    const anchors = exact.length ? exact : own;
    const found = [];
    for (const el of all) {
      if (anchors.includes(el) || !shown(el)) continue;
      const r = el.getBoundingClientRect();
      let best = Infinity;
      for (const a of anchors) {
        if (a.contains(el) || el.contains(a)) continue;
        const q = a.getBoundingClientRect();
        const row = r.top < q.bottom && r.bottom > q.top;
        const column = r.left < q.right && r.right > q.left;
        let d = Infinity;
        if (rel === 'right_of' && row && r.left >= q.right - 2) d = r.left - q.right;
        else if (rel === 'left_of' && row && r.right <= q.left + 2) d = q.left - r.right;
        else if (rel === 'below' && column && r.top >= q.bottom - 2) d = r.top - q.bottom;
        else if (rel === 'above' && column && r.bottom <= q.top + 2) d = q.top - r.bottom;
        else if (rel === 'near') {
          const dx = Math.max(q.left - r.right, r.left - q.right, 0);
          const dy = Math.max(q.top - r.bottom, r.top - q.bottom, 0);
          if (Math.hypot(dx, dy) <= 50) d = Math.hypot(dx, dy);
        }
        best = Math.min(best, d);
      }
      if (best < Infinity) found.push([best, el]);
    }
    found.sort((x, y) => x[0] - y[0]);
    return found.map(x => x[1]);
  }
}"""

FIELD = "input:not([type=hidden]), select, textarea, [contenteditable='true'], [contenteditable='']"
"""What a target with only a place (e.g. {right_of: 用户名}) looks for: a form field."""

Root = Page | Locator | FrameLocator


def describe(target: Target | None) -> str:
    """The target as the robot wrote it: '#login' or {role: button, name: 登录}."""
    if target is None:
        return "the page"
    if isinstance(target, str):
        return f"'{target}'"
    parts = []
    for name in TargetSpec.model_fields:
        if name in target.model_fields_set:
            parts.append(f"{name}: {_yaml_value(getattr(target, name))}")
    return "{" + ", ".join(parts) + "}"


def _yaml_value(value: Any) -> str:
    return describe(value) if isinstance(value, TargetSpec) else flow_value(value)


def locate(root: Root, target: Target) -> Locator:
    """The Locator for a target on a page, or inside a frame or an element (no browser call is
    made here). Targets are checked when the step's arguments are (libs/target_rules.py); the
    string check is repeated for values an expression made."""
    if isinstance(target, str):
        wrong = selector_problem(target)
        if wrong:
            raise StepArgumentError(wrong)
        return root.locator(target)
    scope = root
    frames = [target.frame] if isinstance(target.frame, str) else target.frame or []
    for frame in frames:
        scope = scope.frame_locator(frame)
    if target.inside is not None:
        scope = locate(scope, target.inside)
    locator = _by_kind(scope, target)
    if target.has_text is not None:
        locator = locator.filter(has_text=target.has_text)
    places = [(rel, getattr(target, rel)) for rel in RELATIONS if getattr(target, rel)]
    for rel, text in places:  # the place's engine first: its order (closest first) is kept
        where = json.dumps({"rel": rel, "text": text}, ensure_ascii=False)
        locator = scope.locator(f"{PLACE_ENGINE}={where}").and_(locator)
    if target.nth is not None:
        return locator.nth(target.nth)
    return locator.first if places else locator


def _by_kind(root: Root, t: TargetSpec) -> Locator:
    exact = t.exact or None  # Playwright: None = its default (substring, case-insensitive)
    if t.role is not None:
        aria = cast(Literal["button"], t.role.strip().lower())  # checked in target_rules
        return root.get_by_role(aria, name=t.name, exact=exact if t.name is not None else None)
    if t.label is not None:
        return root.get_by_label(t.label, exact=exact).or_(
            root.locator(f"xpath={_label_before(t.label, bool(t.exact))}"))
    if t.text is not None:
        return root.get_by_text(t.text, exact=exact)
    if t.placeholder is not None:
        return root.get_by_placeholder(t.placeholder, exact=exact)
    if t.test_id is not None:
        return root.get_by_test_id(t.test_id)
    if t.alt is not None:
        return root.get_by_alt_text(t.alt, exact=exact)
    if t.title is not None:
        return root.get_by_title(t.title, exact=exact)
    if t.css is not None:
        return root.locator(f"css={t.css}")
    if t.xpath is not None:
        return root.locator(f"xpath={t.xpath}")
    return root.locator(f"css={FIELD}")


_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _label_before(label: str, exact: bool) -> str:
    """XPath of the field that follows a <label> linked to nothing (no for=, no field inside):
    legacy screens write `<label>户名</label><input>`, which get_by_label cannot see."""
    text = "normalize-space(.)" if exact else \
        f"translate(normalize-space(.), '{_UPPER}', '{_UPPER.lower()}')"
    wanted = _xpath_literal(" ".join(label.split()) if exact else " ".join(label.split()).lower())
    test = f"{text}={wanted}" if exact else f"contains({text}, {wanted})"
    return ("//label[not(@for)][not(.//input|.//select|.//textarea)]"
            f"[{test}]/following::*[self::input[not(@type='hidden')] or self::select "
            "or self::textarea][1]")


def _xpath_literal(text: str) -> str:
    if "'" not in text:
        return f"'{text}'"
    if '"' not in text:
        return f'"{text}"'
    return "concat(" + ", \"'\", ".join(f"'{part}'" for part in text.split("'")) + ")"
