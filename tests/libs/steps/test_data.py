"""data.compare (reconciliation) and the small table helpers."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from libs.context import StepContext
from libs.errors import StepArgumentError
from libs.registry import REGISTRY
from libs.steps.data import compare, count, filter_rows, group_sum, sum_column


@pytest.fixture
def ctx(tmp_path: Path) -> StepContext:
    return StepContext.for_tests(tmp_path)


CORE: list[dict[str, Any]] = [
    {"账号": "6217000000000001", "户名": "张三", "金额": 1234.5},
    {"账号": "6217000000000002", "户名": "李四", "金额": 200},
    {"账号": "6217000000000003", "户名": "王五", "金额": 99.99},
    {"账号": "6217000000000004", "户名": "赵六", "金额": 10},
]
BANK: list[dict[str, Any]] = [
    {"账号": " 6217000000000001 ", "户名": "张三 ", "金额": "￥1,234.50"},
    {"账号": "6217000000000002", "户名": "李四", "金额": "200.03"},
    {"账号": "6217000000000003", "户名": "王五五", "金额": "99.99"},
    {"账号": "6217000000000005", "户名": "孙七", "金额": "5"},
]


def test_compare_sorts_rows_into_matched_only_and_different(ctx: StepContext) -> None:
    result = compare(ctx, CORE, BANK, key="账号")
    assert result["matched"] == [CORE[0]]
    assert result["only_left"] == [CORE[3]]
    assert result["only_right"] == [BANK[3]]
    assert [d["key"] for d in result["different"]] == ["6217000000000002", "6217000000000003"]
    assert result["different"][0]["fields"] == {"金额": {"left": 200, "right": "200.03"}}
    assert result["different"][1]["fields"] == {"户名": {"left": "王五", "right": "王五五"}}
    assert result["different"][1]["left"] is CORE[2]
    assert result["different"][1]["right"] is BANK[2]
    assert result["summary"] == {"matched": 1, "only_left": 1, "only_right": 1, "different": 2,
                                 "duplicates_left": 0, "duplicates_right": 0,
                                 "left_total": 4, "right_total": 4, "balanced": False}


def test_tolerance_absorbs_small_amount_differences(ctx: StepContext) -> None:
    result = compare(ctx, CORE[:2], BANK[:2], key="账号", tolerance=0.05)
    assert result["summary"]["matched"] == 2 and result["summary"]["balanced"] is True
    assert compare(ctx, CORE[:2], BANK[:2], key="账号", tolerance=0.01)["summary"]["different"] == 1


def test_text_amounts_and_float_drift_are_equal(ctx: StepContext) -> None:
    left = [{"k": 1, "a": 0.1 + 0.2, "b": "1,000,000.00", "c": 12}]
    right = [{"k": "1", "a": 0.3, "b": "￥1000000", "c": "12.00"}]
    assert compare(ctx, left, right, key="k")["summary"]["balanced"] is True


def test_strip_ignore_case_blanks_and_dates(ctx: StepContext) -> None:
    left = [{"id": "A1", "name": "Bank ", "memo": None, "day": dt.datetime(2024, 1, 31)}]
    right = [{"id": "a1", "name": "BANK", "memo": "", "day": "2024-01-31"}]
    assert compare(ctx, left, right, key="id")["summary"]["only_left"] == 1
    assert compare(ctx, left, right, key="id", ignore_case=True)["summary"]["balanced"] is True
    strict = compare(ctx, left, [dict(right[0], id="A1")], key="id", strip=False)
    assert strict["different"][0]["fields"] == {"name": {"left": "Bank ", "right": "BANK"}}


def test_composite_and_differently_named_keys_and_columns(ctx: StepContext) -> None:
    left = [{"账号": "001", "日期": "2024-01-01", "金额": "10"},
            {"账号": "001", "日期": "2024-01-02", "金额": "20"}]
    right = [{"acct": "001", "date": "2024-01-02", "amount": 20, "备注": "x"},
             {"acct": "001", "date": "2024-01-01", "amount": 11, "备注": "y"}]
    result = compare(ctx, left, right, left_key=["账号", "日期"], right_key=["acct", "date"],
                     columns={"金额": "amount"})
    assert result["matched"] == [left[1]]
    assert result["different"] == [{"key": {"账号": "001", "日期": "2024-01-01"},
                                    "left": left[0], "right": right[1],
                                    "fields": {"金额": {"left": "10", "right": 11}}}]


def test_columns_limit_what_is_compared(ctx: StepContext) -> None:
    result = compare(ctx, CORE[:3], BANK[:3], key="账号", columns=["户名"])
    assert [d["key"] for d in result["different"]] == ["6217000000000003"]
    with pytest.raises(StepArgumentError, match="right table has no column '余额'"):
        compare(ctx, CORE, BANK, key="账号", columns={"金额": "余额"})


def test_duplicates_are_reported_and_unbalance(ctx: StepContext) -> None:
    left = [{"k": "1", "v": 1}, {"k": "1", "v": 2}, {"k": "2", "v": 3}]
    right = [{"k": "1", "v": 1}, {"k": "2", "v": 3}, {"k": "2", "v": 4}, {"k": "2", "v": 5}]
    result = compare(ctx, left, right, key="k")
    assert result["matched"] == [left[0], left[2]]
    assert result["duplicates_left"] == [left[1]]
    assert result["duplicates_right"] == [right[2], right[3]]
    summary = result["summary"]
    assert summary["balanced"] is False
    assert summary["left_total"] == (summary["matched"] + summary["different"]
                                     + summary["only_left"] + summary["duplicates_left"])
    assert summary["right_total"] == (summary["matched"] + summary["different"]
                                      + summary["only_right"] + summary["duplicates_right"])


def test_missing_key_column_names_the_row(ctx: StepContext) -> None:
    with pytest.raises(StepArgumentError, match="row 2 of the right table has no key column"):
        compare(ctx, CORE, [BANK[0], {"户名": "x"}], key="账号")
    with pytest.raises(StepArgumentError, match="needs the key column"):
        compare(ctx, CORE, BANK)


def test_through_the_registry_with_a_negative_tolerance_refused(ctx: StepContext) -> None:
    spec = REGISTRY["data.compare"]
    assert spec.returns
    result = spec.call(ctx, {"left": CORE, "right": CORE, "key": "账号"})
    assert result["summary"]["balanced"] is True
    with pytest.raises(ValueError, match="tolerance"):
        spec.call(ctx, {"left": CORE, "right": CORE, "key": "账号", "tolerance": -1})


def test_100k_rows_per_side(ctx: StepContext) -> None:
    n = 100_000
    left = [{"账号": f"6217{i:012d}", "户名": f"客户{i}", "金额": f"{i * 1.5:,.2f}"}
            for i in range(n)]
    right: list[dict[str, Any]] = [{"账号": f"6217{i:012d}", "户名": f"客户{i}", "金额": i * 1.5}
                                   for i in range(1, n + 1)]
    right[10]["金额"] = 0
    summary = compare(ctx, left, right, key="账号")["summary"]
    assert summary == {"matched": n - 2, "only_left": 1, "only_right": 1, "different": 1,
                       "duplicates_left": 0, "duplicates_right": 0,
                       "left_total": n, "right_total": n, "balanced": False}


ROWS: list[dict[str, Any]] = [
    {"机构": "0101", "状态": "存续", "金额": "1,000.10"},
    {"机构": "0102", "状态": "注销 ", "金额": 200},
    {"机构": "0101", "状态": "存续", "金额": "￥0.20"},
    {"机构": "0103", "状态": "吊销", "金额": None},
]


def test_sum_is_exact_and_skips_blanks(ctx: StepContext) -> None:
    assert sum_column(ctx, ROWS, "金额") == pytest.approx(1200.3)
    assert sum_column(ctx, [{"a": 0.1}, {"a": 0.2}], "a") == 0.3
    assert sum_column(ctx, [{"a": 1}, {"a": "2"}, {"a": ""}], "a") == 3
    assert isinstance(sum_column(ctx, [{"a": 1}, {"a": 2}], "a"), int)
    assert sum_column(ctx, [], "a") == 0


def test_sum_rejects_text_and_unknown_columns(ctx: StepContext) -> None:
    with pytest.raises(StepArgumentError, match="row 2: '金额' is '待定'"):
        sum_column(ctx, [{"金额": 1}, {"金额": "待定"}], "金额")
    with pytest.raises(StepArgumentError, match="no row has a column '余额'"):
        sum_column(ctx, ROWS, "余额")


def test_count_filter_and_group_sum(ctx: StepContext) -> None:
    assert count(ctx, ROWS) == 4
    assert REGISTRY["data.count"].main == "rows"
    assert filter_rows(ctx, ROWS, {"状态": "存续"}) == [ROWS[0], ROWS[2]]
    assert filter_rows(ctx, ROWS, {"状态": ["注销", "吊销"]}) == [ROWS[1], ROWS[3]]
    assert filter_rows(ctx, ROWS, {"金额": 200, "机构": "0102"}) == [ROWS[1]]
    assert group_sum(ctx, ROWS, "机构", "金额") == {"0101": 1000.3, "0102": 200, "0103": 0}
    with pytest.raises(StepArgumentError, match="no row has a column '分行'"):
        filter_rows(ctx, ROWS, {"分行": "x"})


def test_in_a_robot(run_robot: Any) -> None:
    result, _ = run_robot("""
        robot: reconcile
        steps:
          - set:
              core: [{账号: "001", 金额: 1234.5}, {账号: "002", 金额: 200}]
              bank: [{账号: "001", 金额: "￥1,234.50"}, {账号: "002", 金额: "200.03"}]
          - data.compare: {left: "${core}", right: "${bank}", key: 账号, tolerance: 0.01,
                           into: diff}
          - data.sum: {rows: "${core}", column: 金额, into: total}
          - data.count: "${diff.different}"
            into: n
          - assert: {that: "${n == 1 and diff.different[0].key == '002' and total == 1434.5}",
                     message: 对账结果不符}
    """)
    assert result.status == "passed", result.error
