"""The machine-wide OCR cap, tested with real processes sharing one slots folder."""

from __future__ import annotations

import fcntl
import multiprocessing
import os
import time
from pathlib import Path

import pytest

from libs.steps.ocr.engine import FakeOcr, TextLine
from libs.steps.ocr.limits import (
    CappedEngine,
    OcrSlots,
    SlotTimeout,
    default_slots,
    threads_per_read,
)
from libs.steps.vision.box import Box

FORK = multiprocessing.get_context("fork")


def _count(counter: Path, change: int) -> int:
    """Adds `change` to the number in `counter` (under its own lock); answers the new value."""
    with (counter.parent / "counter.lock").open("w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        value = int(counter.read_text() or 0) + change
        counter.write_text(str(value))
        return value


def _reader(folder: Path, slots: int, counter: Path, log: Path, hold_s: float) -> None:
    with OcrSlots(folder, slots).slot(timeout_s=60) as slot:
        inside = _count(counter, +1)
        with log.open("a") as out:
            out.write(f"{os.getpid()} {slot} {inside}\n")
        time.sleep(hold_s)
        _count(counter, -1)


def test_at_most_n_reads_at_once_across_processes(tmp_path: Path) -> None:
    counter, log = tmp_path / "counter", tmp_path / "log"
    counter.write_text("0")
    processes = [FORK.Process(target=_reader, args=(tmp_path / "slots", 2, counter, log, 0.15))
                 for _ in range(6)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
        assert process.exitcode == 0
    entries = [line.split() for line in log.read_text().splitlines()]
    assert len(entries) == 6  # every reader got its turn
    assert max(int(inside) for _, _, inside in entries) <= 2
    assert {slot for _, slot, _ in entries} <= {"0", "1"}
    assert counter.read_text() == "0"


def _hold_forever(folder: Path, ready: Path) -> None:
    with OcrSlots(folder, 1).slot():
        ready.write_text("holding")
        time.sleep(600)


def _wait_for(path: Path) -> None:
    for _ in range(2000):
        if path.exists():
            return
        time.sleep(0.01)
    raise AssertionError(f"{path} never appeared")


def test_a_taken_slot_times_out_and_a_killed_holder_frees_it(tmp_path: Path) -> None:
    folder, ready = tmp_path / "slots", tmp_path / "ready"
    holder = FORK.Process(target=_hold_forever, args=(folder, ready))
    holder.start()
    try:
        _wait_for(ready)
        with pytest.raises(SlotTimeout, match="no OCR slot of 1"), OcrSlots(folder, 1).slot(
                timeout_s=0.1):
            pass
    finally:
        holder.kill()  # the kernel drops its flock with the process
        holder.join(10)
    with OcrSlots(folder, 1).slot(timeout_s=10) as slot:
        assert slot == 0


def test_threads_in_one_process_share_the_cap(tmp_path: Path) -> None:
    import threading

    slots = OcrSlots(tmp_path, 1)
    inside, most = [0], [0]
    guard = threading.Lock()

    def read() -> None:
        with slots.slot(timeout_s=30):
            with guard:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            time.sleep(0.02)
            with guard:
                inside[0] -= 1

    workers = [threading.Thread(target=read) for _ in range(5)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert most[0] == 1


def test_defaults_leave_a_core_to_the_rest() -> None:
    assert default_slots(2) == 1
    assert default_slots(1) == 1
    assert default_slots(8) == 7
    assert threads_per_read(1, 2) == 1
    assert threads_per_read(7, 8) == 1
    assert threads_per_read(1, 8) == 7
    assert threads_per_read(3, 16) == 5
    assert threads_per_read(4, 1) == 1
    with pytest.raises(ValueError, match="at least 1"):
        OcrSlots(Path("/tmp"), 0)


def test_capped_engine_reads_through_a_slot(tmp_path: Path) -> None:
    import numpy as np

    line = TextLine("确定", Box(1, 1, 10, 5), 0.99)
    capped = CappedEngine(FakeOcr([line]), OcrSlots(tmp_path, 1))
    assert (capped.name, capped.profile) == ("fake", "fast")
    assert capped.read(np.zeros((20, 20, 3), np.uint8)) == [line]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["ocr-slot-0.lock"]
