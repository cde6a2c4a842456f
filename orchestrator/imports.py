"""A CSV or .xlsx file read into work-queue items, bounded: at most MAX_ROWS rows (the
100,000-item cap of a request), MAX_COLUMNS columns, MAX_CELLS filled cells and
MAX_UNPACKED_BYTES of unpacked workbook. Read with no database transaction open: the caller
parses first, then adds the items in one short transaction.

A workbook's sheet declares its own size (`<dimension ref="A1:XFD40000000">`, `<row
r="40000000">`) and openpyxl's row iterator fills every gap it declares with empty cells: a
1.4 KB file would cost 40 million rows, one cell in column XFD 16,384 cells a row. So the
sheet's XML is read cell by cell (openpyxl's own parser, read-only), only cells that hold a
value count, and a value beyond the limits refuses the file at once.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from orchestrator.refusals import Invalid, Refusal

MAX_ROWS = 100_000
MAX_COLUMNS = 1_000
MAX_CELLS = 3_000_000
MAX_UNPACKED_BYTES = 256 * 1024 * 1024
STEP = "queues.add_file"


def too_many_rows(name: str) -> Refusal:
    return Invalid(f"{name} has more than {MAX_ROWS} rows; a queue takes at most "
                   f"{MAX_ROWS} items a request: split the file")


def _too_many_cells(name: str) -> Refusal:
    return Invalid(f"{name} has more than {MAX_CELLS} filled cells; split the file")


def _too_wide(name: str) -> Refusal:
    return Invalid(f"{name} has values beyond column {MAX_COLUMNS}; a queue item takes "
                   f"at most {MAX_COLUMNS} columns")


def read_rows(path: Path, fmt: str, sheet: str | None, name: str) -> list[dict[str, Any]]:
    """Rows of the file keyed by its header row, as the csv.read_rows / excel.read_rows steps
    read them (same text, numbers and dates), within the limits; Invalid otherwise."""
    from libs.errors import WorkhandError

    try:
        return _xlsx_rows(path, sheet, name) if fmt == "xlsx" else _csv_rows(path, name)
    except WorkhandError as err:
        raise Invalid(str(err)) from None


# -- CSV --------------------------------------------------------------------------------------

def _csv_rows(path: Path, name: str) -> list[dict[str, Any]]:
    from libs.context import RunState, StepContext
    from libs.errors import Pos
    from libs.secrets import Masker
    from libs.steps.csv import steps as csv_steps

    data = path.read_bytes()
    lines = data.count(b"\n") + 1
    if lines > 2 * MAX_ROWS + 10:  # a line can hold at most one row: refused before parsing
        raise too_many_rows(name)
    if max(data.count(s) for s in b",;\t|") + lines > 2 * MAX_CELLS:
        raise _too_many_cells(name)
    ctx = StepContext(RunState("queue-file", path.parent, {}, Masker([])), path.parent,
                      Pos(str(path), 1, 1), STEP, "", timeout=600.0)
    rows = list(csv_steps.read_rows(ctx, str(path)))
    if len(rows) > MAX_ROWS:
        raise too_many_rows(name)
    if any(len(r) > MAX_COLUMNS for r in rows):
        raise _too_wide(name)
    if sum(len(r) for r in rows) > MAX_CELLS:
        raise _too_many_cells(name)
    return rows


# -- xlsx -------------------------------------------------------------------------------------

def _check_zip(path: Path, name: str) -> None:
    try:
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(m.file_size for m in archive.infolist())
    except (zipfile.BadZipFile, OSError):
        return  # not a workbook: openpyxl says so in its words
    if unpacked > MAX_UNPACKED_BYTES:  # zipfile reads no more than a member declares
        raise Invalid(f"{name} unpacks to more than {MAX_UNPACKED_BYTES // 2**20} MiB; "
                      "save a smaller workbook (only the sheet to import)")


def _cells(ws: Any) -> Iterator[tuple[int, list[dict[str, Any]]]]:
    """(row number, the cells the XML holds) for each <row>, gaps never filled in."""
    from openpyxl.worksheet._reader import WorkSheetParser

    with ws._get_source() as source:  # the same parser ReadOnlyWorksheet uses
        parser = WorkSheetParser(source, ws._shared_strings, data_only=ws.parent.data_only,
                                 epoch=ws.parent.epoch, date_formats=ws.parent._date_formats,
                                 timedelta_formats=ws.parent._timedelta_formats)
        yield from parser.parse()


def _xlsx_rows(path: Path, sheet: str | None, name: str) -> list[dict[str, Any]]:
    from openpyxl.cell.read_only import ReadOnlyCell

    from libs.steps.excel import workbook as xl

    fast = (str, int, float)
    _check_zip(path, name)
    header: dict[int, Any] = {}
    rows: list[dict[int, Any]] = []
    width, count = 0, 0
    with xl.reading(path) as wb:
        ws = xl.pick_sheet(wb, sheet, path, STEP)
        for number, cells in _cells(ws):
            values: dict[int, Any] = {}
            for cell in cells:
                value = cell["value"]
                if value is None or value == "":
                    continue  # a formatted empty cell (often the one at XFD)
                if cell["column"] > MAX_COLUMNS:
                    raise _too_wide(name)
                if type(value) not in fast:
                    value = xl.value_out(value, ReadOnlyCell(ws, **cell).number_format)
                values[cell["column"]] = value
            if not values:
                continue
            if number > MAX_ROWS + 1:  # row 1 is the header
                raise too_many_rows(name)
            count += len(values)
            if count > MAX_CELLS:
                raise _too_many_cells(name)
            width = max(width, *values)
            if number == 1:
                header = values
            else:
                rows.append(values)
    keys = xl.header_keys([header.get(c) for c in range(1, width + 1)], width)
    return [{key: row.get(n) for n, key in enumerate(keys, start=1)} for row in rows]
