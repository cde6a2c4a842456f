"""Orchestrator settings: from arguments, then WORKHAND_* environment variables, then defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def _env(name: str, default: str) -> str:
    return os.environ.get(f"WORKHAND_{name}", default)


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

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir)
        if not self.database_url:
            self.database_url = f"sqlite:///{(self.data_dir / 'workhand.db').resolve()}"
        if self.vault_key_file is None:
            self.vault_key_file = Path(_env("VAULT_KEY_FILE", str(self.data_dir / "vault.key")))

    @property
    def artifacts_dir(self) -> Path:
        return self.data_dir / "artifacts"
