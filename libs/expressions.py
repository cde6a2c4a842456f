"""``${...}`` values, evaluated in Jinja2's sandbox.

A string that is exactly ``${expr}`` keeps the expression's type; ``${...}`` inside other text is
formatted into it. Expressions can compare, do arithmetic, index, build lists and maps
(``[1, 2]``, ``{'a': 1}``), and call the safe functions in ``FUNCTIONS`` (each described in one
line by ``FUNCTION_DOCS``): numbers read from text (libs/amounts.py), lists built whole and
regular expressions bounded in time (libs/expression_functions.py). The sandbox
(libs/expression_sandbox.py) refuses attribute walking (``__class__``), any value larger than
its limits (``'a' * 10**10``, ``'a'.center(10**9)``, ``(10**1000)**1000``), expressions that run
longer than ``MAX_SECONDS``, and any use of a secret but passing it whole.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import lru_cache
from typing import Any

from jinja2 import TemplateSyntaxError, Undefined, nodes
from jinja2.exceptions import SecurityError, UndefinedError

from libs.amounts import find_number, to_number
from libs.expression_functions import (
    UsageError,
    enumerate_list,
    range_list,
    re_findall,
    re_replace,
    re_search,
    re_test,
    zip_lists,
)
from libs.secrets import SecretMisuse, find_secret, is_secret_field, misuse_message

_DUNDER = re.compile(r"__\w+__")
_NO_FIELD = re.compile(r"^'[\w ]+ object' has no attribute '(.+)'$")
_UNDEFINED = re.compile(r"^'(.+)' is undefined$")


class ExpressionError(Exception):
    """An expression could not be parsed or evaluated; the message says why."""


class SecretUseError(ExpressionError):
    """A secret was used in an expression other than passed whole (libs/secrets.py)."""

    def __init__(self, message: str, secret_name: str) -> None:
        super().__init__(message)
        self.secret_name = secret_name  # the runner turns it back into a SecretMisuse


class DataError(ExpressionError):
    """The robot is right but a value is not usable (e.g. number('一千元'))."""


def parse_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    for fmt in ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%Y年%m月%d日", "%Y.%m.%d"):
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise ValueError(f"'{value}' is not a date; write it as YYYY-MM-DD")


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "len": len, "int": int, "float": float, "str": str, "round": round, "abs": abs,
    "min": min, "max": max, "sum": sum, "sorted": sorted, "bool": bool, "list": list,
    "dict": dict, "range": range_list, "zip": zip_lists, "enumerate": enumerate_list,
    "number": find_number, "date": parse_date, "days": lambda n: dt.timedelta(days=n),
    "re_search": re_search, "re_findall": re_findall, "re_replace": re_replace,
    "re_test": re_test,
}
"""The safe functions every expression may call, beside Jinja's own filters (``x | upper``)."""

