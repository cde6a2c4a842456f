"""The robot's declarations: savings, inputs (and how a given value becomes an input's type)
and credentials."""

from __future__ import annotations

from typing import Any

from libs import expressions
from libs.checks.base import IDENTIFIER, Checks, kind_of, suggest
from libs.errors import Pos
from libs.loader import YList, YMap
from libs.plan import Input, Savings

SAVINGS_KEYS = ("minutes_per_item", "minutes_per_run", "review_minutes", "build_cost")
INPUT_TYPES = ("text", "number", "integer", "boolean", "date", "path", "list", "map")
INPUT_KEYS = ("type", "default", "description", "required", "choices")


class InputChecks(Checks):
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
                what = "an amount" if key == "build_cost" else "a number of minutes"
                self.problem(raw.where(key), f"'{key}' must be {what} (0 or more)")
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
            raise ValueError(f"expected {kind}, got {kind_of(value)}")
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
            raise ValueError(f"expected a {kind}, got {kind_of(value)}")
        return value
    raise ValueError(f"unknown input type '{kind}'")
