"""csv.* against real files in the encodings bank systems export."""

from __future__ import annotations

import codecs
import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from libs.context import StepContext
from libs.errors import StepArgumentError, SystemFailure
from libs.policy import Refused
from libs.registry import load_libraries
from libs.steps import csv as csv_steps
from libs.steps.csv.steps import _sniff


@pytest.fixture
def ctx(tmp_path: Path) -> StepContext:
    return StepContext.for_tests(tmp_path)


def test_gbk_file_with_chinese_headers(ctx: StepContext, tmp_path: Path) -> None:
    text = "账号,户名,金额\r\n0012345,青岛海鲜贸易有限公司,\"1,234.50\"\r\n"
    (tmp_path / "gbk.csv").write_bytes(text.encode("gbk"))
    assert csv_steps.read_rows(ctx, "gbk.csv") == [
        {"账号": "0012345", "户名": "青岛海鲜贸易有限公司", "金额": "1,234.50"}]
    assert csv_steps.read_rows(ctx, "gbk.csv", encoding="GBK")[0]["户名"] == "青岛海鲜贸易有限公司"


def test_gbk_named_falls_back_to_gb18030(ctx: StepContext, tmp_path: Path) -> None:
    # '㐀' is in GB18030 but not in GBK; a "GBK" export from a newer system may carry it
    (tmp_path / "rare.csv").write_bytes("户名\n王㐀\n".encode("gb18030"))
    assert csv_steps.read_rows(ctx, "rare.csv", encoding="gbk") == [{"户名": "王㐀"}]


def test_utf8_bom_does_not_stick_to_the_first_header(ctx: StepContext, tmp_path: Path) -> None:
    (tmp_path / "bom.csv").write_bytes(codecs.BOM_UTF8 + "账号,状态\n001,存续\n".encode())
    assert csv_steps.read_rows(ctx, "bom.csv") == [{"账号": "001", "状态": "存续"}]
    assert csv_steps.read_rows(ctx, "bom.csv", encoding="utf-8") == [{"账号": "001",
                                                                      "状态": "存续"}]


def test_bank_export_with_title_lines(ctx: StepContext, tmp_path: Path) -> None:
    text = ("交易明细查询结果\n"
            "查询日期：2024-06-30,,,\n"
            "账号 , 交易日期,金额,摘要\n"
            '="6217850000012345678",20240630, 100.00 ,工资\n'
            "\n"
            ",,,\n"
            "0012345,20240629,-5.00\n")
    (tmp_path / "export.csv").write_bytes(text.replace("\n", "\r\n").encode("gbk"))
    assert csv_steps.read_rows(ctx, "export.csv", skip_rows=2) == [
        {"账号": "6217850000012345678", "交易日期": "20240630", "金额": "100.00", "摘要": "工资"},
        {"账号": "0012345", "交易日期": "20240629", "金额": "-5.00", "摘要": ""}]
    raw = csv_steps.read_rows(ctx, "export.csv", skip_rows=2, strip=False)
    assert raw[0]["金额"] == " 100.00 " and raw[0]["账号"] == '="6217850000012345678"'


def test_no_header_and_extra_columns(ctx: StepContext, tmp_path: Path) -> None:
    (tmp_path / "n.csv").write_text("a,b\nc,d,e\n,名称,\n", encoding="utf-8")
    assert csv_steps.read_rows(ctx, "n.csv", header=False) == [
        {"1": "a", "2": "b", "3": ""}, {"1": "c", "2": "d", "3": "e"},
        {"1": "", "2": "名称", "3": ""}]
    assert csv_steps.read_rows(ctx, "n.csv") == [{"a": "c", "b": "d", "3": "e"},
                                                 {"a": "", "b": "名称", "3": ""}]


def test_repeated_and_blank_headers(ctx: StepContext, tmp_path: Path) -> None:
    (tmp_path / "h.csv").write_text("金额,,金额\n1,2,3\n", encoding="utf-8")
    assert csv_steps.read_rows(ctx, "h.csv") == [{"金额": "1", "2": "2", "金额_2": "3"}]


@pytest.mark.parametrize(("sep", "delimiter"), [
    ("\t", "auto"), ("\t", "tab"), ("\t", "\\t"), (";", "auto"), ("|", "|"), ("|", "auto")])
def test_delimiters(ctx: StepContext, tmp_path: Path, sep: str, delimiter: str) -> None:
    lines = [["账号", "户名", "金额"], ["001", "张三", "1,000"], ["002", "李四", "2"]]
    (tmp_path / "d.txt").write_text("\n".join(sep.join(r) for r in lines), encoding="utf-8")
    rows = csv_steps.read_rows(ctx, "d.txt", delimiter=delimiter)
    assert rows[0] == {"账号": "001", "户名": "张三", "金额": "1,000"} and len(rows) == 2


def test_excel_unicode_text_export(ctx: StepContext, tmp_path: Path) -> None:
    """Excel's "Unicode text" is UTF-16 with tabs."""
    (tmp_path / "u.txt").write_bytes("账号\t户名\r\n001\t张三\r\n".encode("utf-16"))
    assert csv_steps.read_rows(ctx, "u.txt", delimiter="auto") == [{"账号": "001", "户名": "张三"}]


