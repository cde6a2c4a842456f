"""S3 集中对账: the differences seeded into the two systems end up in the workbook, one OA ticket
and one mail to the department."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import openpyxl
import pytest

from workhand.demo import DemoSystems

RunRobot = Callable[..., Any]  # the run_robot fixture (tests/acceptance/conftest.py)

pytestmark = pytest.mark.acceptance

ROBOT = "s3-central-reconciliation.yaml"


def test_differences_open_a_ticket_and_notify(demo: DemoSystems,
                                              run_robot: RunRobot) -> None:
    run = run_robot(ROBOT)
    assert run.code == 0, run.log
    state = demo.state()
    want = state["expected"]["reconciliation"]
    day = state["today"]

    # the OA ticket carries every difference
    [ticket] = state["tickets"]
    assert day in ticket["title"] and ticket["department"] == "资金清算部"
    assert ticket["summary"]["balanced"] is False
    assert [d["key"] for d in ticket["amount_differences"]] == \
        [d["serial"] for d in want["amount_differences"]]
    assert [r["流水号"] for r in ticket["only_core"]] == want["only_core"]
    assert [r["流水号"] for r in ticket["only_clearing"]] == want["only_clearing"]

    # the department got one mail, with the workbook, naming the ticket
    [mail] = state["mails"]
    assert mail["to"] == ["qsb@demo-bank.cn"] and ticket["id"] in mail["subject"]
    assert mail["attachments"] == [f"对账结果_{day}.xlsx"]

    # the result workbook
    wb = openpyxl.load_workbook(run.output / f"对账结果_{day}.xlsx")
    assert wb.sheetnames == ["汇总", "金额不符", "核心有清算无", "清算有核心无"]
    summary = dict(zip(*wb["汇总"].iter_rows(values_only=True), strict=True))
    assert summary == {"对账日期": day, "核心笔数": 29, "清算笔数": 29, "一致笔数": 26,
                       "金额不符": 2, "核心有清算无": 1, "清算有核心无": 1, "结果": "不平衡"}
    rows = list(wb["金额不符"].iter_rows(values_only=True))
    assert rows[0] == ("流水号", "账号", "户名", "核心金额", "清算金额", "差额")
    assert [(r[0], r[3], r[4], r[5]) for r in rows[1:]] == [
        (d["serial"], float(d["core"]), float(d["clearing"]),
         round(float(d["core"]) - float(d["clearing"]), 2))
        for d in want["amount_differences"]]
    assert sorted(r[5] for r in rows[1:]) == [0.01, 100]
    assert [r[0] for r in list(wb["核心有清算无"].iter_rows(values_only=True))[1:]] == \
        want["only_core"]
    assert [r[0] for r in list(wb["清算有核心无"].iter_rows(values_only=True))[1:]] == \
        want["only_clearing"]

    assert run.result["status"] == "passed"
    assert run.result["minutes_saved"] == 90
    assert state["logins"] == {"core": 1, "clearing": 1}


def test_a_balanced_day_opens_no_ticket(demo: DemoSystems, run_robot: RunRobot) -> None:
    # the demo systems hold no transactions on other days: both sides are empty, so balanced
    day = dt.date.fromisoformat(demo.state()["today"]) - dt.timedelta(days=1)
    run = run_robot(ROBOT, f"day={day.isoformat()}")
    assert run.code == 0, run.log
    state = demo.state()
    assert state["tickets"] == [] and state["mails"] == []
    wb = openpyxl.load_workbook(run.output / f"对账结果_{day.isoformat()}.xlsx")
    summary = dict(zip(*wb["汇总"].iter_rows(values_only=True), strict=True))
    assert summary["结果"] == "平衡" and summary["核心笔数"] == 0
