"""The data folder and its secrets are this user's only, and git never takes them."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from orchestrator import vault
from orchestrator.app import create_app
from orchestrator.settings import Settings, write_private

ROOT = Path(__file__).resolve().parents[2]


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_the_data_folder_is_0700_and_the_vault_key_0600(tmp_path: Path) -> None:
    loose = tmp_path / "data"
    loose.mkdir(mode=0o755)
    loose.chmod(0o755)
    settings = Settings(data_dir=loose)
    app = create_app(settings, services=False)
    assert mode(loose) == 0o700
    with app.state.sessions.begin() as session:
        vault.put(session, settings, "bank", {"password": "p"})
    assert settings.vault_key_file is not None and mode(settings.vault_key_file) == 0o600
    app.state.engine.dispose()


def test_a_private_file_is_never_readable_by_others(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        token = tmp_path / "new" / "admin.token"
        write_private(token, "secret\n")
        assert mode(token) == 0o600 and mode(token.parent) == 0o700
        token.chmod(0o644)  # a file left readable by an older version
        write_private(token, "again\n")
        assert mode(token) == 0o600 and token.read_text() == "again\n"
    finally:
        os.umask(old)


def test_git_ignores_the_data_folders() -> None:
    for path in (".workhand/vault.key", ".workhand/admin.token", ".workhand/workhand.db",
                 ".workhand-runs/1/events.jsonl", "output/run/result.json"):
        found = subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT, check=False)
        assert found.returncode == 0, f"{path} is not ignored by git"
