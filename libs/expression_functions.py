"""Expression functions beyond Python's own: lists that are built whole (``range``, ``zip``,
``enumerate``) and regular expressions bounded in time and size (``re_search``, ``re_findall``,
``re_replace``, ``re_test``).

Robots are untrusted and a regular expression is a program: a pattern like ``(a|aa)+$`` takes
exponential time on text it does not match. The ``regex`` package stops a match after a timeout
(``re`` cannot), patterns are limited in length, and results are sized while they are built.

A function used wrongly (a pattern that is not one, a range too long) raises ``UsageError``:
the robot's fault, reported as an ExpressionError. A text that made a pattern too slow raises
ValueError: the data's fault, reported as a DataError (the work item is handed back).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import regex

from libs.expression_sandbox import MAX_SEQUENCE, remaining_seconds

MAX_PATTERN = 1_000
"""The most characters of a regular expression's pattern."""

REGEX_SECONDS = 0.2
"""How long one regular expression function may take on its text."""


class UsageError(Exception):
    """A function was called in a way that cannot work; the message says how to call it."""


def _short(text: str, size: int = 60) -> str:
    return text if len(text) <= size else text[: size - 1] + "…"


def _whole(value: Any, what: str, example: str = "range(5) or range(1, int(count) + 1)") -> int:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        function = example.split("(", 1)[0]
        raise UsageError(f"{function}() takes whole numbers, but {what} is {value!r}; "
                         f"write e.g. {example}")
    return value


def range_list(*args: Any) -> list[int]:
    """range(n) / range(a, b[, step]) as a list, refused when it would be too long."""
    if not 1 <= len(args) <= 3:
        raise UsageError(f"range() takes 1 to 3 whole numbers, not {len(args)}; write range(n),"
                         " range(a, b) or range(a, b, step)")
    names = ("n",) if len(args) == 1 else ("a", "b", "step")
    numbers = [_whole(v, name) for v, name in zip(args, names, strict=False)]
    if len(numbers) == 3 and numbers[2] == 0:
        raise UsageError("range()'s step cannot be 0; use 1 to count up or -1 to count down")
    span = range(*numbers)
    if len(span) > MAX_SEQUENCE:
        raise UsageError(f"range({', '.join(map(str, numbers))}) would have {len(span):,} "
                         f"numbers, over the limit of {MAX_SEQUENCE:,}; loop over fewer, or "
                         "over a work queue")
    return list(span)


def zip_lists(*lists: Iterable[Any]) -> list[list[Any]]:
    """zip(a, b, ...) as a list of lists: [[a0, b0], [a1, b1], ...], as long as the shortest."""
    return [list(group) for group in zip(*lists, strict=False)]


def enumerate_list(items: Iterable[Any], start: int = 0) -> list[list[Any]]:
    """enumerate(xs, start=0) as a list of [index, item] pairs."""
    first = _whole(start, "start", "enumerate(rows, start=1)")
    return [[i, item] for i, item in enumerate(items, first)]


# An expression's text is read like Python's: '\b' becomes a backspace and '\1' the character
# 1, before a pattern sees them. Nobody means those control characters in a pattern or a
# replacement, and everybody who writes them means a regular expression's word boundary and
# group: give them back, so '\bTotal\b' and '\1' work as written.
_CONTROL_ESCAPES = str.maketrans({chr(8): "\\b", **{chr(n): f"\\{n}" for n in range(1, 8)}})


def as_written(pattern: str) -> str:
    """A pattern or replacement as the robot wrote it (see _CONTROL_ESCAPES)."""
    return pattern.translate(_CONTROL_ESCAPES)


MAX_PATTERN_SIZE = 20_000
"""The most characters a pattern may stand for once its counted repeats are written out:
regex compiles ``((a{100}){100}){100}`` into a million steps, which takes seconds."""

_QUANTIFIER = regex.compile(r"\{(\d*)(?:,(\d*))?\}[?+]?|[*+?][?+]?")


def _class_end(pattern: str, i: int) -> int:
    """The index after the character class starting at pattern[i] == '['."""
    j = i + 1
    if j < len(pattern) and pattern[j] == "^":
        j += 1
    if j < len(pattern) and pattern[j] == "]":
        j += 1
    while j < len(pattern) and pattern[j] != "]":
        j += 2 if pattern[j] == "\\" else 1
    return j + 1


def expanded_size(pattern: str) -> int:
    """About how many steps a pattern compiles to: each counted repeat ``{n}`` multiplies what
    it repeats (a group's whole size), ``*``, ``+`` and ``?`` do not."""
    stack: list[int] = [0]  # the size of each open group so far
    i, last = 0, 0  # last: the size of the atom just read, which a quantifier repeats
    while i < len(pattern):
        ch = pattern[i]
        if ch == "(":
            stack.append(0)
            i, last = i + 1, 0
            continue
        if ch == ")" and len(stack) > 1:
            last = stack.pop()
            stack[-1] += last
            i += 1
        elif ch == "[":
            i, last = _class_end(pattern, i), 1
            stack[-1] += 1
        else:
            i, last = i + (2 if ch == "\\" else 1), 1
            stack[-1] += 1
        quantifier = _QUANTIFIER.match(pattern, i)
        if quantifier is not None and quantifier[0][0] == "{" and quantifier[1] + (
                quantifier[2] or "") == "":
            quantifier = None  # '{}' and '{,}' are plain text
        if quantifier is not None:
            counts = [int(c) for c in quantifier.groups() if c]
            times = max(counts) if counts and quantifier[0][0] == "{" else 1
            stack[-1] += last * (times - 1)
            i = quantifier.end()
    return sum(stack)


