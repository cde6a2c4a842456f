"""What a step function receives: where it is, its time budget, shared resources, and outputs."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

from libs.errors import Pos
from libs.events import Log, RunEvent
from libs.policy import Policy, Reach
from libs.secrets import Masker

T = TypeVar("T")


@runtime_checkable
class Closeable(Protocol):
    def close(self) -> None: ...


@runtime_checkable
class Capturable(Protocol):
    """A resource that can leave evidence of a failure (e.g. a page screenshot)."""

    def capture(self, path: Path) -> Path | None: ...


@runtime_checkable
class Idles(Protocol):
    """A run resource that keeps working while the robot pauses (the browser session): True
    when it paused (`ctx` is the pausing step, None between steps), False when it cannot."""

    def idle(self, ctx: StepContext | None, seconds: float) -> bool: ...


class Resources:
    """Run-wide resources (a browser, an SMTP connection), opened on first use, closed at end."""

    def __init__(self) -> None:
        self._items: dict[str, Any] = {}

    def get(self, key: str, factory: Callable[[], T]) -> T:
        if key not in self._items:
            self._items[key] = factory()
        return self._items[key]

    def peek(self, key: str) -> Any | None:
        return self._items.get(key)

    def values(self) -> list[Any]:
        return list(self._items.values())

    def pause(self, seconds: float, ctx: StepContext | None = None) -> None:
        """Pause the run; a resource that must keep running meanwhile (the browser: a dialog
        a page timer opens is answered now, not at the next browser step) pauses instead."""
        for item in self._items.values():
            if isinstance(item, Idles) and item.idle(ctx, seconds):
                return
        time.sleep(seconds)

    def close(self) -> None:
        for item in reversed(list(self._items.values())):
            if isinstance(item, Closeable):
                with contextlib.suppress(Exception):
                    item.close()
        self._items.clear()


@dataclass
class Artifact:
    kind: str  # screenshot, download, file
    path: str
    step: str = ""


@dataclass
class RunState:
    """Shared by every step of a run (and of robots it calls)."""

    run_id: str
    output_dir: Path
    settings: dict[str, Any]
    masker: Masker
    resources: Resources = field(default_factory=Resources)
    artifacts: list[Artifact] = field(default_factory=list)
    emit: Callable[[RunEvent], None] = lambda event: None
    headed: bool = False
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    policy: Policy = field(default_factory=Policy)
    # The top robot's folder: what the run may read. Robots it calls live inside it and never
    # widen it (None: the folder of the robot being run, for steps called directly).
    bundle: Path | None = None
    outputs: dict[str, Any] = field(default_factory=dict)  # set by the output step
    _reach: Reach | None = field(default=None, repr=False)

    def reach(self, robot_dir: Path) -> Reach:
        """The folders this run may read and write (libs/policy.py), worked out once."""
        if self._reach is None:
            self._reach = Reach.of(self.policy, self.bundle or robot_dir, self.output_dir)
        return self._reach


@dataclass
class StepContext:
    state: RunState
    robot_dir: Path
    pos: Pos
    name: str = ""
    label: str = ""
    timeout: float = 30.0
    started: float = field(default_factory=time.monotonic)

    @property
    def settings(self) -> dict[str, Any]:
        return self.state.settings

    @property
    def output_dir(self) -> Path:
        return self.state.output_dir

    @property
    def env(self) -> dict[str, str]:
        """The run's environment variables (what ${env.X} sees), e.g. SMTP_HOST."""
        return self.state.env

    @property
    def policy(self) -> Policy:
        """What this run may reach (files, hosts): every step asks it (libs/policy.py)."""
        return self.state.policy

    @property
    def masker(self) -> Masker:
        return self.state.masker

    @property
    def resources(self) -> Resources:
        return self.state.resources

    @property
    def remaining(self) -> float:
        """Seconds left of this step's timeout (never below 0)."""
        return max(0.0, self.timeout - (time.monotonic() - self.started))

    @property
    def reach(self) -> Reach:
        """The folders this run may read and write: every file a step touches is checked here."""
        return self.state.reach(self.robot_dir)

    def read_candidates(self, path: str | Path) -> list[Path]:
        """Where a read path may point: relative paths in the run's output folder (what this
        run wrote, or its changed copy of a robot-folder file), then in the robot's folder;
        not yet checked."""
        p = Path(path).expanduser()
        return [p] if p.is_absolute() else [self.output_dir / p, self.robot_dir / p]

    def input_path(self, path: str | Path, step: str = "") -> Path:
        """A file or folder a step reads, as a real path inside the run's reach (else Refused).

        Of the candidates (see read_candidates) the first that exists is taken, else the last
        the robot may read (the robot's folder, so the caller can say it is missing there)."""
        step = step or self.name
        candidates = self.read_candidates(path)
        allowed = []
        for candidate in candidates:
            if self.reach.can_read(candidate):
                allowed.append(self.reach.readable(candidate, step))
            elif self._link_in_reach(candidate):
                self.reach.readable(candidate, step)  # a link leading out: say so
        if not allowed:
            self.reach.readable(candidates[0], step)  # raises, naming the roots
        return next((r for r in allowed if r.exists()), allowed[-1])

    def _link_in_reach(self, path: Path) -> bool:
        """Whether a path names an entry of a folder the robot may read (so telling that it
        exists and leads elsewhere discloses nothing)."""
        entry = Path(os.path.normpath(path))
        return self.reach.can_read(entry.parent) and os.path.lexists(entry)

    def output_path(self, path: str | Path, step: str = "") -> Path:
        """A file a step writes, as a real path: relative paths go into the run's output
        folder; absolute ones must be inside it or a writable allowed folder (else Refused).
        Its folder is created."""
        p = Path(path).expanduser()
        out = self.reach.writable(p if p.is_absolute() else self.output_dir / p,
                                  step or self.name)
        out.parent.mkdir(parents=True, exist_ok=True)
        return out

    def artifact(self, path: Path, kind: str) -> None:
        self.state.artifacts.append(Artifact(kind, str(path), str(self.pos)))

    def log(self, message: str, level: str = "info") -> None:
        self.state.emit(Log(type="log", level=level, step=str(self.pos),
                            message=self.masker.text(str(message))))

    @classmethod
    def for_tests(cls, tmp: Path, *, timeout: float = 10.0, settings: dict[str, Any] | None = None,
                  secrets: list[str] | None = None, policy: Policy | None = None
                  ) -> StepContext:
        """A context for calling a step function directly in a unit test: the robot's folder
        (and bundle) is ``tmp``, its output folder ``tmp/output``."""
        out = tmp / "output"
        out.mkdir(parents=True, exist_ok=True)
        state = RunState("test", out, settings or {}, Masker(secrets or []),
                         policy=policy or Policy(), bundle=tmp)
        return cls(state, tmp, Pos("test.yaml", 1, 1), "test", "test", timeout)
