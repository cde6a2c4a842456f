"""Expressions a robot uses: each is parsed where it stands; once every name the robot defines
is known, its references are checked, and a secret may only be passed whole to a place that
accepts it (libs/secrets.py)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from jinja2 import nodes

from libs import expressions
from libs.checks.base import BUILTIN_NAMES, LOOP_NAMES, Checks, suggest
from libs.errors import Pos
from libs.expression_functions import pattern_problem
from libs.loader import YList, YMap
from libs.secrets import is_secret_field, misuse_message

T = TypeVar("T")

PATTERN_FUNCTIONS = ("re_search", "re_findall", "re_replace", "re_test")
"""Functions whose second argument is a regular expression: a pattern written in the robot is
checked before the run."""


def constant_patterns(expr: str) -> list[str]:
    """The patterns an expression passes to the regular expression functions as plain text."""
    found = []
    for call in expressions.parse(expr).find_all(nodes.Call):
        assert isinstance(call, nodes.Call)
        if isinstance(call.node, nodes.Name) and call.node.name in PATTERN_FUNCTIONS \
                and len(call.args) >= 2 and isinstance(call.args[1], nodes.Const):
            found.append(call.args[1].value)
    return found


def call_problems(expr: str) -> list[str]:
    """Calls of the functions with arguments they cannot take (``re_search(x)``), where the
    arguments are written out (not ``f(*xs)``) and the function's signature is known."""
    found = []
    for call in expressions.parse(expr).find_all(nodes.Call):
        assert isinstance(call, nodes.Call)
        if not isinstance(call.node, nodes.Name) or call.node.name not in expressions.FUNCTIONS \
                or call.dyn_args is not None or call.dyn_kwargs is not None:
            continue
        name = call.node.name
        try:
            signature = inspect.signature(expressions.FUNCTIONS[name])
        except (ValueError, TypeError):  # min, max, int...: Python does not say
            continue
        try:
            signature.bind(*call.args, **{kw.key: kw.value for kw in call.kwargs})
        except TypeError as err:
            found.append(f"{name}() {err}; {expressions.FUNCTION_DOCS[name]}")
    return found