FUNCTION_DOCS: dict[str, str] = {
    "abs": "abs(x): the number without its sign: abs(-3) is 3",
    "bool": "bool(x): true or false: bool('') is false",
    "date": "date(text): the date in '2026-12-03', '2026/12/03', '20261203', '2026年12月3日' "
            "or '2026.12.03'",
    "days": "days(n): a span of n days, to add to or take from a date: today - days(1)",
    "dict": "dict(a=1, b='x'): a map (so does {'a': 1, 'b': 'x'})",
    "enumerate": "enumerate(xs, start=0): each item with its number: [[0, x0], [1, x1], ...]",
    "float": "float(x): a number with decimals: float('1.5') is 1.5",
    "int": "int(x): a whole number: int('12') is 12, int(2.9) is 2",
    "len": "len(x): how many items a list or map has, or characters a text",
    "list": "list(x): the items of x (or the characters of a text) as a list",
    "max": "max(a, b, ...) or max(xs): the largest",
    "min": "min(a, b, ...) or min(xs): the smallest",
    "number": "number(text): the one number in a text: '￥1,234.50', 'Item total: $17.98', "
              "'(12.50)' (negative), '１２３４．５', '1.5万', '壹万贰仟元整'; two different "
              "numbers in the text are an error",
    "range": "range(n), range(a, b) or range(a, b, step): the whole numbers from 0 (or a) up "
             "to, not including, n (or b), as a list: range(3) is [0, 1, 2]",
    "re_findall": "re_findall(text, pattern): every match of a regular expression, as a list "
                  "(of the group if the pattern has one, of lists of groups if several)",
    "re_replace": "re_replace(text, pattern, replacement): the text with every match "
                  "replaced; '\\1' in the replacement is the first group",
    "re_search": "re_search(text, pattern): the first match of a regular expression, or none "
                 "(the group if the pattern has one, a list of groups if several)",
    "re_test": "re_test(text, pattern): whether a regular expression matches anywhere in the "
               "text",
    "round": "round(x) or round(x, n): x rounded to a whole number, or to n decimals: "
             "round(1.236, 2) is 1.24",
    "sorted": "sorted(xs): the items in order; sorted(xs, reverse=true) largest first",
    "str": "str(x): x as text",
    "sum": "sum(xs): the numbers of a list added up",
    "zip": "zip(a, b, ...): the lists side by side, as long as the shortest: "
           "[[a0, b0], [a1, b1], ...]",
}
"""One line per function, for the user guide and messages: ``for name in sorted(FUNCTIONS):
print(FUNCTION_DOCS[name])`` (tests/libs/test_expressions.py checks that every one has a line)."""


def function_list() -> str:
    """'the functions are: abs, bool, ..., zip', for messages about a name called as one."""
    return f"the functions are: {', '.join(sorted(FUNCTIONS))}"


def close_function(name: str) -> str | None:
    close = difflib.get_close_matches(name, list(FUNCTIONS), n=1, cutoff=0.6)
    return close[0] if close else None


from libs.expression_sandbox import (  # noqa: E402  (FUNCTIONS above are what the sandbox offers)
    MAX_DIGITS,
    MAX_EXPONENT,
    MAX_SECONDS,
    MAX_SEQUENCE,
    check_size,
    evaluating,
    make_environment,
    text_size_problem,
    touched_secret,
)

_ENV = make_environment(FUNCTIONS)
__all__ = ["FUNCTIONS", "FUNCTION_DOCS", "MAX_DIGITS", "MAX_EXPONENT", "MAX_SECONDS",
           "MAX_SEQUENCE", "DataError", "ExpressionError", "SecretUseError", "called_names",
           "evaluate", "find", "find_number", "parse", "references", "render", "render_text",
           "to_number"]


def find(text: str) -> Iterator[tuple[int, int, str]]:
    """Yield (start, end, expression) for each ``${...}`` in text, honouring quotes and braces."""
    i = 0
    while (start := text.find("${", i)) != -1:
        depth, j, quote = 1, start + 2, ""
        while j < len(text) and depth:
            ch = text[j]
            if quote:
                if ch == "\\":
                    j += 1
                elif ch == quote:
                    quote = ""
            elif ch in "'\"":
                quote = ch
            elif ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            j += 1
        if depth:
            raise ExpressionError(f"'${{' at character {start + 1} is never closed with '}}'")
        yield start, j, text[start + 2 : j - 1].strip()
        i = j


def has_expression(value: Any) -> bool:
    if isinstance(value, str):
        return "${" in value
    if isinstance(value, Mapping):
        return any(has_expression(v) for v in value.values())
    if isinstance(value, list):
        return any(has_expression(v) for v in value)
    return False


@lru_cache(maxsize=4096)
def _compile(expr: str) -> Any:
    if not expr:
        raise ExpressionError("empty expression '${}'")
    try:
        return _ENV.compile_expression(expr, undefined_to_none=False)
    except TemplateSyntaxError as err:
        raise ExpressionError(f"cannot read expression '{expr}': {err.message}") from None


def parse(expr: str) -> nodes.Node:
    try:
        return _ENV.parse("{{ " + expr + " }}")
    except TemplateSyntaxError as err:
        raise ExpressionError(f"cannot read expression '{expr}': {err.message}") from None


