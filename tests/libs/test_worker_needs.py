"""What a robot needs of its worker, from the step libraries it and the robots it calls use
(libs.plan.worker_needs over libs.registry.LIBRARY_NEEDS)."""

from __future__ import annotations

from pathlib import Path

from libs.checker import check_file
from libs.plan import worker_needs
from libs.registry import LIBRARY_NEEDS, load_libraries


def robot(folder: Path, name: str, text: str) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_desktop_steps_anywhere_need_a_display(tmp_path: Path) -> None:
    plain = robot(tmp_path, "plain", "robot: plain\nsteps:\n  - log: 你好\n"
                  "  - files.write_text: {path: a.txt, text: x}\n")
    assert worker_needs(check_file(plain)) == []
    nested = robot(tmp_path, "nested", """robot: nested
steps:
  - if: "${false}"
    then:
      - try:
          - desktop.wait_window: 账户备案系统
        catch:
          - log: never
""")
    assert worker_needs(check_file(nested)) == ["desktop"]


def test_a_called_robot_s_needs_are_the_caller_s(tmp_path: Path) -> None:
    robot(tmp_path, "typist", "robot: typist\nsteps:\n  - desktop.hotkey: ctrl+s\n")
    robot(tmp_path, "middle", "robot: middle\nsteps:\n  - call: typist\n  - call: typist\n")
    caller = robot(tmp_path, "caller", "robot: caller\nsteps:\n  - log: start\n"
                   "  - for_each: [1, 2]\n    as: n\n    steps:\n      - call: middle\n")
    assert worker_needs(check_file(caller)) == ["desktop"]


def test_every_library_with_a_need_exists() -> None:
    libraries = {spec.library for spec in load_libraries().values()}
    assert set(LIBRARY_NEEDS) <= libraries
