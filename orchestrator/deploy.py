"""Robots become immutable versions: a zip of the robot file, the robots it calls and its
data/ folder, keyed by the SHA-256 of that zip (built deterministically, so the same content
always gets the same key). A job records the exact version it ran.

A bundle is bounded (WORKHAND_* overrides each, on the orchestrator and on workers): at most
MAX_BUNDLE_FILES members (10,000), MAX_BUNDLE_UNPACKED_BYTES unpacked (256 MiB), and no member
of over 1 MiB that unpacks to more than MAX_BUNDLE_RATIO times its packed size (200): a 1 MB
zip that would unpack to 1 GiB is refused at deploy, and by every worker's unpack, which counts
the bytes as it writes them (a zip's headers can lie about sizes).
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
import zlib
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from libs.checker import check_file
from libs.plan import Call, Input, Plan, walk, worker_needs
from libs.zip_members import MemberRefused, copy_member, too_compressed
from orchestrator.models import Robot, RobotVersion, utcnow

DATA_DIR = "data"
MAX_BUNDLE = 200 * 1024 * 1024  # bytes of the zip as stored


def _limit(name: str, default: int) -> int:
    return int(os.environ.get(f"WORKHAND_{name}", default))


MAX_FILES = _limit("MAX_BUNDLE_FILES", 10_000)
MAX_UNPACKED = _limit("MAX_BUNDLE_UNPACKED_BYTES", 256 * 1024 * 1024)
MAX_RATIO = _limit("MAX_BUNDLE_RATIO", 200)
RATIO_FROM = 1024 * 1024  # smaller members may compress as well as they like
MAX_TITLE = 500  # RobotVersion.title and .file hold this many characters


class BundleTooLarge(ValueError):
    """A bundle over one of the limits above (a 422 at deploy, a failed job on a worker)."""


def _mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"


def check_sizes(count: int, total: int, what: str) -> None:
    if count > MAX_FILES:
        raise BundleTooLarge(f"{what} has {count} files; a robot bundle holds at most "
                             f"{MAX_FILES} (WORKHAND_MAX_BUNDLE_FILES): keep fewer files in "
                             "data/")
    if total > MAX_UNPACKED:
        raise BundleTooLarge(f"{what} unpacks to more than {_mib(MAX_UNPACKED)} "
                             f"(WORKHAND_MAX_BUNDLE_UNPACKED_BYTES); keep large data out of "
                             "data/ and read it from a folder the worker allows")


def bundle_files(plan: Plan) -> dict[str, Path]:
    """Bundle member name → file: the robot, every robot it calls, and its folder's data/."""
    root = plan.robot_dir
    files: dict[str, Path] = {}
    pending = [plan]
    while pending:
        current = pending.pop()
        files.setdefault(_member(root, current.file), current.file)
        pending += [n.robot for n in walk(current.steps) if isinstance(n, Call)
                    and _member(root, n.robot.file) not in files]
    data = root / DATA_DIR
    if data.is_dir():
        for path in sorted(data.rglob("*")):
            if path.is_file() and not path.name.startswith(("~$", ".")):
                files[_member(root, path)] = path  # a link leading outside is refused
            if len(files) > MAX_FILES:
                break
    check_sizes(len(files), sum(p.stat().st_size for p in files.values()),
                f"the robot {plan.file.name} with its data/ folder")
    return files


def _member(root: Path, path: Path) -> str:
    """The bundle name of a file; only files inside the robot's folder are bundled (a called
    robot outside it is refused by the checker; a link in data/ leading outside, here)."""
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        shown = path.relative_to(root) if path.is_relative_to(root) else path.name
        raise ValueError(f"{shown} leads outside the robot's folder; a bundle holds only files "
                         "inside it (put the file itself there instead of a link)") from None


def build_bundle(files: dict[str, Path]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, files[name].read_bytes())
    return buffer.getvalue()


