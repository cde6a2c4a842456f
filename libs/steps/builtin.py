"""Steps every robot has without a library prefix: log, wait, fail, fail_item, assert, output."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal

from libs.context import StepContext
from libs.errors import BusinessException, StepArgumentError, SystemFailure
from libs.expression_sandbox import text_size_problem
from libs.registry import step
from libs.secrets import find_secret
from libs.types import MAX_WAIT, Duration


@step("log", main="message")
def log(ctx: StepContext, message: Annotated[Any, "what to write to the run log"],
        level: Annotated[Literal["info", "warning", "error"], "severity"] = "info") -> None:
    """Write a message to the run log (console and events.jsonl)."""
    problem = text_size_problem(message)
    if problem is not None:
        raise StepArgumentError(f"log: {problem}")
    ctx.log(str(message), level)


@step("wait", main="duration")
def wait(ctx: StepContext, duration: Annotated[Duration, "how long to pause"]) -> None:
    """Pause the robot, e.g. `- wait: 2s`. Prefer browser.wait_for where something can be seen.

    At most 1h; a step `timeout:` shorter than the pause is refused too."""
    if duration > MAX_WAIT:
        raise StepArgumentError(f"wait of {duration:g}s is longer than the limit of "
                                f"{MAX_WAIT:g}s; wait in shorter steps, or schedule the robot "
                                "to start later")
    ctx.resources.pause(duration, ctx)


@step("fail", main="message")
def fail(ctx: StepContext, message: Annotated[str, "why the run stops"]) -> None:
    """Stop with a system error (retried where a retry policy applies)."""
    raise SystemFailure(message)


@step("fail_item", main="message")
def fail_item(ctx: StepContext,
              message: Annotated[str, "why the item goes back to a person"]) -> None:
    """Hand the current work item back as a business exception (never retried).

    Outside a work item the whole run ends as a business exception."""
    raise BusinessException(message)


@step("assert")
def assert_(ctx: StepContext,
            that: Annotated[Any, "a condition, usually an expression like ${total == expected}"],
            message: Annotated[str, "the error when the condition is false"] = "assertion failed",
            kind: Annotated[Literal["system", "business"],
                            "'business' hands the item back instead of failing it"] = "system",
            ) -> None:
    """Check a condition; when false, fail with the message."""
    if not that:
        raise BusinessException(message) if kind == "business" else SystemFailure(message)


MAX_OUTPUTS = 100
MAX_OUTPUT_BYTES = 64 * 1024  # all outputs together, as JSON: they travel in the job's report
_OUTPUT_NAME = re.compile(r"^[^\W\d]\w{0,99}$")


@step("output")
def output(ctx: StepContext,
           name: Annotated[str, "the output's name: letters, digits and _, e.g. total or 合计"],
           value: Annotated[Any, "text, a number, true/false, a list or a map"]) -> None:
    """Set one of the robot's outputs: its answer to whoever started it. Outputs are in
    result.json and in the job's API answer (`outputs`); setting a name again replaces it.

    At most 100 outputs of 64 KiB together; a credential's value is refused."""
    if not _OUTPUT_NAME.match(name):
        raise StepArgumentError(f"output name '{name}' must start with a letter and hold only "
                                "letters, digits and _ (at most 100), e.g. total or 合计")
    if find_secret(value) is not None:
        raise StepArgumentError(f"output '{name}' would carry a credential's value; outputs are "
                                "read by whoever starts the robot, so give them what the "
                                "credential was used for, never the credential")
    outputs = ctx.state.outputs
    if name not in outputs and len(outputs) >= MAX_OUTPUTS:
        raise StepArgumentError(f"a robot has at most {MAX_OUTPUTS} outputs; '{name}' would be "
                                f"one more: put related values in one map")
    kept = json.loads(json.dumps(value, ensure_ascii=False, default=str))  # dates as text
    size = len(json.dumps({**outputs, name: kept}, ensure_ascii=False).encode())
    if size > MAX_OUTPUT_BYTES:
        raise StepArgumentError(f"output '{name}' would make the outputs {size:,} bytes, over "
                                f"the limit of {MAX_OUTPUT_BYTES:,}; write large results to a "
                                "file in the run folder (an artifact) and output its name")
    outputs[name] = kept
