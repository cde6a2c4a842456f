"""The bad-input corpus: robots written the way bank operations staff get them wrong.

tests/robots/malformed/*.yaml: each file's first line says where and what the checker must
report (``# expect: LINE:COL: text``); a ``# xfail: reason`` line marks a known checker gap, so
the case flips to a failure (strict xfail) once the checker is fixed.

tests/robots/runtime/*.yaml: problems only a run can find. Header comments:
``# expect-run: passed|failed: text`` (text in result.json's error, or in a logged message when
the run passes), ``# run-args: ...``, ``# credentials: YAML``, ``# failing-step: LINE`` (the error
names robot:LINE), ``# not-written: FILE`` / ``# written: FILE = CONTENT`` (side effects in the
output folder) and ``# declared-at: LINE`` (where a pre-run problem should point).
"""

from __future__ import annotations

import codecs
import json
import os
import re
import shlex
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from libs.checker import check_file
from libs.errors import RobotFileError

ROOT = Path(__file__).resolve().parents[2]
MALFORMED = ROOT / "tests" / "robots" / "malformed"
RUNTIME = ROOT / "tests" / "robots" / "runtime"
WORKHAND = ROOT / ".venv" / "bin" / "workhand"
PROBLEM_LINE = re.compile(r"^[^:]+:\d+:\d+: .+$")
EXPECT = re.compile(r"^# expect: (\d+):(\d+): (.+)$")
SUMMARY = re.compile(r"^\d+ of \d+ robot file\(s\) have problems$")


def header(path: Path) -> list[str]:
    """The leading comment lines, whatever the file's encoding (the corpus has UTF-16 and
    binary files); split on '\\n' only, since str.splitlines() also splits on '\\x0c'."""
    data = path.read_bytes()
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        text = data.decode("utf-16")
    else:
        text = data.decode("utf-8", errors="replace")
    lines = []
    for line in text.split("\n"):
        if not line.startswith("#"):
            break
        lines.append(line.rstrip("\r"))
    return lines


def subprocess_env() -> dict[str, str]:
    return {**os.environ, "PYTHONIOENCODING": "utf-8", "NO_COLOR": "1", "COLUMNS": "300"}


# -- the checker corpus ----------------------------------------------------------------------


@dataclass(frozen=True)
class Expected:
    path: Path
    line: int
    col: int
    text: str
    xfail: str | None

    @classmethod
    def read(cls, path: Path) -> Expected:
        lines = header(path)
        match = EXPECT.match(lines[0]) if lines else None
        if not match:
            raise ValueError(f"{path.name}: the first line must be '# expect: LINE:COL: text'")
        xfail = next((x.removeprefix("# xfail:").strip() for x in lines[1:2]
                      if x.startswith("# xfail:")), None)
        return cls(path, int(match[1]), int(match[2]), match[3], xfail)

    @property
    def prefix(self) -> str:
        return f"{self.path}:{self.line}:{self.col}: "


CORPUS = [Expected.read(p) for p in sorted(MALFORMED.glob("*.yaml"))]


def corpus_params() -> list[Any]:
    return [pytest.param(case, id=case.path.stem,
                         marks=[pytest.mark.xfail(strict=True, reason=case.xfail)]
                         if case.xfail else [])
            for case in CORPUS]


def test_the_corpus_is_big_enough_and_mostly_passing() -> None:
    assert len(CORPUS) >= 40
    assert sum(1 for c in CORPUS if c.xfail is None) >= 40


@pytest.mark.parametrize("case", corpus_params())
def test_checker_reports_the_expected_problem(case: Expected) -> None:
    with pytest.raises(RobotFileError) as caught:
        check_file(case.path, shown_as=str(case.path))
    found = [str(p) for p in caught.value.problems]
    for line in found:
        assert "\n" not in line, f"a problem must be one line: {line!r}"
        assert PROBLEM_LINE.match(line), f"not 'file:line:col: message': {line!r}"
    assert any(line.startswith(case.prefix) and case.text in line for line in found), (
        f"expected {case.prefix}...{case.text}... among:\n" + "\n".join(found))


def owned_lines(stderr: str, files: list[Path]) -> dict[Path, list[str]]:
    """Each stderr line belongs to the file it names; a line naming none continues the last."""
    owned: dict[Path, list[str]] = {f: [] for f in files}
    current: Path | None = None
    for line in stderr.splitlines():
        if SUMMARY.match(line):
            continue
        named = next((f for f in files if line.startswith(f"{f}:")), None)
        current = named or current
        assert current is not None, f"output before any file:line:col line: {line!r}"
        owned[current].append(line)
    return owned


