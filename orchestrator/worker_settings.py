"""What a worker's robots may reach: `workhand worker --settings FILE` (and the same by flags).

    folders:                       # besides its bundle (read) and its run folder (read/write)
      - {path: /mnt/exports, access: read}
      - {path: /mnt/reports, access: read_write}
    hosts: [core.bank.local, "*.intranet.bank", 10.20.0.0/16]   # omitted: any host; []: none
    env: {CORE_URL: "https://core.bank.local"}                 # what ${env.X} sees ...
    pass_env: [SMTP_HOST]                                      # ... and these of the worker's
    chromium: /usr/bin/chromium                                # the browser program
    sandbox: auto                                              # auto | bubblewrap | off
    grace: 25              # seconds running robots get to end after SIGTERM (worker_stop.py)
    apps:                  # desktop applications robots may launch (desktop.launch: filing)
      filing: [/usr/bin/python3, -m, workhand.demo.filing, --data, /srv/filing]
    display: xvfb          # desktop robots: xvfb (a virtual screen each; the default when Xvfb
                           # is installed), a real screen such as ":0" (one robot at a time),
                           # or none (no desktop robots here)

An admin writes this file, never a robot author: the robot file cannot widen any of it.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import yaml

from libs.policy import PLATFORM_ENV_PREFIX, AllowedFolder, Policy, inside
from orchestrator.sandbox import SANDBOX_MODES, SandboxMode
from orchestrator.worker_stop import MAX_GRACE

KEYS = ("folders", "hosts", "env", "pass_env", "chromium", "sandbox", "grace", "apps",
        "display")
XVFB, NO_DISPLAY = "xvfb", "none"
LOCAL_DISPLAY = re.compile(r":(\d+)(\.\d+)?")  # a screen of this machine: :0, :1.0
DEFAULT_CHROMIUM = "/usr/bin/chromium"
# Below Kubernetes' default terminationGracePeriodSeconds (30 s) by more than the second the
# worker takes to hand jobs back and exit: it is never killed with jobs still held.
DEFAULT_GRACE = 25.0


def default_display() -> str:
    """xvfb where Xvfb is installed, else none."""
    return XVFB if shutil.which("Xvfb") else NO_DISPLAY


class WorkerSettingsError(Exception):
    """The worker's settings are not valid: the worker does not start."""


@dataclass(frozen=True)
class WorkerSettings:
    folders: tuple[AllowedFolder, ...] = ()
    hosts: tuple[str, ...] | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    pass_env: tuple[str, ...] = ()
    chromium: str = field(default_factory=lambda: os.environ.get("WORKHAND_CHROMIUM")
                          or DEFAULT_CHROMIUM)
    sandbox: SandboxMode = "auto"
    grace_s: float = DEFAULT_GRACE  # not the robots' reach: how long a stopping worker waits
    apps: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # what desktop robots run on: xvfb, a local display name (":0"), or none
    display: str = field(default_factory=default_display)

    def policy(self, environ: Mapping[str, str] | None = None) -> Policy:
        """The robots' policy; pass_env values are read from the worker's environment now."""
        environ = os.environ if environ is None else environ
        env = {**{k: environ[k] for k in self.pass_env if k in environ}, **self.env}
        return Policy(self.folders, self.hosts, env, self.apps)

    def check_work_dir(self, work_dir: Path, protected: Sequence[Path] = ()) -> None:
        """An allowed folder must not show the worker's work dir (other jobs' runs and
        bundles) or a protected folder (the orchestrator's data), nor lie inside one."""
        for folder in self.folders:
            for secret in (work_dir, *protected):
                real, held = folder.path.resolve(), Path(secret).resolve()
                if inside(real, held) or inside(held, real):
                    raise WorkerSettingsError(
                        f"the allowed folder {folder.path} would let robots reach {held} "
                        "(the worker's runs or the orchestrator's data); allow a folder that "
                        "neither holds it nor is inside it")


