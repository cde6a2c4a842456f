"""What a robot needs of its worker, from deploy to lease: a robot version's `needs` (0013),
every job of it labelled with them, leases matching them; the worker's `display` setting, how a
real screen is lent one robot at a time, the labels a worker offers, and the X socket its
sandbox shows (a real Xvfb, a real bubblewrap)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from libs import xvfb
from libs.policy import Policy
from orchestrator import deploy, dispatch, jobs
from orchestrator.db import MIGRATIONS, make_engine
from orchestrator.models import RobotVersion
from orchestrator.sandbox import Sandbox, probe, robot_os_env
from orchestrator.settings import Settings
from orchestrator.worker_display import Displays, RunDisplay, offered_labels
from orchestrator.worker_settings import WorkerSettingsError, parse

DESKTOP_ROBOT = """robot: filing
steps:
  - desktop.launch: {app: filing, window: 账户备案系统}
  - desktop.type: {text: 张三}
"""
CALLER = """robot: nightly
steps:
  - log: start
  - call: filing
"""


@pytest.fixture
def deployed(sessions: sessionmaker[Session], tmp_path: Path) -> str:
    (tmp_path / "filing.yaml").write_text(DESKTOP_ROBOT, encoding="utf-8")
    (tmp_path / "nightly.yaml").write_text(CALLER, encoding="utf-8")
    with sessions.begin() as session:
        versions = deploy.deploy_folder(session, tmp_path)
        assert [(v.robot, v.needs) for v in versions] == [("filing", ["desktop"]),
                                                           ("nightly", ["desktop"])]
        return versions[0].digest


def test_every_job_of_a_desktop_robot_needs_a_display(sessions: sessionmaker[Session],
                                                      deployed: str, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", lease_seconds=30)
    with sessions.begin() as session:
        asked = jobs.create_job(session, robot="filing", labels=["zone-a"])
        scheduled = jobs.create_job(session, robot="nightly", schedule="nightly-2am",
                                    source="schedule")
        assert asked.labels == ["desktop", "zone-a"] and scheduled.labels == ["desktop"]
        job_id = asked.id
    with sessions.begin() as session:  # a worker without desktop never gets them
        assert dispatch.lease(session, worker="pc-1", labels=["zone-a"], settings=settings,
                              max_jobs=5) == []
    with sessions.begin() as session:
        leased = dispatch.lease(session, worker="pc-2", labels=["desktop", "zone-a"],
                                settings=settings, max_jobs=5)
        assert [(j["robot"], j["labels"]) for j in leased] == [
            ("filing", ["desktop", "zone-a"]), ("nightly", ["desktop"])]
        for job in leased:
            dispatch.complete_one(session, dispatch.Ending(job["id"], "pc-2", 1, "failed"),
                                  settings)
    with sessions.begin() as session:  # a job labelled before 0013: its retry needs it too
        jobs.get_job(session, job_id).labels = ["zone-a"]
        session.flush()
        assert jobs.retry(session, job_id).labels == ["desktop", "zone-a"]


def test_deploying_the_same_content_again_sets_its_needs(sessions: sessionmaker[Session],
                                                         deployed: str, tmp_path: Path) -> None:
    with sessions.begin() as session:
        version = session.get(RobotVersion, deployed)
        assert version is not None
        version.needs = []  # a version stored before 0013
    with sessions.begin() as session:
        again = deploy.deploy_robot(session, tmp_path / "filing.yaml")
        assert (again.digest, again.needs) == (deployed, ["desktop"])


def alembic(url: str, target: str, down: bool = False) -> None:
    engine = make_engine(url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    try:
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            (command.downgrade if down else command.upgrade)(config, target)
    finally:
        engine.dispose()


def test_0013_gives_old_versions_no_needs_and_goes_back(db_url: str) -> None:
    alembic(db_url, "0012")
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO robot_versions (digest, robot, title, file, bundle, "
                              "savings, credentials, deployed, description, inputs) VALUES "
                              "('d1', 'old', '', 'old.yaml', :b, '{}', '[]', "
                              "CURRENT_TIMESTAMP, '', '[]')"), {"b": b"zip"})
        alembic(db_url, "head")
        with engine.begin() as conn:
            needs = conn.execute(text("SELECT needs FROM robot_versions")).scalar()
            assert (json.loads(needs) if isinstance(needs, str) else needs) == []
        alembic(db_url, "0012", down=True)
        with engine.connect() as conn:
            row = conn.execute(text("SELECT * FROM robot_versions")).one()
            assert "needs" not in row._mapping and row.robot == "old"
    finally:
        engine.dispose()


# -- the worker's side ------------------------------------------------------------------------


def test_the_display_setting() -> None:
    assert parse({"display": "xvfb"}).display == "xvfb"
    assert parse({"display": ":0"}).display == ":0" and parse({"display": ":1.0"}).display
    for off in ("none", None, False):  # YAML's bare `off`/`no` reads as false
        assert parse({"display": off}).display == "none"
    assert parse({}).display in ("xvfb", "none")  # xvfb where Xvfb is installed
    for bad in ("99", "xvfb:1", "remote.host:0", "virtual"):
        with pytest.raises(WorkerSettingsError, match="must be xvfb"):
            parse({"display": bad})


def test_a_real_screen_is_lent_to_one_robot_at_a_time(tmp_path: Path) -> None:
    (tmp_path / ".Xauthority").write_text("", encoding="utf-8")
    screen = Displays(":7", {"HOME": str(tmp_path)})
    assert screen.offers and screen.real and screen.xauthority == tmp_path / ".Xauthority"
    first = screen.claim()
    assert first is not None and screen.claim() is None  # busy: a second job goes back
    assert screen.asking(["desktop", "zone-a"]) == ["zone-a"]  # and none is asked for
    first.release()
    first.release()  # twice is harmless
    assert screen.asking(["desktop", "zone-a"]) == ["desktop", "zone-a"]
    virtual = Displays("xvfb")
    claims = [virtual.claim(), virtual.claim()]  # a virtual screen each: no limit but slots
    assert all(claims) and virtual.asking(["desktop"]) == ["desktop"]
    assert Displays("none").claim() is None


def test_a_worker_offers_desktop_when_it_has_a_display_and_its_token_grants_it() -> None:
    with_screen, without = Displays("xvfb"), Displays("none")
    assert offered_labels(["zone-a"], with_screen, lambda: ["desktop", "zone-a"]) == [
        "zone-a", "desktop"]
    assert offered_labels(["zone-a"], with_screen, lambda: ["zone-a"]) == ["zone-a"]
    assert offered_labels([], with_screen, lambda: None) == []  # the server could not say
    assert offered_labels(["desktop", "zone-a"], without, lambda: ["desktop"]) == ["zone-a"]


def test_the_sandbox_shows_the_run_s_display_only(tmp_path: Path) -> None:
    run, home, bundle = tmp_path / "run", tmp_path / "home", tmp_path / "bundle"
    for folder in (run, home, bundle):
        folder.mkdir()
    auth = tmp_path / "xauth"
    auth.write_text("", encoding="utf-8")
    display = RunDisplay(":5", auth)
    assert display.env() == {"DISPLAY": ":5", "XAUTHORITY": str(auth)}
    assert display.spec() == {"display": ":5", "xauthority": str(auth)}
    cmd = Sandbox(code=()).command(["python", "x.py"], run_dir=run, home=home, bundle=bundle,
                                   policy=Policy(), env={"DISPLAY": ":5"},
                                   display_files=display.files())
    tmpfs = cmd.index("--tmpfs")
    socket_at = cmd.index("/tmp/.X11-unix/X5")
    assert cmd[socket_at - 1] == "--ro-bind" and socket_at > tmpfs  # over the private /tmp
    assert cmd[cmd.index(str(auth)) - 1] == "--ro-bind"
    assert not [arg for arg in cmd if arg.startswith("/tmp/.X11-unix") and arg.endswith("X0")]
    plain = Sandbox(code=()).command(["python", "x.py"], run_dir=run, home=home,
                                     bundle=bundle, policy=Policy(), env={})
    assert not [arg for arg in plain if ".X11-unix" in arg or arg == "DISPLAY"]


XPROBE = """
import os
from Xlib import display
screen = display.Display(os.environ["DISPLAY"]).screen()
print(screen.width_in_pixels, screen.height_in_pixels)
"""


@pytest.mark.skipif(probe() is not None, reason=f"no sandbox here: {probe()}")
def test_a_sandboxed_robot_reaches_its_screen_through_the_mounted_socket(tmp_path: Path
                                                                        ) -> None:
    """With no network (hosts: []) the X server's abstract socket is out of reach: only the
    socket mounted over the private /tmp leads to the screen."""
    run, home, bundle = tmp_path / "run", tmp_path / "home", tmp_path / "bundle"
    for folder in (run, home, bundle):
        folder.mkdir()
    (bundle / "xprobe.py").write_text(XPROBE, encoding="utf-8")
    with xvfb.start(800, 600) as screen:
        display = RunDisplay(screen.display, screen.xauthority, screen)
        env = {**robot_os_env(home, "/usr/bin/chromium"), **display.env()}
        outcomes = []
        for files in (display.files(), []):
            cmd = Sandbox().command([sys.executable, str(bundle / "xprobe.py")], run_dir=run,
                                    home=home, bundle=bundle, policy=Policy(hosts=()), env=env,
                                    display_files=files)
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env)
            outcomes.append((done.returncode, done.stdout.strip().splitlines()[-1:]))
    assert outcomes[0] == (0, ["800 600"]), outcomes
    assert outcomes[1][0] != 0  # without the mount: no screen
