"""openpyxl behind the excel steps: opening with clear errors, sheets, values in and out."""

from __future__ import annotations

import datetime as dt
import difflib
import json
import math
import os
import re
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.utils import column_index_from_string, get_column_letter
from openpyxl.utils.cell import coordinate_from_string
from openpyxl.utils.exceptions import CellCoordinatesException

from libs.errors import StepArgumentError, SystemFailure

XLSX_SUFFIXES = (".xlsx", ".xlsm")
MAX_TEXT = 32_767  # Excel's limit for one cell
MAX_EXACT_INT = 10**15  # Excel stores numbers as doubles: longer integers lose digits
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_BAD_SHEET_CHARS = re.compile(r"[\[\]:*?/\\]")
_FORMAT_LITERALS = re.compile(r'"[^"]*"|\[[^\]]*\]|\\.')


def _why_not_a_workbook(path: Path, err: Exception) -> str:
    try:
        with path.open("rb") as f:
            head = f.read(512)
    except OSError as read_err:
        return f"{read_err.strerror or read_err}"
    if not head:
        return "the file is empty (was the download interrupted?)"
    if head.startswith(_OLE2):
        return ("it is an Excel 97-2003 (.xls) file or a password-protected workbook; open it "
                "in Excel and save it as .xlsx without a password")
    if head.startswith(b"PK"):
        return f"the file is damaged or is not a workbook ({err or type(err).__name__})"
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if start[:1] == b"<":
        return ("it is a web page (HTML) with an Excel name, as some systems export tables; "
                "open it in Excel and save it as .xlsx")
    first = start.split(b"\n", 1)[0][:40].decode("utf-8", "replace").strip()
    return (f"it is a text file starting with '{first}', not a workbook (if it is CSV, read it "
            f"with csv.read_rows)")


def open_error(path: Path, err: Exception) -> SystemFailure:
    reason = _why_not_a_workbook(path, err)
    fix = "" if "save it as .xlsx" in reason else "; save it as .xlsx"
    return SystemFailure(f"cannot read {path} as an Excel workbook (.xlsx): {reason}{fix}")


def _locked(path: Path, err: OSError) -> SystemFailure:
    return SystemFailure(f"cannot open {path}: {err.strerror or err}; is it locked by another "
                         f"program or user? Close it and retry")


@contextmanager
def reading(path: Path) -> Iterator[Workbook]:
    """A read-only workbook of cached values, closed afterwards.

    Opened from a file object so that the content decides, not the name: an .xlsx saved as
    'report.xls' still opens."""
    try:
        f = path.open("rb")
    except OSError as err:
        raise _locked(path, err) from None
    with f:
        try:
            wb = load_workbook(f, read_only=True, data_only=True)
        except Exception as err:  # openpyxl raises many kinds for a non-workbook
            raise open_error(path, err) from None
        try:
            yield wb
        finally:
            wb.close()


def editing(path: Path) -> Workbook:
    """The whole workbook, formulas kept, for changing and saving back."""
    try:
        f = path.open("rb")
    except OSError as err:
        raise _locked(path, err) from None
    with f:
        try:
            return load_workbook(f, keep_vba=path.suffix.lower() == ".xlsm")
        except Exception as err:
            raise open_error(path, err) from None


def check_suffix(path: Path, step: str) -> None:
    if path.suffix.lower() not in XLSX_SUFFIXES:
        raise StepArgumentError(f"{step}: {path.name} is not an .xlsx file name; Excel "
                                f"workbooks are written as .xlsx (e.g. {path.stem}.xlsx)")


