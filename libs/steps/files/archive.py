"""files.zip and files.unzip, with Chinese member names both ways and no zip-slip."""

from __future__ import annotations

import glob
import re
import shutil
import zipfile
from pathlib import Path, PurePosixPath
from typing import Annotated

from libs.context import StepContext
from libs.errors import SystemFailure
from libs.registry import step
from libs.steps.files.paths import find, not_found, output_file, source_file
from libs.steps.files.steps import folder_of, matches, register

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
        base = folder_of(ctx, source)
        files = matches(ctx, source)
        pairs = [(f, f.relative_to(base).as_posix() if f.is_relative_to(base) else f.name)
                 for f in files]
    else:
        src = find(ctx, source, "files.zip")
        if src is None:
            raise not_found(ctx, source, "files.zip")
        if src.is_dir():
            pairs = [(f, f.relative_to(src.parent).as_posix())
                     for f in sorted(src.rglob("*")) if f.is_file()]
        else:
            pairs = [(src, src.name)]
    pairs = [(f, name) for f, name in pairs if f.resolve() != dst.resolve()]
    if not pairs:
        raise SystemFailure(f"files.zip: nothing to zip: '{source}' matches no files in "
                            f"{folder_of(ctx, source)}; check the path or pattern")
    return pairs


@step("files.zip")
def zip_files(ctx: StepContext,
              source: Annotated[str, "a file, a folder, or a glob such as reports/*.xlsx "
                                     "(relative to the robot's folder)"],
              destination: Annotated[str, "the .zip file to create (relative paths go into "
                                          "the run's output folder)"]) -> str:
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


def _safe_target(dest: Path, name: str, archive: Path) -> Path:
    clean = name.replace("\\", "/")
    parts = PurePosixPath(clean).parts
    target = (dest / clean).resolve()
    if (clean.startswith("/") or _DRIVE.match(clean) or ".." in parts
            or not target.is_relative_to(dest.resolve())):
        raise SystemFailure(
            f"files.unzip: refusing to unzip {archive}: the member '{name}' would be written "
            f"outside the destination folder {dest} (a 'zip-slip' archive); nothing was "
            f"extracted. Ask the sender for a clean archive")
    return target


@step("files.unzip")
def unzip(ctx: StepContext,
          source: Annotated[str, "the .zip file (relative paths are read from the robot's "
                                 "folder)"],
          destination: Annotated[str, "the folder to extract into (relative paths go into the "
                                      "run's output folder)"]) -> list[str]:
    """Extract a .zip into a folder and return the paths of the files extracted.

    GBK-encoded names from zips made on Chinese Windows come out right. Members that would
    land outside the folder ('../' or absolute names) make the step refuse the whole archive."""
    archive = source_file(ctx, source, "files.unzip")
    dest = output_file(ctx, destination, "files.unzip")
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as err:
        raise SystemFailure(f"files.unzip: cannot read {archive} as a zip archive ({err}); is "
                            f"the download complete and is it really a .zip?") from None
    extracted: list[str] = []
    with zf:
        plan = [(info, _safe_target(dest, member_name(info), archive)) for info in zf.infolist()]
        locked = [member_name(i) for i, _ in plan if i.flag_bits & _ENCRYPTED_FLAG]
        if locked:
            raise SystemFailure(f"files.unzip: {archive} is password-protected ('{locked[0]}'); "
                                f"unzip it by hand or ask for an unprotected archive")
        dest.mkdir(parents=True, exist_ok=True)
        for info, target in plan:
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            if ctx.remaining <= 0:
                raise SystemFailure(f"files.unzip: extracting {archive} took longer than the "
                                    f"step's {ctx.timeout:g}s timeout; give it a longer timeout")
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                with zf.open(info) as src, target.open("wb") as out:
                    shutil.copyfileobj(src, out)
            except (zipfile.BadZipFile, OSError) as err:
                raise SystemFailure(f"files.unzip: cannot extract '{member_name(info)}' from "
                                    f"{archive}: {err}; the archive may be damaged") from None
            extracted.append(str(target))
    return extracted
