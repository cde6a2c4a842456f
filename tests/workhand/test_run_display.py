"""`workhand run` of a desktop robot: $DISPLAY when set, else a virtual screen of its own for
the run (said, and stopped afterwards); --display chooses; --allow-app adds the applications
desktop.launch may start, as a worker's `apps:` does."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from libs.checker import check_file
from workhand.cli import parse_apps, run_display

WORKHAND = [sys.executable, "-m", "workhand"]
TK_WINDOW = Path(__file__).parents[1] / "orchestrator" / "tk_window.py"
needs_xvfb = pytest.mark.skipif(shutil.which("Xvfb") is None, reason="Xvfb is not installed")

LAUNCHER = """robot: launcher
steps:
  - desktop.launch: {app: "${inputs.app}"}
inputs:
  app: {type: text}
"""
TK = """robot: tk-window
steps:
  - desktop.launch: {app: tk, window: 显示测试}
  - desktop.screenshot: screen.png
  - desktop.close: 显示测试
"""


def without_display() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "XAUTHORITY")}


@needs_xvfb
def test_no_display_means_a_virtual_screen_and_apps_come_from_the_command_line(
        tmp_path: Path) -> None:
    (tmp_path / "launcher.yaml").write_text(LAUNCHER, encoding="utf-8")
    ran = subprocess.run(
        [*WORKHAND, "run", "launcher.yaml", "--output", "out", "--input", "app=paint",
         "--allow-app", f"tk={sys.executable} {TK_WINDOW}", "--allow-app", "calc=/usr/bin/xcalc"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, env=without_display())
    text = ran.stdout + ran.stderr
    assert ran.returncode == 1, text
    said = re.search(r"no DISPLAY: running on a virtual screen :(\d+)", text)
    assert said is not None, text
    # the policy is the command line's: paint is not allowed, tk and calc are
    assert re.search(r"'paint' is not an application .*allowed: calc, tk", " ".join(
        text.split())), text
    assert not Path(f"/tmp/.X11-unix/X{said.group(1)}").exists()  # the screen is stopped


@needs_xvfb
def test_the_run_s_display_as_chosen(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "launcher.yaml").write_text(LAUNCHER, encoding="utf-8")
    (tmp_path / "plain.yaml").write_text("robot: plain\nsteps:\n  - log: hi\n", encoding="utf-8")
    desktop, plain = check_file(tmp_path / "launcher.yaml"), check_file(tmp_path / "plain.yaml")
    monkeypatch.setenv("DISPLAY", ":41")
    monkeypatch.delenv("XAUTHORITY", raising=False)
    with run_display(desktop, None):
        assert os.environ["DISPLAY"] == ":41"  # $DISPLAY is used when set
    with run_display(desktop, ":42"):
        assert os.environ["DISPLAY"] == ":42"
    with run_display(desktop, "xvfb"):
        virtual = os.environ["DISPLAY"]
        assert virtual != ":41" and Path(os.environ["XAUTHORITY"]).is_file()
        assert Path(f"/tmp/.X11-unix/X{virtual[1:]}").exists()
    assert not Path(f"/tmp/.X11-unix/X{virtual[1:]}").exists()
    assert os.environ["DISPLAY"] == ":41" and "XAUTHORITY" not in os.environ  # as it was
    monkeypatch.delenv("DISPLAY")
    with run_display(plain, None):  # no desktop steps: no screen
        assert "DISPLAY" not in os.environ
    with pytest.raises(typer.BadParameter, match="xvfb or a display"), run_display(desktop,
                                                                                   "big"):
        pass


def test_allowed_apps_are_absolute_command_lines() -> None:
    assert parse_apps(["calc=/usr/bin/xcalc -rpn", "filing=/usr/bin/python3 -m 'demo filing'"]
                      ) == {"calc": ("/usr/bin/xcalc", "-rpn"),
                            "filing": ("/usr/bin/python3", "-m", "demo filing")}
    for bad, said in [("calc", "NAME=COMMAND"), ("calc=", "NAME=COMMAND"),
                      ("calc=xcalc", "absolute path"), ("calc=/usr/bin/x 'open", "quotation")]:
        with pytest.raises(typer.BadParameter, match=said):
            parse_apps([bad])


@needs_xvfb
def test_a_desktop_robot_runs_on_its_virtual_screen(tmp_path: Path) -> None:
    (tmp_path / "tk.yaml").write_text(TK, encoding="utf-8")
    ran = subprocess.run(
        [*WORKHAND, "run", "tk.yaml", "--output", "out", "--allow-app",
         f"tk={sys.executable} {TK_WINDOW}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, env=without_display())
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "no DISPLAY: running on a virtual screen" in ran.stdout
    assert (tmp_path / "out" / "screen.png").stat().st_size > 0
