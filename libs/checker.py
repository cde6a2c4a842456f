"""Check a loaded robot and turn it into a Plan, reporting every problem before anything runs.

Problems are collected, not raised one at a time, so a user sees all of them at once, each as
``file:line:col: what is wrong; how to fix it``. The checks are in libs/checks/, one concern a
module (declarations, settings, steps, expressions and secrets, paths); this module puts them
together and checks the robot as a whole.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from libs.checks.base import kind_of, suggest
from libs.checks.inputs import InputChecks, coerce_input
from libs.checks.paths import find_robot
from libs.checks.settings import SettingsChecks
from libs.checks.steps import StepChecks
from libs.errors import Pos, Problem, RobotFileError
from libs.loader import YMap, load_file, pos_of
from libs.plan import Plan, walk

ROBOT_ID = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
MAX_ROBOT_ID = 100  # characters: the orchestrator stores ids in columns of this size and more
TOP_KEYS = ("robot", "title", "description", "savings", "inputs", "credentials", "settings",
            "steps", "tags")


class _RobotChecker(StepChecks, SettingsChecks, InputChecks):
    def __init__(self, path: Path, shown_as: str, cache: dict[Path, Plan | None],
                 calling: tuple[Path, ...]) -> None:
        super().__init__(path, shown_as, calling)
        self.cache = cache

    def check(self, data: Any) -> Plan | None:
        top = Pos(self.file, 1, 1)
        if not isinstance(data, YMap):
            self.problem(pos_of(data, top), f"a robot file is a map with 'robot:' and 'steps:', "
                         f"but this file holds {kind_of(data)}; see 'workhand new NAME'")
            return None
        for key in data:
            if key not in TOP_KEYS:
                self.problem(data.key_pos[key], f"unknown key '{key}'{suggest(key, TOP_KEYS)} "
                             f"(a robot has: {', '.join(TOP_KEYS)})")
        robot = data.get("robot")
        if robot is None:
            self.problem(data.pos, "missing 'robot:' (the robot's id, e.g. robot: daily-check)")
        elif not isinstance(robot, str) or not ROBOT_ID.match(robot) or len(robot) > MAX_ROBOT_ID:
            self.problem(data.where("robot"), f"robot id '{str(robot)[:MAX_ROBOT_ID]}' must be "
                         "lower-case letters and digits joined by '-', at most "
                         f"{MAX_ROBOT_ID} characters, e.g. account-annual-inspection")
        for key in ("title", "description"):
            if key in data and not isinstance(data[key], str):
                self.problem(data.where(key), f"'{key}' must be text")
        savings = self.savings(data)
        self.inputs = self.check_inputs(data.get("inputs"), data.where("inputs"))
        self.credentials = self.check_credentials(data.get("credentials"),
                                                  data.where("credentials"))
        settings, timeout = self.check_settings(data.get("settings"), data.where("settings"))
        self.settings_expressions(data.get("settings"))
        raw_steps = data.get("steps")
        if raw_steps is None:
            self.problem(data.pos, "missing 'steps:' (the list of what the robot does)")
        self.defined = self.assigned_names(raw_steps)
        steps = self.block(raw_steps, data.where("steps"), "steps", in_catch=False)
        self.check_expressions()
        if self.problems:
            return None
        return Plan(robot=str(robot), file=self.path, shown_as=self.file,
                    credentials_pos=data.key_pos.get("credentials", data.pos),
                    title=str(data.get("title", "")), description=str(data.get("description", "")),
                    savings=savings, inputs=self.inputs, credentials=self.credentials,
                    settings=settings, timeout=timeout, steps=steps)

    def check_called(self, target: Path) -> Plan:
        return check_file(target, cache=self.cache, calling=self.calling)


def check_file(path: Path, shown_as: str | None = None, *,
               cache: dict[Path, Plan | None] | None = None,
               calling: tuple[Path, ...] = ()) -> Plan:
    """load → check → plan; raises RobotFileError listing every problem."""
    path = Path(path)
    resolved = path.resolve()
    cache = {} if cache is None else cache
    if resolved in cache and cache[resolved] is not None:
        return cache[resolved]  # type: ignore[return-value]
    shown = shown_as or _shown(path)
    if not path.is_file():
        raise RobotFileError([Problem(Pos(shown, 1, 1), "robot file not found; check the path")])
    data = load_file(path, shown)
    checker = _RobotChecker(resolved, shown, cache, (*calling, resolved))
    plan = checker.check(data)
    if plan is None:
        raise RobotFileError(checker.problems)
    cache[resolved] = plan
    return plan


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


__all__ = ["check_file", "coerce_input", "find_robot", "walk"]
