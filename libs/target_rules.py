"""What a browser target may say, checked without a browser (by `workhand check` and at run time).

A plain string target is a Playwright selector: CSS (`#login`, `.todo-list li`,
`input[name=q]`), or a selector with an engine (`text=登录`, `xpath=//td`, `//td`). Words a person
sees on the page (`Username`, `登录`, `Accepted usernames are:`) are not a selector, and CSS would
silently read them as element names that never match; they are refused here with the map to
write instead ({text: ...}, {label: ...}, {role: button, name: ...}).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

ARIA_ROLES = frozenset((
    "alert", "alertdialog", "application", "article", "banner", "blockquote", "button",
    "caption", "cell", "checkbox", "code", "columnheader", "combobox", "complementary",
    "contentinfo", "definition", "deletion", "dialog", "directory", "document", "emphasis",
    "feed", "figure", "form", "generic", "grid", "gridcell", "group", "heading", "img",
    "insertion", "link", "list", "listbox", "listitem", "log", "main", "marquee", "math", "menu",
    "menubar", "menuitem", "menuitemcheckbox", "menuitemradio", "meter", "navigation", "none",
    "note", "option", "paragraph", "presentation", "progressbar", "radio", "radiogroup",
    "region", "row", "rowgroup", "rowheader", "scrollbar", "search", "searchbox", "separator",
    "slider", "spinbutton", "status", "strong", "subscript", "superscript", "switch", "tab",
    "table", "tablist", "tabpanel", "term", "textbox", "time", "timer", "toolbar", "tooltip",
    "tree", "treegrid", "treeitem"))
"""The roles Playwright's get_by_role accepts (a test compares this with Playwright's own)."""

_TAG_NAMES = """
a abbr address area article aside audio b base bdi bdo blockquote body br button canvas caption
cite code col colgroup data datalist dd del details dfn dialog div dl dt em embed fieldset
figcaption figure footer form frame frameset h1 h2 h3 h4 h5 h6 head header hgroup hr html i
iframe img input ins kbd label legend li link main map mark menu meta meter nav noscript object
ol optgroup option output p param picture pre progress q rp rt ruby s samp script search section
select slot small source span strong style sub summary sup table tbody td template textarea
tfoot th thead time title tr track u ul var video wbr font center marquee
svg g path circle rect line polyline polygon ellipse text tspan use image defs symbol
"""
HTML_TAGS = frozenset(_TAG_NAMES.split())
"""Element names a CSS type selector may use (custom elements have a '-' and are allowed too)."""

KINDS = ("role", "label", "text", "placeholder", "test_id", "alt", "title", "css", "xpath")
"""How a target map says what to find; a map names exactly one (or none, with a relation)."""

RELATIONS = ("right_of", "left_of", "above", "below", "near")
"""Where the element is, seen from a text on the page (UiPath's anchors)."""

TARGET_KEYS = ("role (with name), label, text, placeholder, test_id, alt, title, css or xpath "
               "(plus has_text, inside, right_of, left_of, above, below, near, exact, frame, nth)")
OTHER_KEYS = ("name", "exact", "has_text", "inside", "frame", "nth")

EXACT_KINDS = ("role", "label", "text", "placeholder", "test_id", "alt", "title")

_ENGINE = re.compile(r"^\s*[a-z_][a-z0-9_:-]*\s*=", re.IGNORECASE)
_COMBINATOR = re.compile(r"[\s>+~,]+")
_TYPE = re.compile(r"[A-Za-z][A-Za-z0-9-]*")
_PLAIN = re.compile(r"^[^\s:{}\[\],'\"#&*!|>%@`][^:{}\[\],#]*$")


def yaml_text(value: str) -> str:
    """A value as it is written in a YAML flow map: quoted only when it must be."""
    return value if _PLAIN.match(value) else json.dumps(value, ensure_ascii=False)


def as_words(text: str) -> str:
    """The maps to write for words seen on the page."""
    words = yaml_text(text.strip())
    return (f"for text on the page write {{text: {words}}}, for the field it labels "
            f"{{label: {words}}}, for a button {{role: button, name: {words}}}")


def _compounds(selector: str) -> list[str]:
    """The compound selectors of a CSS selector, with (...), [...] and quotes blanked out."""
    return [part for part in _COMBINATOR.split("".join(_compounds_text(selector))) if part]


def balance_problem(selector: str) -> str | None:
    """An unclosed or stray bracket or quote: no selector engine reads it."""
    closing = {"(": ")", "[": "]"}
    stack: list[str] = []
    quote = ""
    for ch in selector:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in closing:
            stack.append(closing[ch])
        elif ch in ")]" and (not stack or stack.pop() != ch):
            return f"'{ch}' closes nothing"
    if quote:
        return f"the quote {quote} is never closed"
    if stack:
        return f"'{stack[-1]}' is missing (a bracket is never closed)"
    return None


_NAME_AFTER = re.compile(r"[#.](?![A-Za-z_\-\\\u00a0-\uffff])")


def css_syntax_problem(selector: str) -> str | None:
    """Why a CSS selector cannot be parsed, or None (Playwright's own extensions pass)."""
    wrong = balance_problem(selector)
    if wrong:
        return wrong
    blanked = "".join(_compounds_text(selector))
    stray = _NAME_AFTER.search(blanked)
    if stray:
        return f"'{stray.group()}' must be followed by a name (e.g. '#login', '.total')"
    if re.search(r"[>+~,]\s*$", blanked) or re.match(r"^\s*[>+~,]", blanked):
        return "it begins or ends with a combinator (>, +, ~ or ,)"
    return None


def _compounds_text(selector: str) -> list[str]:
    """The selector with (...), [...] and quotes blanked out, as characters."""
    out, depth, quote = [], 0, ""
    for ch in selector:
        if quote:
            quote = "" if ch == quote else quote
            out.append("_")
        elif ch in "'\"":
            quote = ch
            out.append("_")
        elif ch in "([":
            depth += 1
            out.append(ch)
        elif ch in ")]":
            depth -= 1
            out.append(ch)
        else:
            out.append("_" if depth > 0 else ch)
    return out


def css_problem(selector: str) -> str | None:
    """Why a CSS selector cannot be what its writer meant, or None."""
    for compound in _compounds(selector):
        if compound[0] in "#.[:*&|":
            continue
        name = _TYPE.match(compound)
        if name is None or (name.group().lower() not in HTML_TAGS and "-" not in name.group()):
            word = name.group() if name else compound
            return f"'{word}' is not an HTML element"
    return None


def selector_problem(selector: str) -> str | None:
    """Why a plain string target is not a usable selector, or None when it is one."""
    text = selector.strip()
    if not text:
        return ("the target is empty; write a selector such as '#login' or a map such as "
                "{role: button, name: 登录}")
    engine = _ENGINE.match(text)
    if engine or text.startswith(("//", "..", "(", "'", '"')) or ">>" in text:
        # An engine's own syntax, which Playwright reads; only an XPath's or a CSS body's
        # brackets are checked here (a text= body may hold any quote).
        kind = engine.group().rstrip("= ").lower() if engine else (
            "xpath" if text.startswith(("//", "..", "(")) else "text")
        body = text[engine.end():] if engine else text
        wrong = balance_problem(body) if kind in ("xpath", "css") and ">>" not in text else None
        return f"'{text}' is not a valid selector: {wrong}" if wrong else None
    wrong = css_syntax_problem(text)
    if wrong:
        return (f"'{text}' is not a valid CSS selector: {wrong}; write one such as '#login' "
                "or '.todo-list li', or a map such as {role: button, name: 登录}")
    if css_problem(text) is None:
        return None
    return (f"'{text}' is not a selector: a plain text target is read as CSS "
            f"({css_problem(text)}); {as_words(text)}")


def spec_problem(given: dict[str, object]) -> str | None:
    """Why a target map's keys do not go together, or None. `given` holds the keys written."""
    kinds = [k for k in KINDS if given.get(k) is not None]
    relations = [k for k in RELATIONS if given.get(k) is not None]
    if len(kinds) > 1:
        if "text" in kinds and len(kinds) == 2:
            other = next(k for k in kinds if k != "text")
            return (f"a target names one way to find it, but this one has both '{other}' and "
                    f"'text'; to keep the {other} matches that contain a text write "
                    f"has_text: {yaml_text(str(given['text']))} instead of text")
        return (f"a target names one way to find it, but this one has {', '.join(kinds)}; "
                f"keep one of them (use inside: to look within another element)")
    if not kinds and not relations:
        return ("a target map needs one of " + ", ".join(KINDS) +
                " (or a place such as right_of: 用户名); e.g. {role: button, name: 登录} or "
                "{label: 用户名}")
    if given.get("name") is not None and kinds != ["role"]:
        return "'name' goes with 'role' only; write {role: button, name: 登录}, or drop 'name'"
    if given.get("exact") and not any(k in EXACT_KINDS for k in kinds):
        return "'exact' goes with role/name, label, text, placeholder, test_id, alt or title"
    role = given.get("role")
    if isinstance(role, str) and role.strip().lower() not in ARIA_ROLES:
        import difflib

        close = difflib.get_close_matches(role.strip().lower(), sorted(ARIA_ROLES), n=1)
        hint = (f"did you mean '{close[0]}'?" if close else
                "common roles are button, link, textbox, checkbox, combobox, row, cell")
        return f"'{role}' is not an ARIA role; {hint}"
    css, xpath = given.get("css"), given.get("xpath")
    if isinstance(css, str):
        wrong = css_syntax_problem(css)
        if wrong:
            return f"css: {yaml_text(css)} is not a valid CSS selector: {wrong}"
        wrong = css_problem(css)
        if wrong:
            return f"css: {yaml_text(css)} cannot match anything: {wrong}; {as_words(css)}"
    if isinstance(xpath, str):
        wrong = balance_problem(xpath)
        if wrong:
            return f"xpath: {yaml_text(xpath)} is not a valid XPath: {wrong}"
    nth = given.get("nth")
    if isinstance(nth, int) and nth < -1:
        return "nth counts from 0 (the first match); -1 is the last"
    return None


class _Computed:
    """Stands for a value an expression makes: present, but unknown until the run."""

    def __init__(self, written: object) -> None:
        self.written = written

    def __str__(self) -> str:
        return str(self.written)


def shape_problem(target: dict[str, object], computed: Callable[[object], bool]) -> str | None:
    """Why a target map with ${...} values cannot work whatever the values are, or None: its keys
    are known before the run even when its values are not."""
    for key in target:
        if key not in (*KINDS, *RELATIONS, *OTHER_KEYS):
            return f"a target map cannot have '{key}'; use one of {TARGET_KEYS}"
    inside = target.get("inside")
    if isinstance(inside, dict):
        wrong = shape_problem(inside, computed)
        if wrong:
            return f"inside: {wrong}"
    given = {k: _Computed(v) if computed(v) else v for k, v in target.items()}
    return spec_problem(given)


TARGET_ONLY_KEYS = (*(key for key in OTHER_KEYS if key != "name"), *RELATIONS)
"""Keys of a target map that users write beside the target, at step level, by mistake."""


def inside_target(target: object, key: str, value: object) -> str:
    """The target map with `key: value` moved inside it, written as YAML: `nth: 1` beside
    `target: "#bills li"` becomes {css: "#bills li", nth: 1}."""
    if isinstance(target, dict):
        parts = {str(k): v for k, v in target.items()}
    elif isinstance(target, str):
        kind = "xpath" if target.lstrip().startswith(("/", "(")) else "css"
        parts = {kind: target}
    else:
        parts = {"css": "..."}
    parts[key] = value
    shown = ", ".join(f"{k}: {flow_value(v)}" for k, v in parts.items())
    return "{" + shown + "}"


def flow_value(value: object) -> str:
    """A value as the robot would write it in a YAML flow map."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {flow_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(flow_value(v) for v in value) + "]"
    return yaml_text(value) if isinstance(value, str) else str(value)
