"""The runner's loops and waits: for_each's items and its ``loop`` variable, repeat, wait_until.

Mixed into Runner (libs/runner.py), which gives what ``Loops`` declares under TYPE_CHECKING. A
loop sets its variables (``loop``, ``item``, ``repeat_index``) for its own body only: when it
ends, however it ends, the values of an enclosing loop are back.
"""

from __future__ import annotations

import datetime as dt
import re
import reprlib
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from libs import events, expressions
from libs.checks.base import shown_duration
from libs.context import RunState
from libs.errors import StepArgumentError, SystemFailure, WorkhandError
from libs.plan import MAX_LOOP_ITEMS, MAX_REPEAT, Common, ForEach, Node, Repeat, Retry, WaitUntil
from libs.queues import QueueItem, QueueSource
from libs.secrets import MASK, Masker, find_secret
from libs.types import MAX_WAIT

Items = Iterator[tuple[Any, QueueItem | None]]
LOOP_NAMES = ("loop", "item")
_NOT_SET = object()

_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 60
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = 5


def loop_info(index: int, length: int | None) -> dict[str, Any]:
    """``${loop}`` inside a for_each (as Jinja's loop). ``length`` and ``last`` are None where
    nobody can know them: a work queue is leased one item at a time."""
    return {"index": index, "number": index + 1, "first": index == 0,
            "last": None if length is None else index == length - 1, "length": length}


def shown_value(value: Any) -> str:
    """A value as a give-up message shows it: short, in the robot's own notation, and a value
    holding a secret (anywhere inside) only as ***."""
    if find_secret(value) is not None:
        return MASK
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date):
        return value.isoformat()
    return _REPR.repr(value)


def named_values(condition: Any, scope: Mapping[str, Any]) -> str:
    """What the variables a condition names hold now, e.g. "status = '处理中', loop.index = 2"
    (a field where the condition names one of a map); "" when it names none."""
    if not isinstance(condition, str):
        return ""
    try:
        refs = [ref for _, _, expr in expressions.find(condition)
                for ref in expressions.references(expr)]
    except expressions.ExpressionError:
        return ""

    def first_use(ref: tuple[str, str | None]) -> int:  # in the order the condition names them
        found = re.search(rf"(?<![\w.'\"]){re.escape(ref[0])}(?!\w)", condition)
        return found.start() if found else len(condition)

    shown: dict[str, str] = {}
    for root, key in sorted(refs, key=first_use):
        value = scope.get(root, _NOT_SET)
        name = root
        if key is not None and isinstance(value, Mapping) and key in value:
            name, value = f"{root}.{key}", value[key]
        if name not in shown:
            shown[name] = "(not set)" if value is _NOT_SET else shown_value(value)
    return ", ".join(f"{name} = {text}" for name, text in shown.items())


def gave_up(what: str, condition: Any, outcome: str, scope: Mapping[str, Any],
            fix: str) -> str:
    """The message of a loop or wait that gave up, e.g. "repeat gave up after 3 rounds:
    ${n > 5} never became true (n = 3); raise 'max' or check the condition"."""
    values = named_values(condition, scope)
    return (f"{what}: {condition} {outcome}" + (f" ({values})" if values else "")
            + f"; {fix} or check the condition")


