"""`workhand serve` deploys robot and schedule folders as code; bad files stop it before it
serves, each problem as file:line:col."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.servers import Port

ROBOT = "robot: nightly\nsteps:\n  - log: hi\n"
SCHEDULE = "name: nightly-0700\nrobot: nightly\ncron: \"0 7 * * 1-5\"\ntimezone: Asia/Shanghai\n"
WORKHAND = [sys.executable, "-m", "workhand"]


def folders(root: Path, schedule: str) -> list[str]:
    (root / "robots").mkdir()
    (root / "schedules").mkdir()
    (root / "robots" / "nightly.yaml").write_text(ROBOT, encoding="utf-8")
    (root / "schedules" / "nightly.yaml").write_text(schedule, encoding="utf-8")
    return ["--data", str(root / "data"), "--robots", str(root / "robots"),
            "--schedules", str(root / "schedules")]


@pytest.mark.parametrize("how", ["--fd", "--port"])
def test_serve_deploys_robots_and_schedules(tmp_path: Path, how: str) -> None:
    """--fd: on a socket bound here and handed down (no port is chosen by anyone else);
    --port: on a port it binds itself (held here until then)."""
    args = folders(tmp_path, SCHEDULE)
    token = subprocess.run([*WORKHAND, "token", "create", "--role", "viewer", *args[:2]],
                           capture_output=True, text=True, check=True).stdout.strip()
    with Port() as port:
        listener = port.socket()
        given = ["--fd", str(listener.fileno())] if how == "--fd" else ["--port", str(port.number)]
        server = subprocess.Popen([*WORKHAND, "serve", *given, *args], stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True,
                                  pass_fds=(listener.fileno(),) if how == "--fd" else ())
        listener.close()
        try:
            with httpx.Client(base_url=port.url,
                              headers={"Authorization": f"Bearer {token}"}) as http:
                deadline = time.monotonic() + 60
                while True:
                    try:
                        robots = http.get("/api/v1/robots")
                        break
                    except httpx.TransportError:
                        assert server.poll() is None and time.monotonic() < deadline
                        time.sleep(0.2)
                assert [r["robot"] for r in robots.json()] == ["nightly"]
                [schedule] = http.get("/api/v1/schedules").json()
                assert (schedule["name"], schedule["cron"]) == ("nightly-0700", "0 7 * * 1-5")
        finally:
            server.terminate()
            output, _ = server.communicate(timeout=30)
    assert f"orchestrator on {port.url}/api/v1" in output, output


def test_serve_refuses_an_fd_that_is_not_a_socket(tmp_path: Path) -> None:
    with (tmp_path / "plain.txt").open("w") as plain:
        done = subprocess.run([*WORKHAND, "serve", "--fd", str(plain.fileno()), "--data",
                               str(tmp_path / "data")], capture_output=True, text=True,
                              timeout=120, pass_fds=(plain.fileno(),))
    assert done.returncode == 2
    assert "is not an open socket" in done.stderr or "is not a TCP socket" in done.stderr, \
        done.stderr


def test_serve_refuses_a_bad_schedule_before_serving(tmp_path: Path) -> None:
    args = folders(tmp_path, SCHEDULE.replace("nightly\ncron", "nightlly\ncron"))
    with Port() as port:
        done = subprocess.run([*WORKHAND, "serve", "--port", str(port.number), *args],
                              capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "nightly.yaml:2:8" in done.stdout and "nightly" in done.stdout, done.stdout


def test_token_create_list_revoke(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`workhand token` on the data folder: a bound worker token, listed without its secret,
    revoked by id; mistakes are sentences with the fix."""
    from typer.testing import CliRunner

    from orchestrator.auth import find_token
    from orchestrator.db import make_engine, session_factory
    from workhand.server_cli import app, console

    monkeypatch.setattr(console, "width", 200)  # the table on one line per token
    data = ["--data", str(tmp_path / "data")]
    cli = CliRunner()
    made = cli.invoke(app, ["token", "create", "--role", "worker", "--worker", "branch-pc-01",
                            "--labels", "desktop, restricted", *data])
    assert made.exit_code == 0, made.output
    token = made.output.strip()
    listed = cli.invoke(app, ["token", "list", *data])
    assert listed.exit_code == 0 and "branch-pc-01" in listed.output
    assert "desktop, restricted" in listed.output and token not in listed.output
    unbound = cli.invoke(app, ["token", "create", "--role", "worker", *data])
    assert unbound.exit_code == 2 and "a worker token is for one worker" in unbound.output
    assert cli.invoke(app, ["token", "revoke", *data]).exit_code == 2  # which one?
    assert "no token 99" in cli.invoke(app, ["token", "revoke", "99", *data]).output
    revoked = cli.invoke(app, ["token", "revoke", "1", *data])
    assert revoked.exit_code == 0 and "revoked" in revoked.output
    engine = make_engine(f"sqlite:///{tmp_path / 'data' / 'workhand.db'}")
    with session_factory(engine)() as session:
        assert find_token(session, token) is None
    engine.dispose()
