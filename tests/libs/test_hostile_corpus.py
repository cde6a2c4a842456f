"""The hostile corpus (tests/robots/hostile/README.md): every robot is refused, and nothing
happened — no file outside the run folder created, changed or deleted, nothing from outside it
read into the output, no secret or transform of one in any output."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from libs.checker import check_file
from libs.errors import RobotFileError

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = ROOT / "tests" / "robots" / "hostile"
WORKHAND = ROOT / ".venv" / "bin" / "workhand"
PROBLEM_LINE = re.compile(r"^[^:]+:\d+:\d+: .+$")
EXPECT_CHECK = re.compile(r"^(\d+):(\d+): (.+)$")
CLASSES = {"os-command", "data-folder", "token", "worker-env", "secret-transform", "files",
           "call", "browser", "limits", "time"}

PASSWORD = "ops01-Secret-99"
DEFAULT_CREDENTIALS = f"bank: {{username: ops01, password: {PASSWORD}}}"
CANARY_TEXT = "CANARY-outside-0f3a9c"
PLATFORM_ENV = {
    "WORKHAND_TOKEN": "wh_worker_CANARYtoken7781xq",
    "WORKHAND_VAULT_KEY": "CANARYvaultKey5521zz",
    "WORKHAND_DATABASE_URL": "postgresql://canary:CANARYdbPw9931@127.0.0.1/test",
}
SYSTEM_TEXT = ["root:x:0:0:"]  # /etc/passwd's first line: a robot read a system file


def transforms(secret: str) -> set[str]:
    """A secret and the ways a robot could disguise it on its way out."""
    raw = secret.encode()
    found = {secret, secret.upper(), secret.lower(), secret.swapcase(), secret[::-1],
             secret[::-1].upper(), raw.hex(), raw.hex().upper(),
             base64.b64encode(raw).decode().rstrip("="),
             base64.urlsafe_b64encode(raw).decode().rstrip("="),
             base64.b32encode(raw).decode().rstrip("="),
             urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret)}
    # a secret cut in half or with its first letters dropped still gives most of it away
    found |= {secret[1:], secret[:-1], secret[len(secret) // 4:], secret[:8], secret[-8:]}
    return {t for t in found if len(t) >= 6}


FORBIDDEN = sorted({t for s in [PASSWORD, CANARY_TEXT, *PLATFORM_ENV.values()]
                    for t in transforms(s)} | set(SYSTEM_TEXT), key=len, reverse=True)


@dataclass(frozen=True)
class Case:
    path: Path
    klass: str
    check: tuple[int, int, str] | None
    run_text: str | None
    credentials: str

    @classmethod
    def read(cls, path: Path) -> Case:
        values: dict[str, str] = {}
        for line in path.read_text(encoding="utf-8").split("\n"):
            if not line.startswith("#"):
                break
            key, sep, value = line.removeprefix("#").strip().partition(":")
            if sep:
                values.setdefault(key.strip(), value.strip())
        klass = values.get("hostile", "").split()[0] if values.get("hostile") else ""
        assert klass in CLASSES, f"{path.name}: '# hostile: CLASS — ...' with CLASS in {CLASSES}"
        check = None
        if "expect-check" in values:
            match = EXPECT_CHECK.match(values["expect-check"])
            assert match, f"{path.name}: '# expect-check: LINE:COL: text'"
            check = (int(match[1]), int(match[2]), match[3])
        run_text = values.get("expect-run")
        assert (check is None) != (run_text is None), \
            f"{path.name}: give exactly one of expect-check and expect-run"
        return cls(path, klass, check, run_text, values.get("credentials", DEFAULT_CREDENTIALS))


CASES = [Case.read(p) for p in sorted(HOSTILE.glob("*.yaml"))]
IDS = [c.path.stem for c in CASES]


def test_the_corpus_covers_every_class() -> None:
    assert len(CASES) >= 40
    assert {c.klass for c in CASES} == CLASSES


# -- a world for each robot: its bundle, an outside folder, a run folder ---------------------


@dataclass
class World:
    base: Path
    robots: Path
    outside: Path
    out: Path

    @classmethod
    def make(cls, base: Path) -> World:
        robots, outside = base / "robots", base / "outside"
        shutil.copytree(HOSTILE, robots)
        outside.mkdir()
        (outside / "canary.txt").write_text(CANARY_TEXT + "\n", encoding="utf-8")
        (outside / "folder").mkdir()
        (outside / "folder" / "keep.txt").write_text("keep me\n", encoding="utf-8")
        for robot in robots.rglob("*.yaml"):
            text = robot.read_text(encoding="utf-8")
            if "@OUTSIDE@" in text:
                robot.write_text(text.replace("@OUTSIDE@", str(outside)), encoding="utf-8")
        (base / "work").mkdir()
        return cls(base, robots, outside, base / "out")

    def snapshot(self) -> dict[str, str]:
        """Every path under the world but the run folder, with its content's hash."""
        seen = {}
        for path in sorted(self.base.rglob("*")):
            if path == self.out or self.out in path.parents:
                continue
            rel = str(path.relative_to(self.base))
            seen[rel] = ("dir" if path.is_dir() and not path.is_symlink()
                         else hashlib.sha256(path.read_bytes()).hexdigest()
                         if path.is_file() else "other")
        return seen


