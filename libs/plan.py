"""The immutable plan a checked robot becomes: what the runner executes, with no I/O left.

A plan can be printed and diffed without running anything (``workhand check --plan``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from libs.errors import Pos
from libs.registry import LIBRARY_NEEDS, library_of

MAX_REPEAT = 100_000
"""The most rounds of one ``repeat`` (the checker refuses a literal ``times``/``max`` above)."""

MAX_LOOP_ITEMS = 100_000
"""The most items one ``for_each`` walks over a list (a work queue is leased one at a time)."""

MAX_RETRY_ATTEMPTS = 100
"""The most tries a ``retry`` may ask for."""

WAIT_EVERY = 0.25
"""How often a ``wait_until`` checks its condition when the robot does not say (seconds)."""

MIN_WAIT_EVERY = 0.05
"""The most often a ``wait_until`` may check: faster only loads the page or system it reads."""


@dataclass(frozen=True)
class Retry:
    attempts: int = 1
    delay: float = 0.0
    backoff: float = 1.0

    def pause(self, failed_attempts: int) -> float:
        """Seconds to wait after the n-th failed attempt (1-based)."""
        return self.delay * self.backoff ** (failed_attempts - 1)


@dataclass(frozen=True)
class Common:
    pos: Pos
    label: str = ""
    timeout: float | None = None
    retry: Retry | None = None
    optional: bool = False


@dataclass(frozen=True)
class Action:
    common: Common
    name: str
    args: dict[str, Any]
    into: str | None = None


@dataclass(frozen=True)
class SetVars:
    common: Common
    values: dict[str, Any]


@dataclass(frozen=True)
class If:
    common: Common
    condition: Any
    then: tuple[Node, ...]
    otherwise: tuple[Node, ...] = ()


@dataclass(frozen=True)
class ForEach:
    common: Common
    items: Any  # an expression, a list, or None when reading a queue
    queue: str | None
    var: str
    work_item: Any  # expression giving the item's reference, or None (plain loop)
    steps: tuple[Node, ...]


@dataclass(frozen=True)
class Repeat:
    common: Common
    times: int | None
    until: Any
    delay: float
    steps: tuple[Node, ...]


@dataclass(frozen=True)
class WaitUntil:
    common: Common  # common.timeout: how long to wait (default: the robot's step timeout)
    condition: Any
    read: tuple[Node, ...]  # run before each check, to read again what the condition names
    every: float = WAIT_EVERY


@dataclass(frozen=True)
class Try:
    common: Common
    body: tuple[Node, ...]
    catch: tuple[Node, ...] = ()
    final: tuple[Node, ...] = ()


@dataclass(frozen=True)
class Call:
    common: Common
    robot: Plan
    with_: dict[str, Any]


Node = Action | SetVars | If | ForEach | Repeat | WaitUntil | Try | Call


@dataclass(frozen=True)
class Input:
    name: str
    type: str
    default: Any = None
    required: bool = False
    description: str = ""
    choices: tuple[Any, ...] = ()
    pos: Pos | None = None


@dataclass(frozen=True)
class Savings:
    minutes_per_item: float = 0.0
    minutes_per_run: float = 0.0
    review_minutes: float = 0.0
    build_cost: float = 0.0  # what building the robot cost, once (the KPI board's payback)

    def minutes_saved(self, done: int, business_exceptions: int, passed: bool) -> float:
        saved = (done * self.minutes_per_item + (self.minutes_per_run if passed else 0.0)
                 - business_exceptions * self.review_minutes)
        return round(saved, 2)


@dataclass(frozen=True)
class Plan:
    robot: str
    file: Path
    shown_as: str
    title: str = ""
    description: str = ""
    savings: Savings = field(default_factory=Savings)
    inputs: dict[str, Input] = field(default_factory=dict)
    credentials: tuple[str, ...] = ()
    credentials_pos: Pos | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    timeout: float = 30.0
    steps: tuple[Node, ...] = ()

    @property
    def robot_dir(self) -> Path:
        return self.file.parent


def walk(steps: tuple[Node, ...]) -> list[Node]:
    """Every node, depth first, in file order (called robots not included)."""
    out: list[Node] = []
    for node in steps:
        out.append(node)
        if isinstance(node, If):
            out += walk(node.then) + walk(node.otherwise)
        elif isinstance(node, ForEach | Repeat):
            out += walk(node.steps)
        elif isinstance(node, WaitUntil):
            out += walk(node.read)
        elif isinstance(node, Try):
            out += walk(node.body) + walk(node.catch) + walk(node.final)
    return out


def worker_needs(plan: Plan) -> list[str]:
    """The labels a worker must have to run this robot (sorted): those of the step libraries it
    uses, and every robot it calls uses (libs.registry.LIBRARY_NEEDS), e.g. ["desktop"]."""
    needs: set[str] = set()
    seen: set[Path] = set()
    pending = [plan]
    while pending:
        current = pending.pop()
        if current.file in seen:
            continue
        seen.add(current.file)
        for node in walk(current.steps):
            if isinstance(node, Action) and library_of(node.name) in LIBRARY_NEEDS:
                needs.add(LIBRARY_NEEDS[library_of(node.name)])
            elif isinstance(node, Call):
                pending.append(node.robot)
    return sorted(needs)
