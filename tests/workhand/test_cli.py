"""The command line, run as a user runs it (a real process)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

WORKHAND = [sys.executable, "-m", "workhand"]


def workhand(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*WORKHAND, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, check=False)


def test_new_makes_a_robot_that_checks_and_runs(tmp_path: Path) -> None:
    made = workhand("new", "daily-check", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert workhand("check", "robots/daily-check.yaml", cwd=tmp_path).returncode == 0
    ran = workhand("run", "robots/daily-check.yaml", "--output", "out", cwd=tmp_path)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    result = json.loads((tmp_path / "out" / "result.json").read_text(encoding="utf-8"))
    assert result["status"] == "passed"
    assert result["items"] == {"total": 2, "done": 1, "business_exceptions": 1,
                               "system_errors": 0}
    assert result["minutes_saved"] == 5 - 2
    assert (tmp_path / "out" / "events.jsonl").read_text(encoding="utf-8").count("item.end") == 2
    assert workhand("new", "daily-check", cwd=tmp_path).returncode == 2  # never overwrites


def test_run_inputs_credentials_and_exit_codes(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(
        "robot: greet\ncredentials: [bank]\ninputs:\n  times: {type: integer, default: 1}\n"
        "steps:\n  - assert: {that: '${inputs.times == 3}', message: 'times was ${inputs.times}'}\n"
        "  - log: 'user ${credentials.bank.username}'\n"
        "  - set: {pw: '${credentials.bank.password}'}\n",
        encoding="utf-8")
    (tmp_path / "creds.yaml").write_text("bank: {username: 张三, password: 'Zh@ngsan-88'}\n",
                                         encoding="utf-8")
    ok = workhand("run", "r.yaml", "-i", "times=3", "--credentials", "creds.yaml",
                  "--output", "ok", cwd=tmp_path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    events = (tmp_path / "ok" / "events.jsonl").read_text(encoding="utf-8")
    assert "user 张三" in events  # a user name is plain; the password is a secret
    assert "Zh@ngsan-88" not in events + ok.stdout
    failed = workhand("run", "r.yaml", "-i", "times=2", "--credentials", "creds.yaml",
                      "--output", "bad", cwd=tmp_path)
    assert failed.returncode == 1
    assert "times was 2" in failed.stdout
    broken = workhand("run", "missing.yaml", cwd=tmp_path)
    assert broken.returncode == 2 and "missing.yaml:1:1: robot file not found" in broken.stderr


def test_run_skips_the_items_given_with_skip_item(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(
        "robot: items\nsteps:\n  - for_each: [A, B, C]\n    as: code\n"
        "    work_item: '${code}'\n    steps:\n"
        "      - files.write_text: {path: worked.txt, text: '${code}', append: true}\n",
        encoding="utf-8")
    ran = workhand("run", "r.yaml", "--output", "out", "--skip-item", "A", "--skip-item", "C",
                   cwd=tmp_path)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert (tmp_path / "out" / "worked.txt").read_text(encoding="utf-8") == "B"
    result = json.loads((tmp_path / "out" / "result.json").read_text(encoding="utf-8"))
    assert result["items"] == {"total": 3, "done": 1, "business_exceptions": 0,
                               "system_errors": 0, "skipped": 2}
    assert "2 skipped" in ran.stdout


def test_steps_and_schema(tmp_path: Path) -> None:
    listed = workhand("steps", cwd=tmp_path)
    assert listed.returncode == 0 and "fail_item" in listed.stdout
    schema = workhand("schema", cwd=tmp_path)
    assert json.loads(schema.stdout)["title"] == "Workhand robot"


def test_check_also_checks_schedules_against_the_robots_beside_them(tmp_path: Path) -> None:
    (tmp_path / "robots").mkdir()
    (tmp_path / "robots" / "daily.yaml").write_text("robot: daily-check\nsteps:\n  - log: hi\n",
                                                    encoding="utf-8")
    (tmp_path / "schedules").mkdir()
    (tmp_path / "schedules" / "morning.yaml").write_text(
        'name: morning\nrobot: daily-chek\ncron: "0 8 * * 1-5"\n', encoding="utf-8")
    checked = workhand("check", "schedules/morning.yaml", "robots/daily.yaml", cwd=tmp_path)
    assert checked.returncode == 1
    assert "schedules/morning.yaml:2:8:" in checked.stderr
    assert "daily-check" in checked.stderr  # did you mean


def test_check_skips_a_credentials_file_beside_the_robots(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text("robot: r\nsteps:\n  - log: 你好\n", encoding="utf-8")
    (tmp_path / "demo.yaml").write_text("bank: {username: u, password: p, hosts: [127.0.0.1]}\n",
                                        encoding="utf-8")
    checked = workhand("check", "demo.yaml", "r.yaml", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.splitlines() == [
        "demo.yaml: skipped, a credentials file, not a robot (give it to workhand run "
        "--credentials demo.yaml)", "1 robot file(s) OK"]


def test_every_failed_item_can_be_read_whole_in_the_terminal(tmp_path: Path) -> None:
    reason = "企业状态为 注销（" + "很长的原因" * 30 + "）"
    (tmp_path / "r.yaml").write_text(
        "robot: many\nsteps:\n  - for_each: [" + ", ".join(str(n) for n in range(25)) + "]\n"
        "    as: n\n"
        "    work_item: 'A${n}'\n    steps:\n"
        f"      - fail_item: '{reason}'\n", encoding="utf-8")
    ran = workhand("run", "r.yaml", "--output", "out", cwd=tmp_path)
    assert "… and 5 more: workhand items out lists them all" in ran.stdout
    listed = workhand("items", "out", "--outcome", "business_exception", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.count("business_exception") == 25
    assert listed.stdout.splitlines()[0] == f"A0  business_exception  {reason}"
    assert listed.stdout.count(reason) == 25
