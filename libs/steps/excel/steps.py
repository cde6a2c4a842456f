"""excel.*: read and write .xlsx workbooks (openpyxl), Chinese sheet names and all."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from pydantic import Field

from libs.context import StepContext
from libs.errors import SystemFailure
from libs.registry import step
from libs.steps.csv.steps import columns_of
from libs.steps.excel import workbook as xl
from libs.steps.files.paths import editable_file, output_file, source_file
from libs.steps.files.steps import register
from libs.types import ReadPath, WritePath

_FAST = (str, int, float, type(None))  # values that need no conversion (bool is an int)
_CHECK_EVERY = 1000  # rows between timeout checks
_BOLD = Font(bold=True)
_MAX_WIDTH = 60

BookPath = Annotated[ReadPath, "the workbook (relative paths are read from the robot's folder)"]
EditPath = Annotated[WritePath, "the workbook to change: this run's output file of that name "
                                "(one in the robot's folder is copied there first); a missing "
                                "one is created in the output folder"]
ReadSheet = Annotated[str | int | None, "the sheet's name, or its position counting from 0 "
                                        "(default: the first sheet)"]
Cell = Annotated[str, "the cell address, e.g. B3"]


def _cell_value(cell: Any) -> Any:
    value = cell.value
    return value if type(value) in _FAST else xl.value_out(value, cell.number_format)


def _is_empty(values: list[Any]) -> bool:
    return all(v is None or (isinstance(v, str) and not v.strip()) for v in values)


def _used_width(values: list[Any]) -> int:
    for i in range(len(values) - 1, -1, -1):
        if values[i] is not None and values[i] != "":
            return i + 1
    return 0


@step("excel.read_rows", main="path")
def read_rows(
    ctx: StepContext,
    path: BookPath,
    sheet: ReadSheet = None,
    header_row: Annotated[int, Field(ge=1), "the row that holds the column names (rows above "
                                            "it, e.g. a report title, are skipped)"] = 1,
    skip_empty: Annotated[bool, "leave out rows whose cells are all empty"] = True,
    columns: Annotated[list[str] | None, "keep only these columns (default: all)"] = None,
) -> list[dict[str, Any]]:
    """Read a sheet into a list of rows, one map per row keyed by the header row.

    Numbers stay numbers and text stays text, so account numbers stored as text keep their
    leading zeros; dates become 'YYYY-MM-DD' ('YYYY-MM-DD HH:MM:SS' with a time of day); empty
    cells are null. Formulas give the value Excel last calculated. Blank header cells are named
    by their column letter (A, B, ...), repeated names get _2, _3."""
    p = source_file(ctx, path, "excel.read_rows")
    with xl.reading(p) as wb:
        ws = xl.pick_sheet(wb, sheet, p, "excel.read_rows")
        ws.reset_dimensions()  # many exporters write a wrong size; trusting it drops data
        rows = ws.iter_rows(min_row=header_row)
        header = [_cell_value(c) for c in next(rows, ())]
        width = _used_width(header)
        data: list[list[Any]] = []
        for n, row in enumerate(rows, start=1):
            values = [_cell_value(c) for c in row]
            if n % _CHECK_EVERY == 0 and ctx.remaining <= 0:
                raise SystemFailure(f"excel.read_rows: reading {p} took longer than the step's "
                                    f"{ctx.timeout:g}s timeout ({n} rows so far); give the step "
                                    f"a longer timeout")
            if skip_empty and _is_empty(values):
                continue
            width = max(width, _used_width(values))
            data.append(values)
    keys = xl.header_keys(header, width)
    if columns is not None:
        missing = [c for c in columns if c not in keys]
        if missing:
            raise xl.not_found_columns(missing, keys, p, "excel.read_rows")
        wanted = [(keys.index(c), c) for c in columns]
    else:
        wanted = list(enumerate(keys))
    return [{k: (r[i] if i < len(r) else None) for i, k in wanted} for r in data]


@step("excel.read_cell")
def read_cell(ctx: StepContext, path: BookPath, cell: Cell, sheet: ReadSheet = None) -> Any:
    """Read one cell's value (a date comes back as 'YYYY-MM-DD', an empty cell as null)."""
    address = xl.check_cell(cell, "excel.read_cell")
    p = source_file(ctx, path, "excel.read_cell")
    with xl.reading(p) as wb:
        ws = xl.pick_sheet(wb, sheet, p, "excel.read_cell")
        return _cell_value(ws[address])


def _header(ws: Any) -> list[str | None]:
    if ws.max_row == 1 and ws.max_column == 1 and ws["A1"].value is None:
        return []
    values = [c.value for c in ws[1]]
    return [str(v).strip() if v is not None and str(v).strip() else None
            for v in values[:_used_width(values)]]


def _last_row(ws: Any) -> int:
    """The last row holding a value (formatted but empty rows below it do not count)."""
    row = ws.max_row
    while row > 1 and all(c.value is None for c in ws[row]):
        row -= 1
    return row


def _fit(ws: Any, header: list[str | None], written: list[list[Any]]) -> None:
    """Widen columns to their content (never narrower than a width the sheet already has)."""
    for i, name in enumerate(header):
        widest = max([xl.text_width(name), *(xl.text_width(r[i]) for r in written)])
        letter = get_column_letter(i + 1)
        had = ws.column_dimensions[letter].width if letter in ws.column_dimensions else 0
        ws.column_dimensions[letter].width = max(had or 0, min(widest + 2, _MAX_WIDTH), 6)


