"""The sandbox expressions run in: Jinja's SandboxedEnvironment with every hook guarded.

Every operator, attribute, index, call, filter and test of an expression passes through here,
and three things are refused with a sentence (a ``SecurityError``, shown by libs/expressions.py
as "refused by the sandbox: ..."):

- a value larger than the limits: text or lists over ``MAX_SEQUENCE`` characters or items, whole
  numbers over ``MAX_DIGITS`` digits. Sizes are estimated *before* the work where the work itself
  is the danger (``'a'.center(10**9)``, ``'%9999999s'``, ``replace``, ``join``, ``sum`` of lists,
  ``((10**1000)**1000)**1000``), and every result is measured after;
- an expression that runs longer than ``MAX_SECONDS`` (checked at each hook);
- any use of a ``Secret`` but returning it whole (``SecretMisuse``, see libs/secrets.py).
"""

from __future__ import annotations

import functools
import math
import operator
import re
import string
import time
from collections.abc import Callable, Iterator, Mapping, Sized
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from jinja2 import StrictUndefined, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from libs.secrets import Secret, SecretMisuse, find_secret

MAX_SEQUENCE = 1_000_000
"""The most characters of a text, or items of a list or map, an expression may produce."""

MAX_DIGITS = 4_000
"""The most decimal digits of a whole number (below Python's own 4,300 for int('...'))."""

MAX_INT_BITS = math.ceil(MAX_DIGITS * math.log2(10))

MAX_EXPONENT = 1_000
"""The largest exponent of ``**``."""

MAX_SECONDS = 2.0
"""How long one expression may run (its hooks check the clock)."""

_BINOPS: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
    "//": operator.floordiv, "%": operator.mod, "**": operator.pow,
}
_UNOPS: dict[str, Callable[[Any], Any]] = {"+": operator.pos, "-": operator.neg}
_PRINTF = re.compile(r"%[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")
_NUMBER = re.compile(r"\d+")
_SIZED = (str, bytes, list, tuple, dict, set, frozenset)


@dataclass
class Evaluation:
    """One expression being evaluated: its deadline and the secrets it has read."""

    deadline: float
    touched: list[Secret] = field(default_factory=list)


_current: ContextVar[Evaluation | None] = ContextVar("workhand_expression", default=None)


@contextmanager
def evaluating() -> Iterator[Evaluation]:
    state = Evaluation(time.monotonic() + MAX_SECONDS)
    token = _current.set(state)
    try:
        yield state
    finally:
        _current.reset(token)


def remaining_seconds() -> float:
    """How long the expression being evaluated may still run (functions that can take long,
    like a regular expression, bound themselves by it)."""
    state = _current.get()
    return MAX_SECONDS if state is None else state.deadline - time.monotonic()


def _tick() -> None:
    state = _current.get()
    if state is not None and time.monotonic() > state.deadline:
        raise SecurityError(f"the expression ran longer than its time limit of {MAX_SECONDS:g}s;"
                            " do heavy work in steps, not in an expression")


def _note(value: Any) -> Any:
    """A Secret read from a field is remembered, so that a later error can name it."""
    state = _current.get()
    if state is not None and isinstance(value, Secret):
        state.touched.append(value)
    return value


GUARD_BUDGET = 2_000
"""How many values inside an argument the guard looks at for a Secret (see find_secret)."""


def _guard(*values: Any) -> None:
    for value in values:
        secret = find_secret(value, GUARD_BUDGET)
        if secret is not None:
            raise SecretMisuse(secret.name)


def _too_big(size: int) -> None:
    if size > MAX_SEQUENCE:
        raise SecurityError(f"the value would have {size:,} characters or items, over the size "
                            f"limit of {MAX_SEQUENCE:,}")


def _too_many_bits(bits: int) -> None:
    if bits > MAX_INT_BITS:
        raise SecurityError(f"the number would have about {int(bits / math.log2(10)):,} digits, "
                            f"over the limit of {MAX_DIGITS:,}")


def check_size(value: Any) -> Any:
    """Refuse a produced value over the limits; return it unchanged otherwise."""
    if isinstance(value, int) and not isinstance(value, bool):
        _too_many_bits(value.bit_length())
    elif isinstance(value, _SIZED):
        _too_big(len(value))
    return value


MAX_WALK = 10 * MAX_SEQUENCE
"""The most values flat_size looks at (a second or two); a value with more is too big as text."""


def flat_size(value: Any, budget: int = MAX_SEQUENCE) -> int:
    """The characters and items a value has once written out as text, counted up to just past
    ``budget``. A list holding the same 1 MB text ten times, ten times over, is small in memory
    but a gigabyte as text: every reference counts, so the walk stops as soon as it is too big,
    or after ``MAX_WALK`` values."""
    total, stack, steps = 0, [value], 0
    while stack and total <= budget:
        steps += 1
        if steps > MAX_WALK:
            return budget + 1
        item = stack.pop()
        if isinstance(item, str | bytes):
            total += len(item)
        elif isinstance(item, Mapping):
            total += len(item)
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            total += len(item)
            stack.extend(item)
        else:
            total += 1
    return total