def env() -> dict[str, str]:
    return {**os.environ, **PLATFORM_ENV, "PYTHONIOENCODING": "utf-8", "NO_COLOR": "1",
            "COLUMNS": "300"}


@dataclass
class Ran:
    case: Case
    world: World
    before: dict[str, str]
    after: dict[str, str]
    returncode: int
    output: str


def run_case(case: Case, base: Path) -> Ran:
    world = World.make(base)
    before = world.snapshot()
    robot = world.robots / case.path.name
    creds = base / "credentials.yaml"
    creds.write_text(case.credentials + "\n", encoding="utf-8")
    before[str(creds.relative_to(base))] = hashlib.sha256(creds.read_bytes()).hexdigest()
    proc = subprocess.run([str(WORKHAND), "run", str(robot), "--output", str(world.out),
                           "--credentials", str(creds)], cwd=base / "work", env=env(),
                          capture_output=True, timeout=300)
    output = (proc.stdout + proc.stderr).decode("utf-8", errors="replace")
    return Ran(case, world, before, world.snapshot(), proc.returncode, output)


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Ran]:
    """Every hostile robot run once through the real CLI, four at a time."""
    base = tmp_path_factory.mktemp("hostile")
    with ThreadPoolExecutor(4) as pool:
        runs = pool.map(lambda c: run_case(c, base / c.path.stem), CASES)
        return {r.case.path.stem: r for r in runs}


# -- refused ---------------------------------------------------------------------------------


CHECKED = [c for c in CASES if c.check is not None]


@pytest.mark.parametrize("case", CHECKED, ids=[c.path.stem for c in CHECKED])
def test_check_refuses_with_file_line_col(case: Case, tmp_path: Path) -> None:
    world = World.make(tmp_path)
    robot = world.robots / case.path.name
    with pytest.raises(RobotFileError) as caught:
        check_file(robot, shown_as=case.path.name)
    found = [str(p) for p in caught.value.problems]
    assert all(PROBLEM_LINE.match(line) and "\n" not in line for line in found), found
    assert case.check is not None
    line, col, text = case.check
    assert any(p.startswith(f"{case.path.name}:{line}:{col}: ") and text in p
               for p in found), f"expected {line}:{col}: ...{text}... among:\n" + "\n".join(found)


RUN = [c for c in CASES if c.run_text is not None]


@pytest.mark.parametrize("case", RUN, ids=[c.path.stem for c in RUN])
def test_check_passes_and_the_run_fails_clearly(case: Case, ran: dict[str, Ran]) -> None:
    result = ran[case.path.stem]

    data = json.loads((result.world.out / "result.json").read_text(encoding="utf-8"))
    messages = [str((data.get("error") or {}).get("message", ""))]
    messages += [str(i.get("message", "")) for i in data.get("work_items", [])
                 if i.get("outcome") != "done"]
    assert case.run_text is not None
    assert data["status"] == "failed" or any(case.run_text in m for m in messages[1:]), \
        result.output
    assert any(case.run_text in m for m in messages), (messages, result.output)
    assert "Traceback" not in result.output


# -- and nothing happened --------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_nothing_happened(case: Case, ran: dict[str, Ran]) -> None:
    result = ran[case.path.stem]
    assert result.returncode != 0, result.output
    changed = {k for k in result.before.keys() | result.after.keys()
               if result.before.get(k) != result.after.get(k)}
    assert not changed, f"outside the run folder, these changed: {sorted(changed)}"
    leaks = [t for t in FORBIDDEN if t in result.output]
    assert not leaks, f"printed: {leaks}"
    if not result.world.out.exists():
        return
    for path in result.world.out.rglob("*"):
        rel = str(path.relative_to(result.world.out))
        named = [t for t in FORBIDDEN if t in rel]
        assert not named, f"a file name holds a secret: {rel}"
        if path.is_symlink():
            pytest.fail(f"the run folder holds a symbolic link: {rel}")
        if path.is_file():
            data = path.read_bytes()
            text = data.decode("utf-8", errors="replace")
            held = [t for t in FORBIDDEN if t in text or t.encode() in data]
            assert not held, f"{rel} holds {held}"