def pattern_problem(pattern: Any) -> str | None:
    """Why a pattern cannot be used, or None: shared by the checker (a pattern written in the
    robot is checked before it runs) and the functions."""
    if not isinstance(pattern, str):
        return (f"the pattern must be text, not {type(pattern).__name__}; write it in quotes, "
                "e.g. '[0-9]+'")
    if len(pattern) > MAX_PATTERN:
        return (f"the pattern is {len(pattern):,} characters long, over the limit of "
                f"{MAX_PATTERN:,}; match a shorter piece of the text")
    written = as_written(pattern)
    size = expanded_size(written)
    if size > MAX_PATTERN_SIZE:
        return (f"the pattern '{_short(written)}' repeats too much: written out it would be "
                f"about {size:,} characters, over the limit of {MAX_PATTERN_SIZE:,}; use smaller "
                "counts, or fewer counts inside one another")
    try:
        regex.compile(written)
    except regex.error as err:
        return (f"the pattern '{_short(written)}' is not a valid regular expression: {err}; "
                "put a backslash before a character meant literally, e.g. '\\(' or '\\.'")
    return None


def _compiled(pattern: Any) -> Any:
    problem = pattern_problem(pattern)
    if problem is not None:
        raise UsageError(problem)
    return regex.compile(as_written(pattern))


def _text(value: Any, function: str) -> str:
    if value is None:
        return ""  # an empty cell
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    raise UsageError(f"{function}() searches text, not {type(value).__name__}; pass one text, "
                     "e.g. a field like row.备注")


def _too_slow(pattern: str, text: str) -> ValueError:
    return ValueError(f"the pattern '{_short(as_written(pattern))}' took longer than "
                      f"{REGEX_SECONDS:g}s on a text of {len(text):,} characters; simplify it: "
                      "avoid a repeat inside a repeat like (a+)+ or (a|aa)+, and prefer a "
                      "precise class like [0-9] to .*")


def _budget() -> float:
    return max(0.001, min(REGEX_SECONDS, remaining_seconds()))


class _Clock:
    """One function call's time: regex's timeout covers each search, this the whole call."""

    def __init__(self, pattern: str, text: str) -> None:
        self.pattern, self.text = pattern, text
        self.deadline = time.monotonic() + _budget()

    def left(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise _too_slow(self.pattern, self.text)
        return left


def _matches(text: Any, pattern: Any, function: str) -> Iterable[Any]:
    subject, compiled = _text(text, function), _compiled(pattern)
    clock = _Clock(pattern, subject)
    try:
        for match in compiled.finditer(subject, timeout=clock.left()):
            yield match
            clock.left()
    except TimeoutError:
        raise _too_slow(pattern, subject) from None


def _value(match: Any) -> Any:
    """A match's text, or its groups when the pattern has any: one group as text, several as
    a list."""
    groups = match.groups()
    if not groups:
        return match.group(0)
    return groups[0] if len(groups) == 1 else list(groups)


def re_search(text: Any, pattern: Any) -> Any:
    """The first match (or its group), or none."""
    for match in _matches(text, pattern, "re_search"):
        return _value(match)
    return None


def re_test(text: Any, pattern: Any) -> bool:
    """Whether the pattern matches anywhere in the text."""
    return any(True for _ in _matches(text, pattern, "re_test"))


def re_findall(text: Any, pattern: Any) -> list[Any]:
    """Every match (or its groups), in order."""
    found: list[Any] = []
    for match in _matches(text, pattern, "re_findall"):
        found.append(_value(match))
        if len(found) > MAX_SEQUENCE:
            raise UsageError(f"re_findall found more than {MAX_SEQUENCE:,} matches; match a "
                             "shorter part of the text")
    return found


def re_replace(text: Any, pattern: Any, replacement: Any) -> str:
    """Every match replaced; the replacement may name groups: '\\1' or '\\g<name>'."""
    if not isinstance(replacement, str):
        raise UsageError(f"re_replace()'s replacement must be text, not "
                         f"{type(replacement).__name__}; write it in quotes")
    subject = _text(text, "re_replace")
    parts: list[str] = []
    size, last = 0, 0
    for match in _matches(subject, pattern, "re_replace"):
        try:
            new = match.expand(as_written(replacement))
        except (regex.error, IndexError) as err:
            shown = _short(as_written(replacement))
            raise UsageError(f"the replacement '{shown}' cannot be used: {err}; name a group "
                             "the pattern has, e.g. '\\1' for the first") from None
        parts += [subject[last:match.start()], new]
        size += match.start() - last + len(new)
        last = match.end()
        if size + len(subject) - last > MAX_SEQUENCE:  # '' matches everywhere: size it first
            raise UsageError(f"the replaced text would be over {MAX_SEQUENCE:,} characters; "
                             "replace less, or a shorter text")
    parts.append(subject[last:])
    return "".join(parts)
