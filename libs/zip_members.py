"""Unpacking zip members within limits: for files.unzip and for the orchestrator's robot bundles.

A zip's headers say how large each member unpacks, and they can lie. So a member is counted as
it is written: never more than its header declares, never past the limit for the whole archive,
and a member over ``ratio_from`` bytes never more than ``ratio`` times its packed size (a zip
bomb). Each caller says what its limits are and words the refusal for its own users.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from typing import BinaryIO

CHUNK = 64 * 1024


class MemberRefused(Exception):
    """A member broke a limit; the message is the reason, for the caller's sentence."""


def too_compressed(info: zipfile.ZipInfo, size: int, ratio: int, ratio_from: int) -> bool:
    """Whether `size` unpacked bytes of the member are over `ratio` times its packed size."""
    return size > ratio_from and size > ratio * max(info.compress_size, 1)


def copy_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, out: BinaryIO, *, name: str,
                total: int, unpacked: int, ratio: int, ratio_from: int,
                tick: Callable[[], None] | None = None) -> int:
    """Stream one member into `out`, counting its bytes; returns the archive's new total.

    `total` is what the members before it unpacked to, `unpacked` the limit for all of them;
    `tick` is called between chunks (a step's time limit)."""
    written = 0
    with archive.open(info) as source:
        while chunk := source.read(CHUNK):
            written += len(chunk)
            total += len(chunk)
            if written > info.file_size:
                raise MemberRefused(f"the member '{name}' holds more than the "
                                    f"{info.file_size:,} bytes its header says")
            if total > unpacked:
                raise MemberRefused(f"it unpacks to more than {unpacked:,} bytes")
            if too_compressed(info, written, ratio, ratio_from):
                raise MemberRefused(f"the member '{name}' unpacks to more than {ratio} times "
                                    "its packed size (a 'zip bomb')")
            if tick is not None:
                tick()
            out.write(chunk)
    return total
