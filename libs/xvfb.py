"""A virtual X screen (Xvfb) of its own, for a robot that drives desktop applications.

A worker runs each desktop robot on a display of its own (one display per robot: two robots
typing into one screen would type into each other's windows), and tests do the same. Xvfb picks
a free display number itself and prints it (``-displayfd``): assuming :99 breaks as soon as
another process holds it.
"""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

START_TIMEOUT = 15.0  # seconds; a loaded CI machine takes a few


class NoXvfb(RuntimeError):
    """Xvfb is not installed or did not start."""


@dataclass
class VirtualScreen:
    """A running Xvfb: its display name (":3"), its size and an (empty) Xauthority file."""

    display: str
    width: int
    height: int
    xauthority: Path
    process: subprocess.Popen[bytes]

    def env(self) -> dict[str, str]:
        """The variables a program needs to open this display."""
        return {"DISPLAY": self.display, "XAUTHORITY": str(self.xauthority)}

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.xauthority.unlink(missing_ok=True)

    def __enter__(self) -> VirtualScreen:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()


def start(width: int = 1920, height: int = 1080, depth: int = 24) -> VirtualScreen:
    """Start Xvfb on a free display number and wait until it accepts connections."""
    program = shutil.which("Xvfb")
    if program is None:
        raise NoXvfb("Xvfb is not installed (Debian: apt-get install xvfb; "
                     "scripts/install.sh installs it)")
    handle, name = tempfile.mkstemp(prefix="workhand-xauth-")
    os.close(handle)  # an empty Xauthority: python-xlib and Tk insist that one exists
    read_end, write_end = os.pipe()
    process = subprocess.Popen(
        [program, "-displayfd", str(write_end), "-screen", "0", f"{width}x{height}x{depth}",
         "-nolisten", "tcp", "-noreset"],
        pass_fds=(write_end,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_end)
    try:
        number = _read_display_number(read_end, process)
    finally:
        os.close(read_end)
    return VirtualScreen(f":{number}", width, height, Path(name), process)


def _read_display_number(fd: int, process: subprocess.Popen[bytes]) -> int:
    deadline = time.monotonic() + START_TIMEOUT
    text = b""
    while not text.endswith(b"\n"):
        left = deadline - time.monotonic()
        ready, _, _ = select.select([fd], [], [], max(left, 0))
        if not ready:
            process.kill()
            raise NoXvfb(f"Xvfb did not start within {START_TIMEOUT:.0f} s")
        chunk = os.read(fd, 16)
        if not chunk:  # the pipe closed: Xvfb exited
            raise NoXvfb(f"Xvfb exited with code {process.wait()} before it started")
        text += chunk
    return int(text.strip())
