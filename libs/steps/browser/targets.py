"""Turning a robot's Target (a selector string or a {role/label/text/...} map) into a Locator.

Building a Locator costs no round trip to the browser: the element is only looked for when the
step acts on it, with Playwright's auto-waiting and strictness (one match, or an error).
"""

from __future__ import annotations

import difflib
import json
import re
from functools import cache
from typing import Any, Literal, cast, get_args, get_type_hints

from playwright.sync_api import FrameLocator, Locator, Page

from libs.errors import StepArgumentError
from libs.types import Target, TargetSpec

KINDS = ("role", "label", "text", "placeholder", "css", "xpath")
_PLAIN = re.compile(r"^[^\s:{}\[\],'\"#&*!|>%@`][^:{}\[\],#]*$")


@cache
def aria_roles() -> tuple[str, ...]:
    """The roles get_by_role accepts (taken from Playwright's own signature)."""
    hint = get_type_hints(Page.get_by_role)["role"]
    return tuple(str(role) for role in get_args(hint))


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
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, str) and not _PLAIN.match(value):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def locate(page: Page, target: Target) -> Locator:
    """The Locator for a target on a page (no browser call is made here)."""
    if isinstance(target, str):
        if not target.strip():
            raise StepArgumentError("the target is empty; write a selector such as '#login' or a "
                                    "map such as {role: button, name: 登录}")
        return page.locator(target)
    kinds = [kind for kind in KINDS if getattr(target, kind) is not None]
    if len(kinds) != 1:
        found = ", ".join(kinds) if kinds else "none"
        raise StepArgumentError(
            f"the target {describe(target)} must name exactly one of {', '.join(KINDS)} "
            f"(found: {found}); e.g. {{role: button, name: 登录}} or {{label: 用户名}}")
    kind = kinds[0]
    if target.name is not None and kind != "role":
        raise StepArgumentError(f"the target {describe(target)} has 'name', which only goes with "
                                "'role'; use {role: ..., name: ...} or drop 'name'")
    root: Page | FrameLocator = page.frame_locator(target.frame) if target.frame else page
    locator = _by_kind(root, kind, target)
    return locator.nth(target.nth) if target.nth is not None else locator


def _by_kind(root: Page | FrameLocator, kind: str, t: TargetSpec) -> Locator:
    exact = t.exact or None  # Playwright: None = its default (substring, case-insensitive)
    if kind == "role":
        role = str(t.role).strip().lower()
        if role not in aria_roles():
            close = difflib.get_close_matches(role, aria_roles(), n=1)
            hint = f"did you mean '{close[0]}'?" if close else \
                "common roles are button, link, textbox, checkbox, combobox, row, cell"
            raise StepArgumentError(f"'{t.role}' in {describe(t)} is not an ARIA role; {hint}")
        aria = cast(Literal["button"], role)  # checked against Playwright's own list above
        return root.get_by_role(aria, name=t.name, exact=exact if t.name is not None else None)
    if kind == "label":
        return root.get_by_label(str(t.label), exact=exact)
    if kind == "text":
        return root.get_by_text(str(t.text), exact=exact)
    if kind == "placeholder":
        return root.get_by_placeholder(str(t.placeholder), exact=exact)
    if kind == "css":
        return root.locator(f"css={t.css}")
    return root.locator(f"xpath={t.xpath}")
