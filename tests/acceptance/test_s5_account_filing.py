"""S5 账户备案: the desktop robot files every account of its list in the Tk filing client on a
virtual screen (Xvfb), typing Chinese, and reads each confirmation number by OCR. The client's
own records are checked item by item, and the numbers the robot wrote must be the client's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest

from workhand.demo.filing.batch import make_batch
from workhand.demo.filing.records import read_filings, read_login_attempts

pytestmark = pytest.mark.acceptance

ROOT = Path(__file__).resolve().parents[2]
WORKHAND = Path(sys.executable).with_name("workhand")
ROBOT = "robots/s5-account-filing.yaml"


def test_every_account_is_filed_and_its_number_read_by_ocr(tmp_path: Path) -> None:
    client_data = tmp_path / "filing"
    out = tmp_path / "run"
    app = f"filing={sys.executable} -m workhand.demo.filing --data {client_data}"
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "XAUTHORITY")}
    done = subprocess.run([str(WORKHAND), "run", ROBOT, "--credentials",
                           "robots/credentials/demo.yaml", "--output", str(out),
                           "--allow-app", app], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)
    log = done.stdout + done.stderr
    assert done.returncode == 0, log
    assert "no DISPLAY: running on a virtual screen" in log

    # the client's own records: every account of the list, field by field, in order
    expected = make_batch(5, seed=1)  # what robots/data/make_data.py wrote
    filings = read_filings(client_data)
    assert [f.as_row() for f in filings] == [row | {"备注": ""} for row in expected]
    assert [(a.teller, a.succeeded) for a in read_login_attempts(client_data)] == [
        ("0101", True)]

    # the numbers the robot read by OCR are the client's, item by item
    sheet = openpyxl.load_workbook(out / "备案结果.xlsx").active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == ("账号", "账户名称", "备案编号")
    assert [(str(r[0]), r[1], r[2]) for r in rows[1:]] == [
        (f.account_number, f.account_name, f.confirmation) for f in filings]

    result = json.loads((out / "result.json").read_text(encoding="utf-8"))
    assert result["items"] == {"total": 5, "done": 5, "business_exceptions": 0,
                               "system_errors": 0}
    assert result["outputs"] == {"filed": 5}
    assert result["minutes_saved"] == pytest.approx(5 * 7)
