"""Everything generated from the step declarations: the JSON Schema and the step reference."""

from __future__ import annotations

import json
from typing import Any

from libs import plan
from libs.checks.inputs import INPUT_TYPES, SAVINGS_KEYS
from libs.checks.settings import BROWSER_KEYS, OCR_PROFILES
from libs.network_rules import PERMISSIONS, Geolocation, NetworkRules
from libs.registry import StepSpec, load_libraries
from libs.types import DURATION_PATTERN

DURATION = {"anyOf": [{"type": "string", "pattern": DURATION_PATTERN},
                      {"type": "number", "minimum": 0}]}
EXPRESSION = {"type": "string", "pattern": r"\$\{"}
COMMON = {
    "label": {"type": "string", "description": "shown in logs and the console"},
    "timeout": {**DURATION, "description": "how long the step may take (default: settings)"},
    "retry": {"description": "retry system errors",
              "anyOf": [{"type": "integer", "minimum": 1},
                        {"type": "object", "additionalProperties": False, "properties": {
                            "attempts": {"type": "integer", "minimum": 1},
                            "delay": DURATION, "backoff": {"type": "number", "minimum": 1}}}]},
    "optional": {"type": "boolean", "description": "a failure is logged, not raised"},
}


def _step_schema(spec: StepSpec, defs: dict[str, Any]) -> dict[str, Any]:
    args = spec.model.model_json_schema(ref_template="#/$defs/{model}")
    defs.update(args.pop("$defs", {}))
    args.pop("title", None)
    props = args.setdefault("properties", {})
    for prop in props.values():  # every argument may also be an expression
        prop.pop("title", None)
        kept = {k: prop.pop(k) for k in ("description", "default") if k in prop}
        original = dict(prop)
        prop.clear()
        prop.update(kept, anyOf=[original, EXPRESSION])
    for key, schema in COMMON.items():
        props.setdefault(key, schema)
    if spec.returns:
        props["into"] = {"type": "string", "description": "keep the step's result in a variable"}
    value_forms: list[dict[str, Any]] = [args]
    if spec.main:
        value_forms.append(props[spec.main])
    if not args.get("required"):
        value_forms.append({"type": "null"})
    step_props: dict[str, Any] = {spec.name: {"description": spec.summary, "anyOf": value_forms},
                                  **COMMON}
    if spec.returns:
        step_props["into"] = props["into"]
    return {"type": "object", "required": [spec.name], "additionalProperties": False,
            "properties": step_props}


def _browser_schema(defs: dict[str, Any]) -> dict[str, Any]:
    """settings.browser: the keys the checker knows; the network rules, permissions and
    position as libs/network_rules.py declares them (or an expression)."""
    props: dict[str, Any] = {k: {} for k in BROWSER_KEYS}
    for key, model in (("network", NetworkRules), ("geolocation", Geolocation)):
        schema = model.model_json_schema(ref_template="#/$defs/{model}")
        defs.update(schema.pop("$defs", {}))
        props[key] = {"anyOf": [schema, EXPRESSION]}
    props["permissions"] = {"anyOf": [{"type": "array", "items": {"enum": list(PERMISSIONS)}},
                                      EXPRESSION]}
    return {"type": "object", "additionalProperties": False, "properties": props}


