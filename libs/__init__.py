"""Workhand's robot runtime: load → check → plan → run, and the step libraries.

``libs`` imports nothing else of Workhand's; the orchestrator and the designer build on it.
"""

from libs.checker import check_file
from libs.errors import (
    BusinessException,
    ErrorKind,
    Pos,
    Problem,
    RobotFileError,
    StepArgumentError,
    SystemFailure,
)
from libs.plan import Plan
from libs.registry import REGISTRY, StepSpec, load_libraries, step
from libs.run_result import RunResult
from libs.runner import Runner

__all__ = [
    "REGISTRY", "BusinessException", "ErrorKind", "Plan", "Pos", "Problem", "RobotFileError",
    "RunResult", "Runner", "StepArgumentError", "StepSpec", "SystemFailure", "check_file",
    "load_libraries", "step",
]
