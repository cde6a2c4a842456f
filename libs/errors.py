"""The error taxonomy the runner and the orchestrator act on.

- ``RobotFileError``: the robot file itself is wrong. Reported before anything runs; never retried.
- ``BusinessException``: the data says no (``fail_item``). Handed back for review; never retried.
- ``SystemFailure``: something broke (timeout, crashed page, network). Retried by policy.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ErrorKind(StrEnum):
    ROBOT_FILE = "robot_file"
    BUSINESS = "business"
    SYSTEM = "system"


@dataclass(frozen=True, order=True)
class Pos:
    """A place in a robot file; line and column count from 1."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a robot file: where, what, and how to fix it."""

    pos: Pos
    message: str

    def __str__(self) -> str:
        return f"{self.pos}: {self.message}"


class WorkhandError(Exception):
    kind: ErrorKind = ErrorKind.SYSTEM
    retryable: bool = False


class RobotFileError(WorkhandError):
    """Problems in robot files; raised with every problem found, before anything runs."""

    kind = ErrorKind.ROBOT_FILE

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems, key=lambda p: p.pos)
        super().__init__("\n".join(str(p) for p in self.problems))


class BusinessException(WorkhandError):
    """The current work item cannot be processed for a business reason."""

    kind = ErrorKind.BUSINESS


class SystemFailure(WorkhandError):
    """A step failed for a technical reason; retried where a retry policy applies."""

    kind = ErrorKind.SYSTEM
    retryable = True


class StepArgumentError(WorkhandError):
    """A step got an argument it cannot use (only knowable once expressions are evaluated)."""

    kind = ErrorKind.ROBOT_FILE
