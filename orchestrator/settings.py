"""Orchestrator settings: from arguments, then WORKHAND_* environment variables, then defaults.

Limits (each WORKHAND_<NAME> in the environment overrides the default):

- request bodies, refused with 413 as soon as they are known to be too large (a Content-Length
  over the cap at once, a chunked body when it passes the cap): MAX_BODY_BYTES for every route
  (1 MiB), MAX_ITEMS_BYTES for POST /queues/{name}/items (64 MiB: 100,000 items),
  MAX_IMPORT_BYTES for a queue's file import (64 MiB), MAX_DEPLOY_BYTES for POST /robots
  (64 MiB), MAX_ARTIFACT_BYTES for an artifact upload (100 MiB, the worker's limit too) and
  MAX_REPORT_BYTES for what workers report: lease, events, complete, item reports (64 MiB).
- JOB_TIMEOUT_SECONDS: the time limit of a job that sets none (4 hours);
  MAX_JOB_TIMEOUT_SECONDS: the most any job may ask for (7 days).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path

MiB = 1024 * 1024


def _env(name: str, default: str) -> str:
    return os.environ.get(f"WORKHAND_{name}", default)


def _int(name: str, default: int) -> int:
    return int(_env(name, str(default)))


@dataclass
class Settings:
    data_dir: Path = field(default_factory=lambda: Path(_env("DATA", ".workhand")))
    database_url: str = field(default_factory=lambda: _env("DATABASE_URL", ""))
    vault_key_file: Path | None = None
    lease_seconds: float = field(default_factory=lambda: float(_env("LEASE_SECONDS", "30")))
    long_poll_seconds: float = 20.0
    hours_per_fte: float = field(default_factory=lambda: float(_env("HOURS_PER_FTE", "1720")))
    hourly_cost: float = field(default_factory=lambda: float(_env("HOURLY_COST", "120")))
    retry_delay_seconds: float = 10.0
    retry_backoff: float = 2.0
    max_body_bytes: int = field(default_factory=lambda: _int("MAX_BODY_BYTES", MiB))
    max_items_bytes: int = field(default_factory=lambda: _int("MAX_ITEMS_BYTES", 64 * MiB))
    max_import_bytes: int = field(default_factory=lambda: _int("MAX_IMPORT_BYTES", 64 * MiB))
    max_deploy_bytes: int = field(default_factory=lambda: _int("MAX_DEPLOY_BYTES", 64 * MiB))
    max_artifact_bytes: int = field(default_factory=lambda: _int("MAX_ARTIFACT_BYTES",
                                                                 100 * MiB))
    max_report_bytes: int = field(default_factory=lambda: _int("MAX_REPORT_BYTES", 64 * MiB))
    job_timeout_s: float = field(default_factory=lambda: float(_env("JOB_TIMEOUT_SECONDS",
                                                                    str(4 * 3600))))
    max_job_timeout_s: float = field(default_factory=lambda: float(_env(
        "MAX_JOB_TIMEOUT_SECONDS", str(7 * 24 * 3600))))
    # threads running sync routes at once (anyio's default is 40). Each waits on the database
    # with the GIL released, so a few keep one core busy; 40 runnable threads spent it trading
    # the GIL: at 1,000 robots, 440 requests/s served with 40 against 560 with 8
    # (bench/fleet.py, docs/benchmarks.md)
    request_threads: int = field(default_factory=lambda: _int("REQUEST_THREADS", 8))
    # the console: a session ends after this long without a request, or this long after
    # sign-in, whichever comes first
    session_idle_minutes: float = field(default_factory=lambda: float(_env(
        "SESSION_IDLE_MINUTES", "30")))
    session_hours: float = field(default_factory=lambda: float(_env("SESSION_HOURS", "12")))

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir)
        if not self.database_url:
            self.database_url = f"sqlite:///{(self.data_dir / 'workhand.db').resolve()}"
        if self.vault_key_file is None:
            self.vault_key_file = Path(_env("VAULT_KEY_FILE", str(self.data_dir / "vault.key")))

    @property
    def artifacts_dir(self) -> Path:
        return self.data_dir / "artifacts"

    def make_data_dir(self) -> Path:
        """The data folder (database, vault key, admin token, artifacts), readable by this
        user only: created with mode 0700, tightened to it if it was looser."""
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        with contextlib.suppress(OSError):  # not ours to change (a mounted volume): leave it
            if self.data_dir.stat().st_mode & 0o077:
                self.data_dir.chmod(0o700)
        return self.data_dir


def write_private(path: Path, text: str) -> None:
    """Write a secret file (a token, a key) that only this user can read, from the start: the
    file is created with mode 0600, never readable by others for a moment."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        os.fchmod(out.fileno(), 0o600)  # an existing file keeps its mode through O_CREAT
        out.write(text)