def _append(ws: Any, rows: list[dict[str, Any]], columns: list[str] | None) -> None:
    """Add rows under the sheet's header, adding header columns for keys it lacks."""
    wanted = [str(c) for c in columns] if columns is not None else columns_of(rows)
    header = _header(ws)
    start = _last_row(ws) + 1 if header else 2
    if not header:
        ws.freeze_panes = "A2"
    new = [k for k in wanted if k not in header]
    for i, name in enumerate(new, start=len(header) + 1):
        ws.cell(row=1, column=i, value=name).font = _BOLD
    header = [*header, *new]
    keep = set(wanted)
    written = []
    for r, row in enumerate(rows, start=start):
        values = [xl.value_in(row.get(h)) if h in keep else None for h in header]
        for c, value in enumerate(values, start=1):
            if value is None:
                continue
            cell = ws.cell(row=r, column=c, value=value)
            if isinstance(value, str) and value.startswith("="):
                cell.data_type = "s"  # data, not a formula: text like "=1+1" stays text
        written.append(values)
    _fit(ws, header, written)


def _sheet_for_write(wb: Workbook, sheet: str | None, fresh: bool, step_name: str) -> Any:
    """The named sheet (created when missing); None means the first sheet."""
    if sheet is None:
        if fresh:
            wb.worksheets[0].title = "Sheet1"
        return wb.worksheets[0]
    name = xl.find_sheet(wb, sheet)
    if name is not None:
        return wb[name]
    xl.check_sheet_name(sheet, step_name)
    if fresh:
        wb.worksheets[0].title = sheet
        return wb.worksheets[0]
    return wb.create_sheet(sheet)


def _open_for_write(p: Path, step_name: str) -> tuple[Workbook, bool]:
    xl.check_suffix(p, step_name)
    if p.exists():
        return xl.editing(p), False
    return Workbook(), True


@step("excel.write_rows")
def write_rows(
    ctx: StepContext,
    path: Annotated[WritePath, "the workbook to write (relative paths go into the run's "
                               "output folder)"],
    rows: Annotated[list[dict[str, Any]], "the rows: a list of maps, e.g. from "
                                          "excel.read_rows"],
    sheet: Annotated[str, "the sheet to write"] = "Sheet1",
    columns: Annotated[list[str] | None, "which columns, in this order (default: the first "
                                         "row's keys, then new keys of later rows)"] = None,
    append: Annotated[bool, "add the rows under those already in the sheet, matching them to "
                            "its header"] = False,
) -> str:
    """Write rows to a sheet with a bold, frozen header row and return the workbook's path.

    An existing workbook keeps its other sheets; the named sheet is replaced (or added to with
    `append: true`). Text starting with '=' is written as text, not as a formula; whole numbers
    of 16 digits or more are written as text so that no digit is lost."""
    p = output_file(ctx, path, "excel.write_rows")
    wb, fresh = _open_for_write(p, "excel.write_rows")
    ws = _sheet_for_write(wb, sheet, fresh, "excel.write_rows")
    if not append and not fresh:
        position, title = wb.index(ws), ws.title
        wb.remove(ws)
        ws = wb.create_sheet(title, position)
    _append(ws, rows, columns)
    xl.save(wb, p, "excel.write_rows")
    register(ctx, p)
    return str(p)


@step("excel.append_row")
def append_row(
    ctx: StepContext,
    path: EditPath,
    row: Annotated[dict[str, Any], "the row: a map of column name → value"],
    sheet: Annotated[str | None, "the sheet (default: the first; a missing one is created "
                                 "with a header)"] = None,
) -> None:
    """Add one row under a sheet's header, matching values to columns by name.

    A missing workbook or sheet is created with a header; keys the header lacks become new
    columns. Each call saves the workbook: for thousands of rows, collect them and use
    excel.write_rows once."""
    p = editable_file(ctx, path, "excel.append_row")
    wb, fresh = _open_for_write(p, "excel.append_row")
    ws = _sheet_for_write(wb, sheet, fresh, "excel.append_row")
    _append(ws, [row], None)
    xl.save(wb, p, "excel.append_row")
    if fresh:
        register(ctx, p)


@step("excel.set_cell")
def set_cell(
    ctx: StepContext,
    path: EditPath,
    cell: Cell,
    value: Annotated[Any, "the value; text starting with '=' is a formula, e.g. =SUM(B2:B9)"],
    sheet: Annotated[str | None, "the sheet's name (default: the first)"] = None,
) -> None:
    """Set one cell's value and save the workbook (other cells, sheets and formulas are kept).

    Pictures and charts in the workbook are not kept (openpyxl drops them)."""
    address = xl.check_cell(cell, "excel.set_cell")
    p = editable_file(ctx, path, "excel.set_cell")
    wb, fresh = _open_for_write(p, "excel.set_cell")
    if fresh:
        ws = _sheet_for_write(wb, sheet, fresh, "excel.set_cell")
    else:
        ws = xl.pick_sheet(wb, sheet, p, "excel.set_cell")
    ws[address] = xl.value_in(value)
    xl.save(wb, p, "excel.set_cell")
    if fresh:
        register(ctx, p)
