"""A machine-wide cap on OCR reads, so OCR and Chromium on one worker don't starve each other.

A worker runs several robot processes; each may read text while another drives Chromium. OCR
is CPU-bound (onnxruntime uses every core it is given), so without a cap three robots reading
at once leave Chromium none. ``OcrSlots`` is a cross-process semaphore: ``slots`` lock files in a
folder the worker gives (every robot process of that worker, or of the machine, passes the same
folder); a read holds one file's ``fcntl.flock`` while it runs. The kernel drops a lock when
its process dies, so a killed robot never keeps a slot.

The default leaves one core to the rest of the machine: ``slots = cores - 1`` (at least 1),
and onnxruntime's intra-op threads per read are set to match, ``(cores - 1) // slots`` (at least
1): the OCR running at once never uses more than ``cores - 1`` threads (one on 2 cores).
Measured on 2 cores (bench/ocr_screen.py --threads): on a quiet machine 2 threads read a full
screen in 0.51 s against 0.71 s with 1, but small reads got slower (a changed value 0.17 s
against 0.11 s, two regions 0.36 s against 0.23 s) for 40–190 % more CPU time; with other busy
processes (load average 11) a full screen took 6.6 s with 2 threads and 1.9 s with 1 —
onnxruntime's threads spin while they wait for each other, so oversubscribed cores cost far
more than they gain.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from libs.steps.ocr.engine import OcrEngine, TextLine
    from libs.steps.vision.box import Box, Image

_POLL_FIRST_S = 0.002
_POLL_MOST_S = 0.02  # a read takes 50 ms or more: waiting 20 ms between tries costs little


class SlotTimeout(TimeoutError):
    """No OCR slot came free in time."""


def cores() -> int:
    """The cores this process may run on (its CPU affinity, else the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def default_slots(core_count: int | None = None) -> int:
    """One less than the cores, at least 1."""
    return max(1, (core_count or cores()) - 1)


def threads_per_read(slots: int, core_count: int | None = None) -> int:
    """onnxruntime intra-op threads for one read, so that `slots` reads at once use at most
    cores - 1 threads (at least 1)."""
    return max(1, ((core_count or cores()) - 1) // max(slots, 1))


@dataclass
class OcrSlots:
    """At most `slots` OCR reads at once among every process that uses `folder`."""

    folder: Path
    slots: int = field(default_factory=default_slots)

    def __post_init__(self) -> None:
        if self.slots < 1:
            raise ValueError(f"OCR slots must be at least 1, not {self.slots}")
        self.folder = Path(self.folder)

    @property
    def threads(self) -> int:
        return threads_per_read(self.slots)

    def _paths(self) -> list[Path]:
        return [self.folder / f"ocr-slot-{index}.lock" for index in range(self.slots)]

    @contextmanager
    def slot(self, timeout_s: float | None = None) -> Iterator[int]:
        """Holds one slot while the block runs; answers its number. Waits (polling, without
        spinning) while all are taken; raises SlotTimeout after `timeout_s` seconds."""
        import fcntl

        self.folder.mkdir(parents=True, exist_ok=True)
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        pause = _POLL_FIRST_S
        # start at a slot that depends on the process, so that waiting processes spread out
        paths = self._paths()
        start = os.getpid() % len(paths)
        order = paths[start:] + paths[:start]
        while True:
            for path in order:
                descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
                try:
                    fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    os.close(descriptor)
                    continue
                try:
                    yield paths.index(path)
                finally:
                    fcntl.flock(descriptor, fcntl.LOCK_UN)
                    os.close(descriptor)
                return
            if deadline is not None and time.monotonic() >= deadline:
                raise SlotTimeout(f"no OCR slot of {self.slots} in {self.folder} came free in "
                                  f"{timeout_s:g} s")
            time.sleep(pause)
            pause = min(pause * 2, _POLL_MOST_S)


class CappedEngine:
    """An OcrEngine whose reads each hold an OCR slot (the machine-wide cap)."""

    def __init__(self, engine: OcrEngine, slots: OcrSlots) -> None:
        self.engine = engine
        self.slots = slots
        self.name = engine.name
        self.profile = engine.profile

    def read(self, image: Image, region: Box | None = None) -> list[TextLine]:
        with self.slots.slot():
            return self.engine.read(image, region)
