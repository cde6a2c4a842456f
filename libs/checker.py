"""Check a loaded robot and turn it into a Plan, reporting every problem before anything runs.

Problems are collected, not raised one at a time, so a user sees all of them at once, each as
``file:line:col: what is wrong; how to fix it``.
"""

from __future__ import annotations

import difflib
import os
import posixpath
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, get_args

from pydantic import ValidationError

from libs import expressions
from libs.browser_flags import check_flag
from libs.errors import Pos, Problem, RobotFileError
from libs.loader import INVISIBLE, YList, YMap, _codepoint, load_file, pos_of
from libs.plan import (
    MAX_REPEAT,
    MAX_RETRY_ATTEMPTS,
    Action,
    Call,
    Common,
    ForEach,
    If,
    Input,
    Node,
    Plan,
    Repeat,
    Retry,
    Savings,
    SetVars,
    Try,
    walk,
)
from libs.registry import StepSpec, describe_error, load_libraries
from libs.secrets import is_secret_field, misuse_message
from libs.types import MAX_STEP_TIMEOUT, MAX_WAIT, PathUse, parse_duration

ROBOT_ID = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
MAX_ROBOT_ID = 100  # characters: the orchestrator stores ids in columns of this size and more
IDENTIFIER = re.compile(r"^[^\W\d]\w*$")
TOP_KEYS = ("robot", "title", "description", "savings", "inputs", "credentials", "settings",
            "steps", "tags")
SAVINGS_KEYS = ("minutes_per_item", "minutes_per_run", "review_minutes")
INPUT_TYPES = ("text", "number", "integer", "boolean", "date", "path", "list", "map")
INPUT_KEYS = ("type", "default", "description", "required", "choices")
SETTINGS_KEYS = ("timeout", "browser", "mail", "screenshots", "http")
BROWSER_KEYS = ("headless", "slow_mo", "viewport", "locale", "args", "local_only",
                "ignore_https_errors")
COMMON_KEYS = ("label", "timeout", "retry", "optional")
CONTROL_KEYS = {
    "set": (),
    "if": ("then", "else"),
    "for_each": ("as", "work_item", "steps"),
    "repeat": ("steps",),
    "try": ("catch", "finally"),
    "call": ("with",),
}
BUILTIN_NAMES = {"inputs", "env", "credentials", "run", "item", "today", "now"}
RESERVED = BUILTIN_NAMES | {"error"} | set(expressions.FUNCTIONS)
DEFAULT_TIMEOUT = 30.0
SECRET_SETTINGS = (("mail", "password"),)
"""The settings that may hold a secret, passed whole (the runner checks the same at run time)."""


def suggest(word: str, options: Iterable[str]) -> str:
    hidden = [c for c in word if c in INVISIBLE]
    if hidden:
        return (f"; it contains an invisible character {_codepoint(hidden[0])}, often pasted "
                "from a chat or a web page: delete it and type the name again")
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def _kind(value: Any) -> str:
    return {dict: "a map", YMap: "a map", list: "a list", YList: "a list", str: "text",
            int: "a number", float: "a number", bool: "true/false"}.get(type(value), "empty")


