"""Steps every robot has without a library prefix: log, wait, fail, fail_item, assert."""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from libs.context import StepContext
from libs.errors import BusinessException, StepArgumentError, SystemFailure
from libs.expression_sandbox import text_size_problem
from libs.registry import step
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
    time.sleep(duration)


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