def text_size_problem(value: Any, limit: int = MAX_SEQUENCE) -> str | None:
    """Why a value must not be written out as text (a log line, a file, a ${...} inside text),
    or None: measured before str() or JSON builds the text."""
    if value is None or isinstance(value, str | bytes | int | float | bool):
        return None
    if flat_size(value, limit) <= limit:
        return None
    return (f"the value would be over {limit:,} characters as text (a list or map that "
            "repeats a large value counts it each time); write a smaller value, or rows with "
            "excel.write_rows or csv.write_rows")


def _number_too_big(text: str) -> bool:
    return len(text) > len(str(MAX_SEQUENCE)) or int(text) > MAX_SEQUENCE


def _check_printf(template: str) -> None:
    """'%9999999s' % x: a width is a size too."""
    for match in _PRINTF.finditer(template):
        for group in match.groups():
            if group == "*":
                raise SecurityError("a '*' width in % formatting is not allowed (size limit); "
                                    "write the width as a number")
            if group and _number_too_big(group):
                raise SecurityError(f"the width {group} in '{template[:40]}' is over the size "
                                    f"limit of {MAX_SEQUENCE:,}")


def _check_format(template: str) -> None:
    """'{:>999999999}'.format(x): a width in a format spec is a size too."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError:
        return  # str.format reports the broken template itself
    for _, _, spec, _ in parsed:
        for number in _NUMBER.findall(spec or ""):
            if _number_too_big(number):
                raise SecurityError(f"the width {number} in '{template[:40]}' is over the size "
                                    f"limit of {MAX_SEQUENCE:,}")


def _big_ints(values: tuple[Any, ...] | list[Any]) -> None:
    for value in values:
        if isinstance(value, int) and not isinstance(value, bool) and value > MAX_SEQUENCE:
            raise SecurityError(f"{value:,} is over the size limit of {MAX_SEQUENCE:,} for a "
                                "width or count")


def _replaced_size(text: str, old: Any, new: Any, count: Any) -> int:
    if not isinstance(old, str) or not isinstance(new, str):
        return len(text)
    found = text.count(old) if old else len(text) + 1
    if isinstance(count, int) and count >= 0:
        found = min(found, count)
    return len(text) + found * max(0, len(new) - len(old))


def _joined_size(separator: str, items: Any) -> int:
    if not isinstance(items, list | tuple):
        return 0  # an iterator: measured once produced
    return (sum(len(x) if isinstance(x, str) else 24 for x in items)
            + len(separator) * max(0, len(items) - 1))


def _summed_size(items: Any, start: Any) -> int:
    if not isinstance(items, list | tuple):
        return 0
    parts = [*items, start]
    if not any(isinstance(p, list | tuple | str) for p in parts):
        return 0
    return sum(len(p) for p in parts if isinstance(p, _SIZED))


def _check_str_method(owner: str, name: str, args: tuple[Any, ...],
                      kwargs: dict[str, Any]) -> None:
    _big_ints([*args, *kwargs.values()])
    if name == "replace" and len(args) >= 2:
        count = args[2] if len(args) > 2 else kwargs.get("count", -1)
        _too_big(_replaced_size(owner, args[0], args[1], count))
    elif name == "expandtabs":
        size = args[0] if args else kwargs.get("tabsize", 8)
        _too_big(len(owner) + owner.count("\t") * (size if isinstance(size, int) else 8))
    elif name == "join" and args:
        _too_big(_joined_size(owner, args[0]))
    elif name in ("format", "format_map"):
        _check_format(owner)
        _text_sized([*args, *kwargs.values()])


def _check_call(func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    target = getattr(func, "__wrapped__", func)
    owner = getattr(target, "__self__", None)
    if isinstance(owner, str):
        _check_str_method(owner, getattr(target, "__name__", ""), args, kwargs)
    elif target is sum and args:
        _too_big(_summed_size(args[0], args[1] if len(args) > 1 else kwargs.get("start", 0)))
    elif target in (list, tuple, set, sorted) and args and isinstance(args[0], Sized):
        _too_big(len(args[0]))
    elif target is int and args and isinstance(args[0], str) and len(args[0]) > MAX_DIGITS:
        raise SecurityError(f"a number of {len(args[0]):,} digits is over the limit of "
                            f"{MAX_DIGITS:,}")


def _check_power(base: Any, exponent: Any) -> None:
    if isinstance(exponent, int | float) and abs(exponent) > MAX_EXPONENT:
        raise SecurityError(f"exponent {exponent} is too large (limit {MAX_EXPONENT})")
    if isinstance(base, int) and isinstance(exponent, int) and exponent > 0:
        # the digits are known before the work: bits(base) * exponent
        _too_many_bits(max(base.bit_length(), 1) * exponent)


def _check_product(left: Any, right: Any) -> None:
    if isinstance(left, int) and isinstance(right, int):
        _too_many_bits(left.bit_length() + right.bit_length())
    for seq, count in ((left, right), (right, left)):
        if isinstance(seq, str | list | tuple) and isinstance(count, int):
            _too_big(len(seq) * count)


def _check_filter(name: str, values: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """The filters that can build large values, sized before they run."""
    _big_ints([*values[1:], *kwargs.values()])
    value = values[0] if values else None
    rest = list(values[1:])
    if name == "replace" and isinstance(value, str) and len(rest) >= 2:
        count = rest[2] if len(rest) > 2 else kwargs.get("count")
        _too_big(_replaced_size(value, rest[0], rest[1], -1 if count is None else count))
    elif name == "join":
        separator = rest[0] if rest else kwargs.get("d", "")
        _too_big(_joined_size(separator if isinstance(separator, str) else "", value))
    elif name == "sum":
        _too_big(_summed_size(value, kwargs.get("start", rest[1] if len(rest) > 1 else 0)))
    elif name == "format" and isinstance(value, str):
        _check_printf(value)
    elif name == "indent" and isinstance(value, str):
        width = rest[0] if rest else kwargs.get("width", 4)
        size = len(width) if isinstance(width, str) else width if isinstance(width, int) else 4
        _too_big(len(value) + (value.count("\n") + 1) * size)
    elif name in ("list", "batch", "slice") and isinstance(value, Sized):
        _too_big(len(value))


_TEXT_FILTERS = frozenset({
    "string", "tojson", "pprint", "format", "join", "upper", "lower", "title", "capitalize",
    "center", "replace", "indent", "truncate", "wordwrap", "striptags", "urlize", "escape", "e",
    "forceescape", "safe", "trim", "wordcount", "urlencode", "xmlattr"})
"""Filters that write their arguments out as text first."""


def _text_sized(values: Any) -> None:
    for value in values:
        problem = text_size_problem(value)
        if problem is not None:
            raise SecurityError(problem)


def _guarded(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """A filter or test that refuses secrets and oversized work, like every other hook."""
    skip = 1 if getattr(func, "jinja_pass_arg", None) is not None else 0

    @functools.wraps(func)
    def run(*args: Any, **kwargs: Any) -> Any:
        _tick()
        values = args[skip:]
        _guard(*values, *kwargs.values())
        _check_filter(name, values, kwargs)
        if name in _TEXT_FILTERS:  # d|string of a list repeating 1 MB 1,000 times
            _text_sized([*values, *kwargs.values()])
        return check_size(func(*args, **kwargs))

    return run


class _Concatenation(CodeGenerator):
    """Jinja compiles `a ~ b` to a plain join that no sandbox hook sees: send it through
    `_Sandbox.join_parts` instead, so its parts are measured before they become text."""

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.join_parts((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class _Sandbox(SandboxedEnvironment):
    intercepted_binops = frozenset(_BINOPS)
    intercepted_unops = frozenset(_UNOPS)
    code_generator_class = _Concatenation

    def join_parts(self, parts: tuple[Any, ...]) -> str:
        _tick()
        _guard(*parts)
        _text_sized(parts)
        return check_size("".join(str(p) for p in parts))

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _tick()
        _guard(left, right)
        if operator == "**":
            _check_power(left, right)
        elif operator == "*":
            _check_product(left, right)
        elif operator == "+" and isinstance(left, _SIZED) and isinstance(right, _SIZED):
            _too_big(len(left) + len(right))
        elif operator == "%" and isinstance(left, str):
            _check_printf(left)
            _text_sized([right])
        return check_size(_BINOPS[operator](left, right))

    def call_unop(self, context: Any, operator: str, arg: Any) -> Any:
        _tick()
        _guard(arg)
        return check_size(_UNOPS[operator](arg))

    def getattr(self, obj: Any, attribute: str) -> Any:
        _tick()
        if isinstance(obj, Secret):
            raise SecretMisuse(obj.name)
        return _note(super().getattr(obj, attribute))

    def getitem(self, obj: Any, argument: Any) -> Any:
        _tick()
        _guard(obj, argument)
        return _note(super().getitem(obj, argument))

    def call(__self, __context: Any, __obj: Any, *args: Any,
             **kwargs: Any) -> Any:
        _tick()
        _guard(__obj, *args, *kwargs.values())
        _check_call(__obj, args, kwargs)
        owner = getattr(getattr(__obj, "__wrapped__", __obj), "__self__", None)
        result = check_size(super().call(__context, __obj, *args, **kwargs))
        if isinstance(owner, list | dict | set):
            check_size(owner)  # x.append(...) / x.extend(...) grew it in place
        return result


def make_environment(functions: Mapping[str, Callable[..., Any]]) -> SandboxedEnvironment:
    env = _Sandbox(undefined=StrictUndefined, autoescape=False)
    env.globals.clear()
    env.globals.update(functions)
    original: dict[str, Any] = {**env.filters}
    env.filters = {name: _guarded(name, f) for name, f in original.items()}
    original = {**env.tests}
    env.tests = {name: _guarded(name, f) for name, f in original.items()}
    return env


def touched_secret(state: Evaluation, scope: Mapping[str, Any], names: list[str]) -> Secret | None:
    """The secret an expression read (a field, or a variable holding one), for naming it."""
    if state.touched:
        return state.touched[0]
    for name in names:
        value = scope.get(name)
        if isinstance(value, Secret):
            return value
    return None