def references(expr: str) -> list[tuple[str, str | None]]:
    """The variables an expression reads: (name, first attribute or key, if constant)."""
    found: list[tuple[str, str | None]] = []
    tree = parse(expr)
    attributed: set[int] = set()
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        assert isinstance(node, nodes.Getattr | nodes.Getitem)
        inner = node.node
        if isinstance(inner, nodes.Name):
            key = node.attr if isinstance(node, nodes.Getattr) else None
            if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
                key = str(node.arg.value)
            found.append((inner.name, key))
            attributed.add(id(inner))
    for name in tree.find_all(nodes.Name):
        if name.ctx == "load" and id(name) not in attributed:
            found.append((name.name, None))
    return [ref for ref in found if ref[0] not in FUNCTIONS]


def called_names(expr: str) -> set[str]:
    """The names an expression calls as functions: ``range`` in ``range(3)``."""
    return {call.node.name for call in parse(expr).find_all(nodes.Call)
            if isinstance(call, nodes.Call) and isinstance(call.node, nodes.Name)}


def unknown_name(name: str, expr: str, known: Iterable[str]) -> str:
    """Why a name an expression reads at run time is unknown: a function that is not one, or a
    variable not set (with the names that are); evaluate's message for Jinja's 'x is
    undefined'."""
    try:
        called = name in called_names(expr)
    except ExpressionError:
        called = False
    if called:
        close = close_function(name)
        hint = f"; did you mean '{close}'?" if close else ""
        return f"'{name}' is not a function{hint} ({function_list()})"
    names = sorted(n for n in known if not n.startswith("_"))
    close_names = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    hint = f"; did you mean '{close_names[0]}'?" if close_names else ""
    return f"unknown variable '{name}'{hint} ({known_names(names)})"


MAX_NAMES_SHOWN = 30


def known_names(names: list[str]) -> str:
    """'the names known here: a, b, c', cut after MAX_NAMES_SHOWN."""
    shown = ", ".join(names[:MAX_NAMES_SHOWN])
    more = f" and {len(names) - MAX_NAMES_SHOWN} more" if len(names) > MAX_NAMES_SHOWN else ""
    return f"the names known here: {shown}{more}"


def _key(node: nodes.Node) -> str | None:
    if isinstance(node, nodes.Getattr):
        return node.attr
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
        return str(node.arg.value)
    return None


def _path(node: nodes.Node) -> list[str] | None:
    """credentials.bank.password → ['credentials', 'bank', 'password']; None if not a name path."""
    keys: list[str] = []
    while (key := _key(node)) is not None:
        keys.insert(0, key)
        node = node.node  # type: ignore[attr-defined]
    return [node.name, *keys] if isinstance(node, nodes.Name) else None


def secret_references(expr: str, secret_vars: Mapping[str, str]) -> tuple[list[str], bool]:
    """The secrets an expression reads, by the field-name rule (libs/secrets.py), and whether
    the expression is nothing but one of them (``credentials.bank.password``, passed whole).

    ``credentials`` or ``credentials.bank`` as a whole holds secrets too; ``secret_vars`` maps
    variables known to hold a secret (``set: {pw: ...}``) to the secret's name."""
    tree = parse(expr)
    inner = {id(n.node) for n in tree.find_all((nodes.Getattr, nodes.Getitem))
             if isinstance(n, nodes.Getattr | nodes.Getitem) and _key(n) is not None}
    found: list[tuple[nodes.Node, str, bool]] = []  # node, secret, a field exactly
    for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Name)):
        if id(node) in inner:
            continue
        path = _path(node)
        if not path:
            continue
        if path[0] == "credentials" and (len(path) < 3 or is_secret_field(path[2])):
            found.append((node, ".".join(path[:3]), len(path) == 3))
        elif path[0] in secret_vars:
            found.append((node, secret_vars[path[0]], len(path) == 1))
    body = tree.body[0] if isinstance(tree, nodes.Template) and len(tree.body) == 1 else None
    top = body.nodes[0] if isinstance(body, nodes.Output) and len(body.nodes) == 1 else None
    bare = len(found) == 1 and found[0][0] is top and found[0][2]
    return [name for _, name, _ in found], bare