class _RobotChecker:
    def __init__(self, path: Path, shown_as: str, cache: dict[Path, Plan | None],
                 calling: tuple[Path, ...]) -> None:
        self.path, self.file = path, shown_as
        self.problems: list[Problem] = []
        self.steps = load_libraries()
        self.cache, self.calling = cache, calling
        self.inputs: dict[str, Input] = {}
        self.credentials: tuple[str, ...] = ()
        self.defined: set[str] = set()
        # (expression, where, in catch, may hold a secret passed whole, is the whole value)
        self.expression_checks: list[tuple[str, Pos, bool, bool, bool]] = []
        self.secret_vars: dict[str, str] = {}  # set: {pw: ${credentials.x.password}} → pw

    @property
    def bundle(self) -> Path:
        """The top robot's folder: what the robot and the robots it calls may read."""
        return self.calling[0].parent

    def problem(self, pos: Pos, message: str) -> None:
        self.problems.append(Problem(pos, message))

    # -- the robot as a whole --------------------------------------------------------------

    def check(self, data: Any) -> Plan | None:
        top = Pos(self.file, 1, 1)
        if not isinstance(data, YMap):
            self.problem(pos_of(data, top), f"a robot file is a map with 'robot:' and 'steps:', "
                         f"but this file holds {_kind(data)}; see 'workhand new NAME'")
            return None
        for key in data:
            if key not in TOP_KEYS:
                self.problem(data.key_pos[key], f"unknown key '{key}'{suggest(key, TOP_KEYS)} "
                             f"(a robot has: {', '.join(TOP_KEYS)})")
        robot = data.get("robot")
        if robot is None:
            self.problem(data.pos, "missing 'robot:' (the robot's id, e.g. robot: daily-check)")
        elif not isinstance(robot, str) or not ROBOT_ID.match(robot) or len(robot) > MAX_ROBOT_ID:
            self.problem(data.where("robot"), f"robot id '{str(robot)[:MAX_ROBOT_ID]}' must be "
                         "lower-case letters and digits joined by '-', at most "
                         f"{MAX_ROBOT_ID} characters, e.g. account-annual-inspection")
        for key in ("title", "description"):
            if key in data and not isinstance(data[key], str):
                self.problem(data.where(key), f"'{key}' must be text")
        savings = self.savings(data)
        self.inputs = self.check_inputs(data.get("inputs"), data.where("inputs"))
        self.credentials = self.check_credentials(data.get("credentials"),
                                                  data.where("credentials"))
        settings, timeout = self.check_settings(data.get("settings"), data.where("settings"))
        self.settings_expressions(data.get("settings"))
        raw_steps = data.get("steps")
        if raw_steps is None:
            self.problem(data.pos, "missing 'steps:' (the list of what the robot does)")
        self.defined = self.assigned_names(raw_steps)
        steps = self.block(raw_steps, data.where("steps"), "steps", in_catch=False)
        for expr, pos, in_catch, secret_ok, whole in self.expression_checks:
            self.check_references(expr, pos, in_catch)
            self.check_secrets(expr, pos, secret_ok and whole)
        if self.problems:
            return None
        return Plan(robot=str(robot), file=self.path, shown_as=self.file,
                    credentials_pos=data.key_pos.get("credentials", data.pos),
                    title=str(data.get("title", "")), description=str(data.get("description", "")),
                    savings=savings, inputs=self.inputs, credentials=self.credentials,
                    settings=settings, timeout=timeout, steps=steps)

    def savings(self, data: YMap) -> Savings:
        raw = data.get("savings")
        if raw is None:
            return Savings()
        if not isinstance(raw, YMap):
            self.problem(data.where("savings"), "'savings' must be a map of "
                         + ", ".join(SAVINGS_KEYS))
            return Savings()
        values: dict[str, float] = {}
        for key, value in raw.items():
            if key not in SAVINGS_KEYS:
                self.problem(raw.key_pos[key], f"unknown savings key '{key}'"
                             f"{suggest(key, SAVINGS_KEYS)}")
            elif isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                self.problem(raw.where(key), f"'{key}' must be a number of minutes (0 or more)")
            else:
                values[key] = float(value)
        return Savings(**values)

    def check_inputs(self, raw: Any, pos: Pos) -> dict[str, Input]:
        if raw is None:
            return {}
        if not isinstance(raw, YMap):
            self.problem(pos, "'inputs' must be a map of name → {type, default, description}")
            return {}
        out: dict[str, Input] = {}
        for name, spec in raw.items():
            where = raw.where(name)
            if not IDENTIFIER.match(name):
                self.problem(raw.key_pos[name], f"input name '{name}' must be a single word "
                             "(letters, digits, _)")
                continue
            if not isinstance(spec, YMap):  # shorthand: name: default
                out[name] = Input(name, _infer_type(spec), spec, pos=raw.key_pos[name])
                continue
            for key in spec:
                if key not in INPUT_KEYS:
                    self.problem(spec.key_pos[key], f"unknown key '{key}' in input '{name}'"
                                 f"{suggest(key, INPUT_KEYS)}")
            kind = spec.get("type", _infer_type(spec.get("default")))
            if kind == "string":
                kind = "text"
            if kind not in INPUT_TYPES:
                self.problem(spec.where("type"), f"unknown input type '{kind}'"
                             f"{suggest(str(kind), INPUT_TYPES)} (types: {', '.join(INPUT_TYPES)})")
                out[name] = Input(name, "text", pos=raw.key_pos[name])
                continue
            default = spec.get("default")
            if default is not None and not expressions.has_expression(default):
                try:
                    coerce_input(Input(name, kind), default)
                except ValueError as err:
                    self.problem(spec.where("default"), f"default of input '{name}': {err}")
            choices = spec.get("choices") or ()
            if not isinstance(choices, list | tuple):
                self.problem(spec.where("choices"), "'choices' must be a list")
                choices = ()
            required = spec.get("required", "default" not in spec)
            if not isinstance(required, bool):
                self.problem(spec.where("required"), "'required' must be true or false")
                required = False
            out[name] = Input(name, kind, default, required, str(spec.get("description", "")),
                              tuple(choices), raw.key_pos[name])
            del where
        return out

    def check_credentials(self, raw: Any, pos: Pos) -> tuple[str, ...]:
        if raw is None:
            return ()
        if not isinstance(raw, YList) or not all(isinstance(x, str) for x in raw):
            self.problem(pos, "'credentials' must be a list of names, e.g. [account_system]")
            return ()
        for name, where in zip(raw, raw.item_pos, strict=True):
            if not IDENTIFIER.match(name):
                self.problem(where, f"credential name '{name}' must be a single word "
                             "(letters, digits, _)")
        return tuple(raw)

    def check_settings(self, raw: Any, pos: Pos) -> tuple[dict[str, Any], float]:
        if raw is None:
            return {}, DEFAULT_TIMEOUT
        if not isinstance(raw, YMap):
            self.problem(pos, "'settings' must be a map (timeout, browser, mail, screenshots)")
            return {}, DEFAULT_TIMEOUT
        for key in raw:
            if key not in SETTINGS_KEYS:
                hint = (f"; browser options go under browser: {{{key}: ...}}"
                        if key in BROWSER_KEYS else suggest(key, SETTINGS_KEYS))
                self.problem(raw.key_pos[key], f"unknown setting '{key}'{hint}")
        timeout = self.duration(raw.get("timeout", DEFAULT_TIMEOUT), raw.where("timeout"),
                                "timeout") or DEFAULT_TIMEOUT
        browser = raw.get("browser")
        if browser is not None:
            if not isinstance(browser, YMap):
                self.problem(raw.where("browser"), "'browser' settings must be a map, e.g. "
                             "{headless: true}")
            else:
                for key in browser:
                    if key == "executable":
                        self.problem(browser.key_pos[key], "a robot may not choose the browser "
                                     "program; remove settings.browser.executable (the "
                                     "worker's chromium setting, or WORKHAND_CHROMIUM, "
                                     "decides)")
                    elif key not in BROWSER_KEYS:
                        self.problem(browser.key_pos[key], f"unknown browser setting '{key}'"
                                     f"{suggest(key, BROWSER_KEYS)}")
                self.browser_args(browser.get("args"), browser.where("args"))
        shots = raw.get("screenshots", "on_failure")
        if shots not in ("on_failure", "every_step", "never"):
            self.problem(raw.where("screenshots"), "'screenshots' must be on_failure, "
                         "every_step or never")
        return dict(raw), timeout

    def browser_args(self, args: Any, pos: Pos) -> None:
        """settings.browser.args: each literal flag on the allow-list (libs/browser_flags.py);
        an expression is checked when the browser starts."""
        if args is None or expressions.has_expression(args):
            return
        if not isinstance(args, YList):
            self.problem(pos, "'args' must be a list of Chromium flags, e.g. "
                         "[--window-size=1920,1080]")
            return
        for arg, where in zip(args, args.item_pos, strict=False):
            if not isinstance(arg, str):
                self.problem(where, "each Chromium flag must be text, e.g. --lang=zh-CN")
            elif not expressions.has_expression(arg) and (wrong := check_flag(arg)):
                self.problem(where, wrong)

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
            self.problem(pos, f"'{what}' of {value} is over the limit of {_shown_duration(limit)};"
                         f" use {_shown_duration(limit)} or less")
            return None
        return seconds

    def settings_expressions(self, raw: Any) -> None:
        """Expressions in settings; only mail.password may take a secret (passed whole)."""
        if not isinstance(raw, YMap):
            return
        for key, value in raw.items():
            if isinstance(value, YMap):
                for field_name, item in value.items():
                    self.value_or_expression(item, value.where(field_name), False,
                                             (key, field_name) in SECRET_SETTINGS)
            else:
                self.value_or_expression(value, raw.where(key), False)

    # -- steps -----------------------------------------------------------------------------

    def assigned_names(self, raw: Any) -> set[str]:
        """Every variable the robot assigns anywhere (into, set, as): known to expressions."""
        names: set[str] = set()

        def visit(value: Any) -> None:
            if isinstance(value, YList):
                for v in value:
                    visit(v)
            elif isinstance(value, YMap):
                for key, v in value.items():
                    if key in ("into", "as") and isinstance(v, str):
                        names.add(v)
                    elif key == "set" and isinstance(v, YMap):
                        names.update(v)
                    visit(v)

        visit(raw)
        return names

    def block(self, raw: Any, pos: Pos, what: str, in_catch: bool) -> tuple[Node, ...]:
        if raw is None:
            return ()
        if not isinstance(raw, YList):
            self.problem(pos, f"'{what}' must be a list of steps, each starting with '- '")
            return ()
        nodes = []
        for item, item_pos in zip(raw, raw.item_pos, strict=True):
            node = self.node(item, item_pos, in_catch)
            if node is not None:
                nodes.append(node)
        return tuple(nodes)

    def node(self, raw: Any, pos: Pos, in_catch: bool) -> Node | None:
        if isinstance(raw, str) and raw in self.steps:  # "- browser.close" with no arguments
            raw_map = YMap({raw: None})
            raw_map.pos, raw_map.key_pos, raw_map.value_pos = pos, {raw: pos}, {raw: pos}
            raw = raw_map
        if isinstance(raw, str) and re.match(r"^[\w.]+\s*：", raw):
            self.problem(pos, "this step is written with a full-width colon '：'; use an "
                         "ordinary colon ':' followed by a space, e.g. '- log: 开始'")
            return None
        if not isinstance(raw, YMap) or not raw:
            self.problem(pos, f"a step must be a map like '- log: hello', not {_kind(raw)}")
            return None
        control = [k for k in raw if k in CONTROL_KEYS]
        if len(control) > 1:
            self.problem(pos, f"one step cannot be both '{control[0]}' and '{control[1]}'; "
                         "split it into two steps")
            return None
        if control:
            return self.control(raw, control[0], in_catch)
        names = [k for k in raw if k not in (*COMMON_KEYS, "into")]
        if len(names) != 1:
            if not names:
                self.problem(pos, "this step has options but no action; add one, e.g. "
                             "'- browser.click: ...'")
            else:
                self.problem(raw.key_pos[names[1]], f"one step can do one thing, but this one "
                             f"has '{names[0]}' and '{names[1]}'; start the second with '- ' "
                             "(check the indentation)")
            return None
        name = names[0]
        spec = self.steps.get(name)
        if spec is None:
            options = [*self.steps, *CONTROL_KEYS]
            hint = suggest(name, options)
            if not hint and "." not in name:
                hint = "; a step is 'library.action' (see 'workhand steps')"
            self.problem(raw.key_pos[name], f"unknown step '{name}'{hint}")
            return None
        return self.action(raw, name, spec, in_catch)

    def common(self, raw: YMap, extra: tuple[str, ...], name: str) -> Common:
        allowed = (name, *COMMON_KEYS, *extra)
        for key in raw:
            if key not in allowed:
                self.problem(raw.key_pos[key], f"'{name}' does not take '{key}'"
                             f"{suggest(key, allowed)} (it takes: {', '.join(allowed[1:])})")
        return self.options(raw, raw.key_pos[name])

    def options(self, raw: YMap, pos: Pos) -> Common:
        label = raw.get("label", "")
        if not isinstance(label, str):
            self.problem(raw.where("label"), "'label' must be text")
            label = ""
        elif label:
            self.expression(label, raw.where("label"), False)
        timeout = None
        if "timeout" in raw:
            timeout = self.duration(raw["timeout"], raw.where("timeout"), "timeout")
        optional = raw.get("optional", False)
        if not isinstance(optional, bool):
            self.problem(raw.where("optional"), "'optional' must be true or false")
            optional = False
        retry = self.retry(raw["retry"], raw.where("retry")) if "retry" in raw else None
        return Common(pos, label, timeout, retry, optional)

    def option_map(self, raw: Any, pos: Pos, what: str, allowed: tuple[str, ...],
                   example: str) -> tuple[dict[str, Any], Callable[[str], Pos]] | None:
        """A map of options (retry, repeat): a whole number is shorthand for the first one."""
        if isinstance(raw, int) and not isinstance(raw, bool):
            raw = {allowed[0]: raw}
        if not isinstance(raw, dict):
            self.problem(pos, f"'{what}' must be a map like {example}")
            return None
        for key in raw:
            if key not in allowed:
                self.problem(_key_pos(raw, key, pos), f"unknown {what} option '{key}'"
                             f"{suggest(key, allowed)}")
        where = raw.where if isinstance(raw, YMap) else (lambda key: pos)
        return raw, where

    def retry(self, raw: Any, pos: Pos) -> Retry | None:
        options = self.option_map(raw, pos, "retry", ("attempts", "delay", "backoff"),
                                  "{attempts: 3, delay: 2s, backoff: 2}")
        if options is None:
            return None
        raw, where = options
        attempts = raw.get("attempts", 1)
        if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
            self.problem(where("attempts"), "'attempts' must be a whole number, 1 or more "
                         "(the total number of tries)")
            attempts = 1
        elif attempts > MAX_RETRY_ATTEMPTS:
            self.problem(where("attempts"), f"'attempts' of {attempts} is over the limit of "
                         f"{MAX_RETRY_ATTEMPTS}; use {MAX_RETRY_ATTEMPTS} or fewer")
            attempts = 1
        delay = self.duration(raw.get("delay", 0), where("delay"), "delay", MAX_WAIT) or 0.0
        backoff = raw.get("backoff", 1)
        if isinstance(backoff, bool) or not isinstance(backoff, int | float) or backoff < 1:
            self.problem(where("backoff"), "'backoff' must be a number, 1 or more (the factor "
                         "the delay grows by after each failed try)")
            backoff = 1
        return Retry(attempts, delay, float(backoff))

    def action(self, raw: YMap, name: str, spec: StepSpec, in_catch: bool) -> Action | None:
        common_raw = YMap({k: v for k, v in raw.items() if k != name})
        common_raw.pos = raw.pos
        common_raw.key_pos, common_raw.value_pos = raw.key_pos, raw.value_pos
        value, vpos = raw[name], raw.where(name)
        if isinstance(value, YMap) and spec.main and value and not any(
                k in spec.params for k in value):
            # A map with none of the step's argument names is the main argument itself, e.g.
            # `browser.check: {label: 同意}` is a target, not a step labelled "同意".
            args = YMap({spec.main: value})
            args.pos, args.key_pos, args.value_pos = vpos, {spec.main: vpos}, {spec.main: vpos}
        elif isinstance(value, YMap):
            args = YMap({k: v for k, v in value.items()})
            args.pos, args.key_pos, args.value_pos = value.pos, value.key_pos, value.value_pos
            for key in (*COMMON_KEYS, "into"):  # step options may sit inside the argument map
                if key in args and key not in spec.params:
                    common_raw[key] = args.pop(key)
                    common_raw.key_pos = {**common_raw.key_pos, key: value.key_pos[key]}
                    common_raw.value_pos = {**common_raw.value_pos, key: value.value_pos[key]}
        elif value is None:
            args = YMap()
            args.pos, args.key_pos, args.value_pos = vpos, {}, {}
        elif spec.main:
            args = YMap({spec.main: value})
            args.pos, args.key_pos, args.value_pos = vpos, {spec.main: vpos}, {spec.main: vpos}
        else:
            need = ", ".join(spec.params) or "no arguments"
            self.problem(vpos, f"'{name}' takes a map of arguments ({need}), not a single value")
            return None
        common_raw.pos = raw.pos
        common = self.common_for_action(common_raw, raw.key_pos[name], name)
        into = common_raw.get("into")
        if into is not None:
            if not spec.returns:
                self.problem(common_raw.where("into"), f"'{name}' returns nothing, so 'into' "
                             "has nothing to keep; remove it")
            self.variable_name(into, common_raw.where("into"))
        self.arguments(name, spec, args, in_catch)
        if name == "wait":
            self.wait_limit(args, common)
        return Action(common, name, dict(args), into)

    def wait_limit(self, args: YMap, common: Common) -> None:
        value = args.get("duration")
        if value is None or expressions.has_expression(value):
            return  # the step refuses a long wait at run time
        try:
            seconds = parse_duration(value)
        except ValueError:
            return  # reported by the argument check
        where = args.where("duration")
        if seconds > MAX_WAIT:
            self.problem(where, f"wait of {value} is over the limit of {_shown_duration(MAX_WAIT)};"
                         " wait in shorter steps, or schedule the robot to start later")
        elif common.timeout is not None and seconds > common.timeout:
            self.problem(where, f"wait of {value} is longer than the step's timeout of "
                         f"{_shown_duration(common.timeout)}; shorten the wait or raise the "
                         "timeout")

    def common_for_action(self, raw: YMap, pos: Pos, name: str) -> Common:
        for key in raw:
            if key not in (*COMMON_KEYS, "into"):
                self.problem(raw.key_pos[key], f"'{name}' does not take '{key}' here")
        return self.options(raw, pos)

    def arguments(self, name: str, spec: StepSpec, args: YMap, in_catch: bool) -> None:
        params = spec.params
        for key, value in args.items():
            if key not in params:
                listed = ", ".join(params) or "none"
                hint = (" — retry options go inside retry: {attempts: 3, delay: 2s}"
                        if key in ("attempts", "delay", "backoff") else "")
                self.problem(args.key_pos[key], f"'{name}' has no argument '{key}'"
                             f"{suggest(key, params)} (arguments: {listed}){hint}")
                continue
            where = args.where(key)
            if expressions.has_expression(value):
                self.expressions_in(value, where, in_catch, key in spec.secret_params)
                continue
            try:
                spec.adapters[key].validate_python(value)
            except ValidationError as err:
                self.problem(where, f"argument '{key}' of '{name}': {describe_error(err)}")
                continue
            use = path_use(params[key])
            if use is not None:
                for path in _literal_paths(value):
                    why = outside_reach(path, self.path.parent, self.bundle, writes=use.writes)
                    if why:
                        self.problem(where, f"argument '{key}' of '{name}': {why}")
        missing = [p for p, f in params.items() if f.is_required() and p not in args]
        if missing:
            self.problem(args.pos, f"'{name}' needs {', '.join(repr(m) for m in missing)}")

    def variable_name(self, name: Any, pos: Pos) -> None:
        if not isinstance(name, str) or not IDENTIFIER.match(name):
            self.problem(pos, f"'{name}' is not a usable variable name; use one word "
                         "(letters, digits, _), e.g. status")
        elif name in RESERVED:
            self.problem(pos, f"'{name}' is a built-in name; choose another variable name")

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
            self.expression_checks.append((expr, pos, in_catch, secret_ok, whole))

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

    def check_references(self, expr: str, pos: Pos, in_catch: bool) -> None:
        private = expressions.private_names(expr)
        if private:
            self.problem(pos, f"'{private[0]}' in '${{{expr}}}' is not allowed: expressions "
                         "cannot reach names starting with '_'; use the value's plain fields")
            return
        known = BUILTIN_NAMES | self.defined | ({"error"} if in_catch else set())
        for root, key in expressions.references(expr):
            if root == "error" and not in_catch:
                self.problem(pos, "'error' is only known inside 'catch:' steps")
            elif root not in known:
                self.problem(pos, f"unknown variable '{root}' in '${{{expr}}}'"
                             f"{suggest(root, known)} (variables come from inputs, 'into:', "
                             "'set:' and 'as:')")
            elif root == "inputs" and key is not None and key not in self.inputs:
                self.problem(pos, f"unknown input '{key}'{suggest(key, self.inputs)} (inputs are "
                             "declared under 'inputs:')")
            elif root == "credentials" and key is not None and key not in self.credentials:
                self.problem(pos, f"credential '{key}' is not declared"
                             f"{suggest(key, self.credentials)} (list it under 'credentials:')")

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

    def control(self, raw: YMap, key: str, in_catch: bool) -> Node | None:
        common = self.common(raw, CONTROL_KEYS[key], key)
        value, vpos = raw[key], raw.where(key)
        if key == "set":
            if not isinstance(value, YMap) or not value:
                self.problem(vpos, "'set' takes a map of variable: value, e.g. "
                             "set: {count: 0}")
                return None
            for name, v in value.items():
                self.variable_name(name, value.key_pos[name])
                self.value_or_expression(v, value.where(name), in_catch, secret_ok=True)
                self.note_secret_variable(name, v)
            return SetVars(common, dict(value))
        if key == "if":
            if not (isinstance(value, bool) or expressions.has_expression(value)):
                self.problem(vpos, f"'if' needs a condition like ${{amount > 50000}}, "
                             f"not '{value}'")
            self.value_or_expression(value, vpos, in_catch)
            if "then" not in raw:
                self.problem(raw.key_pos["if"], "'if' needs 'then:' with the steps to run "
                             "when the condition is true")
            return If(common, value, self.block(raw.get("then"), raw.where("then"), "then",
                                                in_catch),
                      self.block(raw.get("else"), raw.where("else"), "else", in_catch))
        if key == "for_each":
            return self.for_each(raw, common, value, vpos, in_catch)
        if key == "repeat":
            return self.repeat(raw, common, value, vpos, in_catch)
        if key == "try":
            if "catch" not in raw and "finally" not in raw:
                self.problem(raw.key_pos["try"], "'try' needs 'catch:' or 'finally:'")
            return Try(common, self.block(value, vpos, "try", in_catch),
                       self.block(raw.get("catch"), raw.where("catch"), "catch", True),
                       self.block(raw.get("finally"), raw.where("finally"), "finally", in_catch))
        return self.call(raw, common, value, vpos, in_catch)

    def for_each(self, raw: YMap, common: Common, value: Any, vpos: Pos,
                 in_catch: bool) -> Node | None:
        queue = None
        if isinstance(value, YMap):
            if set(value) != {"queue"} or not isinstance(value["queue"], str):
                self.problem(vpos, "for_each takes a list, an expression like ${rows}, or "
                             "{queue: NAME}")
                return None
            queue = value["queue"]
        elif isinstance(value, str):
            if not expressions.has_expression(value):
                self.problem(vpos, f"for_each needs a list or an expression like ${{rows}}, "
                             f"not the text '{value}'")
            self.expression(value, vpos, in_catch)
        elif not isinstance(value, YList):
            self.problem(vpos, "for_each takes a list, an expression like ${rows}, or "
                         "{queue: NAME}")
        var = raw.get("as", "item")
        if "as" in raw:
            self.variable_name(var, raw.where("as"))
        work_item = raw.get("work_item")
        if work_item is not None:
            self.value_or_expression(work_item, raw.where("work_item"), in_catch)
        if "retry" in raw and work_item is None and queue is None:
            self.problem(raw.key_pos["retry"], "'retry' on a for_each retries one work item at "
                         "a time, so it needs 'work_item:' (e.g. work_item: \"${row.账号}\"); or "
                         "put 'retry' on the steps inside")
        if "steps" not in raw:
            self.problem(raw.key_pos["for_each"], "'for_each' needs 'steps:' to run per item")
        steps = self.block(raw.get("steps"), raw.where("steps"), "steps", in_catch)
        return ForEach(common, None if queue else value, queue, str(var), work_item, steps)

    def repeat(self, raw: YMap, common: Common, value: Any, vpos: Pos,
               in_catch: bool) -> Node | None:
        options = self.option_map(value, vpos, "repeat", ("times", "max", "until", "delay"),
                                  "{times: 3} or {max: 10, until: ${done}, delay: 5s}")
        if options is None:
            return None
        value, where = options
        times = value.get("times", value.get("max"))
        if times is None and "until" not in value:
            self.problem(vpos, "repeat needs 'times:' (or 'max:') or 'until:', or it never ends")
        if times is not None and (isinstance(times, bool) or not isinstance(times, int)
                                  or times < 1):
            self.problem(where("times" if "times" in value else "max"),
                         "the number of repeats must be a whole number, 1 or more")
            times = 1
        elif times is not None and times > MAX_REPEAT:
            self.problem(where("times" if "times" in value else "max"),
                         f"{times:,} repeats is over the limit of {MAX_REPEAT:,}; loop over a "
                         "work queue for more")
            times = 1
        delay = self.duration(value.get("delay", 0), where("delay"), "delay", MAX_WAIT) or 0.0
        steps = self.block(raw.get("steps"), raw.where("steps"), "steps", in_catch)
        until = value.get("until")
        if until is not None:
            self.value_or_expression(until, where("until"), in_catch)
        return Repeat(common, times, until, delay, steps)

    def call(self, raw: YMap, common: Common, value: Any, vpos: Pos,
             in_catch: bool) -> Node | None:
        if not isinstance(value, str) or not value:
            self.problem(vpos, "'call' takes a robot id or a path, e.g. call: download-statements")
            return None
        outside = call_outside(value, self.path.parent, self.bundle)
        if outside:
            self.problem(vpos, outside)
            return None
        target = find_robot(self.path.parent, value)
        if target is not None and not _inside(target, self.bundle):
            self.problem(vpos, _CALL_OUTSIDE.format(ref=value))
            return None
        if target is None:
            self.problem(vpos, f"no robot '{value}' found next to {self.path.name}; "
                         "give its id or its file path")
            return None
        if target in self.calling:
            chain = " → ".join(p.name for p in (*self.calling, target))
            self.problem(vpos, f"robots call each other in a circle ({chain}); "
                         "remove one of the calls")
            return None
        try:
            plan = check_file(target, cache=self.cache, calling=self.calling)
        except RobotFileError as err:
            self.problems.extend(err.problems)
            self.problem(vpos, f"the called robot '{value}' has problems (reported for "
                         f"{target.name})")
            return None
        given = raw.get("with") or YMap()
        if not isinstance(given, YMap):
            self.problem(raw.where("with"), "'with' must be a map of the called robot's inputs")
            return None
        for name, v in given.items():
            if name not in plan.inputs:
                self.problem(given.key_pos[name], f"robot '{plan.robot}' has no input '{name}'"
                             f"{suggest(name, plan.inputs)}")
            self.value_or_expression(v, given.where(name), in_catch)
        for name, spec in plan.inputs.items():
            if spec.required and name not in given:
                self.problem(vpos, f"robot '{plan.robot}' needs input '{name}'; add it under "
                             "'with:'")
        for name in plan.credentials:
            if name not in self.credentials:
                self.problem(vpos, f"robot '{plan.robot}' uses credential '{name}'; add it to "
                             "this robot's 'credentials:' too")
        return Call(common, plan, dict(given))


