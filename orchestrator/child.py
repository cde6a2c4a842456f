"""What runs in the worker's child process: one attempt of one robot.

    python -m orchestrator.child ROBOT_FILE RUN_DIR    (the job's spec as one JSON line on stdin)

or, the same without the ~0.5 s of imports per job, a fresh process forked for each job from a
zygote the worker starts once (see zygote() below).

The spec — inputs, credentials, the server, worker name and token for work queues, and a
desktop robot's display (`display`, `xauthority`) — comes on stdin, never on the command line
or in the environment, which any user of the machine can read (ps, /proc). stdin then stays
open: when it closes without the worker having stopped this process, the worker is gone, and the
robot must not run on unsupervised (its lease will expire and another worker will run the job),
so the process group stops itself.
"""

from __future__ import annotations

import ctypes
import json
import os
import platform
import signal
import socket
import sys
import threading
import time
import traceback
from pathlib import Path
from types import FrameType
from typing import Any

from libs.checker import check_file
from libs.errors import RobotFileError
from libs.plan import Call, ForEach, Plan, walk
from libs.policy import Policy
from libs.queues import QueueSource
from libs.runner import Runner
from orchestrator.lease_clock import clock

KILL_GRACE = 5.0
_interrupted = False
_runner: Runner | None = None  # the run under way, once it has started


def _interrupt(signum: int, frame: FrameType | None) -> None:
    """SIGTERM (cancel, timeout) becomes KeyboardInterrupt, which the runner turns into a
    result.json with the work items done so far. Only once: a second signal must not cut the
    writing of that result short."""
    global _interrupted
    if getattr(_runner, "finishing", False):  # result.json is being written: let it be
        return
    if not _interrupted:
        _interrupted = True
        raise KeyboardInterrupt


def _watch_worker() -> None:
    """Lease renewals from the worker, one JSON line each (orchestrator/lease_clock.py), until
    end of file: the worker closed the pipe or died, and the robot stops."""
    for line in sys.stdin:
        try:
            clock.renewed(float(json.loads(line)["lease_until"]))
        except (ValueError, KeyError, TypeError):
            continue
    group = os.getpgrp()
    os.killpg(group, signal.SIGTERM)
    time.sleep(KILL_GRACE)
    os.killpg(group, signal.SIGKILL)


def uses_queues(plan: Plan, seen: set[Path] | None = None) -> bool:
    """Whether the robot, or a robot it calls, takes items from a work queue."""
    seen = seen if seen is not None else set()
    seen.add(plan.file)
    for node in walk(plan.steps):
        if isinstance(node, ForEach) and node.queue is not None:
            return True
        if isinstance(node, Call) and node.robot.file not in seen and uses_queues(node.robot,
                                                                                  seen):
            return True
    return False


def queue_source(plan: Plan, spec: dict[str, Any]) -> QueueSource | None:
    if not uses_queues(plan):
        return None
    from orchestrator.queue_client import HttpQueueSource  # only robots that use queues need it

    source: QueueSource = HttpQueueSource(spec["server"], spec["token"], spec["job_id"],
                                          spec["attempt"], spec["worker"],
                                          lease_s=float(spec.get("lease_seconds") or 30))
    return source


def use_display(spec: dict[str, Any]) -> None:
    """The run's own display (a desktop robot's: orchestrator/worker_display.py), as the
    desktop steps and the applications they launch read it; a run given none has no DISPLAY
    at all, whatever the zygote's environment held."""
    for name, key in (("DISPLAY", "display"), ("XAUTHORITY", "xauthority")):
        if spec.get(key):
            os.environ[name] = str(spec[key])
        else:
            os.environ.pop(name, None)


