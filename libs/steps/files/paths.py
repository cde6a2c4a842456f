"""Where a step's paths point: files read, files written, and files changed in place.

- Files read: a relative path names a file this run wrote to its output folder (so a robot
  reads back what it wrote or changed a step earlier) or, failing that, one in the robot's
  folder.
- Files written: a relative path goes into the run's output folder.
- Files changed in place (append a row, set a cell): the run's own output file; a file of that
  name in the robot's folder is first copied there (the robot's folder is never changed); else
  a new file in the output folder.

Every path, relative or absolute, is then checked against the run's reach (libs/policy.py):
reads inside the robot's folder, the output folder or an allowed folder; writes inside the
output folder or a writable allowed folder — symbolic links resolved, '../' included.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from libs.context import StepContext
from libs.errors import StepArgumentError, SystemFailure
from libs.policy import Refused, real


def _check(path: str | Path, step: str) -> Path:
    if not str(path).strip():
        raise StepArgumentError(f"{step}: the path is empty; give a file name such as "
                                f"data/accounts.xlsx (is the ${{...}} value blank?)")
    return Path(str(path).strip()).expanduser()


def not_found(ctx: StepContext, path: str | Path, step: str) -> SystemFailure:
    return SystemFailure(f"{step}: file not found: {ctx.input_path(_check(path, step), step)}; "
                         f"check the path (relative paths are read from the robot's folder)")


def find(ctx: StepContext, path: str | Path, step: str) -> Path | None:
    """The existing file or folder a read path names (its real path), or None; a path outside
    the run's reach is refused whether it exists or not."""
    found = ctx.input_path(_check(path, step), step)
    return found if found.exists() else None


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
    return ctx.output_path(_check(path, step), step)


def editable_file(ctx: StepContext, path: str | Path, step: str) -> Path:
    """A file to change in place: this run's output file; a relative name found only in the
    robot's folder is copied into the output folder first; else a new output file."""
    p = _check(path, step)
    target = ctx.output_path(p, step)
    if not p.is_absolute() and not target.exists():
        original = find(ctx, p, step)
        if original is not None and original.is_file():
            shutil.copy2(original, target)
    return target


def changeable(ctx: StepContext, path: str | Path, step: str) -> Path:
    """A file or folder to delete or move (its real path): relative paths are taken from the
    run's output folder; it must not be a root or a folder above one (libs/policy.py)."""
    p = _check(path, step)
    if p.is_absolute():
        return ctx.reach.removable(p, step)
    target = ctx.output_dir / p
    in_robot = ctx.robot_dir / p
    if not (target.exists() or target.is_symlink()) and ctx.reach.can_read(in_robot) \
            and in_robot.exists() and not ctx.reach.can_write(in_robot):
        raise Refused(f"{step}: {real(in_robot)} is in the robot's folder, which a robot never "
                      "changes; copy it into the output folder with files.copy and change the "
                      "copy")
    if target.is_symlink():  # the link itself goes, wherever it leads
        ctx.reach.writable(target.parent, step)
        return target.parent.resolve() / target.name
    return ctx.reach.removable(target, step)
