"""Paths a robot names: a literal path certainly outside what a robot may use is reported before
anything runs (the run checks every path again against the worker's policy, libs/policy.py), and
a robot calls only robots in its own folder or below."""

from __future__ import annotations

import posixpath
import re
from pathlib import Path
from typing import Any, TypeVar, get_args

from libs.policy import Policy, Refused, inside, real
from libs.types import AddressUse, PathUse

T = TypeVar("T")

# Folders of the system itself: a literal path inside one is outside anything a worker lets
# robots use, so `workhand check` reports it. Other absolute paths (/mnt/share, /data/exports)
# may be folders a worker allows: only the run can tell (libs/policy.py).
SYSTEM_FOLDERS = ("/etc", "/proc", "/sys", "/dev", "/root", "/boot", "/bin", "/sbin", "/lib",
                  "/lib32", "/lib64", "/usr", "/run", "/var/run", "/var/lib", "/var/log")
_CALL_OUTSIDE = ("'call: {ref}' names a robot outside this robot's folder; a robot calls only "
                 "robots in its own folder or below (e.g. call: login or call: "
                 "helpers/login.yaml)")


def inside_real(path: Path, root: Path) -> bool:
    return inside(real(path), real(root))


def _marker(field: Any, kind: type[T]) -> T | None:
    """The first marker of a kind on a step argument's type (libs/types.py), looking inside
    optional and list types too."""
    found = [m for m in getattr(field, "metadata", ()) if isinstance(m, kind)]
    pending = [getattr(field, "annotation", None)]
    while pending and not found:
        hint = pending.pop()
        found += [m for m in getattr(hint, "__metadata__", ()) if isinstance(m, kind)]
        pending += list(get_args(hint))
    return found[0] if found else None


def path_use(field: Any) -> PathUse | None:
    """Whether a step argument is a path it reads or writes (READS/WRITES)."""
    return _marker(field, PathUse)


def address_problem(field: Any, value: Any, step: str) -> str | None:
    """Why a literal web address (an argument typed WebAddress) can never be used, or None;
    hosts are left to the run, which knows the worker's allowed hosts."""
    if not isinstance(value, str) or _marker(field, AddressUse) is None:
        return None
    try:
        Policy().check_url(value, step)
    except Refused as err:
        return str(err).removeprefix(f"{step}: ")
    return None


def literal_paths(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value] if value.strip() else []
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str) and v.strip()]
    if isinstance(value, dict):
        return [v for v in value.values() if isinstance(v, str) and v.strip()]
    return []


def outside_reach(path: str, robot_dir: Path, bundle: Path, *, writes: bool) -> str | None:
    """Why a literal path is certainly outside what a robot may use, or None: a system folder,
    the home folder (~), or '../' climbing out of the robot's folder (reads) or the output
    folder (writes). Other absolute paths are left to the run, which knows the allowed folders."""
    text = path.strip()
    if writes:
        how = ("robots write to their run's output folder (relative paths go there) or to a "
               "folder the worker allows")
        where = "the run's output folder"
    else:
        how = ("robots read files from their own folder, their output folder or a folder the "
               "worker allows")
        where = "the robot's folder"
    if text.startswith("~"):
        return f"'{text}' is in a home folder, outside {where}; {how}"
    if text.startswith("/") or text.startswith("\\"):
        # normpath keeps a leading '//' (POSIX allows it a meaning; Linux reads it as '/')
        clean = "/" + posixpath.normpath(text.replace("\\", "/")).lstrip("/")
        system = next((s for s in SYSTEM_FOLDERS if clean == s or clean.startswith(s + "/")),
                      "/" if clean == "/" else None)
        if system:
            return f"'{text}' is in the system folder {system}, outside {where}; {how}"
        return None
    parts = Path(text.replace("\\", "/")).parts
    if ".." not in parts:
        return None
    clean = posixpath.normpath(text.replace("\\", "/"))
    if (clean.split("/")[0] == ".." if writes
            else not inside_real(robot_dir / clean, bundle)):
        return f"'{text}' climbs out of {where} with '../'; {how}"
    return None


def call_outside(ref: str, folder: Path, bundle: Path) -> str | None:
    """A call: naming a file outside the bundle, refused before the file is looked at (so
    nothing about a file outside is disclosed)."""
    text = ref.strip().replace("\\", "/")
    if text.startswith(("/", "~")) or re.match(r"^[A-Za-z]:", text):
        return _CALL_OUTSIDE.format(ref=ref)
    if not inside_real(Path(posixpath.normpath(str(folder / text))), bundle):
        return _CALL_OUTSIDE.format(ref=ref)
    return None


def find_robot(folder: Path, ref: str) -> Path | None:
    """A robot by path (relative to the calling robot's folder) or by id."""
    if ref.endswith((".yaml", ".yml")):
        path = (folder / ref).resolve()
        return path if path.is_file() else None
    for candidate in (folder / f"{ref}.yaml", folder / f"{ref}.yml"):
        if candidate.is_file():
            return candidate.resolve()
    for candidate in sorted(folder.glob("*.y*ml")):
        try:
            head = candidate.read_text(encoding="utf-8", errors="replace")[:4000]
        except OSError:
            continue
        if re.search(rf"^robot:\s*['\"]?{re.escape(ref)}['\"]?\s*(#.*)?$", head, re.MULTILINE):
            return candidate.resolve()
    return None


def called_robot(ref: str, robot: Path, bundle: Path) -> Path | str:
    """The robot file a ``call:`` in ``robot`` names, or why it cannot be called: outside the
    bundle (refused before the file is looked at) or not found."""
    outside = call_outside(ref, robot.parent, bundle)
    if outside:
        return outside
    target = find_robot(robot.parent, ref)
    if target is not None and not inside_real(target, bundle):
        return _CALL_OUTSIDE.format(ref=ref)
    if target is None:
        return (f"no robot '{ref}' found next to {robot.name}; "
                "give its id or its file path")
    return target