def test_quoted_newlines_survive(ctx: StepContext, tmp_path: Path) -> None:
    (tmp_path / "q.csv").write_text('a,b\r\n"第一行\r\n第二行",x\r\n', encoding="utf-8")
    assert csv_steps.read_rows(ctx, "q.csv") == [{"a": "第一行\r\n第二行", "b": "x"}]


def test_wrong_encoding_is_explained(ctx: StepContext, tmp_path: Path) -> None:
    (tmp_path / "gbk.csv").write_bytes("账号\n001\n".encode("gbk"))
    with pytest.raises(StepArgumentError) as err:
        csv_steps.read_rows(ctx, "gbk.csv", encoding="utf-8")
    assert f"cannot read {tmp_path / 'gbk.csv'} as utf-8" in str(err.value)
    assert "try encoding: auto" in str(err.value)
    with pytest.raises(StepArgumentError, match="unknown encoding 'gbkk'; use auto"):
        csv_steps.read_rows(ctx, "gbk.csv", encoding="gbkk")
    with pytest.raises(StepArgumentError, match="delimiter ';;' must be one character"):
        csv_steps.read_rows(ctx, "gbk.csv", delimiter=";;")


def test_missing_file(ctx: StepContext, tmp_path: Path) -> None:
    with pytest.raises(SystemFailure) as err:
        csv_steps.read_rows(ctx, "in/none.csv")
    assert str(err.value) == (f"csv.read_rows: file not found: {tmp_path / 'in/none.csv'}; check "
                              f"the path (relative paths are read from the robot's folder)")


def test_empty_file(ctx: StepContext, tmp_path: Path) -> None:
    (tmp_path / "e.csv").write_bytes(b"")
    assert csv_steps.read_rows(ctx, "e.csv") == []


def test_write_rows_utf8_sig_round_trip(ctx: StepContext, tmp_path: Path) -> None:
    rows: list[dict[str, Any]] = [
        {"账号": "0012345", "户名": "青岛,海鲜", "日期": dt.date(2024, 6, 30), "通过": True},
        {"账号": "002", "备注": "多\n行", "金额": None}]
    out = csv_steps.write_rows(ctx, "结果/对账.csv", rows)
    assert out == str(tmp_path / "output" / "结果" / "对账.csv")
    assert [a.path for a in ctx.state.artifacts] == [out]
    data = Path(out).read_bytes()
    assert data.startswith(codecs.BOM_UTF8)
    assert data.decode("utf-8-sig").splitlines()[0] == "账号,户名,日期,通过,备注,金额"
    assert csv_steps.read_rows(ctx, out) == [
        {"账号": "0012345", "户名": "青岛,海鲜", "日期": "2024-06-30", "通过": "true",
         "备注": "", "金额": ""},
        {"账号": "002", "户名": "", "日期": "", "通过": "", "备注": "多\n行", "金额": ""}]


def test_write_rows_gbk_columns_and_tab(ctx: StepContext) -> None:
    out = csv_steps.write_rows(ctx, "g.txt", [{"a": 1, "户名": "张三", "c": 3}],
                               columns=["户名", "a"], encoding="gbk", delimiter="tab")
    assert Path(out).read_bytes() == "户名\ta\r\n张三\t1\r\n".encode("gbk")


def test_write_rows_unencodable_character(ctx: StepContext) -> None:
    with pytest.raises(StepArgumentError) as err:
        csv_steps.write_rows(ctx, "bad.csv", [{"户名": "张三"}, {"户名": "笑😀"}], encoding="gbk")
    assert "the character '😀' on line 3 has no gbk code" in str(err.value)
    assert "utf-8-sig" in str(err.value)


def test_registered() -> None:
    steps = load_libraries()
    assert steps["csv.read_rows"].main == "path" and steps["csv.write_rows"].returns
    with pytest.raises(ValueError, match="skip_rows"):
        steps["csv.read_rows"].validate({"path": "a.csv", "skip_rows": -1})


def test_sniffing_reads_a_bounded_sample_in_one_pass(ctx: StepContext, tmp_path: Path) -> None:
    # csv.Sniffer's regexes are quadratic on such a line; the sniffer here looks at 64 KB once
    hostile = '"a' + ',"' * 400_000 + "\n"
    (tmp_path / "hostile.csv").write_text("h1;h2\n" + hostile, encoding="utf-8")
    assert _sniff("h1;h2\n" + hostile) == ";"  # the cut-off long line is not counted
    with pytest.raises(SystemFailure, match=r"cannot parse .*hostile\.csv: field larger"):
        csv_steps.read_rows(ctx, "hostile.csv", delimiter="auto")  # ends, with a clear error
    assert _sniff("a|b|c\n1|2|3\n") == "|"
    assert _sniff("") == ","


def test_csv_outside_the_reach_is_refused(ctx: StepContext) -> None:
    with pytest.raises(Refused, match="outside the folders this robot may read"):
        csv_steps.read_rows(ctx, "/etc/passwd")
    with pytest.raises(Refused, match="outside the folders this robot may write"):
        csv_steps.write_rows(ctx, "../x.csv", [{"a": 1}])
