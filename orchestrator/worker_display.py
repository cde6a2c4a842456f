"""The displays a worker gives its desktop robots: one display per robot.

    display: xvfb     a virtual screen (libs/xvfb.py) of its own for each run that needs one,
                      started before the robot and stopped when the run ends, whatever
                      happened (the robot passed, crashed, was cancelled or timed out)
    display: ":0"     a real screen of this machine, lent to one robot at a time
    display: none     no desktop robots on this worker

A run needs a display when its job carries the label desktop, which every job of a robot that
uses desktop steps does (libs.plan.worker_needs, stored at deploy, added by jobs.create_job).
The worker asks for such jobs only while it can give a display, and only when its token grants
the label; jobs without it get no DISPLAY at all. The robot process learns its display from
the job's spec on stdin (`display`, `xauthority`: a forked robot has the zygote's environment),
and in a sandbox sees only that display's X socket and Xauthority file (orchestrator/sandbox.py).
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from libs import xvfb
from libs.registry import LIBRARY_NEEDS
from orchestrator.worker_api import Server, Stopped
from orchestrator.worker_settings import LOCAL_DISPLAY, NO_DISPLAY, XVFB, WorkerSettingsError

log = logging.getLogger("workhand.worker")

DESKTOP = LIBRARY_NEEDS["desktop"]  # the label of jobs that need a display
X11_SOCKETS = Path("/tmp/.X11-unix")  # where an X server of this machine listens: X<N>


class DisplayError(Exception):
    """The run's display could not be given (Xvfb did not start, no X server on :0)."""


@dataclass
class RunDisplay:
    """The display one run has: what its robot process is told, and what its sandbox shows."""

    name: str  # ":3"
    xauthority: Path | None
    screen: xvfb.VirtualScreen | None = None  # a virtual screen started for this run

    @property
    def socket(self) -> Path:
        """The X server's Unix socket (/tmp/.X11-unix/X3 for :3)."""
        match = LOCAL_DISPLAY.fullmatch(self.name)
        assert match is not None, self.name
        return X11_SOCKETS / f"X{match.group(1)}"

    def env(self) -> dict[str, str]:
        """DISPLAY and XAUTHORITY as the robot process (and what it launches) reads them."""
        env = {"DISPLAY": self.name}
        if self.xauthority is not None:
            env["XAUTHORITY"] = str(self.xauthority)
        return env

    def spec(self) -> dict[str, str]:
        """The same for the job's spec on stdin (orchestrator/child.py sets os.environ)."""
        return {"display": self.name,
                "xauthority": "" if self.xauthority is None else str(self.xauthority)}

    def files(self) -> list[Path]:
        """What the sandbox mounts over its private /tmp: the X socket, the Xauthority file."""
        return [self.socket, *([self.xauthority] if self.xauthority is not None else [])]


class DisplayClaim:
    """One run's claim on the worker's displays: taken when its job is leased (a real screen
    is then busy), opened as the robot starts, released when the run ends (twice is harmless)."""

    def __init__(self, displays: Displays) -> None:
        self.displays = displays
        self.display: RunDisplay | None = None
        self.released = False

    def open(self) -> RunDisplay:
        """The run's display: a virtual screen started now, or the worker's real one."""
        if self.display is None:
            self.display = self.displays.open()
        return self.display

    def release(self) -> None:
        """Stop the run's virtual screen (the applications on it lose it and end) and free a
        real screen for the next desktop robot."""
        if self.released:
            return
        self.released = True
        display, self.display = self.display, None
        if display is not None and display.screen is not None:
            display.screen.stop()
            log.info("the virtual screen %s of the run is stopped", display.name)
        self.displays.returned()