def _shown_duration(seconds: float) -> str:
    for unit, size in (("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def _key_pos(mapping: Any, key: str, default: Pos) -> Pos:
    return mapping.key_pos.get(key, default) if isinstance(mapping, YMap) else default


def _infer_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "map"
    return "text"


def coerce_input(spec: Input, value: Any) -> Any:
    """Turn a given value (often text from --input) into the input's type, or raise ValueError."""
    import datetime as dt

    kind = spec.type
    if kind == "date":
        if value in ("today", "yesterday"):
            today = dt.date.today()
            return today if value == "today" else today - dt.timedelta(days=1)
        return expressions.parse_date(value)
    if kind in ("text", "path"):
        if isinstance(value, dict | list):
            raise ValueError(f"expected {kind}, got {_kind(value)}")
        return str(value)
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "yes", "1", "是"):
            return True
        if text in ("false", "no", "0", "否"):
            return False
        raise ValueError(f"'{value}' is not true or false")
    if kind in ("integer", "number"):
        if isinstance(value, bool):
            raise ValueError("expected a number, got true/false")
        try:
            number = expressions.to_number(value)
        except ValueError:
            raise ValueError(f"'{value}' is not a number") from None
        if kind == "integer":
            if int(number) != number:
                raise ValueError(f"'{value}' is not a whole number")
            return int(number)
        return number
    if kind in ("list", "map"):
        if isinstance(value, str):
            import json

            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                if kind == "list":
                    return [v.strip() for v in value.split(",") if v.strip()]
                raise ValueError(f"'{value}' is not a JSON object") from None
        expected = list if kind == "list" else dict
        if not isinstance(value, expected):
            raise ValueError(f"expected a {kind}, got {_kind(value)}")
        return value
    raise ValueError(f"unknown input type '{kind}'")


# Folders of the system itself: a literal path inside one is outside anything a worker lets
# robots use, so `workhand check` reports it. Other absolute paths (/mnt/share, /data/exports)
# may be folders a worker allows: only the run can tell (libs/policy.py).
SYSTEM_FOLDERS = ("/etc", "/proc", "/sys", "/dev", "/root", "/boot", "/bin", "/sbin", "/lib",
                  "/lib32", "/lib64", "/usr", "/run", "/var/run", "/var/lib", "/var/log")
_CALL_OUTSIDE = ("'call: {ref}' names a robot outside this robot's folder; a robot calls only "
                 "robots in its own folder or below (e.g. call: login or call: "
                 "helpers/login.yaml)")


def _inside(path: Path, root: Path) -> bool:
    path, root = Path(os.path.realpath(path)), Path(os.path.realpath(root))
    return path == root or root in path.parents


def path_use(field: Any) -> PathUse | None:
    """Whether a step argument is a path it reads or writes (Annotated with READS/WRITES in
    libs/types.py), looking inside optional and list types too."""
    found = [m for m in getattr(field, "metadata", ()) if isinstance(m, PathUse)]
    pending = [getattr(field, "annotation", None)]
    while pending and not found:
        hint = pending.pop()
        found += [m for m in getattr(hint, "__metadata__", ()) if isinstance(m, PathUse)]
        pending += list(get_args(hint))
    return found[0] if found else None


def _literal_paths(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value] if value.strip() else []
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str) and v.strip()]
    if isinstance(value, dict):
        return [v for v in value.values() if isinstance(v, str) and v.strip()]
    return []


