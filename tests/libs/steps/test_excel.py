"""excel.* against real .xlsx files written with openpyxl in tmp_path."""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from pathlib import Path
from xml.sax.saxutils import escape

import openpyxl
import pytest

from libs.context import StepContext
from libs.errors import StepArgumentError, SystemFailure
from libs.registry import load_libraries
from libs.steps import excel


@pytest.fixture
def ctx(tmp_path: Path) -> StepContext:
    return StepContext.for_tests(tmp_path)


@pytest.fixture
def accounts(tmp_path: Path) -> Path:
    """A branch export: a Chinese sheet name, text account numbers, dates, a blank row."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "账户"
    ws.append([" 账号 ", "企业名称", "开户日期", "余额", "更新时间", None, "备注"])
    ws.append(["0012345", "青岛海鲜贸易有限公司", dt.date(2023, 3, 1), 1234.5,
               dt.datetime(2024, 5, 6, 9, 30, 15), None, None])
    ws.append([None] * 7)
    ws.append(["6217850000012345678", "吉林长白山实业", dt.date(2021, 12, 31), 0, None,
               "stray", "续存"])
    wb.create_sheet("Sheet2").append(["x"])
    path = tmp_path / "data" / "accounts.xlsx"
    path.parent.mkdir()
    wb.save(path)
    return path


def test_read_rows_keeps_text_numbers_and_dates(ctx: StepContext, accounts: Path) -> None:
    rows = excel.read_rows(ctx, "data/accounts.xlsx", sheet="账户")
    assert rows == [
        {"账号": "0012345", "企业名称": "青岛海鲜贸易有限公司", "开户日期": "2023-03-01",
         "余额": 1234.5, "更新时间": "2024-05-06 09:30:15", "F": None, "备注": None},
        {"账号": "6217850000012345678", "企业名称": "吉林长白山实业", "开户日期": "2021-12-31",
         "余额": 0, "更新时间": None, "F": "stray", "备注": "续存"},
    ]
    assert isinstance(rows[1]["余额"], int)


def test_read_rows_sheet_by_position_default_and_columns(ctx: StepContext,
                                                         accounts: Path) -> None:
    assert excel.read_rows(ctx, str(accounts), sheet=1) == []  # only a header
    first = excel.read_rows(ctx, str(accounts), columns=["企业名称", "账号"])
    assert first[0] == {"企业名称": "青岛海鲜贸易有限公司", "账号": "0012345"}
    assert list(first[0]) == ["企业名称", "账号"]
    with_blank = excel.read_rows(ctx, str(accounts), skip_empty=False)
    assert len(with_blank) == 3 and set(with_blank[1].values()) == {None}


def test_unknown_sheet_lists_sheets_and_suggests(ctx: StepContext, accounts: Path) -> None:
    with pytest.raises(StepArgumentError) as err:
        excel.read_rows(ctx, str(accounts), sheet="账号")
    assert "no sheet '账号'" in str(err.value)
    assert "'账户', 'Sheet2'" in str(err.value)
    assert "did you mean '账户'?" in str(err.value)
    with pytest.raises(StepArgumentError, match="sheets count from 0 and it has 2"):
        excel.read_rows(ctx, str(accounts), sheet=5)


def test_sheet_name_case_and_spaces_forgiven(ctx: StepContext, accounts: Path) -> None:
    assert excel.read_rows(ctx, str(accounts), sheet=" sheet2 ") == []


def test_unknown_column_suggests(ctx: StepContext, accounts: Path) -> None:
    with pytest.raises(StepArgumentError, match="no column '企业名' \\(did you mean '企业名称'"):
        excel.read_rows(ctx, str(accounts), columns=["账号", "企业名"])


def test_header_row_below_a_title_and_repeated_headers(ctx: StepContext,
                                                       tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["对账结果 2024-06-30"])
    ws.append([])
    ws.append(["金额", "金额", 2024])
    ws.append([1, 2, 3])
    wb.save(tmp_path / "t.xlsx")
    assert excel.read_rows(ctx, "t.xlsx", header_row=3) == [{"金额": 1, "金额_2": 2, "2024": 3}]


def test_missing_file_message(ctx: StepContext, tmp_path: Path) -> None:
    with pytest.raises(SystemFailure) as err:
        excel.read_rows(ctx, "data/nope.xlsx")
    assert str(err.value) == (
        f"excel.read_rows: file not found: {tmp_path / 'data/nope.xlsx'}; check the path "
        f"(relative paths are read from the robot's folder)")


def test_text_file_named_xlsx(ctx: StepContext, tmp_path: Path) -> None:
    (tmp_path / "fake.xlsx").write_text("账号,户名\n0012345,张三\n", encoding="utf-8")
    with pytest.raises(SystemFailure) as err:
        excel.read_rows(ctx, "fake.xlsx")
    message = str(err.value)
    assert message.startswith(f"cannot read {tmp_path / 'fake.xlsx'} as an Excel workbook "
                              f"(.xlsx): ")
    assert "text file starting with '账号,户名'" in message
    assert "csv.read_rows" in message and message.endswith("save it as .xlsx")


@pytest.mark.parametrize(("content", "reason"), [
    (b"PK\x03\x04 truncated download", "damaged"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "Excel 97-2003 (.xls)"),
    (b"<html><table><tr><td>1</td></tr></table></html>", "web page (HTML)"),
    (b"", "empty"),
])
def test_non_workbooks_are_explained(ctx: StepContext, tmp_path: Path, content: bytes,
                                     reason: str) -> None:
    (tmp_path / "bad.xlsx").write_bytes(content)
    with pytest.raises(SystemFailure, match=re.escape(reason)) as err:
        excel.read_rows(ctx, "bad.xlsx")
    assert "save it as .xlsx" in str(err.value)


def test_content_decides_not_the_name(ctx: StepContext, accounts: Path) -> None:
    renamed = accounts.with_name("export.xls")
    renamed.write_bytes(accounts.read_bytes())
    assert len(excel.read_rows(ctx, str(renamed))) == 2


def test_wrong_declared_dimension_does_not_drop_rows(ctx: StepContext, accounts: Path,
                                                     tmp_path: Path) -> None:
    """Some exporters declare <dimension ref="A1"/>; trusting it would read one cell."""
    patched = tmp_path / "patched.xlsx"
    with zipfile.ZipFile(accounts) as src, zipfile.ZipFile(patched, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                data, n = re.subn(rb'<dimension ref="[^"]*"', b'<dimension ref="A1"', data)
                assert n == 1
            dst.writestr(info, data)
    assert len(excel.read_rows(ctx, str(patched))) == 2


def test_write_rows_formats_and_round_trips(ctx: StepContext, tmp_path: Path) -> None:
    rows = [{"账号": "0012345", "户名": "青岛海鲜贸易有限公司", "金额": 12.5,
             "日期": dt.date(2024, 1, 2)},
            {"账号": 6217850000012345678, "户名": "=HYPERLINK(\"x\")", "备注": "新列"}]
    out = excel.write_rows(ctx, "结果/对账.xlsx", rows, sheet="差异")
    assert out == str(tmp_path / "output" / "结果" / "对账.xlsx")
    assert [a.path for a in ctx.state.artifacts] == [out]
    wb = openpyxl.load_workbook(out)
    ws = wb["差异"]
    assert wb.sheetnames == ["差异"]
    assert [c.value for c in ws[1]] == ["账号", "户名", "金额", "日期", "备注"]
    assert all(c.font.bold for c in ws[1])
    assert ws.freeze_panes == "A2"
    assert ws["B3"].data_type == "s"  # text, not a formula
    assert ws["A3"].value == "6217850000012345678"  # 19 digits would not survive a double
    # ten Chinese characters take twenty columns (plus a margin), 19 digits take nineteen
    assert ws.column_dimensions["B"].width == 22
    assert ws.column_dimensions["A"].width == 21
    back = excel.read_rows(ctx, out, sheet="差异")
    assert back[0] == {"账号": "0012345", "户名": "青岛海鲜贸易有限公司", "金额": 12.5,
                       "日期": "2024-01-02", "备注": None}


def test_write_rows_replaces_its_sheet_keeps_others_and_appends(ctx: StepContext) -> None:
    excel.write_rows(ctx, "r.xlsx", [{"a": 1}], sheet="汇总")
    excel.write_rows(ctx, "r.xlsx", [{"b": 1}, {"b": 2}], sheet="明细")
    excel.write_rows(ctx, "r.xlsx", [{"b": 3}], sheet="明细")
    assert excel.read_rows(ctx, "r.xlsx", sheet="明细") == [{"b": 3}]
    assert excel.read_rows(ctx, "r.xlsx", sheet="汇总") == [{"a": 1}]
    excel.write_rows(ctx, "r.xlsx", [{"c": "x", "b": 4}], sheet="明细", append=True)
    assert excel.read_rows(ctx, "r.xlsx", sheet="明细") == [{"b": 3, "c": None},
                                                           {"b": 4, "c": "x"}]
    assert len(ctx.state.artifacts) == 1


def test_write_rows_columns_choose_and_order(ctx: StepContext) -> None:
    out = excel.write_rows(ctx, "c.xlsx", [{"a": 1, "b": 2, "c": 3}], columns=["c", "a"])
    assert excel.read_rows(ctx, out) == [{"c": 3, "a": 1}]


def test_write_rows_wants_an_xlsx_name(ctx: StepContext) -> None:
    with pytest.raises(StepArgumentError, match=r"result\.xlsx"):
        excel.write_rows(ctx, "result.xls", [{"a": 1}])


def test_append_row_creates_then_appends(ctx: StepContext, tmp_path: Path) -> None:
    excel.append_row(ctx, "log.xlsx", {"账号": "001", "结果": "通过"})
    excel.append_row(ctx, "log.xlsx", {"结果": "止付", "账号": "002", "原因": "吊销"})
    path = tmp_path / "output" / "log.xlsx"
    assert openpyxl.load_workbook(path).sheetnames == ["Sheet1"]
    assert excel.read_rows(ctx, str(path)) == [
        {"账号": "001", "结果": "通过", "原因": None},
        {"账号": "002", "结果": "止付", "原因": "吊销"}]
    excel.append_row(ctx, "log.xlsx", {"账号": "003"}, sheet="异常")
    assert excel.read_rows(ctx, str(path), sheet="异常") == [{"账号": "003"}]


def test_append_row_changes_a_copy_of_the_robot_folder_file(ctx: StepContext,
                                                            accounts: Path) -> None:
    before = accounts.read_bytes()
    excel.append_row(ctx, "data/accounts.xlsx", {"账号": "0099", "备注": "新增"}, sheet="账户")
    assert (ctx.output_dir / "data" / "accounts.xlsx").is_file()
    rows = excel.read_rows(ctx, "data/accounts.xlsx", sheet="账户")  # the run's copy
    assert rows[-1]["账号"] == "0099" and rows[-1]["备注"] == "新增"
    assert excel.read_rows(ctx, "data/accounts.xlsx", sheet="Sheet2") == []
    assert accounts.read_bytes() == before  # the robot's folder is never changed


def test_set_cell_and_read_cell(ctx: StepContext, accounts: Path) -> None:
    excel.set_cell(ctx, "data/accounts.xlsx", "g2", "已年检", sheet="账户")
    excel.set_cell(ctx, "data/accounts.xlsx", "H1", "=1+1", sheet="账户")
    assert excel.read_cell(ctx, "data/accounts.xlsx", "G2", sheet="账户") == "已年检"
    assert excel.read_cell(ctx, "data/accounts.xlsx", "$C$2") == "2023-03-01"
    assert excel.read_cell(ctx, "data/accounts.xlsx", "A1", sheet=1) == "x"
    copy = ctx.output_dir / "data" / "accounts.xlsx"  # the robot folder's file is not changed
    assert openpyxl.load_workbook(copy)["账户"]["H1"].value == "=1+1"  # a formula
    assert openpyxl.load_workbook(accounts)["账户"]["H1"].value is None
    with pytest.raises(StepArgumentError, match="'B' is not a cell address"):
        excel.set_cell(ctx, "data/accounts.xlsx", "B", 1)
    with pytest.raises(StepArgumentError, match="did you mean '账户'"):
        excel.set_cell(ctx, "data/accounts.xlsx", "A1", 1, sheet="帐户")


def test_set_cell_creates_a_workbook(ctx: StepContext, tmp_path: Path) -> None:
    excel.set_cell(ctx, "new.xlsx", "B2", dt.date(2024, 6, 30), sheet="汇总")
    assert excel.read_cell(ctx, "new.xlsx", "B2", sheet="汇总") == "2024-06-30"
    assert (tmp_path / "output" / "new.xlsx").exists()


def test_timeout_is_honoured(tmp_path: Path) -> None:
    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet("s")
    for i in range(2500):
        ws.append([i])
    wb.save(tmp_path / "big.xlsx")
    with pytest.raises(SystemFailure, match="longer than the step's 0s timeout"):
        excel.read_rows(StepContext.for_tests(tmp_path, timeout=0), "big.xlsx")


_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG = "http://schemas.openxmlformats.org/package/2006"
_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml"


def excel_like_xlsx(path: Path, sheet: str, rows: list[list[str]]) -> None:
    """A workbook laid out as Excel saves it (shared strings, a dimension), written directly:
    far quicker than openpyxl for big files, and a check that other producers' files read."""
    strings: dict[str, int] = {}
    body = []
    for r, row in enumerate(rows, start=1):
        cells = "".join(f'<c r="{chr(65 + c)}{r}" t="s"><v>{strings.setdefault(v, len(strings))}'
                        f"</v></c>" for c, v in enumerate(row))
        body.append(f'<row r="{r}">{cells}</row>')
    last = f"{chr(64 + max(map(len, rows)))}{len(rows)}"
    head = '<?xml version="1.0" encoding="UTF-8"?>'
    parts = {
        "[Content_Types].xml": (
            f'{head}<Types xmlns="{_PKG}/content-types">'
            f'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
            f'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/xl/workbook.xml" ContentType="{_TYPE}.sheet.main+xml"/>'
            f'<Override PartName="/xl/worksheets/sheet1.xml" '
            f'ContentType="{_TYPE}.worksheet+xml"/><Override PartName="/xl/sharedStrings.xml" '
            f'ContentType="{_TYPE}.sharedStrings+xml"/></Types>'),
        "_rels/.rels": (
            f'{head}<Relationships xmlns="{_PKG}/relationships"><Relationship Id="rId1" '
            f'Type="{_REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>'),
        "xl/workbook.xml": (
            f'{head}<workbook xmlns="{_MAIN}" xmlns:r="{_REL}"><sheets><sheet name="{sheet}" '
            f'sheetId="1" r:id="rId1"/></sheets></workbook>'),
        "xl/_rels/workbook.xml.rels": (
            f'{head}<Relationships xmlns="{_PKG}/relationships">'
            f'<Relationship Id="rId1" Type="{_REL}/worksheet" Target="worksheets/sheet1.xml"/>'
            f'<Relationship Id="rId2" Type="{_REL}/sharedStrings" Target="sharedStrings.xml"/>'
            f"</Relationships>"),
        "xl/worksheets/sheet1.xml": (
            f'{head}<worksheet xmlns="{_MAIN}"><dimension ref="A1:{last}"/><sheetData>'
            f'{"".join(body)}</sheetData></worksheet>'),
        "xl/sharedStrings.xml": (
            f'{head}<sst xmlns="{_MAIN}" uniqueCount="{len(strings)}">'
            + "".join(f"<si><t>{escape(s)}</t></si>" for s in strings) + "</sst>"),
    }
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in parts.items():
            zf.writestr(name, text)


def test_reads_52000_rows(ctx: StepContext, tmp_path: Path) -> None:
    """The size of Jilin Bank's annual-inspection list (two columns keep the test quick)."""
    rows = [["账号", "企业名称"]] + [[f"{i:010d}", f"企业{i % 97}"] for i in range(52_000)]
    excel_like_xlsx(tmp_path / "big.xlsx", "账户", rows)
    read = excel.read_rows(ctx, "big.xlsx", sheet="账户")
    assert len(read) == 52_000
    assert read[-1] == {"账号": "0000051999", "企业名称": f"企业{51_999 % 97}"}


def test_registered_with_main_arguments() -> None:
    steps = load_libraries()
    assert steps["excel.read_rows"].main == "path"
    assert steps["excel.read_rows"].returns and not steps["excel.set_cell"].returns
    args = steps["excel.read_rows"].validate({"path": "a.xlsx", "sheet": 0})
    assert args.sheet == 0  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="header_row"):
        steps["excel.read_rows"].validate({"path": "a.xlsx", "header_row": 0})