class Displays:
    """What this worker's desktop robots run on (its settings' `display`)."""

    def __init__(self, setting: str, environ: Mapping[str, str] | None = None) -> None:
        environ = os.environ if environ is None else environ
        self.setting = setting
        self.busy = 0  # runs holding a display now
        self._lock = threading.Lock()
        self.xauthority: Path | None = None  # a real screen's, from the worker's environment
        if LOCAL_DISPLAY.fullmatch(setting):
            given = environ.get("XAUTHORITY") or (
                str(Path(environ["HOME"]) / ".Xauthority") if environ.get("HOME") else "")
            self.xauthority = Path(given) if given and Path(given).is_file() else None

    @classmethod
    def prepare(cls, setting: str) -> Displays:
        """Check the setting against this machine (once, at the worker's start)."""
        if setting == XVFB and shutil.which("Xvfb") is None:
            raise WorkerSettingsError("display: xvfb, but Xvfb is not installed (Debian: "
                                      "apt-get install xvfb); or set display: none")
        displays = cls(setting)
        if displays.real and not RunDisplay(setting, None).socket.exists():
            log.warning("display %s: no X server listens there now (%s is missing); desktop "
                        "robots fail until one does", setting, RunDisplay(setting, None).socket)
        return displays

    @property
    def offers(self) -> bool:
        """Whether this worker runs desktop robots at all."""
        return self.setting != NO_DISPLAY

    @property
    def real(self) -> bool:
        return self.offers and self.setting != XVFB

    def describe(self) -> str:
        if self.setting == XVFB:
            return "desktop robots each on a virtual screen of their own (Xvfb)"
        if self.real:
            return f"desktop robots on the screen {self.setting}, one at a time"
        return "no desktop robots (display: none)"

    def free(self) -> bool:
        """Whether a desktop robot could start now."""
        with self._lock:
            return self.offers and not (self.real and self.busy)

    def asking(self, labels: Sequence[str]) -> list[str]:
        """The labels to lease with now: without desktop while no display is free (a real
        screen lent to a robot), so no desktop job comes that would have to wait."""
        return list(labels) if self.free() else [label for label in labels if label != DESKTOP]

    def claim(self) -> DisplayClaim | None:
        """A display for one run, or None while none is free."""
        with self._lock:
            if not self.offers or (self.real and self.busy):
                return None
            self.busy += 1
        return DisplayClaim(self)

    def open(self) -> RunDisplay:
        if self.setting == XVFB:
            try:
                screen = xvfb.start()
            except xvfb.NoXvfb as err:
                raise DisplayError(f"the worker could not start a virtual screen for this "
                                   f"desktop robot: {err}") from None
            log.info("virtual screen %s started for a desktop robot", screen.display)
            return RunDisplay(screen.display, screen.xauthority, screen)
        display = RunDisplay(self.setting, self.xauthority)
        if not display.socket.exists():
            raise DisplayError(f"the worker's screen {self.setting} has no X server now "
                               f"({display.socket} is missing); start the desktop session, or "
                               "set display: xvfb in the worker's settings")
        return display

    def returned(self) -> None:
        with self._lock:
            self.busy = max(0, self.busy - 1)


def offered_labels(labels: Sequence[str], displays: Displays,
                   granted: Callable[[], Collection[str] | None]) -> list[str]:
    """The labels the worker offers: those asked for, with desktop added when it can give a
    display and its token grants the label (`granted()`: the token's labels, None when the
    server cannot say), and removed when it cannot give one."""
    offered = list(dict.fromkeys(labels))
    if not displays.offers:
        if DESKTOP in offered:
            log.warning("the label %s is not offered: this worker has no display (display: "
                        "none), so desktop robots cannot run here", DESKTOP)
            offered.remove(DESKTOP)
        return offered
    if DESKTOP not in offered:
        token_labels = granted()
        if token_labels is not None and DESKTOP in token_labels:
            offered.append(DESKTOP)
        else:
            log.warning("this worker has a display, but its token does not grant the label "
                        "%s, so no desktop robot is sent here; an admin grants it: workhand "
                        "token create --role worker --worker NAME --labels %s", DESKTOP, DESKTOP)
    return offered


def granted_labels(api: Server) -> list[str] | None:
    """The labels this worker's token grants (None when the server does not say)."""
    response = api.call("GET", "/api/v1/whoami")
    return list(response.json().get("labels") or []) if response.status_code == 200 else None


def worker_labels(api: Server, labels: Sequence[str], displays: Displays) -> list[str] | None:
    """offered_labels() asking the server what the token grants; None when the worker was
    stopped before it answered (the connection is closed then, as on any error)."""
    try:
        return offered_labels(labels, displays, lambda: granted_labels(api))
    except Stopped:
        api.close()
        return None
    except BaseException:
        api.close()
        raise
