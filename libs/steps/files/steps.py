"""files.*: list, copy, move, delete, wait for and read or write the files a robot works with."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Annotated, Any

from libs.context import StepContext
from libs.errors import StepArgumentError, SystemFailure
from libs.expression_sandbox import MAX_SEQUENCE, text_size_problem
from libs.registry import step
from libs.steps.files import text as textcodec
from libs.steps.files.listing import glob_paths, split_glob, walk
from libs.steps.files.paths import changeable, find, not_found, output_file, source_file
from libs.types import READS, Encoding, ReadPath, WritePath

POLL = 0.2
# Names browsers and Office give files still being written, or lock files beside an open one.
_PARTIAL_SUFFIXES = (".crdownload", ".part", ".partial", ".download", ".tmp")
_LOCK_PREFIXES = ("~$", ".~lock")

Pattern = Annotated[str, READS, "a glob such as downloads/*.xlsx or reports/**/*.csv (** "
                                "searches sub-folders), relative to the robot's folder or "
                                "absolute"]
TextPath = Annotated[ReadPath, "the file (relative paths are read from the robot's folder)"]
TextOut = Annotated[WritePath, "where to write (relative paths go into the run's output folder)"]


def register(ctx: StepContext, path: Path, kind: str = "file") -> None:
    """Record an output file once, however many steps write to it."""
    if all(a.path != str(path) for a in ctx.state.artifacts):
        ctx.artifact(path, kind)


def matches(ctx: StepContext, pattern: str, *, files_only: bool = True,
            step_name: str = "files.list") -> list[Path]:
    """Existing paths a glob names (a folder name lists what is inside it), sorted."""
    return glob_paths(ctx, pattern, step_name, files_only=files_only)


def folder_of(ctx: StepContext, pattern: str) -> Path:
    """The part of a glob before its first wildcard: the folder messages should name."""
    base, wild = split_glob(pattern.strip())
    folder = base if base.is_absolute() else ctx.robot_dir / base
    return folder if wild or folder.is_dir() else folder.parent


@step("files.list", main="pattern")
def list_files(ctx: StepContext, pattern: Pattern,
               files_only: Annotated[bool, "leave folders out of the list"] = True) -> list[str]:
    """List the files matching a glob, sorted by path.

    `- files.list: {pattern: "downloads/*.xlsx", into: files}`; a folder name lists the files
    directly inside it. Returns full paths, ready for other steps. Hidden files (names starting
    with a dot) and the ~$ lock files Office keeps beside an open document are not listed."""
    return [str(p) for p in matches(ctx, pattern, files_only=files_only)]


def _destination(ctx: StepContext, source: Path, destination: str, step_name: str) -> Path:
    dst = output_file(ctx, destination, step_name)
    if destination.rstrip().endswith(("/", "\\")) or dst.is_dir():
        dst.mkdir(parents=True, exist_ok=True)
        dst = ctx.reach.writable(dst / source.name, step_name)
    if dst == source:
        raise StepArgumentError(f"{step_name}: {source} and the destination are the same file; "
                                f"give another destination")
    if source.is_dir() and (dst == source or source in dst.parents):
        raise StepArgumentError(f"{step_name}: cannot put the folder {source} inside itself "
                                f"({dst}); give a destination outside it")
    return dst


def _source(ctx: StepContext, source: str, step_name: str) -> Path:
    found = find(ctx, source, step_name)
    if found is None:
        raise not_found(ctx, source, step_name)
    return found


def tree_files(ctx: StepContext, folder: Path, step_name: str) -> list[tuple[Path, str]]:
    """(real file, path relative to the folder) of every file under a folder, bounded like a
    listing; a link leading outside the run's reach is refused, a linked folder not entered."""
    pairs = []
    for path, rel, is_dir in walk(ctx, folder, step_name):
        real_path = ctx.reach.readable(path, step_name)
        if not is_dir:
            pairs.append((real_path, rel))
    return pairs


def _copy_tree(ctx: StepContext, src: Path, dst: Path) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    for real_file, rel in tree_files(ctx, src, "files.copy"):
        target = ctx.reach.writable(dst / rel, "files.copy")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(real_file, target)


@step("files.copy")
def copy(ctx: StepContext,
         source: Annotated[ReadPath, "the file or folder to copy (relative paths are read from "
                                     "the robot's folder)"],
         destination: Annotated[WritePath, "the new file, or a folder to copy into (ending in "
                                           "/); relative paths go into the run's output "
                                           "folder"]) -> str:
    """Copy a file (or a whole folder) and return where the copy is.

    An existing destination file is replaced. Links inside a copied folder are copied as the
    files they lead to, and only when those are inside the run's reach."""
    src = _source(ctx, source, "files.copy")
    dst = _destination(ctx, src, destination, "files.copy")
    try:
        if src.is_dir():
            _copy_tree(ctx, src, dst)
        else:
            shutil.copy2(src, dst)
    except OSError as err:
        raise SystemFailure(f"files.copy: cannot copy {src} to {dst}: {err.strerror or err}; "
                            f"is the destination open in another program?") from None
    register(ctx, dst)
    return str(dst)


@step("files.move")
def move(ctx: StepContext,
         source: Annotated[WritePath, "the file or folder to move (relative paths are taken "
                                      "from the run's output folder)"],
         destination: Annotated[WritePath, "the new path, or a folder to move into (ending in "
                                           "/); relative paths go into the run's output "
                                           "folder"]) -> str:
    """Move (or rename) a file or folder and return its new path.

    The file moved must be one the robot may change: in the run's output folder or a writable
    allowed folder (the robot's own folder is never changed; copy from it instead). An
    existing destination file is replaced."""
    src = changeable(ctx, source, "files.move")
    if not src.exists():
        raise SystemFailure(f"files.move: file not found: {src}; check the path (relative "
                            "paths are taken from the run's output folder)")
    dst = _destination(ctx, src, destination, "files.move")
    try:
        if dst.is_file() and src.is_file():
            dst.unlink()
        shutil.move(src, dst)
    except OSError as err:
        raise SystemFailure(f"files.move: cannot move {src} to {dst}: {err.strerror or err}; "
                            f"is one of them open in another program?") from None
    register(ctx, dst)
    return str(dst)


