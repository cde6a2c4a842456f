"""The robot's steps: actions and their arguments (types, literal paths, waits), step options
(label, timeout, retry, optional) and the control steps (set, if, for_each, repeat, wait_until, try,
call)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from libs import expressions
from libs.checks.base import IDENTIFIER, RESERVED, kind_of, shown_duration, suggest
from libs.checks.expression_use import ExpressionChecks
from libs.checks.paths import (
    address_problem,
    called_robot,
    literal_paths,
    outside_reach,
    path_use,
)
from libs.errors import Pos, RobotFileError
from libs.loader import YList, YMap
from libs.plan import (
    MAX_REPEAT,
    MAX_RETRY_ATTEMPTS,
    MIN_WAIT_EVERY,
    WAIT_EVERY,
    Action,
    Call,
    Common,
    ForEach,
    If,
    Node,
    Plan,
    Repeat,
    Retry,
    SetVars,
    Try,
    WaitUntil,
)
from libs.registry import StepSpec, describe_error
from libs.target_rules import TARGET_ONLY_KEYS, inside_target, shape_problem, yaml_text
from libs.types import MAX_WAIT, parse_duration

COMMON_KEYS = ("label", "timeout", "retry", "optional")
OPTION_KEYS = ("timeout", "retry", "optional", "into")
"""Step options that no target map has ('label' is both: a map of it alone is a target)."""
CONTROL_KEYS = {
    "set": (),
    "if": ("then", "else"),
    "for_each": ("as", "work_item", "steps"),
    "repeat": ("steps",),
    "wait_until": ("read", "every"),
    "try": ("catch", "finally"),
    "call": ("with",),
}

CONTROL_OPTIONS: dict[str, tuple[str, ...]] = {"wait_until": ("timeout", "retry", "optional"),
                                               "for_each": ("retry",)}
"""The step options (COMMON_KEYS but label) a control step honours (for_each's retry needs
work_item, checked where for_each is); the others honour none."""
OPTION_EXAMPLES = {"timeout": "30s", "retry": "{attempts: 3}", "optional": "true"}


class StepChecks(ExpressionChecks):
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
            self.problem(pos, f"a step must be a map like '- log: hello', not {kind_of(raw)}")
            return None
        control = [k for k in raw if k in CONTROL_KEYS]
        if len(control) > 1:
            self.problem(pos, f"one step cannot be both '{control[0]}' and '{control[1]}'; "
                         "split it into two steps")
            return None
        actions = [k for k in raw if k in self.steps]
        if control and actions:  # `- browser.open: URL` + `wait_until: load` one line below
            self.problem(raw.key_pos[control[0]], f"one step cannot be both '{actions[0]}' and "
                         f"'{control[0]}'; if '{control[0]}' is an argument of '{actions[0]}', "
                         f"write it inside its map ({actions[0]}: {{..., {control[0]}: ...}}); "
                         "else start a step of its own with '- '")
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

    def unhonoured_options(self, raw: YMap, key: str) -> None:
        """A step option the runner would ignore on this control step is refused: `optional`
        on an `if` promised a warning instead of a failure and gave the failure."""
        honoured = CONTROL_OPTIONS.get(key, ())
        for option in ("timeout", "retry", "optional"):
            if option in raw and option not in honoured:
                self.problem(raw.key_pos[option], f"'{option}' does nothing on '{key}'; put it "
                             f"on the steps inside, e.g. - browser.click: {{target: ..., "
                             f"{option}: {OPTION_EXAMPLES[option]}}}")

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
                k in spec.params or k in OPTION_KEYS for k in value):
            # A map with none of the step's argument names is the main argument itself, e.g.
            # `browser.check: {label: 同意}` is a target, not a step labelled "同意"; but
            # `browser.read_table: {into: found}` holds only options.
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
            example = (f"; e.g. {name}: {{target: {yaml_text(value)}}}"
                       if "target" in spec.params and isinstance(value, str) else "")
            self.problem(vpos, f"'{name}' takes a map of arguments ({need}), not a single "
                         f"value{example}")
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
            self.problem(where, f"wait of {value} is over the limit of {shown_duration(MAX_WAIT)};"
                         " wait in shorter steps, or schedule the robot to start later")
        elif common.timeout is not None and seconds > common.timeout:
            self.problem(where, f"wait of {value} is longer than the step's timeout of "
                         f"{shown_duration(common.timeout)}; shorten the wait or raise the "
                         "timeout")

    def common_for_action(self, raw: YMap, pos: Pos, name: str) -> Common:
        for key in raw:
            if key not in (*COMMON_KEYS, "into"):
                self.problem(raw.key_pos[key], f"'{name}' does not take '{key}' here")
        return self.options(raw, pos)

    def arguments(self, name: str, spec: StepSpec, args: YMap, in_catch: bool) -> None:
        params = spec.params
        for key, value in args.items():
            if key not in params and "target" in params and key in TARGET_ONLY_KEYS:
                written = inside_target(args.get("target"), key, value)
                self.problem(args.key_pos[key], f"'{key}' belongs inside the target, not beside "
                             f"it: write {{target: {written}}}")
                continue
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
                wrong = (shape_problem(value, expressions.has_expression)
                         if isinstance(value, dict) and "TargetSpec" in repr(params[key])
                         else None)
                if wrong:
                    self.problem(where, f"argument '{key}' of '{name}': {wrong}")
                continue
            try:
                spec.adapters[key].validate_python(value)
            except ValidationError as err:
                self.problem(where, f"argument '{key}' of '{name}': {describe_error(err)}")
                continue
            wrong_address = address_problem(params[key], value, name)
            if wrong_address:
                self.problem(where, f"argument '{key}' of '{name}': {wrong_address}")
            use = path_use(params[key])
            if use is not None:
                for path in literal_paths(value):
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
    def control(self, raw: YMap, key: str, in_catch: bool) -> Node | None:
        common = self.common(raw, CONTROL_KEYS[key], key)
        self.unhonoured_options(raw, key)
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
        if key == "wait_until":
            return self.wait_until(raw, common, value, vpos, in_catch)
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
        if work_item is not None:  # the runner sets loop before it names the item
            self.within_loop("loop", lambda: self.value_or_expression(
                work_item, raw.where("work_item"), in_catch))
        if "retry" in raw and work_item is None and queue is None:
            self.problem(raw.key_pos["retry"], "'retry' on a for_each retries one work item at "
                         "a time, so it needs 'work_item:' (e.g. work_item: \"${row.账号}\"); or "
                         "put 'retry' on the steps inside")
        if "steps" not in raw:
            self.problem(raw.key_pos["for_each"], "'for_each' needs 'steps:' to run per item")
        steps = self.within_loop("loop", lambda: self.block(raw.get("steps"), raw.where("steps"),
                                                            "steps", in_catch))
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
        steps = self.within_loop("repeat_index", lambda: self.block(
            raw.get("steps"), raw.where("steps"), "steps", in_catch))
        until = value.get("until")
        if until is not None:
            self.within_loop("repeat_index", lambda: self.value_or_expression(
                until, where("until"), in_catch))
        return Repeat(common, times, until, delay, steps)

    def wait_until(self, raw: YMap, common: Common, value: Any, vpos: Pos,
                   in_catch: bool) -> Node | None:
        if isinstance(value, str) and expressions.has_expression(value):
            self.expression(value, vpos, in_catch)
        else:
            shown = f"the text '{value}'" if isinstance(value, str) else kind_of(value)
            self.problem(vpos, "'wait_until' needs a condition to wait for, like "
                         f"${{status == '完成'}}, not {shown}")
        every = WAIT_EVERY
        if "every" in raw:
            where = raw.where("every")
            seconds = self.duration(raw["every"], where, "every", MAX_WAIT)
            if seconds is not None and seconds < MIN_WAIT_EVERY:
                self.problem(where, f"'every' of {raw['every']} is too often: a wait_until "
                             f"checks at most every {MIN_WAIT_EVERY * 1000:g}ms; write "
                             f"every: {MIN_WAIT_EVERY * 1000:g}ms or more")
            elif seconds is not None and common.timeout is not None and seconds > common.timeout:
                self.problem(where, f"'every' of {raw['every']} is longer than the wait's "
                             f"timeout of {shown_duration(common.timeout)}; check more often "
                             "or raise the timeout")
            elif seconds is not None:
                every = seconds
        read = self.block(raw.get("read"), raw.where("read"), "read", in_catch)
        return WaitUntil(common, value, read, every)

    def call(self, raw: YMap, common: Common, value: Any, vpos: Pos,
             in_catch: bool) -> Node | None:
        if not isinstance(value, str) or not value:
            self.problem(vpos, "'call' takes a robot id or a path, e.g. call: download-statements")
            return None
        target = called_robot(value, self.path, self.bundle)
        if isinstance(target, str):
            self.problem(vpos, target)
            return None
        if target in self.calling:
            chain = " → ".join(p.name for p in (*self.calling, target))
            self.problem(vpos, f"robots call each other in a circle ({chain}); "
                         "remove one of the calls")
            return None
        try:
            plan = self.check_called(target)
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

    def check_called(self, target: Path) -> Plan:
        """The plan of a robot this one calls; raises RobotFileError. libs/checker.py gives it
        (it checks the called file as it checks this one)."""
        raise NotImplementedError


def _key_pos(mapping: Any, key: str, default: Pos) -> Pos:
    return mapping.key_pos.get(key, default) if isinstance(mapping, YMap) else default

