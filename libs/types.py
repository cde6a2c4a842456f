"""Argument types shared by step libraries: durations, targets, paths, encodings, secrets."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    model_validator,
)

from libs.secrets import Secret
from libs.target_rules import selector_problem, spec_problem

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
DURATION_PATTERN = r"^\s*\d+(\.\d+)?\s*(ms|s|m|h)\s*$"


def parse_duration(value: Any) -> float:
    """'500ms' → 0.5, '2s' → 2.0, '5m' → 300.0, '1h' → 3600.0; plain numbers are seconds."""
    if isinstance(value, bool):
        raise ValueError("a duration is written like 500ms, 2s, 5m or 1h")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(f"'{value}' is not a duration; write it like 500ms, 2s, 5m or 1h")
    return float(match.group(1)) * _UNITS[match.group(2)]


MAX_STEP_TIMEOUT = 24 * 3600.0
"""No step (and no robot's default step time limit) may be given more than a day."""

MAX_WAIT = 3600.0
"""The longest single pause of ``wait`` or of a ``repeat``'s delay."""


Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    WithJsonSchema({"anyOf": [{"type": "string", "pattern": DURATION_PATTERN},
                              {"type": "number", "minimum": 0}],
                    "description": "a duration: 500ms, 2s, 5m, 1h (a number means seconds)"}),
]


def _selector_text(value: str) -> str:
    wrong = selector_problem(value)
    if wrong:
        raise ValueError(wrong)
    return value


Selector = Annotated[str, AfterValidator(_selector_text)]


class TargetSpec(BaseModel):
    """Where a browser step acts: one way to find it (or a place beside a text), optionally
    narrowed (has_text, inside, a relation), inside frames, and which match (nth)."""

    model_config = ConfigDict(extra="forbid")
    role: str | None = Field(None, description="ARIA role, e.g. button, link, textbox, checkbox")
    name: str | None = Field(None, description="accessible name, used with role")
    label: str | None = Field(None, description="the text of the field's label (linked with "
                                                "for=, wrapping the field, or just before it)")
    text: str | None = Field(None, description="visible text")
    placeholder: str | None = Field(None, description="the field's placeholder text")
    test_id: str | None = Field(None, description="the element's data-testid attribute")
    alt: str | None = Field(None, description="an image's alt text")
    title: str | None = Field(None, description="the element's title (its tooltip)")
    css: str | None = Field(None, description="a CSS selector")
    xpath: str | None = Field(None, description="an XPath expression")
    exact: bool = Field(False, description="match name/label/text exactly (default: substring, "
                                           "any case)")
    has_text: str | None = Field(None, description="keep only matches that contain this text")
    inside: Target | None = Field(None, description="look only inside this element, e.g. "
                                                    "{css: li, has_text: 买牛奶}")
    right_of: str | None = Field(None, description="the closest match on the same line, right "
                                                   "of this text")
    left_of: str | None = Field(None, description="the closest match on the same line, left of "
                                                  "this text")
    above: str | None = Field(None, description="the closest match above this text")
    below: str | None = Field(None, description="the closest match below this text")
    near: str | None = Field(None, description="the closest match within 50 px of this text")
    frame: str | list[str] | None = Field(
        None, description="selector of the iframe that holds the target; a list for nested "
                          "frames, outermost first")
    nth: int | None = Field(None, description="which match to use when several match (0 = the "
                                              "first, -1 = the last; with a place: 0 = closest)")

    @model_validator(mode="after")
    def _consistent(self) -> TargetSpec:
        wrong = spec_problem({name: getattr(self, name) for name in self.model_fields_set})
        if wrong:
            raise ValueError(wrong)
        return self


Target = Annotated[
    Selector | TargetSpec,
    Field(description="a CSS or Playwright selector ('#id', '.list li', 'text=登录') or a map: "
                      "{role, name} / {label} / {text} / {placeholder} / {test_id} / {alt} / "
                      "{title} / {css} / {xpath}, with optional has_text, inside, right_of, "
                      "left_of, above, below, near, exact, frame and nth"),
]
TargetSpec.model_rebuild()

Encoding = Annotated[
    str,
    Field(description="text encoding: utf-8, utf-8-sig (UTF-8 with BOM), gbk, gb18030, ..."),
]

Rows = list[dict[str, Any]]

Direction = Literal["in", "out"]


@dataclass(frozen=True)
class PathUse:
    """Marks a step argument as a path the step reads or writes (``Annotated[str, READS]``), so
    the checker finds path arguments in the registry (libs/checks/paths.py, ``path_use``)."""

    writes: bool


READS = PathUse(writes=False)
WRITES = PathUse(writes=True)

ReadPath = Annotated[str, READS]
WritePath = Annotated[str, WRITES]
ReadPaths = Annotated[str | list[str], READS]


@dataclass(frozen=True)
class AddressUse:
    """Marks a step argument as a web address the step opens or calls, so the checker refuses a
    literal one that no robot may use (file://, javascript:, …) before anything runs."""


WebAddress = Annotated[str, AddressUse()]


class AcceptsSecret:
    """Marks an argument type that may hold a Secret (the registry and the checker read it)."""

    def __repr__(self) -> str:
        return "AcceptsSecret()"


def _text_or_secret(value: Any) -> Any:
    # Account numbers, amounts and dates often arrive as numbers or dates from Excel or YAML;
    # a Secret stays opaque.
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


SecretText = Annotated[
    str | Secret,
    BeforeValidator(_text_or_secret),
    AcceptsSecret(),
    WithJsonSchema({"type": ["string", "number"],
                    "description": "text, or a secret passed whole, e.g. "
                                   "${credentials.bank.password}"}),
]
"""Text that may be a secret: the step calls ``libs.secrets.reveal()`` at the moment of use."""