def deploy_robot(session: Session, path: Path, by: str | None = None) -> RobotVersion:
    """Check the robot (RobotFileError lists every problem), store its version, make it current.
    `by`: who deploys it (a person or a token), kept with a new version."""
    plan = check_file(path)
    files = bundle_files(plan)
    bundle = build_bundle(files)
    if len(bundle) > MAX_BUNDLE:
        raise ValueError(f"{path}: the robot with its data/ folder is {len(bundle)} bytes; "
                         f"the limit is {MAX_BUNDLE}")
    member = _member(plan.robot_dir, plan.file)
    if len(plan.title) > MAX_TITLE or len(member) > MAX_TITLE:
        raise ValueError(f"{path}: the robot's title and file name must be at most {MAX_TITLE} "
                         "characters each")
    digest = hashlib.sha256(bundle).hexdigest()
    needs = worker_needs(plan)
    version = session.get(RobotVersion, digest)
    if version is not None and list(version.needs or []) != needs:
        # the same content, stored before its needs were (0013) or before a library declared
        # its own (libs.registry.LIBRARY_NEEDS): what it needs follows from the content
        version.needs = needs
    if version is None:
        version = RobotVersion(
            digest=digest, robot=plan.robot, title=plan.title, file=member,
            bundle=bundle, credentials=list(plan.credentials), description=plan.description,
            inputs=[declared(i) for i in plan.inputs.values()], deployed_by=by, needs=needs,
            savings={"minutes_per_item": plan.savings.minutes_per_item,
                     "minutes_per_run": plan.savings.minutes_per_run,
                     "review_minutes": plan.savings.review_minutes,
                     "build_cost": plan.savings.build_cost})
        session.add(version)
        session.flush()
    robot = session.get(Robot, plan.robot)
    if robot is None:
        session.add(Robot(name=plan.robot, current=digest))
    elif robot.current != digest:
        robot.current, robot.updated = digest, utcnow()
    return version


def declared(spec: Input) -> dict[str, Any]:
    """An input as stored with its version (JSON: a date default becomes its text)."""
    default = spec.default
    if default is not None and not isinstance(default, str | int | float | bool | list | dict):
        default = str(default)
    return {"name": spec.name, "type": spec.type, "default": default,
            "required": spec.required, "description": spec.description,
            "choices": [c if isinstance(c, str | int | float | bool) else str(c)
                        for c in spec.choices]}


def deploy_folder(session: Session, folder: Path) -> list[RobotVersion]:
    """Every robot file directly in the folder (credentials/ and data/ are not robots)."""
    return [deploy_robot(session, path) for path in sorted(folder.glob("*.yaml"))]


def unpack(bundle: bytes, into: Path) -> None:
    """Extract a bundle (written by build_bundle; member names and sizes are checked all the
    same). Raises ValueError (BundleTooLarge over a limit) with a sentence."""
    root = into.resolve()
    with zipfile.ZipFile(io.BytesIO(bundle)) as archive:
        members = archive.infolist()
        check_sizes(len(members), sum(m.file_size for m in members), "the bundle")
        for member in members:
            target = (root / member.filename).resolve()
            if root not in target.parents:
                raise ValueError(f"bundle member '{member.filename}' would land outside {into}")
        total = 0
        for member in members:
            total = _extract(archive, member, root / member.filename, total)


def _extract(archive: zipfile.ZipFile, member: zipfile.ZipInfo, target: Path,
             total: int) -> int:
    """One member, counted as it is written (its bytes, not its header, decide); the bundle's
    new total."""
    name = member.filename
    if too_compressed(member, member.file_size, MAX_RATIO, RATIO_FROM):
        raise BundleTooLarge(f"bundle member '{name}' unpacks to {member.file_size // 1024} KiB "
                             f"from {member.compress_size} bytes, over {MAX_RATIO} times "
                             "its size: it looks like a zip bomb")
    try:
        if member.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            return total
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("wb") as out:
            return copy_member(archive, member, out, name=name, total=total,
                               unpacked=MAX_UNPACKED, ratio=MAX_RATIO, ratio_from=RATIO_FROM)
    except MemberRefused as err:
        raise BundleTooLarge(f"the bundle cannot be unpacked: {err} (a bundle holds at most "
                             f"{_mib(MAX_UNPACKED)}, WORKHAND_MAX_BUNDLE_UNPACKED_BYTES); the "
                             "zip is damaged or hostile") from None
    except (RuntimeError, NotImplementedError, zlib.error, EOFError, zipfile.BadZipFile) as err:
        raise ValueError(f"bundle member '{name}' cannot be unpacked: {err}") from None
    except OSError as err:
        raise ValueError(f"bundle member '{name}' cannot be unpacked: {err.strerror}") from None
