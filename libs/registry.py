"""The step registry: a step is one typed function, registered once by ``@step``.

The function's signature is the single declaration of its arguments. From it come run-time
validation, the checker's static checks, the JSON Schema, ``workhand steps`` and docs/steps.md.

    @step("browser.click", main="target")
    def click(ctx: StepContext, target: Target, button: Literal["left", "right"] = "left") -> None:
        \"\"\"Click an element (waits until it is visible, enabled and stable).\"\"\"

Parameter descriptions are written ``Annotated[type, "description"]`` (or with ``Field``).
A step whose return annotation is not ``None`` returns a value: its robot step may say
``into: NAME`` to keep it in a variable.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Annotated, Any, TypeVar, get_args, get_origin, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, create_model
from pydantic.fields import FieldInfo

from libs.secrets import Secret, SecretMisuse, find_secret, misuse_message
from libs.target_rules import TARGET_KEYS
from libs.types import AcceptsSecret

if TYPE_CHECKING:
    from libs.context import StepContext

F = TypeVar("F", bound=Callable[..., Any])

LIBRARY_NEEDS: dict[str, str] = {"desktop": "desktop"}
"""Step library → the label a worker must have to run a robot that uses it (a desktop robot
needs a worker with a display). The one place this is said: deploy stores each robot version's
needs (libs.plan.worker_needs), every job of it carries them as labels, and only workers that
offer them lease it. A library that needs something of its worker adds itself here."""


def library_of(step_name: str) -> str:
    """The library a step belongs to: 'desktop' for desktop.click, 'builtin' for log."""
    return step_name.split(".")[0] if "." in step_name else "builtin"


@dataclass(frozen=True)
class StepSpec:
    name: str
    func: Callable[..., Any]
    model: type[BaseModel]
    main: str | None
    returns: bool
    doc: str

    @property
    def library(self) -> str:
        return library_of(self.name)

    @property
    def summary(self) -> str:
        return self.doc.strip().splitlines()[0] if self.doc.strip() else ""

    @property
    def params(self) -> dict[str, FieldInfo]:
        """Arguments by the name robots use (a field may be renamed to dodge BaseModel's own)."""
        return {f.alias or name: f for name, f in self.model.model_fields.items()}

    @cached_property
    def adapters(self) -> dict[str, TypeAdapter[Any]]:
        hints = get_type_hints(self.model, include_extras=True)
        return {f.alias or name: TypeAdapter(hints[name])
                for name, f in self.model.model_fields.items()}

    @cached_property
    def secret_params(self) -> frozenset[str]:
        """The arguments declared to accept a secret (their type holds ``SecretText``)."""
        hints = get_type_hints(self.model, include_extras=True)
        return frozenset(f.alias or name for name, f in self.model.model_fields.items()
                         if accepts_secret(hints[name]))

    def validate(self, args: dict[str, Any]) -> BaseModel:
        for key, value in args.items():
            secret = find_secret(value) if key not in self.secret_params else None
            if secret is not None:
                raise SecretMisuse(secret.name, f"'{self.name}' argument '{key}': "
                                   f"{misuse_message(secret.name)}")
        return self.model.model_validate(args)

    def call(self, ctx: StepContext, args: dict[str, Any]) -> Any:
        model = self.validate(args)
        return self.func(ctx, **{f.alias or name: getattr(model, name)
                                 for name, f in self.model.model_fields.items()})


REGISTRY: dict[str, StepSpec] = {}


def accepts_secret(annotation: Any, seen: frozenset[type] = frozenset()) -> bool:
    """Whether a type, or any type inside it (a union, a list, a model's field), is SecretText."""
    if get_origin(annotation) is Annotated:
        base, *meta = get_args(annotation)
        return any(isinstance(m, AcceptsSecret) for m in meta) or accepts_secret(base, seen)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if annotation in seen:
            return False
        hints = get_type_hints(annotation, include_extras=True)
        return any(accepts_secret(h, seen | {annotation}) for h in hints.values())
    return any(accepts_secret(arg, seen) for arg in get_args(annotation))


def secret_arguments() -> list[str]:
    """'step argument' for every argument that accepts a secret (for docs and messages)."""
    return [f"{name} {param}" for name, spec in sorted(load_libraries().items())
            for param in sorted(spec.secret_params)]


def _field(name: str, annotation: Any, default: Any) -> tuple[Any, FieldInfo]:
    description = None
    if get_origin(annotation) is Annotated:
        base, *meta = get_args(annotation)
        texts = [m for m in meta if isinstance(m, str)]
        rest = [m for m in meta if not isinstance(m, str)]
        if texts:
            description = texts[0]
            annotation = Annotated[(base, *rest)] if rest else base
    # A parameter called e.g. "json" would shadow BaseModel.json: store it under another name.
    alias = name if hasattr(BaseModel, name) else None
    return annotation, Field(default, description=description, alias=alias)


def step(name: str, *, main: str | None = None) -> Callable[[F], F]:
    """Register a function as the robot step ``name``; ``main`` is the scalar-form argument."""

    def register(func: F) -> F:
        if name in REGISTRY:
            raise ValueError(f"step {name!r} is registered twice")
        hints = get_type_hints(func, include_extras=True)
        fields: dict[str, Any] = {}
        for pname, param in list(inspect.signature(func).parameters.items())[1:]:
            default = ... if param.default is inspect.Parameter.empty else param.default
            field_name = f"{pname}_" if hasattr(BaseModel, pname) else pname
            fields[field_name] = _field(pname, hints[pname], default)
        if main is not None and main not in inspect.signature(func).parameters:
            raise ValueError(f"step {name!r}: main argument {main!r} is not a parameter")
        model = create_model(
            "".join(part.title() for part in name.replace("_", ".").split(".")) + "Args",
            __config__=ConfigDict(extra="forbid", arbitrary_types_allowed=True),
            **fields,
        )
        returns = hints.get("return", None) not in (None, type(None))
        REGISTRY[name] = StepSpec(name, func, model, main, returns, inspect.getdoc(func) or "")
        return func

    return register


_loaded = False


def load_libraries() -> dict[str, StepSpec]:
    """Import every step library under libs.steps so that their @step calls register."""
    global _loaded
    if not _loaded:
        import libs.steps as package

        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            importlib.import_module(info.name)
        _loaded = True
    return REGISTRY


_UNION_BRANCHES = {"str", "int", "float", "bool", "list", "dict", "TargetSpec", "none"}


def _message(e: Any) -> str:
    value = e.get("input")
    if isinstance(value, Secret):
        return misuse_message(value.name)
    if e["type"] == "string_type" and isinstance(value, int | float) \
            and not isinstance(value, bool):
        return f"expected text, got the number {value}; put it in quotes ('{value}')"
    return str(e["msg"]).removeprefix("Value error, ")


def describe_error(err: ValidationError) -> str:
    """Turn pydantic's report into one short sentence per problem, in the robot's words."""
    errors = err.errors()
    if any("TargetSpec" in str(e["loc"]) or "_selector_text" in str(e["loc"]) for e in errors):
        extra = [str(e["loc"][-1]) for e in errors if e["type"] == "extra_forbidden"]
        if extra:
            return (f"a target map cannot have '{extra[0]}'; use one of {TARGET_KEYS}")
        rules = [e for e in errors if e["type"] == "value_error"]
        if rules:
            nested = [str(p) for p in rules[0]["loc"] if str(p) in ("inside", "frame")]
            return ("inside: " if nested else "") + _message(rules[0])
        return ("a target is a selector text such as '#id' or 'text=登录', or a map such as "
                f"{{label: 用户名}} or {{role: button, name: 登录}}; a map uses {TARGET_KEYS}")
    parts = []
    for e in errors:
        loc = [str(p) for p in e["loc"] if str(p) not in _UNION_BRANCHES
               and not str(p).startswith(("list[", "dict[", "function-"))]
        where = ".".join(loc)
        if e["type"] == "extra_forbidden":
            parts.append(f"'{where}' is not a known key")
        else:
            parts.append(f"'{where}': {_message(e)}" if where else _message(e))
    return "; ".join(dict.fromkeys(parts))
