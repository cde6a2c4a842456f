"""Robots become immutable versions: a zip of the robot file, the robots it calls and its
data/ folder, keyed by the SHA-256 of that zip (built deterministically, so the same content
always gets the same key). A job records the exact version it ran."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

from sqlalchemy.orm import Session

from libs.checker import check_file
from libs.plan import Call, Plan, walk
from orchestrator.models import Robot, RobotVersion, utcnow

DATA_DIR = "data"
MAX_BUNDLE = 200 * 1024 * 1024


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


def deploy_robot(session: Session, path: Path) -> RobotVersion:
    """Check the robot (RobotFileError lists every problem), store its version, make it current."""
    plan = check_file(path)
    files = bundle_files(plan)
    bundle = build_bundle(files)
    if len(bundle) > MAX_BUNDLE:
        raise ValueError(f"{path}: the robot with its data/ folder is {len(bundle)} bytes; "
                         f"the limit is {MAX_BUNDLE}")
    digest = hashlib.sha256(bundle).hexdigest()
    version = session.get(RobotVersion, digest)
    if version is None:
        version = RobotVersion(
            digest=digest, robot=plan.robot, title=plan.title, file=_member(plan.robot_dir,
                                                                             plan.file),
            bundle=bundle, credentials=list(plan.credentials),
            savings={"minutes_per_item": plan.savings.minutes_per_item,
                     "minutes_per_run": plan.savings.minutes_per_run,
                     "review_minutes": plan.savings.review_minutes})
        session.add(version)
        session.flush()
    robot = session.get(Robot, plan.robot)
    if robot is None:
        session.add(Robot(name=plan.robot, current=digest))
    elif robot.current != digest:
        robot.current, robot.updated = digest, utcnow()
    return version


def deploy_folder(session: Session, folder: Path) -> list[RobotVersion]:
    """Every robot file directly in the folder (credentials/ and data/ are not robots)."""
    return [deploy_robot(session, path) for path in sorted(folder.glob("*.yaml"))]


def unpack(bundle: bytes, into: Path) -> None:
    """Extract a bundle (written by build_bundle; member names are checked all the same)."""
    with zipfile.ZipFile(io.BytesIO(bundle)) as archive:
        for name in archive.namelist():
            target = (into / name).resolve()
            if into.resolve() not in target.parents:
                raise ValueError(f"bundle member '{name}' would land outside {into}")
        archive.extractall(into)
