"""The tutorial, followed literally: its files are written as the reader writes them, its
commands run against the demo systems, and the result is checked in the systems' own state.

Markers in docs/guide/tutorial*.md, each an HTML comment on the line before a fenced block:

- ``<!-- tutorial: write FILE -->``: the reader creates FILE (or replaces it) with the block.
- ``<!-- tutorial: append FILE -->``: the reader adds the block at the end of FILE.
- ``<!-- tutorial: run -->``: a ```bash block; its ``workhand ...`` lines are run in order, in
  the folder the reader works in (``export``, ``source`` and ``#`` lines are the reader's set-up:
  the test gives the same variables, pointing at its own demo systems). Each must exit 0.
- ``<!-- tutorial: expect -->``: each line of the block is in what the last run printed
  (spaces and table borders are ignored: a terminal's width changes how the table wraps).
- ``<!-- tutorial: compare FILE -->``: FILE, as assembled so far, is exactly the block.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import pytest

from tests.docs.blocks import ROOT, Block, blocks
from workhand.demo import DemoSystems, start

pytestmark = pytest.mark.acceptance

WORKHAND = Path(sys.executable).with_name("workhand")
TUTORIAL = ROOT / "docs" / "guide" / "tutorial.md"
TRANSLATIONS = [ROOT / "docs" / "guide" / "tutorial.zh.md"]
ROBOT = "my-robots/account-check.yaml"


@pytest.fixture(scope="module")
def demo() -> Iterator[DemoSystems]:
    with start() as systems:
        yield systems


def _plain(text: str) -> str:
    return re.sub(r"[\s│┃|─━┌┐└┘├┤┬┴┼]+", "", text)


def _run(line: str, folder: Path, demo: DemoSystems) -> str:
    args = shlex.split(line)
    assert args[0] == "workhand" and "--headed" not in args, line
    demo.reset()  # each run starts from the demo's seed, as it would on a fresh `workhand up`
    proc = subprocess.run([str(WORKHAND), *args[1:]], cwd=folder, capture_output=True,
                          text=True, timeout=300,
                          env={**os.environ, **demo.env(), "COLUMNS": "100"})
    printed = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"'{line}' exited {proc.returncode}:\n{printed}"
    return printed


def follow(tutorial: Path, folder: Path, demo: DemoSystems | None) -> list[Block]:
    """Do what the tutorial says, in order; returns the blocks it acted on. Without demo
    systems only the files are written and compared (commands and their output are not)."""
    shutil.copytree(ROOT / "robots" / "credentials", folder / "robots" / "credentials")
    acted: list[Block] = []
    printed = ""
    for block in blocks(tutorial):
        if block.marker is None:
            continue
        action, _, target = block.marker.partition(" ")
        path = folder / target.strip()
        acted.append(block)
        if action == "write":
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(block.text, encoding="utf-8")
        elif action == "append":
            with path.open("a", encoding="utf-8") as file:
                file.write(block.text)
        elif action == "compare":
            assert path.read_text(encoding="utf-8") == block.text, \
                f"{block.where}: the file assembled so far is not what the tutorial shows"
        elif demo is None and action in ("run", "expect"):
            continue
        elif action == "run":
            assert block.lang == "bash", block.where
            commands = [line.strip() for line in block.text.splitlines() if line.strip()
                        and not line.strip().startswith(("#", "export ", "source "))]
            assert commands, block.where
            printed = "".join(_run(line, folder, demo) for line in commands)
        elif action == "expect":
            for line in block.text.splitlines():
                assert _plain(line) in _plain(printed), \
                    f"{block.where}: the run did not print '{line}'; it printed:\n{printed}"
        else:
            raise AssertionError(f"{block.where}: unknown tutorial marker '{block.marker}'")
    return acted


def test_the_tutorial_works_as_written(tmp_path: Path, demo: DemoSystems) -> None:
    acted = follow(TUTORIAL, tmp_path, demo)
    kinds = [b.marker.split()[0] for b in acted if b.marker]
    assert kinds.count("append") >= 5 and kinds.count("run") >= 5 and kinds[-1] != "write"
    assert "compare" in kinds

    # the demo systems' own record of the last run: one log-in, one mail with the workbook
    state = demo.state()
    assert state["logins"] == {"accounts": 1}
    mails = state["mails"]
    assert len(mails) == 1
    assert mails[0]["to"] == ["wd0101@demo-bank.cn"]
    assert mails[0]["subject"] == "对公账户户名核对结果"
    assert mails[0]["attachments"] == ["核对结果.xlsx"]

    # the workbook against what the account system holds
    system = {a["number"]: a for a in state["accounts"]}
    listed = dict(line.split(",") for line in
                  (tmp_path / "my-robots/data/accounts.csv").read_text("utf-8").split()[1:])
    runs = sorted((tmp_path / "output").glob("account-check-*"))
    out = runs[-1]
    sheet = openpyxl.load_workbook(out / "核对结果.xlsx").active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == ("账号", "清单户名", "系统户名", "年检状态", "核对结果")
    written = {r[0]: r for r in rows[1:]}
    known = [n for n in listed if n in system]
    assert sorted(written) == sorted(known)  # the unknown account has no row
    for number, row in written.items():
        account = system[number]
        same = account["company"] == listed[number]
        assert row == (number, listed[number], account["company"], account["status"],
                       "一致" if same else "户名不一致")

    result = json.loads((out / "result.json").read_text("utf-8"))
    assert result["status"] == "passed"
    assert result["items"] == {"total": 5, "done": 3, "business_exceptions": 2,
                               "system_errors": 0}
    outcomes = {w["id"]: w["outcome"] for w in result["work_items"]}
    assert outcomes == {n: "done" if n in system and system[n]["company"] == listed[n]
                        else "business_exception" for n in listed}
    assert result["minutes_saved"] == 3 * 3 - 2 * 2


@pytest.mark.parametrize("translation", TRANSLATIONS, ids=[p.name for p in TRANSLATIONS])
def test_a_translation_builds_the_same_robot(translation: Path) -> None:
    """A translation has the same files, commands and expected output, in the same order (only
    the comments in YAML may be translated), so the run above vouches for it too."""
    def pieces(path: Path) -> list[tuple[str, str]]:
        return [(b.marker or "", re.sub(r"[ \t]+#.*", "", b.text)) for b in blocks(path)
                if b.marker]

    assert pieces(translation) == pieces(TUTORIAL)


@pytest.mark.parametrize("translation", TRANSLATIONS, ids=[p.name for p in TRANSLATIONS])
def test_a_translation_assembles_its_own_whole_file(translation: Path, tmp_path: Path) -> None:
    """Its translated comments included: the file its reader builds is the one it shows."""
    acted = follow(translation, tmp_path, None)
    assert any(b.marker and b.marker.startswith("compare") for b in acted)
