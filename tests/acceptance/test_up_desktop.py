"""`workhand up`'s local worker runs desktop robots: its token grants desktop and, where Xvfb is
installed, it asks for desktop jobs (a virtual screen each)."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest

from tests.acceptance.test_up import wait_for, workhand_up

pytestmark = [pytest.mark.acceptance,
              pytest.mark.skipif(shutil.which("Xvfb") is None, reason="Xvfb is not installed")]


def test_up_s_local_worker_offers_desktop(tmp_path: Path) -> None:
    robots = tmp_path / "robots"
    robots.mkdir()
    with workhand_up(tmp_path, "--robots", str(robots), "--schedules", str(tmp_path / "none"),
                     "--no-examples") as up:
        token = wait_for("the admin token", lambda: (up.data / "admin.token").is_file() and (
            up.data / "admin.token").read_text(encoding="utf-8").strip(), 60, up.proc)
        api = httpx.Client(base_url=f"{up.url}/api/v1", timeout=10,
                           headers={"Authorization": f"Bearer {token}"})
        local = wait_for("the local worker to ask for jobs", lambda: next(
            (w for w in api.get("/workers").json() if w["name"] == "local"), None), 60, up.proc)
        assert local["labels"] == ["desktop"], local
        api.close()
    assert "desktop robots each on a virtual screen of their own" in up.log.read_text(
        encoding="utf-8")