def private_names(expr: str) -> list[str]:
    """Attributes or keys starting with '_' (``__class__`` and friends): never allowed."""
    tree = parse(expr)
    found = [n.attr for n in tree.find_all(nodes.Getattr)
             if isinstance(n, nodes.Getattr) and n.attr.startswith("_")]
    found += [str(n.arg.value) for n in tree.find_all(nodes.Getitem)
              if isinstance(n, nodes.Getitem) and isinstance(n.arg, nodes.Const)
              and str(n.arg.value).startswith("_")]
    # the same reach through text: attr('__class__'), '{0.__class__}'.format(x)
    for const in tree.find_all(nodes.Const):
        if isinstance(const, nodes.Const) and isinstance(const.value, str):
            found += _DUNDER.findall(const.value)
    return found


def evaluate(expr: str, scope: Mapping[str, Any]) -> Any:
    with evaluating() as state:
        try:
            result = _compile(expr)(**scope)
            if isinstance(result, Undefined):  # the sandbox reports refusals lazily; force it
                result._fail_with_undefined_error()
            return check_size(result)
        except SecretMisuse as err:
            raise SecretUseError(f"in '${{{expr}}}': {misuse_message(err.secret_name)}",
                                 err.secret_name) from None
        except UndefinedError as err:
            missing = _NO_FIELD.match(err.message or "")
            if missing:
                raise ExpressionError(f"in '${{{expr}}}': there is no field '{missing[1]}' "
                                      "(check its spelling, or the column names of the data)"
                                      ) from None
            unknown = _UNDEFINED.match(err.message or "")
            if unknown:
                raise ExpressionError(f"in '${{{expr}}}': "
                                      f"{unknown_name(unknown[1], expr, scope)}") from None
            raise ExpressionError(f"in '${{{expr}}}': {err.message}") from None
        except UsageError as err:  # range(10**9), re_test(x, '('): the robot's to fix
            raise ExpressionError(f"in '${{{expr}}}': {err}") from None
        except SecurityError as err:
            raise ExpressionError(f"in '${{{expr}}}': refused by the sandbox: {err}") from None
        except ExpressionError:
            raise
        except Exception as err:
            # 'abc' in secret, secret in 'abc': Python's own TypeError must still name the secret
            secret = touched_secret(state, scope, [name for name, _ in _roots(expr)])
            if secret is not None:
                raise SecretUseError(f"in '${{{expr}}}': {misuse_message(secret.name)}",
                                     secret.name) from None
            if isinstance(err, ValueError):  # number('一千元'), date('明天'): the data's fault
                raise DataError(f"in '${{{expr}}}': {err}") from None
            # any other Python error inside the expression is the user's to fix
            raise ExpressionError(f"in '${{{expr}}}': {type(err).__name__}: {err}") from None


def _roots(expr: str) -> list[tuple[str, str | None]]:
    try:
        return references(expr)
    except ExpressionError:
        return []


def _format(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def render_text(text: str, scope: Mapping[str, Any]) -> Any:
    parts = list(find(text))
    if not parts:
        return text
    if len(parts) == 1 and parts[0][0] == 0 and parts[0][1] == len(text):
        return evaluate(parts[0][2], scope)
    out, last = [], 0
    for start, end, expr in parts:
        out.append(text[last:start])
        value = evaluate(expr, scope)
        secret = find_secret(value)
        if secret is not None:  # "pw=${credentials.bank.password}": formatting is a use too
            raise SecretUseError(f"in '{text}': {misuse_message(secret.name)}", secret.name)
        problem = text_size_problem(value)
        if problem is not None:  # "pre ${rows}": str() would build it before any check
            raise ExpressionError(f"in '${{{expr}}}': {problem}")
        out.append(_format(value))
        last = end
    out.append(text[last:])
    return check_size("".join(out))


def render(value: Any, scope: Mapping[str, Any]) -> Any:
    """Evaluate every ``${...}`` in a value (strings, lists and maps, recursively)."""
    if isinstance(value, str):
        return render_text(value, scope) if "${" in value else value
    if isinstance(value, Mapping):
        return {k: render(v, scope) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, scope) for v in value]
    return value

