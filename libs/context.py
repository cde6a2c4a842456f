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
from libs.policy import Policy
from libs.secrets import Masker

T = TypeVar("T")


@runtime_checkable
class Closeable(Protocol):
    def close(self) -> None: ...


@runtime_checkable
class Capturable(Protocol):
    """A resource that can leave evidence of a failure (e.g. a page screenshot)."""

    def capture(self, path: Path) -> Path | None: ...


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
    emit: Callable[[dict[str, Any]], None] = lambda event: None
    headed: bool = False
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    policy: Policy = field(default_factory=Policy)


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

    def input_path(self, path: str | Path) -> Path:
        """Files a step reads: relative paths are taken from the robot file's folder."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else self.robot_dir / p

    def output_path(self, path: str | Path) -> Path:
        """Files a step writes: relative paths go into the run's output folder."""
        p = Path(path).expanduser()
        out = p if p.is_absolute() else self.output_dir / p
        out.parent.mkdir(parents=True, exist_ok=True)
        return out

    def artifact(self, path: Path, kind: str) -> None:
        self.state.artifacts.append(Artifact(kind, str(path), str(self.pos)))

    def log(self, message: str, level: str = "info") -> None:
        self.state.emit({"type": "log", "level": level, "step": str(self.pos),
                         "message": self.masker.text(str(message))})

    @classmethod
    def for_tests(cls, tmp: Path, *, timeout: float = 10.0, settings: dict[str, Any] | None = None,
                  secrets: list[str] | None = None) -> StepContext:
        """A context for calling a step function directly in a unit test."""
        out = tmp / "output"
        out.mkdir(parents=True, exist_ok=True)
        state = RunState("test", out, settings or {}, Masker(secrets or []))
        return cls(state, tmp, Pos("test.yaml", 1, 1), "test", "test", timeout)