class Loops:
    """for_each, repeat and wait_until, as the Runner runs them."""

    if TYPE_CHECKING:
        masker: Masker
        state: RunState
        queues: QueueSource | None
        current_timeout: float

        def emit(self, event: events.RunEvent) -> None: ...
        def block(self, nodes: tuple[Node, ...], scope: dict[str, Any]) -> None: ...
        def render(self, value: Any, scope: dict[str, Any], common: Common) -> Any: ...
        def truth(self, condition: Any, scope: dict[str, Any], common: Common) -> bool: ...
        def located(self, err: WorkhandError, common: Common, name: str,
                    label: str = "") -> WorkhandError: ...
        def with_retry(self, retry: Retry | None,
                       attempt_fn: Callable[[int], None]) -> int: ...
        def optional_failed(self, common: Common, err: WorkhandError) -> bool: ...
        def past_deadline(self, common: Common) -> None: ...
        def work_item(self, node: ForEach, scope: dict[str, Any], index: int,
                      leased: QueueItem | None) -> None: ...
        def screenshot_on_failure(self, common: Common, err: WorkhandError,
                                  outcome: str = "failed") -> str | None: ...

    @contextmanager
    def own_variables(self, scope: dict[str, Any], *names: str) -> Iterator[None]:
        """The loop's variables for its body only: an enclosing loop's are back afterwards."""
        saved = {name: scope.get(name, _NOT_SET) for name in names}
        try:
            yield
        finally:
            for name, value in saved.items():
                if value is _NOT_SET:
                    scope.pop(name, None)
                else:
                    scope[name] = value

    def items_of(self, node: ForEach, scope: dict[str, Any]) -> tuple[int | None, Items]:
        """How many items (None: a work queue, not known ahead) and the items."""
        if node.queue is not None:
            queues, name = self.queues, node.queue
            if queues is None:
                raise self.located(StepArgumentError(
                    f"work queue '{name}' needs the orchestrator; run this robot through a "
                    "worker, or loop over a list instead"), node.common, "for_each")

            def leased() -> Items:
                while (item := queues.lease(name)) is not None:
                    yield item.payload, item

            return None, leased()
        items = self.render(node.items, scope, node.common)
        if isinstance(items, dict):
            items = [{"key": k, "value": v} for k, v in items.items()]
        if not isinstance(items, list | tuple):
            raise self.located(StepArgumentError(
                f"for_each needs a list, but got {type(items).__name__}"), node.common, "for_each")
        total = len(items)
        if total > MAX_LOOP_ITEMS:
            raise self.located(StepArgumentError(
                f"for_each got {total:,} items, over the limit of {MAX_LOOP_ITEMS:,}; put the "
                "work in a work queue, or split the list"), node.common, "for_each")
        self.emit(events.LoopStart(type="loop.start", step=str(node.common.pos), total=total,
                                   work_items=node.work_item is not None))
        return total, ((value, None) for value in items)

    def for_each(self, node: ForEach, scope: dict[str, Any]) -> None:
        total, items = self.items_of(node, scope)
        with self.own_variables(scope, *LOOP_NAMES):
            for index, (value, leased) in enumerate(items):
                scope[node.var] = value
                scope["item"] = value
                scope["loop"] = loop_info(index, total)
                if node.work_item is None and leased is None:
                    self.block(node.steps, scope)
                    continue
                self.work_item(node, scope, index, leased)

    def repeat(self, node: Repeat, scope: dict[str, Any]) -> None:
        count = 0
        limit = min(node.times or MAX_REPEAT, MAX_REPEAT)
        delay = min(node.delay, MAX_WAIT)
        with self.own_variables(scope, "repeat_index"):
            while count < limit:
                scope["repeat_index"] = count
                self.block(node.steps, scope)
                count += 1
                if node.until is not None and self.truth(node.until, scope, node.common):
                    return
                if delay and count < limit:
                    self.state.resources.pause(delay)
            if node.until is not None:  # the values as the last round left them
                message = gave_up(f"repeat gave up after {count} rounds", node.until,
                                  "never became true", scope, "raise 'max'")
                raise self.located(SystemFailure(self.masker.text(message)), node.common,
                                   "repeat")

    def wait_until(self, node: WaitUntil, scope: dict[str, Any]) -> None:
        """Run the read steps and check the condition, every ``node.every`` seconds, until it
        is true or the step's timeout has passed (a SystemFailure, so ``retry`` applies). A
        failing read step fails the wait with its own error."""
        common = node.common
        timeout = common.timeout if common.timeout is not None else self.current_timeout

        def attempt_fn(attempt: int) -> None:
            started, checks, met = time.monotonic(), 0, False
            shot: str | None = None
            try:
                while True:
                    self.block(node.read, scope)
                    checks += 1
                    if self.truth(node.condition, scope, common):
                        met = True
                        return
                    left = timeout - (time.monotonic() - started)
                    if left <= 0:
                        message = gave_up(f"wait_until gave up after {shown_duration(timeout)}",
                                          node.condition, "stayed false", scope,
                                          "raise 'timeout'")
                        err = self.located(SystemFailure(self.masker.text(message)), common,
                                           "wait_until")
                        shot = self.screenshot_on_failure(common, err)
                        raise err
                    self.past_deadline(common)
                    self.state.resources.pause(min(node.every, left))
            finally:
                ended = events.WaitEnd(type="wait.end", step=str(common.pos),
                                       condition=str(node.condition), met=met, checks=checks,
                                       waited_s=round(time.monotonic() - started, 3))
                if shot:
                    ended["screenshot"] = shot
                self.emit(ended)

        try:
            self.with_retry(common.retry, attempt_fn)
        except WorkhandError as err:
            if not self.optional_failed(common, err):
                raise
