"""The robot process: how the worker starts one, waits for it and stops it with everything it
started.

A robot runs with a session (process group) of its own, so a hung browser and everything else
the robot started can be killed on cancel or timeout. Without a sandbox it is forked from a
zygote that imported the step libraries once (orchestrator/child.py); otherwise it is a new
interpreter, in bubblewrap when sandboxed (orchestrator/sandbox.py).
"""

from __future__ import annotations

import array
import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import IO, Protocol

from orchestrator.child import ZYGOTE_CODE, ZYGOTE_ROOM
from orchestrator.sandbox import exit_code

log = logging.getLogger("workhand.worker")

KILL_GRACE = 5.0  # SIGTERM lets the runner write result.json; SIGKILL after this long
ZYGOTE_PATIENCE = 120.0  # its imports take ~0.5 s, far longer on a machine under load


def kill_tree(child: Child, patience: float = KILL_GRACE) -> None:
    """Stop the child's whole process group: SIGTERM (the runner then writes its result), then
    after `patience` seconds SIGKILL for anything still there (a browser that ignores SIGTERM,
    a hung app). Patience 0 (a job handed back by a stopping worker): SIGKILL at once, so the
    robot does nothing more, and no wait for init to reap what it started."""
    if child.poll() is None and patience > 0:
        _signal_group(child.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(patience)
    _signal_group(child.pid, signal.SIGKILL)
    child.wait()
    # the robot's own children (in a sandbox: everything behind bwrap) are reaped by init a
    # moment later (1-2 s where init reaps on a timer); the job ends when its process group is
    # empty. Killed, they run no more code: a worker in a hurry need not wait for that.
    deadline = time.monotonic() + (KILL_GRACE if patience > 0 else 0.0)
    while _group_alive(child.pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    if child.stdin is not None:
        with contextlib.suppress(BrokenPipeError):
            child.stdin.close()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


class Child(Protocol):
    """What the worker needs of a robot process: a subprocess.Popen, or a Forked."""

    @property
    def pid(self) -> int: ...

    @property
    def stdin(self) -> IO[bytes] | None: ...

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...


class Sandboxed:
    """A robot process in a bubblewrap sandbox: bwrap's exit code 128+N (the robot was killed
    by signal N) reads as Popen's -N."""

    def __init__(self, popen: subprocess.Popen[bytes]) -> None:
        self.popen, self.pid, self.stdin = popen, popen.pid, popen.stdin

    def poll(self) -> int | None:
        code = self.popen.poll()
        return None if code is None else exit_code(code)

    def wait(self, timeout: float | None = None) -> int:
        return exit_code(self.popen.wait(timeout))


class Forked:
    """A robot process forked by the zygote: the worker's own child (clone(CLONE_PARENT)), so
    it is waited for, and its exit code read, as a Popen's."""

    def __init__(self, pid: int, stdin: IO[bytes]) -> None:
        self.pid, self.stdin = pid, stdin
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # reaped elsewhere: its status is lost
                self.returncode = -int(signal.SIGKILL)
            else:
                if pid:
                    self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while (code := self.poll()) is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(f"robot process {self.pid}", timeout or 0)
            time.sleep(0.02)
        return code


class Zygote:
    """The worker's robot factory (see orchestrator/child.py): started at once, it imports the
    libraries while the worker asks for its first job; spawn() then costs a fork. When it
    cannot start or fails, spawn() answers None (and the worker starts a new interpreter);
    a dead zygote is started again for the next job."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env  # the robots' minimal OS environment (sandbox.robot_os_env)
        self.proc: subprocess.Popen[bytes] | None = None
        self.control: socket.socket | None = None
        self.failed = False
        self._lock = threading.Lock()
        self._start()

    def _start(self) -> None:
        if not sys.platform.startswith("linux"):
            self.failed = True
            return
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", ZYGOTE_CODE, " " * ZYGOTE_ROOM], stdin=theirs.fileno(),
                env=self.env, start_new_session=True)  # Ctrl+C at a terminal: the
            # worker decides what stops, as for robots
        except OSError as err:
            ours.close()
            self._fail(f"it could not start: {err}")
            return
        finally:
            theirs.close()
        ours.settimeout(ZYGOTE_PATIENCE)  # a hung zygote: the worker starts robots itself
        self.control = ours

    def spawn(self, args: list[str], output: IO[bytes]) -> Forked | None:
        with self._lock:  # one request on the control socket at a time (robot slots)
            return self._spawn(args, output)

    def _spawn(self, args: list[str], output: IO[bytes]) -> Forked | None:
        if self.failed:
            return None
        if self.proc is None or self.proc.poll() is not None:
            if self.proc is not None:
                log.warning("the robot zygote ended (exit code %s); starting it again",
                            self.proc.returncode)
            self.close()
            self._start()
        if self.control is None:
            return None
        read, write = os.pipe()
        try:
            self.control.sendmsg([json.dumps(args).encode()],
                                 [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                   array.array("i", [read, output.fileno()]))])
            answer = json.loads(self.control.recv(65536) or b"{}")
        except (OSError, ValueError) as err:
            os.close(write)
            log.warning("the robot zygote failed (%s); starting it again for the next job", err)
            self.close()
            return None
        finally:
            os.close(read)
        if "pid" not in answer:
            os.close(write)
            self._fail(str(answer.get("error", "it ended")))
            return None
        return Forked(int(answer["pid"]), os.fdopen(write, "wb"))

    def _fail(self, why: str) -> None:
        log.warning("robots start as new processes (about 0.5 s slower each): the robot "
                    "zygote cannot fork them (%s)", why)
        self.failed = True
        self.close()

    def close(self) -> None:
        """Closing the socket ends the zygote (robots it forked are not its children)."""
        if self.control is not None:
            self.control.close()
            self.control = None
        if self.proc is not None:
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # the group is empty
        os.killpg(pgid, sig)


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)
