"""S2 人行影像系统上报检查: the branch of every unfiled account gets exactly one mail."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from workhand.demo import DemoSystems

RunRobot = Callable[..., Any]  # the run_robot fixture (tests/acceptance/conftest.py)

pytestmark = pytest.mark.acceptance

ROBOT = "s2-image-filing-check.yaml"


def test_unfiled_accounts_are_notified(demo: DemoSystems, run_robot: RunRobot) -> None:
    run = run_robot(ROBOT)
    assert run.code == 0, run.log
    state = demo.state()
    changes = state["expected"]["changes_yesterday"]
    unfiled = [c for c in changes if not c["filed"]]
    assert len(changes) == 10 and len(unfiled) == 3

    # every account of yesterday's list was looked up in the image system, and nothing else
    assert sorted(state["imaging_queries"]) == sorted(c["account"] for c in changes)
    assert state["logins"] == {"accounts": 1, "imaging": 1}
    assert [d["file"] for d in state["downloads"]] == \
        [f"账户变动清单_{changes[0]['date'].replace('-', '')}.csv"]

    # one mail per unfiled account, to its own branch
    mails = state["mails"]
    assert sorted((m["to"], m["rcpt_to"]) for m in mails) == \
        sorted(([c["branch_mail"]], [c["branch_mail"]]) for c in unfiled)
    for change in unfiled:
        [mail] = [m for m in mails if change["account"] in m["subject"]]
        assert change["holder"] in mail["subject"]
        assert mail["to"] == [change["branch_mail"]]
        assert change["account"] in mail["body"] and change["kind"] in mail["body"]

    assert run.result["items"] == {"total": 10, "done": 7, "business_exceptions": 3,
                                   "system_errors": 0}
    assert run.outcomes() == {c["account"]: "done" if c["filed"] else "business_exception"
                              for c in changes}
    assert run.result["minutes_saved"] == pytest.approx(7 * 0.5)


def test_another_day_is_checked_on_request(demo: DemoSystems,
                                           run_robot: RunRobot) -> None:
    day = dt.date.fromisoformat(demo.state()["today"]) - dt.timedelta(days=2)
    run = run_robot(ROBOT, f"day={day.isoformat()}")
    assert run.code == 0, run.log
    assert run.result["items"]["total"] == 3
    [mail] = demo.state()["mails"]
    assert "360101880000200301" in mail["subject"] and mail["to"] == ["wd0101@demo-bank.cn"]
