"""files.zip and files.unzip, with Chinese member names both ways and no zip-slip."""

from __future__ import annotations

import glob
import re
import stat
import zipfile
from pathlib import Path, PurePosixPath
from typing import Annotated

from libs.context import StepContext
from libs.errors import SystemFailure
from libs.policy import real
from libs.registry import step
from libs.steps.files.paths import find, not_found, output_file, source_file
from libs.steps.files.steps import folder_of, matches, register, tree_files
from libs.types import ReadPath, WritePath
from libs.zip_members import MemberRefused, copy_member, too_compressed

# Limits of files.unzip (documented in its step doc): an archive beyond them is refused whole.
MAX_MEMBERS = 10_000
MAX_UNPACKED = 1024 ** 3  # 1 GiB, all members together
MAX_RATIO = 200  # unpacked / packed size of one member ...
RATIO_FROM = 1024 ** 2  # ... once it is over 1 MiB (small, repetitive files pack very well)

_UTF8_FLAG = 0x800
_ENCRYPTED_FLAG = 0x1
_DRIVE = re.compile(r"^[A-Za-z]:")


def member_name(info: zipfile.ZipInfo) -> str:
    """The member's real name: zips made on Chinese Windows store GBK bytes without saying so.

    zipfile decodes such names as cp437; turning them back into bytes recovers the original,
    which is then read as UTF-8 (some tools omit the flag) or else GBK."""
    if info.flag_bits & _UTF8_FLAG:
        return info.filename
    try:
        raw = info.filename.encode("cp437")
    except UnicodeEncodeError:
        return info.filename
    for encoding in ("utf-8", "gbk"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return info.filename


def _entries(ctx: StepContext, source: str, dst: Path) -> list[tuple[Path, str]]:
    """(file, name inside the archive) for a file, a folder (kept as a folder) or a glob."""
    if glob.has_magic(source):
        base = real(folder_of(ctx, source))
        files = matches(ctx, source, step_name="files.zip")
        pairs = [(f, f.relative_to(base).as_posix() if f.is_relative_to(base) else f.name)
                 for f in files]
    else:
        src = find(ctx, source, "files.zip")
        if src is None:
            raise not_found(ctx, source, "files.zip")
        if src.is_dir():
            pairs = [(f, f"{src.name}/{rel}") for f, rel in tree_files(ctx, src, "files.zip")]
        else:
            pairs = [(src, src.name)]
    pairs = [(f, name) for f, name in pairs if real(f) != dst]
    if not pairs:
        raise SystemFailure(f"files.zip: nothing to zip: '{source}' matches no files in "
                            f"{folder_of(ctx, source)}; check the path or pattern")
    return pairs


@step("files.zip")
def zip_files(ctx: StepContext,
              source: Annotated[ReadPath, "a file, a folder, or a glob such as reports/*.xlsx "
                                          "(relative to the robot's folder)"],
              destination: Annotated[WritePath, "the .zip file to create (relative paths go "
                                                "into the run's output folder)"]) -> str:
    """Pack a file, a folder or the files matching a glob into a .zip and return its path.

    A folder is stored with its own name at the top, as Windows' "Send to > Compressed folder"
    does. Chinese file names are stored as UTF-8 (flagged), which Windows 10+, macOS and
    Linux read correctly."""
    dst = output_file(ctx, destination, "files.zip")
    pairs = _entries(ctx, source, dst)
    try:
        with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zf:
            for path, name in pairs:
                zf.write(path, name)
    except OSError as err:
        raise SystemFailure(f"files.zip: cannot write {dst}: {err.strerror or err}") from None
    register(ctx, dst)
    return str(dst)


def _safe_target(ctx: StepContext, dest: Path, name: str, archive: Path) -> Path:
    clean = name.replace("\\", "/")
    parts = PurePosixPath(clean).parts
    target = real(dest / clean)
    if (clean.startswith("/") or _DRIVE.match(clean) or ".." in parts
            or not target.is_relative_to(dest)):
        raise SystemFailure(
            f"files.unzip: refusing to unzip {archive}: the member '{name}' would be written "
            f"outside the destination folder {dest} (a 'zip-slip' archive); nothing was "
            f"extracted. Ask the sender for a clean archive")
    return ctx.reach.writable(target, "files.unzip")


def _refuse(archive: Path, why: str) -> SystemFailure:
    return SystemFailure(f"files.unzip: refusing to unzip {archive}: {why}; nothing was "
                             "kept. Ask the sender for a smaller or clean archive, or unzip it "
                             "by hand")


def _check_headers(plan: list[tuple[zipfile.ZipInfo, Path]], archive: Path) -> None:
    """What the archive says about itself: too many members, too big, too compressed, links."""
    if len(plan) > MAX_MEMBERS:
        raise _refuse(archive, f"it holds {len(plan):,} members, more than {MAX_MEMBERS:,}")
    total = sum(info.file_size for info, _ in plan)
    if total > MAX_UNPACKED:
        raise _refuse(archive, f"it would unpack to {total:,} bytes, more than "
                               f"{MAX_UNPACKED:,} (1 GiB)")
    for info, _ in plan:
        if stat.S_ISLNK(info.external_attr >> 16):
            raise _refuse(archive, f"the member '{member_name(info)}' is a symbolic link, "
                                   "which could lead outside the destination folder")
        if info.flag_bits & _ENCRYPTED_FLAG:
            raise SystemFailure(f"files.unzip: {archive} is password-protected "
                                f"('{member_name(info)}'); unzip it by hand or ask for an "
                                "unprotected archive")
        if too_compressed(info, info.file_size, MAX_RATIO, RATIO_FROM):
            raise _refuse(archive, f"the member '{member_name(info)}' unpacks to more than "
                                   f"{MAX_RATIO} times its packed size (a 'zip bomb')")




def _extract(ctx: StepContext, zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path,
             archive: Path, total: int) -> int:
    """Stream one member to its file, counting bytes (headers can lie); the new total."""

    def in_time() -> None:
        if ctx.remaining <= 0:
            raise SystemFailure(f"files.unzip: extracting {archive} took longer than the "
                                f"step's {ctx.timeout:g}s timeout; give it a longer timeout")

    with target.open("wb") as out:
        try:
            return copy_member(zf, info, out, name=member_name(info), total=total,
                               unpacked=MAX_UNPACKED, ratio=MAX_RATIO, ratio_from=RATIO_FROM,
                               tick=in_time)
        except MemberRefused as err:
            raise _refuse(archive, str(err)) from None


@step("files.unzip")
def unzip(ctx: StepContext,
          source: Annotated[ReadPath, "the .zip file (relative paths are read from the "
                                      "robot's folder)"],
          destination: Annotated[WritePath, "the folder to extract into (relative paths go "
                                            "into the run's output folder)"]) -> list[str]:
    """Extract a .zip into a folder and return the paths of the files extracted.

    GBK-encoded names from zips made on Chinese Windows come out right. The whole archive is
    refused, and nothing kept, when a member would land outside the folder ('../' or absolute
    names), is a symbolic link, or when the archive holds more than 10,000 members, unpacks to
    more than 1 GiB, or a member over 1 MiB unpacks to more than 200 times its packed size (a
    'zip bomb'); sizes are counted while unpacking too, since an archive's headers can lie."""
    archive = source_file(ctx, source, "files.unzip")
    dest = output_file(ctx, destination, "files.unzip")
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as err:
        raise SystemFailure(f"files.unzip: cannot read {archive} as a zip archive ({err}); is "
                            f"the download complete and is it really a .zip?") from None
    extracted: list[Path] = []
    with zf:
        plan = [(info, _safe_target(ctx, dest, member_name(info), archive))
                for info in zf.infolist()]
        _check_headers(plan, archive)
        dest.mkdir(parents=True, exist_ok=True)
        total = 0
        try:
            for info, target in plan:
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                extracted.append(target)
                total = _extract(ctx, zf, info, target, archive, total)
        except (zipfile.BadZipFile, OSError, EOFError) as err:
            _remove(extracted)
            raise SystemFailure(f"files.unzip: cannot extract '{member_name(info)}' from "
                                f"{archive}: {err}; the archive may be damaged") from None
        except BaseException:
            _remove(extracted)
            raise
    return [str(p) for p in extracted]


def _remove(paths: list[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)
