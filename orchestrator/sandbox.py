"""The robot process confined by the OS: bubblewrap (Debian's `bubblewrap`, the `bwrap` program).

The path policy in libs (libs/policy.py) decides what a step may touch; this is the second net,
so a bug in a step is not a breach. Each robot runs as

    bwrap <mounts> --unshare-pid --unshare-ipc ... python -m orchestrator.child ROBOT RUN_DIR

in a private mount namespace that holds only: the system's programs and libraries (/usr, the
/bin, /lib… links), the few files of /etc that Python, Chromium, fonts, TLS and name lookups
read, the Python installation and Workhand's own packages (read only), the robot's bundle (read
only), its run folder and home (read/write), the folders the worker's settings allow, a private
/tmp, a fresh /dev and a /proc of its own PID namespace; a desktop robot also its own display's
X socket and Xauthority file (read only), no other display's. (A robot that shares the
worker's network can still reach an X server's abstract socket, @/tmp/.X11-unix/X<N>, unless
the server does not listen there: Xvfb -nolisten local.) Not there: the rest of /etc
(/etc/shadow), /root, the orchestrator's data folder, the worker's work dir (other jobs' runs
and bundles), the worker's environment (--clearenv: only the minimal variables below), and
every process outside the sandbox (/proc/<parent>/environ of the worker does not exist in it).

The zygote (orchestrator/child.py) cannot give each fork its own mounts, so a sandboxed robot
starts as a new interpreter: ~1.4 s of CPU more per job than a fork (docs/benchmarks.md).
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from libs.policy import Policy, inside

log = logging.getLogger("workhand.worker")

SandboxMode = Literal["auto", "bubblewrap", "off"]
SANDBOX_MODES: tuple[SandboxMode, ...] = ("auto", "bubblewrap", "off")
BWRAP = "bwrap"

# System folders every program needs, read only. On a merged-/usr system /bin, /lib… are links
# into /usr and are recreated as links.
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# The parts of /etc that Python, Chromium (its launcher script reads /etc/chromium.d), fonts
# (fontconfig, incl. fonts-noto-cjk for Chinese), TLS and name lookups need: nothing with a
# secret (no shadow, no passwd, no ssh keys).
ETC_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/alternatives",
             "/etc/fonts", "/etc/ssl", "/etc/ca-certificates", "/etc/pki", "/etc/resolv.conf",
             "/etc/hosts", "/etc/host.conf", "/etc/gai.conf", "/etc/nsswitch.conf",
             "/etc/localtime", "/etc/timezone", "/etc/mime.types", "/etc/chromium",
             "/etc/chromium.d", "/etc/os-release", "/etc/debian_version", "/etc/machine-id")
# What a robot process's OS environment may carry over from the worker's (never WORKHAND_*).
KEPT_ENV = ("PATH", "LANG", "LANGUAGE", "TZ", "PYTHONPATH")
DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"
# The packages a robot process imports: libs (the runtime), orchestrator (child, queue client)
# and workhand (the command line's helpers). Mounted one by one, never the folder that holds
# them, which may hold a data folder too (`workhand up` in a checkout).
CODE_PACKAGES = ("libs", "orchestrator", "workhand")
CHROMIUM_ENV = "WORKHAND_CHROMIUM"


class SandboxError(Exception):
    """The worker's settings ask for a sandbox this machine cannot give."""


def robot_os_env(home: Path, chromium: str, environ: Mapping[str, str] | None = None
                 ) -> dict[str, str]:
    """The OS environment of a robot process: PATH, the language and time zone, HOME (a folder
    of the run), PYTHONPATH (needed to import Workhand from a checkout) and where Chromium is.
    Nothing else of the worker's: its token, the vault key, the database URL never reach it.
    (A robot's ${env.X} sees only what the worker's settings pass, given on stdin.)"""
    environ = os.environ if environ is None else environ
    env = {k: v for k, v in environ.items() if k in KEPT_ENV or k.startswith("LC_")}
    env.setdefault("PATH", DEFAULT_PATH)
    env["HOME"] = str(home)
    env[CHROMIUM_ENV] = chromium
    return env


def code_paths() -> list[Path]:
    """What the robot's interpreter needs to start and import Workhand: the Python installation,
    the virtual environment (site-packages) and Workhand's own package folders."""
    found: list[Path] = []
    for prefix in {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}:
        found.append(Path(prefix))
    for name in CODE_PACKAGES:
        module = sys.modules.get(name)
        if module is None:
            try:
                module = __import__(name)
            except ImportError:
                continue
        for folder in getattr(module, "__path__", []):
            found.append(Path(folder))
    return found