def robot_schema() -> dict[str, Any]:
    """The JSON Schema of a robot file, for editors (VS Code YAML) and for tests."""
    steps = load_libraries()
    defs: dict[str, Any] = {}
    step_ref = {"$ref": "#/$defs/step"}
    steps_ref = {"type": "array", "items": step_ref}
    controls: list[dict[str, Any]] = [
        {"required": ["set"], "properties": {"set": {"type": "object"}}},
        {"required": ["if", "then"], "properties": {"if": {}, "then": steps_ref,
                                                    "else": steps_ref}},
        {"required": ["for_each", "steps"], "properties": {
            "for_each": {"anyOf": [{"type": "array"}, EXPRESSION, {
                "type": "object", "required": ["queue"], "additionalProperties": False,
                "properties": {"queue": {"type": "string"}}}]},
            "as": {"type": "string"}, "work_item": {}, "steps": steps_ref}},
        {"required": ["repeat", "steps"], "properties": {
            "repeat": {"anyOf": [{"type": "integer", "minimum": 1}, {
                "type": "object", "additionalProperties": False, "properties": {
                    "times": {"type": "integer"}, "max": {"type": "integer"}, "until": {},
                    "delay": DURATION}}]}, "steps": steps_ref}},
        {"required": ["wait_until"], "properties": {
            "wait_until": {**EXPRESSION, "description": "wait until this condition is true "
                           "(for up to the step's timeout)"},
            "read": {**steps_ref, "description": "steps run before each check, to read again "
                     "what the condition names"},
            "every": {"description": f"how often to check (default "
                      f"{plan.WAIT_EVERY * 1000:g}ms, at least {plan.MIN_WAIT_EVERY * 1000:g}ms)",
                      "anyOf": [DURATION["anyOf"][0],
                                {"type": "number", "minimum": plan.MIN_WAIT_EVERY}]}}},
        {"required": ["try"], "properties": {"try": steps_ref, "catch": steps_ref,
                                             "finally": steps_ref}},
        {"required": ["call"], "properties": {"call": {"type": "string"},
                                              "with": {"type": "object"}}},
    ]
    for control in controls:
        control.update(type="object", additionalProperties=False)
        control["properties"].update(COMMON)
    defs["step"] = {"oneOf": [_step_schema(spec, defs) for spec in steps.values()] + controls}
    input_schema = {"anyOf": [
        {"type": "object", "additionalProperties": False, "properties": {
            "type": {"enum": [*INPUT_TYPES, "string"]}, "default": {},
            "description": {"type": "string"}, "required": {"type": "boolean"},
            "choices": {"type": "array"}}},
        {"type": ["string", "number", "boolean", "array", "null"]}]}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://workhand.dev/schema/robot.json",
        "title": "Workhand robot",
        "type": "object",
        "required": ["robot", "steps"],
        "additionalProperties": False,
        "properties": {
            "robot": {"type": "string", "pattern": r"^[a-z0-9]+(-[a-z0-9]+)*$"},
            "title": {"type": "string"}, "description": {"type": "string"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "savings": {"type": "object", "additionalProperties": False,
                        "properties": {k: {"type": "number", "minimum": 0}
                                       for k in SAVINGS_KEYS}},
            "inputs": {"type": "object", "additionalProperties": input_schema},
            "credentials": {"type": "array", "items": {"type": "string"}},
            "settings": {"type": "object", "additionalProperties": False, "properties": {
                "timeout": DURATION,
                "browser": _browser_schema(defs),
                "mail": {"type": "object"}, "http": {"type": "object"},
                "ocr": {"type": "object", "additionalProperties": False,
                        "properties": {"profile": {"enum": list(OCR_PROFILES)}}},
                "screenshots": {"enum": ["on_failure", "every_step", "never"]}}},
            "steps": steps_ref,
        },
        "$defs": defs,
    }


def _type_text(schema: dict[str, Any]) -> str:
    if "anyOf" in schema:
        return " or ".join(_type_text(s) for s in schema["anyOf"] if s != EXPRESSION)
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    if "enum" in schema:
        return " / ".join(json.dumps(v, ensure_ascii=False) for v in schema["enum"])
    if "const" in schema:
        return json.dumps(schema["const"], ensure_ascii=False)
    if schema.get("type") == "array":
        return f"list of {_type_text(schema.get('items', {}))}" if schema.get("items") else "list"
    if "pattern" in schema and schema.get("type") == "string":
        return "duration" if schema["pattern"] == DURATION_PATTERN else "text"
    return {"string": "text", "integer": "whole number", "number": "number",
            "boolean": "true/false", "object": "map", "null": "nothing"}.get(
        str(schema.get("type", "")), "any value")


def steps_markdown() -> str:
    """docs/steps.md: generated from the registry; never edit that file by hand."""
    steps = load_libraries()
    lines = ["# Step reference", "",
             "Generated by `workhand steps --markdown` from the step declarations; do not edit.",
             "", "Every step also takes `label`, `timeout`, `retry` and `optional`; steps that "
             "return a value take `into: NAME`. Arguments accept `${...}` expressions.", ""]
    by_library: dict[str, list[StepSpec]] = {}
    for spec in steps.values():
        by_library.setdefault(spec.library, []).append(spec)
    for library in sorted(by_library, key=lambda name: (name != "builtin", name)):
        lines += [f"## {library}", ""]
        for spec in sorted(by_library[library], key=lambda s: s.name):
            lines += [f"### `{spec.name}`", "", spec.doc.strip() or "(no description)", ""]
            schema = spec.model.model_json_schema()
            props = schema.get("properties", {})
            required = set(schema.get("required", []))
            if props:
                lines += ["| argument | type | default | description |", "|---|---|---|---|"]
                for name, prop in props.items():
                    main = " (main)" if name == spec.main else ""
                    default = ("**required**" if name in required
                               else f"`{json.dumps(prop.get('default'), ensure_ascii=False)}`")
                    desc = str(prop.get("description", "")).replace("|", "\\|")
                    kind = _type_text(prop).replace("|", "\\|")
                    lines.append(f"| `{name}`{main} | {kind} | {default} | {desc} |")
                lines.append("")
            if spec.returns:
                lines += ["Returns a value: keep it with `into: NAME`.", ""]
    return "\n".join(lines).rstrip() + "\n"
