"""What a robot may reach, decided in one place (docs/security.md).

A robot automates its own business systems, never the platform. It reaches only:

- its bundle (the robot's folder: its file, the robots it calls, its data) — read;
- its run's output folder — read and write;
- folders an admin lists in the worker's settings (a shared drive for bank exports) — read, or
  read and write;
- the network hosts an admin allows (any host unless the worker's settings list some);
- the environment variables the worker's settings pass to robots (never the worker's own).

Every step that touches a file, a URL or a host asks the run's Policy (``ctx.policy``); a step
never opens its own way out. The worker also confines the robot process by the OS
(orchestrator/sandbox.py), so a bug in a step is not a breach.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from libs.errors import StepArgumentError

# Schemes a robot may open or call; file:// (and javascript:, data: as a navigation target…)
# would reach the worker's own disk or run code outside any step.
WEB_SCHEMES = ("http", "https")


class Refused(StepArgumentError):
    """A robot tried to reach what its policy does not allow: a robot-file error, never
    retried (the same robot would be refused again)."""


@dataclass(frozen=True)
class AllowedFolder:
    """A folder an admin lets robots use: read only, or read and write."""

    path: Path
    writable: bool = False

    def to_spec(self) -> dict[str, Any]:
        return {"path": str(self.path), "access": "read_write" if self.writable else "read"}

    @classmethod
    def from_spec(cls, raw: Mapping[str, Any]) -> AllowedFolder:
        access = str(raw.get("access", "read"))
        if access not in ("read", "read_write"):
            raise ValueError(f"folder access '{access}' must be read or read_write")
        return cls(Path(str(raw["path"])).resolve(), access == "read_write")


@dataclass(frozen=True)
class Policy:
    """The reach of one run. ``hosts`` None means any host; otherwise names, ``*.suffix``
    patterns, IP addresses or networks (``10.0.0.0/8``)."""

    folders: tuple[AllowedFolder, ...] = ()
    hosts: tuple[str, ...] | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    # desktop applications robots may launch, by name: the command line is the admin's, the
    # robot names the application only (desktop.launch: filing)
    apps: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    # -- network ---------------------------------------------------------------------------

    def allows_host(self, host: str) -> bool:
        return self.hosts is None or host_matches(host, self.hosts)

    def check_url(self, url: str, step: str, schemes: tuple[str, ...] = WEB_SCHEMES) -> None:
        """Refuse a URL whose scheme or host the robot may not use."""
        parts = urlsplit(url.strip())
        scheme = parts.scheme.lower()
        if scheme not in schemes:
            shown = f"'{scheme}:'" if scheme else "no scheme"
            raise Refused(f"{step}: the address '{url}' has {shown}; robots may only open "
                          f"{' or '.join(s + '://' for s in schemes)} addresses (files are read "
                          "with files.* or excel.* steps from the robot's folder)")
        host = parts.hostname or ""
        if not host:
            raise Refused(f"{step}: the address '{url}' names no host")
        if not self.allows_host(host):
            raise Refused(f"{step}: the host '{host}' is not among the hosts this worker "
                          f"allows robots to reach ({', '.join(self.hosts or ())}); ask an "
                          "admin to add it to the worker's settings")

    # -- passing the policy to the robot process -------------------------------------------

    def to_spec(self) -> dict[str, Any]:
        return {"folders": [f.to_spec() for f in self.folders],
                "hosts": None if self.hosts is None else list(self.hosts),
                "env": dict(self.env),
                "apps": {name: list(command) for name, command in self.apps.items()}}

    @classmethod
    def from_spec(cls, raw: Mapping[str, Any] | None) -> Policy:
        raw = raw or {}
        hosts = raw.get("hosts")
        return cls(tuple(AllowedFolder.from_spec(f) for f in raw.get("folders") or ()),
                   None if hosts is None else tuple(str(h) for h in hosts),
                   {str(k): str(v) for k, v in (raw.get("env") or {}).items()},
                   {str(k): tuple(str(a) for a in v) for k, v in (raw.get("apps") or {}).items()})


def host_matches(host: str, patterns: Iterable[str]) -> bool:
    """Whether a host is among ``patterns``: names (``fnmatch`` wildcards), ``*.suffix`` (the
    suffix itself included), IP addresses or networks (``10.0.0.0/8``). The one rule for the
    worker's hosts and for the hosts a credential is bound to."""
    host = host.strip("[]").lower().rstrip(".")
    address = _address(host)
    for allowed in patterns:
        pattern = allowed.strip().lower()
        if address is not None and _in_network(address, pattern):
            return True
        if fnmatch.fnmatchcase(host, pattern) or (
                pattern.startswith("*.") and host == pattern[2:]):
            return True
    return False


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _in_network(address: ipaddress.IPv4Address | ipaddress.IPv6Address, pattern: str) -> bool:
    try:
        return address in ipaddress.ip_network(pattern, strict=False)
    except ValueError:
        return False


