"""Where a step's paths point: files read, files written, and files changed in place.

- Files read: a relative path names a file in the robot's folder or, failing that, one this run
  already wrote to its output folder (so a robot can read back what it wrote a step earlier).
- Files written: a relative path goes into the run's output folder.
- Files changed in place (append a row, set a cell, delete): the run's own output file first,
  else the robot's folder; a file that exists in neither is created in the output folder.
"""

from __future__ import annotations

from pathlib import Path

from libs.context import StepContext
from libs.errors import StepArgumentError, SystemFailure


def _check(path: str | Path, step: str) -> Path:
    if not str(path).strip():
        raise StepArgumentError(f"{step}: the path is empty; give a file name such as "
                                f"data/accounts.xlsx (is the ${{...}} value blank?)")
    return Path(str(path).strip()).expanduser()


def not_found(ctx: StepContext, path: str | Path, step: str) -> SystemFailure:
    return SystemFailure(f"{step}: file not found: {ctx.input_path(path)}; check the path "
                         f"(relative paths are read from the robot's folder)")


def find(ctx: StepContext, path: str | Path, step: str) -> Path | None:
    """The existing file or folder a read path names, or None."""
    p = _check(path, step)
    candidates = [p] if p.is_absolute() else [ctx.robot_dir / p, ctx.output_dir / p]
    return next((c for c in candidates if c.exists()), None)


def source_file(ctx: StepContext, path: str | Path, step: str) -> Path:
    """An existing file to read; a clear error when it is missing or is a folder."""
    found = find(ctx, path, step)
    if found is None:
        raise not_found(ctx, path, step)
    if found.is_dir():
        raise StepArgumentError(f"{step}: {found} is a folder, not a file; "
                                f"name a file inside it")
    return found


def output_file(ctx: StepContext, path: str | Path, step: str) -> Path:
    """A file to write (its folder is created); relative paths go into the output folder."""
    return ctx.output_path(_check(path, step))


def editable_file(ctx: StepContext, path: str | Path, step: str) -> Path:
    """A file to change in place: this run's output first, then the robot's folder, else new."""
    p = _check(path, step)
    if not p.is_absolute():
        for candidate in (ctx.output_dir / p, ctx.robot_dir / p):
            if candidate.exists():
                return candidate
    return ctx.output_path(p)

