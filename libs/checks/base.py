"""What every part of the checker shares: the problems found so far, the robot's names, and the
small checks (durations, "did you mean") that each part uses."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from libs import expressions
from libs.errors import Pos, Problem
from libs.loader import INVISIBLE, YList, YMap, _codepoint
from libs.plan import Input
from libs.registry import load_libraries
from libs.types import MAX_STEP_TIMEOUT, parse_duration

IDENTIFIER = re.compile(r"^[^\W\d]\w*$")
BUILTIN_NAMES = {"inputs", "env", "credentials", "run", "item", "today", "now"}
LOOP_NAMES = {
    "loop": "inside a for_each's steps and its 'work_item:' (loop.index, loop.number, "
            "loop.first, loop.last, loop.length)",
    "repeat_index": "inside a repeat's steps and its 'until:' (0, 1, 2, ...)",
}
"""The names the runner sets inside a loop, and where they are known."""
RESERVED = BUILTIN_NAMES | {"error"} | set(LOOP_NAMES) | set(expressions.FUNCTIONS)


def suggest(word: str, options: Iterable[str]) -> str:
    hidden = [c for c in word if c in INVISIBLE]
    if hidden:
        return (f"; it contains an invisible character {_codepoint(hidden[0])}, often pasted "
                "from a chat or a web page: delete it and type the name again")
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def kind_of(value: Any) -> str:
    return {dict: "a map", YMap: "a map", list: "a list", YList: "a list", str: "text",
            int: "a number", float: "a number", bool: "true/false"}.get(type(value), "empty")



def shown_duration(seconds: float) -> str:
    for unit, size in (("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


class Checks:
    """The checker's state; the parts (libs/checks/*.py) add their checks as subclasses, and
    libs/checker.py puts them together."""

    def __init__(self, path: Path, shown_as: str, calling: tuple[Path, ...]) -> None:
        self.path, self.file = path, shown_as
        self.problems: list[Problem] = []
        self.steps = load_libraries()
        self.calling = calling
        self.inputs: dict[str, Input] = {}
        self.credentials: tuple[str, ...] = ()
        self.defined: set[str] = set()
        # (expression, where, in catch, may hold a secret passed whole, is the whole value,
        # the loop names known there)
        self.expression_checks: list[tuple[str, Pos, bool, bool, bool, frozenset[str]]] = []
        self.loop_names: frozenset[str] = frozenset()  # inside for_each: loop; repeat: ...
        self.secret_vars: dict[str, str] = {}  # set: {pw: ${credentials.x.password}} → pw

    @property
    def bundle(self) -> Path:
        """The top robot's folder: what the robot and the robots it calls may read."""
        return self.calling[0].parent

    def problem(self, pos: Pos, message: str) -> None:
        self.problems.append(Problem(pos, message))


    def duration(self, value: Any, pos: Pos, what: str,
                 limit: float = MAX_STEP_TIMEOUT) -> float | None:
        if expressions.has_expression(value):
            self.problem(pos, f"'{what}' must be a fixed duration like 30s, not an expression")
            return None
        try:
            seconds = parse_duration(value)
        except ValueError as err:
            self.problem(pos, f"'{what}': {err}")
            return None
        if seconds > limit:
            self.problem(pos, f"'{what}' of {value} is over the limit of {shown_duration(limit)};"
                         f" use {shown_duration(limit)} or less")
            return None
        return seconds