def test_workhand_check_reports_every_file_and_runs_nothing(tmp_path: Path) -> None:
    files = [case.path for case in CORPUS]
    proc = subprocess.run([str(WORKHAND), "check", *map(str, files)], cwd=tmp_path,
                          capture_output=True, env=subprocess_env(), timeout=120)
    stderr = proc.stderr.decode("utf-8", errors="replace")
    assert proc.returncode == 1, stderr
    assert "Traceback" not in stderr
    owned = owned_lines(stderr, files)
    for case in CORPUS:
        if case.xfail:  # known gaps: checked (strictly) by the test above
            continue
        lines = owned[case.path]
        assert lines, f"no file:line:col line for {case.path.name}"
        assert all(PROBLEM_LINE.match(line) for line in lines), lines
        assert any(line.startswith(case.prefix) and case.text in line for line in lines), lines
    assert list(tmp_path.iterdir()) == [], "checking must not run anything or write output"


# -- run-time bad input ----------------------------------------------------------------------


@dataclass(frozen=True)
class RunCase:
    path: Path
    status: str
    text: str
    args: list[str] = field(default_factory=list)
    credentials: str | None = None
    failing_step: int | None = None
    declared_at: int | None = None
    not_written: list[str] = field(default_factory=list)
    written: dict[str, str] = field(default_factory=dict)

    @classmethod
    def read(cls, path: Path) -> RunCase:
        values: dict[str, list[str]] = {}
        for line in header(path):
            key, sep, value = line.removeprefix("#").strip().partition(":")
            if sep:
                values.setdefault(key, []).append(value.strip())
        status, _, text = values["expect-run"][0].partition(": ")
        assert status in ("passed", "failed"), f"{path.name}: expect-run is passed|failed"
        return cls(
            path, status, text,
            args=shlex.split(values.get("run-args", [""])[0]),
            credentials=values.get("credentials", [None])[0],
            failing_step=int(values["failing-step"][0]) if "failing-step" in values else None,
            declared_at=int(values["declared-at"][0]) if "declared-at" in values else None,
            not_written=values.get("not-written", []),
            written=dict(w.split(" = ", 1) for w in values.get("written", [])),
        )


RUN_CASES = [RunCase.read(p) for p in sorted(RUNTIME.glob("*.yaml"))]


@dataclass
class Ran:
    returncode: int
    output: str
    folder: Path

    @property
    def result(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.folder / "out" / "result.json")
                                          .read_text(encoding="utf-8"))
        return data

    @property
    def events(self) -> list[dict[str, Any]]:
        text = (self.folder / "out" / "events.jsonl").read_text(encoding="utf-8")
        return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Ran]:
    """Every runtime robot run once through the real CLI, all at the same time (fast)."""
    base = tmp_path_factory.mktemp("runtime")
    started = {}
    for case in RUN_CASES:
        folder = base / case.path.stem
        folder.mkdir()
        args = [str(WORKHAND), "run", str(case.path), "--output", str(folder / "out"),
                *case.args]
        if case.credentials is not None:
            creds = folder / "credentials.yaml"
            creds.write_text(case.credentials + "\n", encoding="utf-8")
            args += ["--credentials", str(creds)]
        started[case.path.stem] = (subprocess.Popen(
            args, cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            env=subprocess_env()), folder)
    done = {}
    for name, (proc, folder) in started.items():
        out, _ = proc.communicate(timeout=120)
        done[name] = Ran(proc.returncode, out.decode("utf-8", errors="replace"), folder)
    return done


def test_the_runtime_corpus_covers_the_required_cases() -> None:
    names = {c.path.stem for c in RUN_CASES}
    assert {"missing-credential", "excel-not-a-workbook", "input-wrong-type",
            "csv-data-not-evaluated"} <= names
    assert (RUNTIME / "data" / "broken.xlsx").read_bytes()[:2] != b"PK"


@pytest.mark.parametrize("case", RUN_CASES, ids=[c.path.stem for c in RUN_CASES])
def test_runtime_bad_input(case: RunCase, ran: dict[str, Ran]) -> None:
    run = ran[case.path.stem]
    result = run.result
    assert result["status"] == case.status, run.output
    out = run.folder / "out"
    if case.status == "failed":
        assert run.returncode != 0, run.output
        message = result["error"]["message"]
        assert case.text in message
        assert "Traceback" not in run.output
        if case.failing_step is not None:
            assert f"{case.path}:{case.failing_step}:" in message
            assert result["error"]["step"].startswith(f"{case.path}:{case.failing_step}:")
        else:  # a problem found before the run must stop it before any step
            assert not [e for e in run.events if e["type"] == "step.start"]
    else:
        assert run.returncode == 0, run.output
        logged = [e["message"] for e in run.events if e["type"] == "log"]
        assert any(case.text in m for m in logged), logged
    for name in case.not_written:
        assert not (out / name).exists(), f"{name} was written, so a step ran"
    for name, content in case.written.items():
        assert (out / name).read_text(encoding="utf-8") == content
    assert not (run.folder / "output").exists()


DECLARED = [c for c in RUN_CASES if c.declared_at is not None]


@pytest.mark.parametrize("case", DECLARED, ids=[c.path.stem for c in DECLARED])
def test_prerun_problems_point_at_the_declaration(case: RunCase, ran: dict[str, Ran]) -> None:
    problems = ran[case.path.stem].result["error"]["problems"]
    assert any(p.startswith(f"{case.path}:{case.declared_at}:") for p in problems), problems