# Variables of the platform itself: never shown to a robot, whatever else is passed.
PLATFORM_ENV_PREFIX = "WORKHAND_"


def local_env(environ: Mapping[str, str]) -> dict[str, str]:
    """What `workhand run` passes to a robot: the caller's environment without the platform's
    own variables (tokens, database and vault settings)."""
    return {k: v for k, v in environ.items() if not k.upper().startswith(PLATFORM_ENV_PREFIX)}


# -- files -------------------------------------------------------------------------------------

# Kernel and device trees: never inside any root, whatever folder an admin lists (a process's
# environment and command line are readable there; devices are not files a robot works with).
NEVER_INSIDE = (Path("/proc"), Path("/sys"), Path("/dev"))

HOW_TO_ALLOW = ("to use another folder, an admin lists it under 'folders:' in the worker's "
                "settings (with workhand run: --allow-read DIR or --allow-write DIR)")


def real(path: str | Path) -> Path:
    """The path with every symbolic link and '..' resolved (the file the system would use)."""
    return Path(os.path.realpath(os.path.expanduser(str(path))))


def inside(path: Path, root: Path) -> bool:
    """Whether ``path`` is ``root`` or below it, as written (give real() paths to follow links)."""
    return path == root or root in path.parents


@dataclass(frozen=True)
class Reach:
    """The folders one run may read and write, as real paths: its bundle (the top robot's
    folder; called robots live inside it), its output folder and the allowed folders.

    Every step asks ``readable`` or ``writable`` with the absolute path it is about to use and
    works on the real path it gets back, so a symbolic link cannot lead it elsewhere."""

    bundle: Path
    output: Path
    folders: tuple[AllowedFolder, ...] = ()

    @classmethod
    def of(cls, policy: Policy, bundle: Path, output: Path) -> Reach:
        return cls(real(bundle), real(output),
                   tuple(AllowedFolder(real(f.path), f.writable) for f in policy.folders))

    @property
    def read_roots(self) -> tuple[Path, ...]:
        return (self.bundle, self.output, *(f.path for f in self.folders))

    @property
    def write_roots(self) -> tuple[Path, ...]:
        return (self.output, *(f.path for f in self.folders if f.writable))

    def can_read(self, path: str | Path) -> bool:
        return _within(real(path), self.read_roots)

    def can_write(self, path: str | Path) -> bool:
        return _within(real(path), self.write_roots)

    def readable(self, path: str | Path, step: str) -> Path:
        """The real path of a file or folder the robot may read, or Refused."""
        found = real(path)
        if not _within(found, self.read_roots):
            raise Refused(self._outside(path, found, step, "read", self.read_roots))
        return found

    def writable(self, path: str | Path, step: str) -> Path:
        """The real path of a file or folder the robot may write, or Refused."""
        found = real(path)
        if not _within(found, self.write_roots):
            raise Refused(self._outside(path, found, step, "write", self.write_roots))
        return found

    def removable(self, path: str | Path, step: str) -> Path:
        """A writable path that is not a root nor above one: what may be deleted or moved."""
        found = real(path)
        if self.holds_a_root(found):
            raise Refused(f"{step}: refusing to delete or move {found}: it is the robot's "
                          "folder, the run's output folder, an allowed folder or a folder "
                          "above them; name a file or sub-folder inside the output folder")
        return self.writable(path, step)

    def holds_a_root(self, path: Path) -> bool:
        """Whether a (real) path is one of the roots or a folder above one: never deleted or
        moved, so a wrong ${...} value cannot wipe them out."""
        return any(inside(root, path) for root in self.read_roots)

    def _outside(self, given: str | Path, found: Path, step: str, verb: str,
                 roots: tuple[Path, ...]) -> str:
        names = {self.bundle: "the robot's folder", self.output: "the run's output folder"}
        listed = ", ".join(f"{names.get(r, 'the allowed folder')} {r}" for r in roots)
        led = f" (it leads to {found})" if str(found) != str(given) else ""
        return (f"{step}: '{given}'{led} is outside the folders this robot may {verb} "
                f"({listed}); {HOW_TO_ALLOW}")


def _within(path: Path, roots: tuple[Path, ...]) -> bool:
    if any(inside(path, never) for never in NEVER_INSIDE):
        return False
    return any(inside(path, root) for root in roots)
