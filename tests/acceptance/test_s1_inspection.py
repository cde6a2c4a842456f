"""S1 对公账户年检: every due account ends in the state its registry record calls for."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import openpyxl
import pytest

from workhand.demo import DemoSystems

RunRobot = Callable[..., Any]  # the run_robot fixture (tests/acceptance/conftest.py)

pytestmark = pytest.mark.acceptance

ROBOT = "s1-account-annual-inspection.yaml"


def decision(registry: dict[str, str]) -> str:
    if registry == {"status": "存续", "annual_report": "已公示"}:
        return "已年检"
    return "已止付" if registry["status"] in ("注销", "吊销") else "已转交网点"


def test_annual_inspection(demo: DemoSystems, run_robot: RunRobot) -> None:
    run = run_robot(ROBOT)
    assert run.code == 0, run.log
    state = demo.state()
    expected = state["expected"]["registry"]
    due = {a["number"]: a for a in state["accounts"] if a["due"]}
    want = {n: decision(expected[a["company"]]) for n, a in due.items()}
    assert sorted(want.values()).count("已年检") == 7
    assert sorted(want.values()).count("已止付") == 2
    assert sorted(want.values()).count("已转交网点") == 4

    # what the account system recorded
    for number, account in due.items():
        status = expected[account["company"]]["status"]
        assert account["status"] == want[number], (number, account)
        assert account["stopped"] == (want[number] == "已止付")
        assert account["handed_back"] == (want[number] == "已转交网点")
        if want[number] == "已年检":
            assert account["inspected_on"] == state["today"]
        elif want[number] == "已止付":
            assert status in account["stop_reason"]
        else:
            assert status in account["handback_reason"]
        assert len(account["actions"]) == 1, account["actions"]  # each account handled once
    assert all(not a["actions"] for a in state["accounts"] if not a["due"])
    assert state["logins"] == {"accounts": 1}
    assert set(state["registry_searches"]) == {a["company"] for a in due.values()}

    # what the robot reported: done and business exceptions counted apart
    assert run.result["status"] == "passed"
    assert run.result["items"] == {"total": 13, "done": 7, "business_exceptions": 6,
                                   "system_errors": 0}
    assert run.outcomes() == {n: "done" if w == "已年检" else "business_exception"
                              for n, w in want.items()}
    assert run.result["minutes_saved"] == 7 * 10 - 6 * 3
    messages = {w["id"]: w["message"] for w in run.result["work_items"]}
    assert "已止付" in messages["079201880000100103"]
    assert "查无此企业" in messages["360301880000100113"]

    # the robot's own record of what it did
    ws = openpyxl.load_workbook(run.output / "年检结果.xlsx")["年检结果"]
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0] == ("账号", "企业名称", "网点", "登记状态", "年报", "处理结果")
    results = {r[0]: r[5] for r in rows[1:]}
    assert results == {n: {"已年检": "年检通过", "已止付": "已止付",
                           "已转交网点": "已转交网点复核"}[w] for n, w in want.items()}
