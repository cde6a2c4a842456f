"""Globs and folder walks inside the run's reach, bounded by the step's time limit and a cap.

``glob.glob`` cannot be stopped: ``files.list: "/proc/**"`` or a share with millions of files
would hang the step past its timeout. Here a glob's fixed part (before its first wildcard) must
be a folder the robot may read, the walk visits at most MAX_ENTRIES entries within the step's
time limit, never follows a linked folder, and keeps only matches whose real path the robot may
read.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Iterator
from pathlib import Path

from libs.context import StepContext
from libs.errors import StepArgumentError, SystemFailure

MAX_ENTRIES = 100_000
_OFFICE_LOCK = "~$"  # the small owner file Office keeps beside an open document: never wanted


def _part_regex(part: str) -> str:
    """One path part of a glob as a regex: * and ? stay within the part, [...] is a class;
    a wildcard never matches a leading dot (hidden files), as glob does."""
    out = ["(?!\\.)"] if part[:1] in ("*", "?", "[") else []
    i = 0
    while i < len(part):
        c = part[i]
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[" and (end := _class_end(part, i)) > 0:
            body = part[i + 1:end]
            negate = body.startswith("!")
            body = re.escape(body[1:] if negate else body).replace("\\-", "-")
            out.append(f"[{'^' if negate else ''}{body}]")
            i = end
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def _class_end(part: str, start: int) -> int:
    """Where the [...] class opened at ``start`` closes (-1: a plain '[')."""
    j = start + 1
    j += part[j:j + 1] == "!"
    j += part[j:j + 1] == "]"
    return part.find("]", j)


def pattern_regex(parts: list[str]) -> re.Pattern[str]:
    """The wildcard parts of a glob (relative, '/'-joined) as one anchored regex."""
    pieces = []
    for n, part in enumerate(parts):
        last = n == len(parts) - 1
        if part == "**":
            pieces.append("(?:(?!\\.)[^/]+(?:/(?!\\.)[^/]+)*)?" if last
                          else "(?:(?!\\.)[^/]+/)*")
        else:
            pieces.append(_part_regex(part) + ("" if last else "/"))
    return re.compile("".join(pieces) + r"\Z")


def split_glob(pattern: str) -> tuple[Path, list[str]]:
    """(the fixed part, the wildcard parts): ``reports/2024/*.xlsx`` → (reports/2024, [*.xlsx])."""
    parts = Path(pattern).expanduser().parts
    fixed: list[str] = []
    for part in parts:
        if glob.has_magic(part):
            break
        fixed.append(part)
    return Path(*fixed) if fixed else Path("."), list(parts[len(fixed):])


def walk(ctx: StepContext, root: Path, step: str, *, depth: int | None = None
         ) -> Iterator[tuple[Path, str, bool]]:
    """(path, path relative to root in '/' form, is a folder) under a real folder, breadth
    first, linked folders not entered; at most MAX_ENTRIES entries within the step's time."""
    seen = 0
    level: list[tuple[Path, str]] = [(root, "")]
    while level and (depth is None or depth > 0):  # breadth first: one level at a time
        depth = None if depth is None else depth - 1
        below: list[tuple[Path, str]] = []
        for folder, rel in level:
            try:
                entries = sorted(os.scandir(folder), key=lambda e: e.name)
            except OSError:
                continue
            for entry in entries:
                seen += 1
                if seen > MAX_ENTRIES:
                    raise StepArgumentError(
                        f"{step}: {root} holds more than {MAX_ENTRIES:,} files and folders "
                        "under the pattern; narrow it (e.g. name the sub-folder, or *.xlsx "
                        "instead of **)")
                if ctx.remaining <= 0:
                    raise SystemFailure(f"{step}: listing {root} took longer than the step's "
                                        f"{ctx.timeout:g}s timeout; narrow the pattern or give "
                                        "the step a longer timeout")
                name = f"{rel}/{entry.name}" if rel else entry.name
                try:
                    is_dir = entry.is_dir(follow_symlinks=True)
                    linked = entry.is_symlink()
                except OSError:
                    continue
                yield Path(entry.path), name, is_dir
                if is_dir and not linked:
                    below.append((Path(entry.path), name))
        level = below


def glob_paths(ctx: StepContext, pattern: str, step: str, *, files_only: bool = True
               ) -> list[Path]:
    """Existing paths a glob names (a folder name lists what is inside it), sorted, as real
    paths the robot may read. Relative globs start in the robot's folder."""
    raw = pattern.strip()
    if not raw:
        raise StepArgumentError(f"{step}: the file pattern is empty; write one like "
                                "downloads/*.xlsx")
    base, wild = split_glob(raw)
    start = base if base.is_absolute() else ctx.robot_dir / base
    root = ctx.reach.readable(start, step)
    if not wild:
        if not root.is_dir():
            found = [root] if root.exists() else []
            return [f for f in found if f.is_file() or not files_only]
        wild = ["*"]
    regex = pattern_regex(wild)
    depth = None if "**" in wild else len(wild)
    found = []
    for path, rel, is_dir in walk(ctx, root, step, depth=depth):
        if (is_dir and files_only) or path.name.startswith(_OFFICE_LOCK):
            continue
        if regex.match(rel) and ctx.reach.can_read(path):
            found.append(path)
    return sorted(found)