def outside_reach(path: str, robot_dir: Path, bundle: Path, *, writes: bool) -> str | None:
    """Why a literal path is certainly outside what a robot may use, or None: a system folder,
    the home folder (~), or '../' climbing out of the robot's folder (reads) or the output
    folder (writes). Other absolute paths are left to the run, which knows the allowed folders."""
    text = path.strip()
    if writes:
        how = ("robots write to their run's output folder (relative paths go there) or to a "
               "folder the worker allows")
        where = "the run's output folder"
    else:
        how = ("robots read files from their own folder, their output folder or a folder the "
               "worker allows")
        where = "the robot's folder"
    if text.startswith("~"):
        return f"'{text}' is in a home folder, outside {where}; {how}"
    if text.startswith("/") or text.startswith("\\"):
        clean = posixpath.normpath(text.replace("\\", "/"))
        system = next((s for s in SYSTEM_FOLDERS if clean == s or clean.startswith(s + "/")),
                      "/" if clean == "/" else None)
        if system:
            return f"'{text}' is in the system folder {system}, outside {where}; {how}"
        return None
    parts = Path(text.replace("\\", "/")).parts
    if ".." not in parts:
        return None
    clean = posixpath.normpath(text.replace("\\", "/"))
    if (clean.split("/")[0] == ".." if writes
            else not _inside(robot_dir / clean, bundle)):
        return f"'{text}' climbs out of {where} with '../'; {how}"
    return None