def save(wb: Workbook, path: Path, step: str) -> None:
    """Save through a temporary file so an interrupted save never leaves half a workbook."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        wb.save(tmp)
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise SystemFailure(f"{step}: cannot save {path}: {err.strerror or err}; is it open in "
                            f"Excel? Close it and retry") from None


def _normal(name: str) -> str:
    return unicodedata.normalize("NFKC", name).strip().casefold()


def find_sheet(wb: Workbook, sheet: str) -> str | None:
    """The sheet's real name; Excel treats names case-insensitively, and stray spaces or
    full-width letters in a name are typing accidents."""
    if sheet in wb.sheetnames:
        return sheet
    same = [n for n in wb.sheetnames if _normal(n) == _normal(sheet)]
    return same[0] if len(same) == 1 else None


def pick_sheet(wb: Workbook, sheet: str | int | None, path: Path, step: str) -> Any:
    """The sheet a step names (name, or 0-based position; None: the first)."""
    names = wb.sheetnames
    listed = ", ".join(f"'{n}'" for n in names)
    if sheet is None:
        name = names[0]
    elif isinstance(sheet, int):
        if not 0 <= sheet < len(names):
            raise StepArgumentError(f"{step}: {path.name} has no sheet number {sheet}: sheets "
                                    f"count from 0 and it has {len(names)} ({listed})")
        name = names[sheet]
    else:
        found = find_sheet(wb, sheet)
        if found is None:
            close = difflib.get_close_matches(sheet, names, n=1, cutoff=0.5)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise StepArgumentError(f"{step}: {path.name} has no sheet '{sheet}'; its sheets "
                                    f"are {listed}{hint}")
        name = found
    ws = wb[name]
    if not hasattr(ws, "iter_rows"):
        raise StepArgumentError(f"{step}: sheet '{name}' of {path.name} is a chart, not a "
                                f"table; its sheets are {listed}")
    return ws


def check_sheet_name(name: str, step: str) -> str:
    if not name.strip() or len(name) > 31 or _BAD_SHEET_CHARS.search(name):
        raise StepArgumentError(f"{step}: '{name}' cannot be a sheet name: Excel allows up to "
                                f"31 characters and none of : \\ / ? * [ ]")
    return name


def check_cell(cell: str, step: str) -> str:
    """'b3' → 'B3'; anything but one cell address is an argument error."""
    address = cell.strip().replace("$", "").upper()
    try:
        letters, row = coordinate_from_string(address)
        column_index_from_string(letters)
        if not 1 <= row <= 1_048_576:
            raise ValueError(row)
    except (ValueError, CellCoordinatesException):
        raise StepArgumentError(f"{step}: '{cell}' is not a cell address; write one cell like "
                                f"B3 (column letters, then the row number)") from None
    return address


@lru_cache(maxsize=256)
def shows_time(number_format: str) -> bool:
    """Whether a date cell's format shows a time of day (hours or seconds)."""
    bare = _FORMAT_LITERALS.sub("", number_format).lower()
    return "h" in bare or "s" in bare


def value_out(value: Any, number_format: str = "General") -> Any:
    """A cell value as robots see it: numbers and text as they are, dates as ISO text."""
    if isinstance(value, dt.datetime):
        if shows_time(number_format) or value.time() != dt.time():
            return value.isoformat(sep=" ")
        return value.date().isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        minutes, seconds = divmod(int(value.total_seconds()), 60)
        return f"{minutes // 60}:{minutes % 60:02}:{seconds:02}"
    return value


def value_in(value: Any) -> Any:
    """A robot value as a cell can hold it."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # Excel has no NaN or infinity; a file holding one will not open
    if isinstance(value, bool) or value is None or isinstance(value, float | Decimal):
        return value
    if isinstance(value, int):
        return str(value) if abs(value) >= MAX_EXACT_INT else value
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None)  # Excel has no time zones: keep the wall time
    if isinstance(value, dt.date | dt.time | dt.timedelta):
        return value
    if isinstance(value, dict | list | tuple):
        value = json.dumps(value, ensure_ascii=False, default=str)
    return ILLEGAL_CHARACTERS_RE.sub("", str(value))[:MAX_TEXT]


def header_keys(values: list[Any], width: int) -> list[str]:
    """Keys from a header row: stripped text; blank → the column letter; repeats get _2, _3."""
    seen: dict[str, int] = {}
    keys = []
    for i in range(width):
        v = value_out(values[i]) if i < len(values) else None
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        key = str(v).strip() if v is not None else ""
        key = key or get_column_letter(i + 1)
        if key in seen:
            seen[key] += 1
            key = f"{key}_{seen[key]}"
        else:
            seen[key] = 1
        keys.append(key)
    return keys


def text_width(value: Any) -> int:
    """Columns a value takes on screen: CJK characters are twice as wide as Latin ones."""
    if value is None:
        return 0
    if isinstance(value, dt.datetime):
        return 19
    if isinstance(value, dt.date):
        return 10
    text = str(value)
    lines = text.splitlines() or [""]
    return max(len(line) if line.isascii() else
               sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in line)
               for line in lines)


def not_found_columns(missing: list[str], keys: list[str], path: Path, step: str
                      ) -> StepArgumentError:
    hints = []
    for name in missing:
        close = difflib.get_close_matches(name, keys, n=1, cutoff=0.5)
        hints.append(f"'{name}'" + (f" (did you mean '{close[0]}'?)" if close else ""))
    listed = ", ".join(f"'{k}'" for k in keys)
    return StepArgumentError(f"{step}: {path.name} has no column {', '.join(hints)}; its "
                             f"columns are {listed}")