class ExpressionChecks(Checks):
    def within_loop(self, name: str, check: Callable[[], T]) -> T:
        """Run a check with a loop's name known (``loop`` in for_each's steps, ``repeat_index``
        in repeat's), restoring the outer names after."""
        outer = self.loop_names
        self.loop_names = outer | {name}
        try:
            return check()
        finally:
            self.loop_names = outer

    def expression(self, text: str, pos: Pos, in_catch: bool, secret_ok: bool = False) -> None:
        try:
            found = list(expressions.find(text))
        except expressions.ExpressionError as err:
            self.problem(pos, f"{err}; close it with '}}'")
            return
        whole = len(found) == 1 and found[0][0] == 0 and found[0][1] == len(text)
        for _, _, expr in found:
            try:
                expressions.parse(expr)
            except expressions.ExpressionError as err:
                self.problem(pos, f"{err}; expressions use the syntax of ${{a + 1}}, "
                             "${x == 'text'}, ${row.账号}")
                continue
            self.expression_checks.append((expr, pos, in_catch, secret_ok, whole,
                                           self.loop_names))

    def expressions_in(self, value: Any, pos: Pos, in_catch: bool,
                       secret_ok: bool = False) -> None:
        """Every expression in a value; ``secret_ok``: the argument accepts a secret passed
        whole (inside a map, not under a plain key such as 'username': the same rule as for
        credential fields)."""
        if isinstance(value, str):
            self.expression(value, pos, in_catch, secret_ok)
        elif isinstance(value, YMap):
            for key, v in value.items():
                self.expressions_in(v, value.where(key), in_catch,
                                    secret_ok and is_secret_field(str(key)))
        elif isinstance(value, YList):
            for v, p in zip(value, value.item_pos, strict=True):
                self.expressions_in(v, p, in_catch, secret_ok)


    def value_or_expression(self, value: Any, pos: Pos, in_catch: bool,
                            secret_ok: bool = False) -> None:
        if expressions.has_expression(value):
            self.expressions_in(value, pos, in_catch, secret_ok)

    def note_secret_variable(self, name: str, value: Any) -> None:
        """set: {pw: ${credentials.bank.password}}: pw holds the secret from here on."""
        if not isinstance(value, str):
            return
        try:
            found = list(expressions.find(value))
            if len(found) == 1 and (found[0][0], found[0][1]) == (0, len(value)):
                names, bare = expressions.secret_references(found[0][2], self.secret_vars)
                if bare:
                    self.secret_vars[name] = names[0]
        except expressions.ExpressionError:
            return

    def check_expressions(self) -> None:
        """The checks that need all the robot's names: run after every step was read."""
        for expr, pos, in_catch, secret_ok, whole, loops in self.expression_checks:
            self.check_references(expr, pos, in_catch, loops)
            self.check_calls(expr, pos)
            self.check_secrets(expr, pos, secret_ok and whole)

    def check_secrets(self, expr: str, pos: Pos, may_pass_whole: bool) -> None:
        """A secret is only ever passed whole to a place that accepts it (libs/secrets.py)."""
        try:
            names, bare = expressions.secret_references(expr, self.secret_vars)
        except expressions.ExpressionError:
            return  # reported when the expression was read
        if not names or (bare and may_pass_whole):
            return
        if names[0].count(".") < 2:
            self.problem(pos, f"'{names[0]}' holds secrets, so it cannot be used as a whole or "
                         "with a computed field; name the field, e.g. "
                         "${credentials.bank.username}")
        else:
            self.problem(pos, misuse_message(names[0]))

    def check_calls(self, expr: str, pos: Pos) -> None:
        """The functions' arguments that can be checked before the run: how many, and the
        patterns written in the robot."""
        problems = call_problems(expr) + [p for p in map(pattern_problem, constant_patterns(expr))
                                          if p is not None]
        for problem in problems:
            self.problem(pos, f"in '${{{expr}}}': {problem}")

    def check_references(self, expr: str, pos: Pos, in_catch: bool,
                         loops: frozenset[str] = frozenset()) -> None:
        private = expressions.private_names(expr)
        if private:
            self.problem(pos, f"'{private[0]}' in '${{{expr}}}' is not allowed: expressions "
                         "cannot reach names starting with '_'; use the value's plain fields")
            return
        # a loop's names only inside it, whoever listed them among the robot's names
        known = (BUILTIN_NAMES | (self.defined - set(LOOP_NAMES)) | loops
                 | ({"error"} if in_catch else set()))
        called = expressions.called_names(expr)
        for root, key in expressions.references(expr):
            if root == "error" and not in_catch:
                self.problem(pos, "'error' is only known inside 'catch:' steps")
            elif root in LOOP_NAMES and root not in loops:
                self.problem(pos, f"'{root}' is only known {LOOP_NAMES[root]}")
            elif root not in known and root in called:
                self.problem(pos, f"'{root}' in '${{{expr}}}' is not a function"
                             f"{suggest(root, expressions.FUNCTIONS)} "
                             f"({expressions.function_list()})")
            elif root not in known:
                self.problem(pos, f"unknown variable '{root}' in '${{{expr}}}'"
                             f"{suggest(root, known)} (variables come from inputs, 'into:', "
                             f"'set:' and 'as:'; {expressions.known_names(sorted(known))})")
            elif root == "inputs" and key is not None and key not in self.inputs:
                self.problem(pos, f"unknown input '{key}'{suggest(key, self.inputs)} (inputs are "
                             "declared under 'inputs:')")
            elif root == "credentials" and key is not None and key not in self.credentials:
                self.problem(pos, f"credential '{key}' is not declared"
                             f"{suggest(key, self.credentials)} (list it under 'credentials:')")