@dataclass(frozen=True)
class Sandbox:
    """Builds the bwrap command line of one robot. ``protected`` are folders that must never be
    visible to a robot (the orchestrator's data folder under `workhand up`, the worker's work
    dir): a mount that would show one refuses to start the robot."""

    bwrap: str = BWRAP
    protected: tuple[Path, ...] = ()
    code: tuple[Path, ...] = field(default_factory=lambda: tuple(code_paths()))

    def command(self, argv: Sequence[str], *, run_dir: Path, home: Path, bundle: Path,
                policy: Policy, env: Mapping[str, str],
                display_files: Sequence[Path] = ()) -> list[str]:
        """``display_files``: a desktop robot's X socket and Xauthority file (its display's
        alone, orchestrator/worker_display.py), shown at their places in the private /tmp."""
        # No --new-session: the worker starts bwrap in a session of its own with no terminal
        # (nothing to inject keystrokes into), and the robot must stay in that process group,
        # which the worker signals to stop it.
        cmd = [self.bwrap, "--die-with-parent", "--unshare-pid", "--as-pid-1", "--unshare-ipc",
               "--unshare-uts", "--unshare-cgroup-try", "--clearenv"]
        if policy.hosts is not None and not policy.hosts:  # no host allowed: no network
            cmd.append("--unshare-net")
        cmd += _system_mounts()
        cmd += ["--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
        readable = [*self.code, bundle]
        for path in _dedupe(readable):
            cmd += self._bind("--ro-bind", path)
        for folder in policy.folders:
            cmd += self._bind("--bind" if folder.writable else "--ro-bind", folder.path)
        for path in (run_dir, home):
            cmd += self._bind("--bind", path)
        for path in display_files:  # after the tmpfs: /tmp/.X11-unix/X<N> lives in /tmp
            cmd += self._bind("--ro-bind", path)
        for name, value in sorted(env.items()):
            cmd += ["--setenv", name, value]
        cmd += ["--chdir", str(run_dir), "--", *argv]
        return cmd

    def _bind(self, how: str, path: Path) -> list[str]:
        """Mount the path at itself, and at its real path when it is a link (a venv reached
        through a symbolic link): the interpreter may use either name."""
        real = path.resolve()
        for secret in self.protected:
            if inside(secret.resolve(), real) or inside(real, secret.resolve()):
                raise SandboxError(f"the robot's sandbox would show {real}, which holds or is "
                                   f"inside the protected folder {secret}; move one of them")
        mounts = [how, str(real), str(real)]
        if Path(os.path.abspath(path)) != real:
            mounts += [how, str(real), os.path.abspath(path)]
        return mounts


def _dedupe(paths: Iterable[Path]) -> list[Path]:
    """Paths in order, without repeats and without those inside another (mounted already)."""
    unique = sorted({Path(os.path.abspath(p)) for p in paths if Path(p).exists()},
                    key=lambda p: len(p.parts))
    kept: list[Path] = []
    for path in unique:
        if not any(inside(path, k) and inside(path.resolve(), k.resolve()) for k in kept):
            kept.append(path)
    return kept


def _system_mounts() -> list[str]:
    mounts: list[str] = []
    for name in SYSTEM_DIRS:
        path = Path(name)
        if path.is_symlink():
            mounts += ["--symlink", os.readlink(path), name]
        elif path.is_dir():
            mounts += ["--ro-bind", name, name]
    for name in ETC_FILES:
        mounts += ["--ro-bind-try", name, name]
    return mounts


def start_command(cmd: Sequence[str]) -> list[str]:
    """The sandbox's outer bwrap process must outlive a SIGTERM sent to the robot's process
    group (cancel, timeout) so the robot can write its result: bwrap does not pass signals on,
    and dying it would SIGKILL the robot (--die-with-parent). A signal ignored is still ignored
    after exec, so a shell ignores SIGTERM and becomes bwrap; the robot sets its own handler."""
    return ["/bin/sh", "-c", 'trap "" TERM; exec "$@"', "sh", *cmd]


def exit_code(code: int) -> int:
    """bwrap reports a robot killed by signal N as exit code 128+N: as Popen would, -N."""
    if code > 128:
        try:
            return -int(signal.Signals(code - 128))
        except ValueError:
            return code
    return code


def probe(bwrap: str = BWRAP) -> str | None:
    """None when bwrap can make a sandbox on this machine, else why not (with a fix)."""
    found = shutil.which(bwrap)
    if found is None:
        return (f"the '{bwrap}' program was not found; install it (apt-get install bubblewrap) "
                "or set sandbox: off in the worker's settings")
    cmd = [found, "--die-with-parent", "--unshare-pid", "--unshare-ipc", "--clearenv",
           *_system_mounts(), "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp", "--",
           "/bin/true"]
    try:
        done = subprocess.run(cmd, capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"'{found}' could not run: {err}"
    if done.returncode != 0:
        why = done.stderr.decode(errors="replace").strip().splitlines()
        return (f"'{found}' cannot make a sandbox here ({why[-1] if why else done.returncode}); "
                "run the worker as root, or allow unprivileged user namespaces "
                "(sysctl kernel.unprivileged_userns_clone=1, and on Ubuntu "
                "kernel.apparmor_restrict_unprivileged_userns=0), or in a container give it "
                "--privileged / CAP_SYS_ADMIN; or set sandbox: off")
    return None


def choose(mode: SandboxMode, protected: Sequence[Path] = ()) -> Sandbox | None:
    """The sandbox for this worker's robots (probed once, at the worker's start), or None.

    auto: bubblewrap when it works, else a warning and no sandbox; bubblewrap: SandboxError
    when it cannot run; off: none."""
    if mode == "off":
        return None
    why = probe()
    if why is None:
        return Sandbox(protected=tuple(protected))
    if mode == "bubblewrap":
        raise SandboxError(f"sandbox: bubblewrap was asked for, but {why}")
    log.warning("robots run WITHOUT an OS sandbox (only the path policy confines them): %s",
                why)
    return None
