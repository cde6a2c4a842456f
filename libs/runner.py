"""Run a checked Plan: control flow, retries, work items, events, the result.

The runner is synchronous and single-threaded (Playwright's sync API and pyautogui are), so step
timeouts are passed to the steps, which honour them (see StepContext.timeout).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import time
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from libs import events, expressions
from libs.checker import coerce_input
from libs.context import Artifact, Capturable, RunState, StepContext
from libs.errors import (
    BusinessException,
    ErrorKind,
    Pos,
    Problem,
    RobotFileError,
    StepArgumentError,
    SystemFailure,
    WorkhandError,
)
from libs.events import OPTIONAL_FAILED, JsonlSink, RunEvent, Sink, stamp
from libs.loops import Loops
from libs.plan import (
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
from libs.policy import Policy, Refused, local_env
from libs.queues import (
    IN_REVIEW,
    HandedToReview,
    QueueItem,
    QueueSource,
    ReviewRequest,
    ReviewSource,
    write_local_review,
)
from libs.registry import describe_error, load_libraries
from libs.run_result import SKIPPED, SKIPPED_MESSAGE, ItemRecord, RunResult, StepStats
from libs.secrets import (
    SECRET_SETTINGS,
    Masker,
    SecretMisuse,
    find_secret,
    protect,
    secret_values,
)

SECRET_ENV = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|API_KEY|PRIVATE", re.IGNORECASE)


class RunDeadline(SystemFailure):
    """The whole run went past its time limit; never retried."""

    retryable = False


class _ItemFailed(Exception):
    """Internal: a work item ended in a business exception or system error."""


def _now() -> str:
    return dt.datetime.now().astimezone().isoformat(timespec="seconds")


class Runner(Loops):
    """Runs one robot. ``run()`` never raises for a robot's failure: it returns the result."""

    def __init__(self, plan: Plan, *, output_dir: Path, inputs: Mapping[str, Any] | None = None,
                 credentials: Mapping[str, Mapping[str, Any]] | None = None,
                 env: Mapping[str, str] | None = None, sinks: list[Sink] | None = None,
                 headed: bool = False, run_id: str | None = None, attempt: int = 1,
                 queues: QueueSource | None = None, policy: Policy | None = None,
                 time_limit: float | None = None,
                 credential_hosts: Mapping[str, Sequence[str] | None] | None = None,
                 skip_items: Collection[str] = frozenset()) -> None:
        self.plan = plan
        # work item ids done in an earlier run (a retry of the failed items): not run again
        self.skip_items = frozenset(skip_items)
        self.output_dir = Path(output_dir)
        self.given_inputs = dict(inputs or {})
        self.finishing = False  # set once the run's result is being written
        # Only what the robot declares (its called robots must declare theirs here too): a
        # credential it does not name is not held by the robot process at all.
        self.credentials = {k: dict(v) for k, v in (credentials or {}).items()
                            if k in plan.credentials}
        # the hosts each credential may be sent to (absent or None: any host the policy allows)
        self.credential_hosts = dict(credential_hosts or {})
        self.time_limit = time_limit
        self.deadline: float | None = None
        self.env = dict(local_env(os.environ) if env is None else env)
        self.policy = policy or Policy()
        self.sinks = list(sinks or [])
        self.queues = queues
        self.attempt = attempt
        self.run_id = run_id or uuid.uuid4().hex[:12]
        self.steps = load_libraries()
        secrets = secret_values(self.credentials)
        secrets += [v for k, v in self.env.items() if SECRET_ENV.search(k) and len(v) >= 4]
        self.masker = Masker(secrets)
        self.state = RunState(self.run_id, self.output_dir, plan.settings, self.masker,
                              emit=self.emit, headed=headed, env=self.env,
                              policy=self.policy, bundle=plan.robot_dir)
        self.result = RunResult(self.run_id, plan.robot, plan.title, plan.shown_as)
        self._item: ItemRecord | None = None
        self._shots = 0
        # The robot being run: a called robot changes these (and state.settings) while it runs.
        self.current_dir = plan.robot_dir
        self.current_timeout = plan.timeout

    # -- events ----------------------------------------------------------------------------

    def emit(self, event: RunEvent) -> None:
        event = self.masker.data(stamp(event))
        event["run"] = self.run_id
        for sink in self.sinks:
            sink(event)

    # -- the run ---------------------------------------------------------------------------

    def prepare(self, plan: Plan, given: Mapping[str, Any]) -> dict[str, Any]:
        """Inputs and credentials checked before anything runs; returns the robot's scope."""
        problems: list[Problem] = []
        top = Pos(plan.shown_as, 1, 1)
        inputs: dict[str, Any] = {}
        for name in given:
            if name not in plan.inputs:
                known = ", ".join(plan.inputs) or "none"
                problems.append(Problem(top, f"unknown input '{name}' (this robot's inputs: "
                                        f"{known})"))
        env_scope = {"env": self.env}
        for name, spec in plan.inputs.items():
            if name in given:
                value = given[name]
            elif spec.default is not None:
                value = expressions.render(spec.default, env_scope)
            elif spec.required:
                problems.append(Problem(spec.pos or top, f"input '{name}' is required; give "
                                        f"it with --input {name}=VALUE"))
                continue
            else:
                inputs[name] = None
                continue
            if find_secret(value) is not None:
                continue  # refused below, by name
            try:
                inputs[name] = coerce_input(spec, value)
            except (ValueError, expressions.ExpressionError) as err:
                problems.append(Problem(spec.pos or top, f"input '{name}': {err}"))
                continue
            if spec.choices and inputs[name] not in spec.choices:
                problems.append(Problem(spec.pos or top, f"input '{name}' must be one of "
                                        f"{', '.join(map(str, spec.choices))}"))
        for name, value in given.items():
            secret = find_secret(value)
            if secret is not None and name in plan.inputs:
                inputs.pop(name, None)
                problems.append(Problem(plan.inputs[name].pos or top, f"input '{name}': "
                                        f"{SecretMisuse(secret.name)}; declare the credential "
                                        f"in robot '{plan.robot}' and use it there"))
        for name in plan.credentials:
            if name not in self.credentials:
                problems.append(Problem(plan.credentials_pos or top,
                                        f"credential '{name}' is not available; give it "
                                        "with --credentials FILE (a YAML map of name → fields) "
                                        "or store it in the orchestrator's vault"))
        if problems:
            raise RobotFileError(problems)
        today = dt.date.today()
        return {"inputs": inputs, "env": self.env, "run": self.run_info(plan),
                "credentials": {n: protect(n, self.credentials[n], self.credential_hosts.get(n))
                                for n in plan.credentials},
                "item": None, "loop": None, "repeat_index": None,  # set inside loops
                "today": today, "now": dt.datetime.now().replace(microsecond=0)}

    def settings(self, plan: Plan, scope: dict[str, Any]) -> dict[str, Any]:
        """A robot's settings with their expressions evaluated; a secret only where it is used."""
        common = Common(plan.credentials_pos or Pos(plan.shown_as, 1, 1))
        rendered: dict[str, Any] = self.render(plan.settings, scope, common)
        for key, value in rendered.items():
            inner = value if isinstance(value, dict) else {None: value}
            for field_name, item in inner.items():
                secret = find_secret(item)
                if secret is not None and (key, field_name) not in SECRET_SETTINGS:
                    shown = f"{key}.{field_name}" if field_name else key
                    raise self.located(SecretMisuse(secret.name, f"setting '{shown}': "
                                                    f"{SecretMisuse(secret.name)}"), common, "")
        return rendered

    def run_info(self, plan: Plan) -> dict[str, Any]:
        return {"id": self.run_id, "robot": plan.robot, "attempt": self.attempt,
                "output": str(self.output_dir)}

    def run(self) -> RunResult:
        self.output_dir.mkdir(parents=True, exist_ok=True)
        events_file = JsonlSink(self.output_dir / "events.jsonl")
        self.sinks.insert(0, events_file)
        result, started = self.result, time.monotonic()
        if self.time_limit is not None:
            self.deadline = started + self.time_limit
        result.started = _now()
        self.emit(events.RunStart(type="run.start", robot=self.plan.robot,
                                  title=self.plan.title, file=self.plan.shown_as,
                                  attempt=self.attempt))
        try:
            scope = self.prepare(self.plan, self.given_inputs)
            # settings may use ${env...} or ${credentials...} (e.g. an SMTP password)
            self.state.settings = self.settings(self.plan, scope)
            result.inputs = {k: self.masker.data(v) if isinstance(v, str | list | dict) else str(v)
                             for k, v in scope["inputs"].items()}
            self.block(self.plan.steps, scope)
            result.status = "passed"
        except WorkhandError as err:
            result.status = "failed"
            result.error = self.describe(err)
        except KeyboardInterrupt:
            result.status = "failed"
            result.error = {"kind": ErrorKind.SYSTEM.value, "message": "cancelled by the user"}
        except Exception as err:  # a bug of ours must still leave a result behind
            result.status = "failed"
            result.error = {"kind": ErrorKind.SYSTEM.value,
                            "message": self.masker.text(f"internal error: {err!r}")}
        finally:
            self.finishing = True  # a stop asked from now on waits for result.json (child.py)
            self.state.resources.close()
            self.finish(result, started)
            events_file.close()
        return result

    def finish(self, result: RunResult, started: float) -> None:
        if result.status == "passed" and result.counts["system_errors"]:
            result.status = "failed"
            result.error = {"kind": ErrorKind.SYSTEM.value,
                            "message": f"{result.counts['system_errors']} work item(s) failed "
                                       "with system errors"}
        result.finished = _now()
        result.duration_s = round(time.monotonic() - started, 3)
        counts = result.counts
        result.minutes_saved = self.plan.savings.minutes_saved(
            counts["done"], counts["business_exceptions"], result.status == "passed")
        result.artifacts = [asdict(a) for a in self.state.artifacts]
        result.outputs = self.state.outputs
        self.emit(events.RunEnd(type="run.end", status=result.status, items=counts,
                                duration_s=result.duration_s, error=result.error,
                                minutes_saved=result.minutes_saved))
        data = self.masker.data(result.to_json())
        path = self.output_dir / "result.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(data, ensure_ascii=False, indent=2, default=str),
                       encoding="utf-8")
        tmp.replace(path)

    def describe(self, err: BaseException) -> dict[str, Any]:
        if isinstance(err, RobotFileError):
            return {"kind": err.kind.value, "message": self.masker.text(str(err)),
                    "problems": [self.masker.text(str(p)) for p in err.problems]}
        info = {"kind": getattr(err, "kind", ErrorKind.SYSTEM).value,
                "message": self.masker.text(str(err))}
        for key in ("step", "label", "name", "screenshot"):
            if hasattr(err, key):
                info[key] = getattr(err, key)
        return info

    # -- control flow ----------------------------------------------------------------------

    def block(self, nodes: tuple[Node, ...], scope: dict[str, Any]) -> None:
        for node in nodes:
            self.node(node, scope)

    def past_deadline(self, common: Common) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise self.located(RunDeadline(
                f"the run went past its time limit of {self.time_limit:g}s; give the job a "
                "longer time limit or split the work"), common, "")

    def node(self, node: Node, scope: dict[str, Any]) -> None:
        self.past_deadline(node.common)
        if isinstance(node, Action):
            self.action(node, scope)
        elif isinstance(node, SetVars):
            for name, value in node.values.items():
                scope[name] = self.render(value, scope, node.common)
        elif isinstance(node, If):
            met = self.truth(node.condition, scope, node.common)
            self.block(node.then if met else node.otherwise, scope)
        elif isinstance(node, ForEach):
            self.for_each(node, scope)
        elif isinstance(node, Repeat):
            self.repeat(node, scope)
        elif isinstance(node, WaitUntil):
            self.wait_until(node, scope)
        elif isinstance(node, Try):
            self.try_(node, scope)
        elif isinstance(node, Call):
            self.call(node, scope)

    def render(self, value: Any, scope: dict[str, Any], common: Common) -> Any:
        try:
            return expressions.render(value, scope)
        except expressions.DataError as err:  # unusable data: hand the item back, don't retry
            raise self.located(BusinessException(str(err)), common, "") from None
        except expressions.SecretUseError as err:  # a refusal: 'optional' never hides it
            raise self.located(SecretMisuse(err.secret_name, str(err)), common, "") from None
        except expressions.ExpressionError as err:
            raise self.located(StepArgumentError(str(err)), common, "") from None

    def truth(self, condition: Any, scope: dict[str, Any], common: Common) -> bool:
        """An if/until condition; a secret has no truth value a robot may learn."""
        try:
            return bool(self.render(condition, scope, common))
        except SecretMisuse as err:
            raise self.located(err, common, "") from None

    def located(self, err: WorkhandError, common: Common, name: str,
                label: str = "") -> WorkhandError:
        """Attach where the error happened (once: the innermost step wins)."""
        if not hasattr(err, "step"):
            err.step = str(common.pos)  # type: ignore[attr-defined]
            err.label = label or common.label  # type: ignore[attr-defined]
            err.name = name  # type: ignore[attr-defined]
            shown = f" ({err.label})" if err.label else ""  # type: ignore[attr-defined]
            err.args = (f"{common.pos}{shown}: {err}",)
        return err

    def with_retry(self, retry: Retry | None, attempt_fn: Callable[[int], None]) -> int:
        """Run attempt_fn(attempt) until it succeeds; only system failures are retried."""
        attempts = retry.attempts if retry else 1
        for attempt in range(1, attempts + 1):
            try:
                attempt_fn(attempt)
                return attempt
            except WorkhandError as err:
                if not err.retryable or attempt == attempts or retry is None:
                    raise
                pause = retry.pause(attempt)
                self.emit(events.Retry(type="retry", attempt=attempt, next_in_s=pause,
                                       message=str(err), step=getattr(err, "step", "")))
                self.state.resources.pause(pause)
        return attempts

    def action(self, node: Action, scope: dict[str, Any]) -> None:
        spec = self.steps[node.name]
        common = node.common
        where = str(common.pos)
        label = self.label(common, scope)
        stats = self.result.steps.get(where)
        if stats is None:
            stats = self.result.steps[where] = StepStats(where, node.name, common.label)

        def attempt_fn(attempt: int) -> None:
            args = self.render(node.args, scope, common)
            ctx = StepContext(self.state, self.current_dir, common.pos, node.name, label,
                              common.timeout or self.current_timeout)
            self.emit(events.StepStart(type="step.start", step=where, name=node.name,
                                       label=label, attempt=attempt))
            started = time.perf_counter()
            outcome, error, shot = "passed", None, None
            handed: HandedToReview | None = None
            try:
                value = spec.call(ctx, args)
                if node.into:
                    scope[node.into] = value
            except HandedToReview as err:  # the step did its work: the item ends in review
                if self._item is not None:
                    handed = err
                else:
                    outcome, error = "failed", self.located(StepArgumentError(
                        f"'{node.name}' hands the current work item to people: use it inside "
                        "a for_each with work_item (or a queue)"), common, node.name, label)
            except ValidationError as err:
                outcome, error = "failed", self.located(
                    StepArgumentError(f"'{node.name}': {describe_error(err)}"), common,
                    node.name, label)
            except WorkhandError as err:
                outcome, error = "failed", self.located(err, common, node.name, label)
            except Exception as err:
                outcome, error = "failed", self.located(
                    SystemFailure(f"{type(err).__name__}: {err}"), common, node.name, label)
            if error is not None and error.kind is ErrorKind.BUSINESS:
                outcome = "business_exception"
            elapsed = (time.perf_counter() - started) * 1000
            stats.runs += 1
            stats.total_ms += elapsed
            stats.max_ms = max(stats.max_ms, elapsed)
            if error is not None:
                shot = self.screenshot_on_failure(common, error, outcome)
            elif self.settings_screenshots == "every_step":
                shot = self.screenshot(common.pos, outcome)
            event = events.StepEnd(type="step.end", step=where, name=node.name, label=label,
                                   outcome=outcome, duration_ms=round(elapsed, 2),
                                   attempt=attempt)
            if shot:
                event["screenshot"] = shot
            if error is not None:
                stats.failures += 1
                event["error"] = events.StepError(kind=error.kind.value, message=_plain(error))
                self.emit(event)
                raise error
            self.emit(event)
            if handed is not None:
                raise handed

        try:
            self.with_retry(common.retry, attempt_fn)
        except WorkhandError as err:
            if not self.optional_failed(common, err):
                raise

    def optional_failed(self, common: Common, err: WorkhandError) -> bool:
        """``optional: true``: every failure of the step is a warning and the robot goes on —
        a page that did not load, a business exception, and also an argument only found wrong
        at run time ("matches 2 elements", "not a valid selector": StepArgumentError), as the
        docs promise. Never: a refusal (SecretMisuse, the policy's Refused) — the robot reached
        for a secret, a file or a host it may not, and hiding that would let an optional step
        probe them unseen; the run's own time limit (RunDeadline); and robot-file problems found
        before running (RobotFileError, e.g. a called robot's missing input)."""
        if not common.optional or isinstance(err, SecretMisuse | Refused | RunDeadline
                                             | RobotFileError):
            return False
        self.emit(events.Log(type="log", level="warning", step=str(common.pos),
                             message=f"{OPTIONAL_FAILED}{err}"))
        return True

    def label(self, common: Common, scope: dict[str, Any]) -> str:
        if "${" not in common.label:
            return common.label
        try:
            return str(expressions.render_text(common.label, scope))
        except expressions.SecretUseError as err:  # a label is shown everywhere: never a secret
            raise self.located(StepArgumentError(f"label: {err}"), common, "") from None
        except expressions.ExpressionError:
            return common.label

    @property
    def settings_screenshots(self) -> str:
        return str(self.state.settings.get("screenshots", "on_failure"))

    def screenshot_on_failure(self, common: Common, err: WorkhandError,
                              outcome: str = "failed") -> str | None:
        """A failure's screenshot (unless the robot says never), named in the error too: in
        result.json and run.end as in the step's event."""
        if self.settings_screenshots == "never":
            return None
        shot = self.screenshot(common.pos, outcome)
        if shot:
            err.screenshot = shot  # type: ignore[attr-defined]
        return shot

    def screenshot(self, pos: Pos, outcome: str) -> str | None:
        """A screenshot of the first resource that can take one, named as the run's artifacts
        are (relative to its output folder, e.g. screenshots/0001-failed-line12.png)."""
        for resource in self.state.resources.values():
            if isinstance(resource, Capturable):
                self._shots += 1
                name = f"{self._shots:04d}-{outcome}-line{pos.line}.png"
                try:
                    path = resource.capture(self.output_dir / "screenshots" / name)
                except Exception:
                    path = None
                if path:
                    self.state.artifacts.append(Artifact("screenshot", str(path), str(pos)))
                    return Path(os.path.relpath(path, self.output_dir)).as_posix()
        return None

    def work_item(self, node: ForEach, scope: dict[str, Any], index: int,
                  leased: QueueItem | None) -> None:
        if leased is not None:
            reference = leased.reference
        else:
            value = self.render(node.work_item, scope, node.common)
            secret = find_secret(value)
            if secret is not None:  # an item's id is shown everywhere: never a secret
                raise self.located(SecretMisuse(secret.name, f"work_item: "
                                                f"{SecretMisuse(secret.name)}"),
                                   node.common, "for_each")
            reference = str(value)
            if reference in self.skip_items:  # a work queue's items are never skipped: it
                self.skipped(reference, index)  # retries them itself (queues.py)
                return
        record = ItemRecord(self.masker.text(reference), index,
                            queue_item=None if leased is None else leased.handle)
        self.result.work_items.append(record)
        outer, self._item = self._item, record
        started = time.perf_counter()
        self.emit(events.ItemStart(type="item.start", item=record.id, index=index))

        def attempt_fn(attempt: int) -> None:
            record.attempts = attempt
            self.block(node.steps, scope)

        interrupted = False
        review: ReviewRequest | None = None
        try:
            self.with_retry(node.common.retry, attempt_fn)
        except HandedToReview as handed:  # neither done nor an exception: people decide
            record.outcome, record.message = IN_REVIEW, handed.request.reason
            review = handed.request
        except BusinessException as err:
            record.outcome, record.message = "business_exception", _plain(err)
            record.step = getattr(err, "step", "")
        except (SystemFailure, StepArgumentError) as err:
            record.outcome, record.message = "system_error", _plain(err)
            record.step = getattr(err, "step", "")
        except BaseException:  # stopped (cancel, timeout, worker stopping) during the item:
            # it is not done, and not reported — its job's next attempt works it
            interrupted = True
            record.outcome = "system_error"
            record.message = "interrupted: the robot was stopped during this item"
            raise
        finally:
            self._item = outer
            record.duration_ms = round((time.perf_counter() - started) * 1000, 2)
            record.message = self.masker.text(record.message)
            # written before the outcome is reported: if the robot is stopped before the
            # report is taken, its worker reports it from here (orchestrator/worker.py)
            ended = events.ItemEnd(type="item.end", item=record.id, index=index,
                                   outcome=record.outcome, message=record.message,
                                   attempts=record.attempts, duration_ms=record.duration_ms,
                                   step=record.step)
            if leased is not None:
                ended["queue_item"] = leased.handle
            if interrupted:
                ended["interrupted"] = True
            self.emit(ended)
            queued = leased is not None and self.queues is not None and node.queue is not None
            if queued and not interrupted:
                assert leased is not None and self.queues is not None and node.queue is not None
                if review is not None and isinstance(self.queues, ReviewSource):
                    self.queues.review(node.queue, leased, review)
                else:
                    self.queues.report(node.queue, leased, record.outcome, record.message)
            elif review is not None:  # run alone: the request is kept in the run folder
                write_local_review(self.output_dir, record.id, review)

    def skipped(self, reference: str, index: int) -> None:
        """An item done in an earlier run: its steps do not run again, and it is not counted
        done again (minutes saved, the KPI) — it is listed, as skipped, and nothing more."""
        record = ItemRecord(self.masker.text(reference), index, outcome=SKIPPED,
                            message=SKIPPED_MESSAGE, attempts=0)
        self.result.work_items.append(record)
        self.emit(events.ItemSkipped(type="item.skipped", item=record.id, index=index,
                                     outcome=SKIPPED, message=SKIPPED_MESSAGE))

    def try_(self, node: Try, scope: dict[str, Any]) -> None:
        try:
            self.block(node.body, scope)
        except (SystemFailure, BusinessException) as err:
            if not node.catch:
                raise
            scope["error"] = {"kind": err.kind.value, "message": _plain(err),
                              "step": getattr(err, "step", ""), "label": getattr(err, "label", "")}
            try:
                self.block(node.catch, scope)
            finally:
                scope.pop("error", None)
        finally:
            self.block(node.final, scope)

    def call(self, node: Call, scope: dict[str, Any]) -> None:
        plan = node.robot
        given = self.render(node.with_, scope, node.common)
        inner = self.prepare(plan, given)
        saved = (self.current_dir, self.current_timeout, self.state.settings)
        self.current_dir, self.current_timeout = plan.robot_dir, plan.timeout
        self.state.settings = {**self.state.settings, **self.settings(plan, inner)}
        where = str(node.common.pos)
        self.emit(events.CallStart(type="call.start", step=where, robot=plan.robot))
        try:
            self.block(plan.steps, inner)
        finally:
            self.current_dir, self.current_timeout, self.state.settings = saved
            self.emit(events.CallEnd(type="call.end", step=where, robot=plan.robot))


def _plain(err: BaseException) -> str:
    """The error's own message, without the 'file:line (label): ' prefix added by located()."""
    text = str(err)
    where = getattr(err, "step", "")
    if where and text.startswith(where):
        text = text[len(where):]
        label = getattr(err, "label", "")
        if label and text.startswith(f" ({label})"):
            text = text[len(label) + 3 :]
        text = text.removeprefix(": ")
    return text