def write_failure(run_dir: Path, robot_file: Path, err: RobotFileError) -> None:
    """The robot does not load (a libs version differing from the server's): a result all the
    same, so the worker reports a robot-file error, which is never retried."""
    result = {"run_id": run_dir.name, "robot": robot_file.stem, "status": "failed",
              "error": {"kind": err.kind.value, "message": str(err),
                        "problems": [str(p) for p in err.problems]},
              "items": {"total": 0, "done": 0, "business_exceptions": 0, "system_errors": 0},
              "work_items": [], "steps": [], "artifacts": []}
    (run_dir / "result.json").write_text(json.dumps(result, ensure_ascii=False, indent=2),
                                         encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    robot_file, run_dir = (Path(a) for a in (argv or sys.argv[1:]))
    signal.signal(signal.SIGTERM, _interrupt)
    spec = json.loads(sys.stdin.readline())
    threading.Thread(target=_watch_worker, name="watch-worker", daemon=True).start()
    if spec.get("home"):  # a forked robot inherits the zygote's environment: its own HOME
        os.environ["HOME"] = str(spec["home"])
    use_display(spec)
    # what the worker's settings let the robot reach; ${env.X} sees only the variables they
    # pass, never this process's environment
    policy = Policy.from_spec(spec.get("policy"))
    try:
        plan = check_file(robot_file, spec.get("file"))  # positions as in the robot's folder
    except RobotFileError as err:
        write_failure(run_dir, robot_file, err)
        return 1
    global _runner
    runner = _runner = Runner(plan, output_dir=run_dir, inputs=spec.get("inputs") or {},
                    credentials=spec.get("credentials") or {},
                    credential_hosts=spec.get("credential_hosts") or {},
                    run_id=f"{spec['job_id']}-{spec['attempt']}", attempt=int(spec["attempt"]),
                    queues=queue_source(plan, spec), policy=policy, env=policy.env,
                    # a retry of the failed items: the work items done in an earlier run
                    skip_items=frozenset(map(str, spec.get("skip_items") or ())))
    return 0 if runner.run().status == "passed" else 1


# -- the zygote ----------------------------------------------------------------------------
#
# Started once per worker as `python -c ZYGOTE_CODE PADDING` with a Unix socket as stdin. It
# imports everything a robot needs (pydantic models of every step, playwright, openpyxl,
# jinja2), then for each request forks a fresh robot process, which is the same as the one
# `python -m orchestrator.child` starts: its stdin is the job's own pipe, stdout and stderr its
# child.log, its cwd the run folder, and it leads a session of its own.
#
# The fork is clone(CLONE_PARENT): the robot is the worker's child, not the zygote's, so the
# worker waits for it and reads its exit status (the signal that killed it) as with Popen, and
# a kill -9 of the zygote kills no robot. Its command line is rewritten to read
# `python -m orchestrator.child ROBOT RUN_DIR` (in the PADDING's room), so ps shows which robot
# each process runs; the zygote's own leaves out `orchestrator.child`, so a search for robots
# does not find it.

ZYGOTE_CODE = "from orchestrator import child; child.zygote()"
ZYGOTE_ROOM = 8192  # bytes of command line a robot process can show
CLONE_PARENT = 0x00008000
CLONE_CHILD_SETTID = 0x01000000
_CLONE_SYSCALL = {"x86_64": 56}  # other machines order clone()'s arguments differently


def preload() -> None:
    """What every robot would import first: the step libraries (and through them pydantic,
    playwright, openpyxl, httpx, jinja2) and the queue client."""
    from libs.registry import load_libraries
    from orchestrator import queue_client  # noqa: F401  (robots that use work queues)

    load_libraries()


def zygote() -> None:
    """Serve fork requests on stdin (a Unix socket) until the worker closes it."""
    _set_cmdline([sys.executable, "-c", ZYGOTE_CODE])
    # No native thread may exist when a robot is forked: the raw clone() runs no
    # pthread_atfork handlers, so a thread pool's locks stay held in the robot. numpy's
    # OpenBLAS (imported by openpyxl whenever numpy is installed) started one, and every robot
    # then hung at exit, its job never ending (tests/reliability/test_outage.py).
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = "1"
    preload()
    control = socket.socket(fileno=0)
    request = _serve(control)  # returns in a forked robot process only
    sys.exit(main(request))


def _serve(control: socket.socket) -> list[str]:
    """One request: a JSON list [robot_file, run_dir] with two descriptors (the robot's stdin,
    its log). The answer is {"pid": N}, sent once the robot leads its own session (the worker
    may kill its group at once), or {"error": "..."}."""
    while True:
        message, fds, _flags, _addr = socket.recv_fds(control, 65536, 2)
        if not message:
            sys.exit(0)  # the worker is gone
        args: list[str] = json.loads(message)
        try:
            pid = _fork(control, fds, args)
        except Exception as err:  # the worker then starts the robot the slow way
            reply: dict[str, object] = {"error": f"{type(err).__name__}: {err}"}
        else:
            if pid == 0:
                return args
            reply = {"pid": pid}
        finally:
            for fd in fds:
                os.close(fd)
        control.sendall(json.dumps(reply).encode())


def _native_threads() -> int:
    """This process's threads, Python's and native libraries' alike (a fork copies one)."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:  # no /proc: trust Python's own count
        return threading.active_count()


def _fork(control: socket.socket, fds: list[int], args: list[str]) -> int:
    if len(fds) != 2 or threading.active_count() != 1 or _native_threads() != 1:
        raise RuntimeError("a robot needs two descriptors and a single-threaded zygote")
    number = _CLONE_SYSCALL.get(platform.machine())
    if number is None:
        raise RuntimeError(f"no clone() for {platform.machine()}")
    ready_r, ready_w = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    flags, tid_slot = CLONE_PARENT | signal.SIGCHLD, _tid_slot()
    if tid_slot:  # as glibc's fork() does: the kernel writes the new thread id there
        flags |= CLONE_CHILD_SETTID
    api = ctypes.pythonapi
    api.PyOS_BeforeFork()  # what os.fork() does around fork(): locks, at-fork hooks
    # PyDLL: the GIL stays held through the call, as in os.fork(). x86_64 argument order:
    # flags, stack (0: the child continues on a copy of this one), parent_tid, child_tid, tls
    pid = ctypes.PyDLL(None, use_errno=True).syscall(
        ctypes.c_long(number), ctypes.c_ulong(flags), ctypes.c_void_p(0), ctypes.c_void_p(0),
        ctypes.c_void_p(tid_slot or 0), ctypes.c_void_p(0))
    if pid == 0:
        try:
            api.PyOS_AfterFork_Child()  # reseeds random, resets threading state
            control.close()
            os.close(ready_r)
            os.setsid()
            os.close(ready_w)  # tells the zygote the session exists
            stdin, log = fds
            os.dup2(stdin, 0)
            os.dup2(log, 1)
            os.dup2(log, 2)
            os.chdir(args[1])
            _set_cmdline([sys.executable, "-m", "orchestrator.child", *args])
        except BaseException:  # never back into the zygote's loop
            traceback.print_exc()
            os._exit(70)
        return 0
    api.PyOS_AfterFork_Parent()
    os.close(ready_w)
    try:
        if pid < 0:
            raise OSError(ctypes.get_errno(), "clone() failed")
        os.read(ready_r, 1)  # end of file once the robot called setsid() (or died)
    finally:
        os.close(ready_r)
    return int(pid)


def _tid_slot() -> int | None:
    """Where glibc keeps this thread's id (struct pthread's tid, read by raise(), abort() and
    some mutexes): a forked process must have its own id there, not the zygote's. Known for
    x86_64 glibc (offset 720) and checked against the real id; elsewhere left as it is."""
    if platform.machine() != "x86_64" or platform.libc_ver()[0] != "glibc":
        return None
    libc = ctypes.CDLL(None)
    libc.pthread_self.restype = ctypes.c_void_p
    base = libc.pthread_self()
    if not base or ctypes.c_int.from_address(base + 720).value != threading.get_native_id():
        return None
    return int(base) + 720


def _set_cmdline(args: list[str]) -> None:
    """Rewrite this process's command line (what ps and /proc/PID/cmdline show) in the room
    of the original one; a longer text is cut. Best effort: only people (ps) and the worker
    tests, which find robots by `orchestrator.child` in it, read it."""
    try:
        stat = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        start, end = int(stat[45]), int(stat[46])  # fields 48 and 49: arg_start, arg_end
    except (OSError, IndexError, ValueError):
        return
    room = end - start
    if room <= 1:
        return
    text = b"\0".join(os.fsencode(a) for a in args)[:room - 1]
    ctypes.memmove(start, text.ljust(room, b"\0"), room)


if __name__ == "__main__":
    sys.exit(main())
