"""Credentials for a robot run without the orchestrator: a YAML/JSON file of name → fields."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from libs.errors import Pos, Problem, RobotFileError
from libs.loader import YMap, load_file


def load_credentials(path: Path | None) -> dict[str, dict[str, Any]]:
    """e.g. ``bank: {username: ops01, password: ...}``; every value is masked in every output."""
    if path is None:
        return {}
    data = load_file(path)
    if not isinstance(data, YMap) or not all(isinstance(v, dict) for v in data.values()):
        raise RobotFileError([Problem(Pos(str(path), 1, 1), "a credentials file is a map of "
                                      "name → {field: value}, e.g. bank: {username: u, "
                                      "password: p}")])
    return {name: dict(fields) for name, fields in data.items()}