def call_outside(ref: str, folder: Path, bundle: Path) -> str | None:
    """A call: naming a file outside the bundle, refused before the file is looked at (so
    nothing about a file outside is disclosed)."""
    text = ref.strip().replace("\\", "/")
    if text.startswith(("/", "~")) or re.match(r"^[A-Za-z]:", text):
        return _CALL_OUTSIDE.format(ref=ref)
    if not _inside(Path(posixpath.normpath(str(folder / text))), bundle):
        return _CALL_OUTSIDE.format(ref=ref)
    return None


def find_robot(folder: Path, ref: str) -> Path | None:
    """A robot by path (relative to the calling robot's folder) or by id."""
    if ref.endswith((".yaml", ".yml")):
        path = (folder / ref).resolve()
        return path if path.is_file() else None
    for candidate in (folder / f"{ref}.yaml", folder / f"{ref}.yml"):
        if candidate.is_file():
            return candidate.resolve()
    for candidate in sorted(folder.glob("*.y*ml")):
        try:
            head = candidate.read_text(encoding="utf-8", errors="replace")[:4000]
        except OSError:
            continue
        if re.search(rf"^robot:\s*['\"]?{re.escape(ref)}['\"]?\s*(#.*)?$", head, re.MULTILINE):
            return candidate.resolve()
    return None


def check_file(path: Path, shown_as: str | None = None, *,
               cache: dict[Path, Plan | None] | None = None,
               calling: tuple[Path, ...] = ()) -> Plan:
    """load → check → plan; raises RobotFileError listing every problem."""
    path = Path(path)
    resolved = path.resolve()
    cache = {} if cache is None else cache
    if resolved in cache and cache[resolved] is not None:
        return cache[resolved]  # type: ignore[return-value]
    shown = shown_as or _shown(path)
    if not path.is_file():
        raise RobotFileError([Problem(Pos(shown, 1, 1), "robot file not found; check the path")])
    data = load_file(path, shown)
    checker = _RobotChecker(resolved, shown, cache, (*calling, resolved))
    plan = checker.check(data)
    if plan is None:
        raise RobotFileError(checker.problems)
    cache[resolved] = plan
    return plan


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


__all__ = ["check_file", "coerce_input", "find_robot", "walk"]
