"""The JSON Schema and the step reference are generated from the step declarations."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest

from libs.loader import load_file
from libs.reference import robot_schema, steps_markdown
from libs.registry import load_libraries

ROOT = Path(__file__).resolve().parents[2]
ROBOTS = sorted((ROOT / "robots").glob("*.yaml"))


def test_the_step_reference_in_docs_is_the_generated_one() -> None:
    text = (ROOT / "docs" / "steps.md").read_text(encoding="utf-8")
    assert text == steps_markdown(), "docs/steps.md is stale: workhand steps --markdown > it"


def test_the_schema_is_valid_and_lists_every_step() -> None:
    schema = robot_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    listed = {next(iter(s["required"])) for s in schema["$defs"]["step"]["oneOf"]}
    assert set(load_libraries()) <= listed


@pytest.mark.parametrize("path", ROBOTS,
                         ids=lambda p: p.name)
def test_every_example_robot_validates_against_the_schema(path: Path) -> None:
    jsonschema.validate(load_file(path), robot_schema())


def test_the_schema_catches_what_editors_should_underline() -> None:
    bad = {"robot": "x", "steps": [{"browser.clik": "#a"}]}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, robot_schema())
    bad_duration = {"robot": "x", "steps": [{"wait": "soon"}]}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad_duration, robot_schema())
    good = {"robot": "x", "steps": [{"wait": "${pause}"}, {"log": "hi", "label": "问候"}]}
    jsonschema.validate(good, robot_schema())


def test_the_schema_knows_wait_until() -> None:
    waits = {"robot": "x", "steps": [{"wait_until": "${status == '完成'}", "every": "200ms",
                                      "timeout": "30s", "read": [{"log": "${status}"}]}]}
    jsonschema.validate(waits, robot_schema())
    for wrong in ({"wait_until": "${done}", "every": 0.01}, {"wait_until": "${done}", "evry": 1},
                  {"wait_until": "done"}, {"wait_until": "${done}", "read": {"log": "x"}}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({"robot": "x", "steps": [wrong]}, robot_schema())