@step("files.delete", main="path")
def delete(ctx: StepContext,
           path: Annotated[WritePath, "the file or folder to delete (relative paths are taken "
                                      "from the run's output folder)"],
           missing_ok: Annotated[bool, "a missing file is not an error"] = True) -> None:
    """Delete a file, or a folder with everything in it.

    Only what the robot may change is deleted: files in the run's output folder or a writable
    allowed folder. Those folders themselves, the robot's folder and every folder above them
    are refused, so an empty or wrong value cannot wipe them out."""
    target = changeable(ctx, path, "files.delete")
    if not (target.exists() or target.is_symlink()):
        if missing_ok:
            ctx.log(f"files.delete: {target} does not exist; nothing to delete")
            return
        raise SystemFailure(f"files.delete: file not found: {target}; check the path (relative "
                            "paths are taken from the run's output folder)")
    try:
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        else:
            target.unlink()
    except OSError as err:
        raise SystemFailure(f"files.delete: cannot delete {target}: {err.strerror or err}; "
                            f"is it open in another program?") from None


@step("files.exists", main="path")
def exists(ctx: StepContext, path: Annotated[ReadPath, "the file or folder (relative paths are "
                                                       "looked up in the robot's folder, then "
                                                       "in the run's output folder)"]) -> bool:
    """Tell whether a file or folder exists (true or false).

    A path outside the run's reach is refused, whether it exists or not."""
    return find(ctx, path, "files.exists") is not None


def _settling(path: Path) -> bool:
    name = path.name.lower()
    return name.endswith(_PARTIAL_SUFFIXES) or name.startswith(_LOCK_PREFIXES)


def _readable(path: Path) -> bool:
    try:
        with path.open("rb"):
            return True
    except OSError:  # Windows keeps a file being written locked
        return False


@step("files.wait_for_file", main="pattern")
def wait_for_file(ctx: StepContext, pattern: Pattern) -> str:
    """Wait until a file matching the glob exists and has finished being written; return it.

    Polls every 200 ms up to the step's timeout. A file counts once its size stays the same
    over two polls, so a download still being written is not picked up; browser and Office
    temporary files (.crdownload, .part, ~$...) are ignored. When several match, the newest is
    returned. Delete old files first if a new one may arrive under the same name."""
    previous: dict[Path, int] = {}
    while True:
        current = {}
        for p in matches(ctx, pattern, step_name="files.wait_for_file"):
            if not _settling(p):
                try:
                    current[p] = p.stat().st_size
                except OSError:  # removed or renamed between listing and stat
                    continue
        ready = [p for p, size in current.items() if previous.get(p) == size and _readable(p)]
        if ready:
            return str(max(ready, key=lambda p: (p.stat().st_mtime, str(p))))
        if ctx.remaining <= 0:
            break
        previous = current
        time.sleep(min(POLL, ctx.remaining))
    folder = folder_of(ctx, pattern)
    growing = f"; {next(iter(current))} was still being written" if current else ""
    raise SystemFailure(f"files.wait_for_file: no finished file matching '{pattern}' appeared "
                        f"in {folder} within {ctx.timeout:g}s{growing}; check the pattern and "
                        f"that the download started, or give the step a longer timeout")


@step("files.read_text", main="path")
def read_text(ctx: StepContext, path: TextPath,
              encoding: Annotated[Encoding, "the file's encoding; auto: a BOM decides, else "
                                            "UTF-8, else GB18030 (GBK)"] = "auto") -> str:
    """Read a whole text file (UTF-8, UTF-8 with BOM, or GBK as bank systems export it)."""
    p = source_file(ctx, path, "files.read_text")
    try:
        data = p.read_bytes()
    except OSError as err:
        raise SystemFailure(f"files.read_text: cannot read {p}: {err.strerror or err}") from None
    return textcodec.decode(data, encoding, str(p), "files.read_text")


MAX_TEXT_FILE = 100 * MAX_SEQUENCE
"""The most characters files.write_text writes at once (a table as JSON can be large)."""


def as_text(value: Any) -> str:
    problem = text_size_problem(value, MAX_TEXT_FILE)
    if problem is not None:
        raise StepArgumentError(f"files.write_text: {problem}")
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, indent=2, default=str)
    return str(value)


@step("files.write_text")
def write_text(ctx: StepContext, path: TextOut,
               text: Annotated[Any, "the text to write (a map or list is written as JSON)"],
               encoding: Annotated[Encoding, "utf-8, utf-8-sig (with BOM, for Notepad and "
                                             "Excel), gbk, gb18030"] = "utf-8",
               append: Annotated[bool, "add to the end of the file instead of replacing it"
                                 ] = False) -> str:
    """Write text to a file and return its path; `append: true` adds to the end."""
    p = output_file(ctx, path, "files.write_text")
    adding = append and p.exists() and p.stat().st_size > 0
    enc = "utf-8" if adding and encoding.strip().lower() == "utf-8-sig" else encoding
    data = textcodec.encode(as_text(text), enc, str(p), "files.write_text")
    try:
        with p.open("ab" if append else "wb") as f:
            f.write(data)
    except OSError as err:
        raise SystemFailure(f"files.write_text: cannot write {p}: {err.strerror or err}; is it "
                            f"open in another program?") from None
    register(ctx, p)
    return str(p)