def parse(raw: Any, where: str = "the worker's settings") -> WorkerSettings:
    """Validate a settings map (from YAML or flags) into WorkerSettings."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise WorkerSettingsError(f"{where} must be a map with the keys {', '.join(KEYS)}")
    unknown = sorted(set(raw) - set(KEYS))
    if unknown:
        raise WorkerSettingsError(f"{where}: unknown key(s) {', '.join(unknown)}; the keys are "
                                  f"{', '.join(KEYS)}")
    values: dict[str, Any] = {"folders": _folders(raw.get("folders"), where),
                              "hosts": _hosts(raw.get("hosts"), where),
                              "env": _env(raw.get("env"), where),
                              "pass_env": tuple(_names(raw.get("pass_env"), where)),
                              "apps": _apps(raw.get("apps"), where)}
    if raw.get("chromium") is not None:
        chromium = raw["chromium"]
        if not isinstance(chromium, str) or not chromium.startswith("/"):
            raise WorkerSettingsError(f"{where}: chromium must be the absolute path of the "
                                      "Chromium program, e.g. /usr/bin/chromium")
        values["chromium"] = chromium
    if raw.get("sandbox") is not None:
        mode = raw["sandbox"]
        if mode is False:  # YAML reads a bare `off` as false
            mode = "off"
        if mode not in SANDBOX_MODES:
            raise WorkerSettingsError(f"{where}: sandbox '{mode}' must be one of "
                                      f"{', '.join(SANDBOX_MODES)}")
        values["sandbox"] = cast(SandboxMode, mode)
    if raw.get("grace") is not None:
        values["grace_s"] = _grace(raw["grace"], where)
    if "display" in raw:
        values["display"] = _display(raw["display"], where)
    return WorkerSettings(**values)


def _display(raw: Any, where: str) -> str:
    """xvfb, none (also YAML's bare null or false) or a local display name such as :0."""
    if raw is None or raw is False:
        return NO_DISPLAY
    text = str(raw).strip()
    if text in (XVFB, NO_DISPLAY) or LOCAL_DISPLAY.fullmatch(text):
        return text
    raise WorkerSettingsError(f"{where}: display '{raw}' must be xvfb (a virtual screen for "
                              "each desktop robot), the name of a screen of this machine such "
                              "as :0, or none")


def _apps(raw: Any, where: str) -> dict[str, tuple[str, ...]]:
    """{name: [program, arg, ...]}: the program an absolute path, so PATH cannot change it."""
    if raw is None:
        return {}
    example = "apps: {filing: [/usr/bin/python3, -m, workhand.demo.filing]}"
    if not isinstance(raw, dict):
        raise WorkerSettingsError(f"{where}: apps must be a map of names to command lines, "
                                  f"e.g. {example}")
    apps = {}
    for name, command in raw.items():
        if not isinstance(name, str) or not name.strip():
            raise WorkerSettingsError(f"{where}: an app's name must be text, e.g. {example}")
        if (not isinstance(command, list) or not command
                or not all(isinstance(part, str | int | float) for part in command)):
            raise WorkerSettingsError(f"{where}: app '{name}' must be a list: the program "
                                      f"and its arguments, e.g. {example}")
        if not str(command[0]).startswith("/"):
            raise WorkerSettingsError(f"{where}: app '{name}' must start with the program's "
                                      f"absolute path, not '{command[0]}'")
        apps[name] = tuple(str(part) for part in command)
    return apps


def _grace(raw: Any, where: str) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not 0 <= raw <= MAX_GRACE:
        raise WorkerSettingsError(f"{where}: grace must be the seconds running robots get to "
                                  f"end when the worker stops, from 0 to {MAX_GRACE:g}, e.g. "
                                  f"{DEFAULT_GRACE:g}")
    return float(raw)


def load(path: Path) -> dict[str, Any]:
    """The raw map of a settings file (parse() validates it, after flags are merged in)."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise WorkerSettingsError(f"cannot read the worker's settings {path}: "
                                  f"{err.strerror}") from None
    except yaml.YAMLError as err:
        raise WorkerSettingsError(f"the worker's settings {path} are not valid YAML: "
                                  f"{err}") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise WorkerSettingsError(f"the worker's settings {path} must be a map with the keys "
                                  f"{', '.join(KEYS)}")
    return raw


def _folders(raw: Any, where: str) -> tuple[AllowedFolder, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise WorkerSettingsError(f"{where}: folders must be a list of {{path, access}}")
    found = []
    for entry in raw:
        if isinstance(entry, str):
            entry = {"path": entry}
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
            raise WorkerSettingsError(f"{where}: each folder is {{path: /a/folder, access: "
                                      f"read | read_write}}, not {entry!r}")
        extra = set(entry) - {"path", "access"}
        if extra:
            raise WorkerSettingsError(f"{where}: a folder has only path and access, not "
                                      f"{', '.join(sorted(extra))}")
        path = Path(entry["path"])
        if not path.is_absolute():
            raise WorkerSettingsError(f"{where}: the folder '{path}' must be an absolute path")
        if not path.is_dir():
            raise WorkerSettingsError(f"{where}: the folder '{path}' does not exist (or is not "
                                      "a folder); create it or remove it from the settings")
        try:
            found.append(AllowedFolder.from_spec(entry))
        except ValueError as err:
            raise WorkerSettingsError(f"{where}: {err}") from None
    return tuple(found)


def _hosts(raw: Any, where: str) -> tuple[str, ...] | None:
    if raw is None:
        return None
    if not isinstance(raw, list) or not all(isinstance(h, str) and h.strip() for h in raw):
        raise WorkerSettingsError(f"{where}: hosts must be a list of host names, *.suffix "
                                  "patterns or networks (omit it to allow any host)")
    return tuple(h.strip() for h in raw)


def _names(raw: Any, where: str) -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(n, str) for n in raw):
        raise WorkerSettingsError(f"{where}: pass_env must be a list of variable names")
    for name in raw:
        _robot_variable(name, where)
    return list(raw)


def _env(raw: Any, where: str) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise WorkerSettingsError(f"{where}: env must be a map NAME: value")
    for name in raw:
        _robot_variable(str(name), where)
    return {str(k): "" if v is None else str(v) for k, v in raw.items()}


def _robot_variable(name: str, where: str) -> None:
    if not name or not name.replace("_", "a").isalnum():
        raise WorkerSettingsError(f"{where}: '{name}' is not a variable name")
    if name.upper().startswith(PLATFORM_ENV_PREFIX):
        raise WorkerSettingsError(f"{where}: '{name}' is one of the platform's own variables "
                                  f"({PLATFORM_ENV_PREFIX}*: tokens, the vault key, the "
                                  "database), which are never passed to robots")
