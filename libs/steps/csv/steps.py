"""csv.read_rows and csv.write_rows: CSV and other delimited text, GBK and UTF-8 alike."""

from __future__ import annotations

import csv as _csv
import datetime as dt
import io
from collections.abc import Iterable
from typing import Annotated, Any

from pydantic import Field

from libs.context import StepContext
from libs.errors import StepArgumentError, SystemFailure
from libs.registry import step
from libs.steps.files import text as textcodec
from libs.steps.files.paths import output_file, source_file
from libs.steps.files.steps import as_text, register
from libs.types import Encoding, ReadPath, WritePath

_NAMED = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}
_SNIFF = ",\t;|"

Delimiter = Annotated[str, "the character between values: ',' (default), ';', '|', tab (write "
                           "tab or \\t), or auto to detect it"]


def _delimiter(value: str, step_name: str, *, allow_auto: bool) -> str:
    d = _NAMED.get(value.strip().lower(), value) if value.strip() else value
    if allow_auto and d.strip().lower() == "auto":
        return "auto"
    if len(d) != 1:
        raise StepArgumentError(f"{step_name}: delimiter '{value}' must be one character such "
                                f"as ',', ';', '|' or tab" + (", or auto" if allow_auto else ""))
    return d


# Delimiter detection looks at the first lines only, in one linear pass: csv.Sniffer's
# regular expressions take quadratic time on a long line (a hostile file could hold the step).
SNIFF_CHARS = 64 * 1024
SNIFF_LINES = 50


def _sniff(sample: str) -> str:
    """The candidate delimiter found the same number of times (outside quotes) on the most
    lines of the sample; ',' when none is found."""
    lines = sample[:SNIFF_CHARS].splitlines()
    if len(sample) > SNIFF_CHARS and len(lines) > 1:
        lines = lines[:-1]  # the last line was cut short
    lines = [line for line in lines[:SNIFF_LINES] if line.strip()]
    best, best_score = ",", (0, 0)
    for candidate in _SNIFF:
        counts = [_count_outside_quotes(line, candidate) for line in lines]
        used = [c for c in counts if c]
        if not used:
            continue
        common = max(set(used), key=used.count)
        score = (used.count(common), common)
        if score > best_score:
            best, best_score = candidate, score
    return best


def _count_outside_quotes(line: str, delimiter: str) -> int:
    if '"' not in line:
        return line.count(delimiter)
    count, quoted = 0, False
    for char in line:
        if char == '"':
            quoted = not quoted
        elif char == delimiter and not quoted:
            count += 1
    return count


def _unwrap(value: str) -> str:
    """'="0012345"' is how many exports keep Excel from dropping leading zeros: take the text."""
    if value.startswith('="') and value.endswith('"') and len(value) >= 3:
        return value[2:-1]
    return value


def keys(header: list[str]) -> list[str]:
    """Column keys from a header: blank ones become the column number, repeats get _2, _3."""
    seen: dict[str, int] = {}
    out = []
    for i, name in enumerate(header, start=1):
        key = name or str(i)
        if key in seen:
            seen[key] += 1
            key = f"{key}_{seen[key]}"
        else:
            seen[key] = 1
        out.append(key)
    return out


@step("csv.read_rows", main="path")
def read_rows(
    ctx: StepContext,
    path: Annotated[ReadPath, "the CSV file (relative paths are read from the robot's folder)"],
    encoding: Annotated[Encoding, "the file's encoding; auto: a BOM decides, else UTF-8, else "
                                  "GB18030 (GBK, as bank systems export)"] = "auto",
    delimiter: Delimiter = ",",
    header: Annotated[bool, "the first row holds the column names; false: keys are "
                            "'1', '2', ... (column numbers)"] = True,
    skip_rows: Annotated[int, Field(ge=0), "lines to skip before the header (title lines "
                                           "some bank exports put on top)"] = 0,
    strip: Annotated[bool, "trim spaces and tabs around values, and unwrap Excel's "
                           "=\"0012345\" text guard"] = True,
) -> list[dict[str, str]]:
    """Read a CSV file into a list of rows, one map per line keyed by the header.

    Every value is text, exactly as in the file (account numbers keep their leading zeros); use
    `number(...)` in expressions to compute with amounts. Blank lines and lines with only empty
    values are skipped; a short line gets empty values for its missing columns, and values
    beyond the header are keyed by their column number."""
    sep = _delimiter(delimiter, "csv.read_rows", allow_auto=True)
    p = source_file(ctx, path, "csv.read_rows")
    try:
        data = p.read_bytes()
    except OSError as err:
        raise SystemFailure(f"csv.read_rows: cannot read {p}: {err.strerror or err}") from None
    stream = io.StringIO(textcodec.decode(data, encoding, str(p), "csv.read_rows"), newline="")
    for _ in range(skip_rows):
        stream.readline()
    if sep == "auto":
        start = stream.tell()
        sep = _sniff(stream.read(SNIFF_CHARS + 1))
        stream.seek(start)
    try:
        records = list(_csv.reader(stream, delimiter=sep))
    except _csv.Error as err:
        raise SystemFailure(f"csv.read_rows: cannot parse {p}: {err}; check the delimiter and "
                            f"quoting") from None
    if strip:
        records = [[_unwrap(v.strip()) for v in r] for r in records]
    records = [r for r in records if any(v.strip() for v in r)]
    if not records:
        return []
    names = keys([h.strip() for h in records[0]]) if header else []
    body = records[1:] if header else records
    width = max([len(names), *(len(r) for r in body)])
    names += [str(i) for i in range(len(names) + 1, width + 1)]
    return [{k: (r[i] if i < len(r) else "") for i, k in enumerate(names)} for r in body]


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    return as_text(value)


def columns_of(rows: Iterable[dict[str, Any]]) -> list[str]:
    """The first row's keys in order, then any new key later rows bring."""
    seen: dict[str, None] = {}
    for row in rows:
        seen.update(dict.fromkeys(str(k) for k in row))
    return list(seen)


@step("csv.write_rows")
def write_rows(
    ctx: StepContext,
    path: Annotated[WritePath, "the CSV file to write (relative paths go into the run's "
                               "output folder)"],
    rows: Annotated[list[dict[str, Any]], "the rows: a list of maps, e.g. from excel.read_rows"],
    columns: Annotated[list[str] | None, "which columns, in this order (default: the first "
                                         "row's keys, then new keys of later rows)"] = None,
    encoding: Annotated[Encoding, "utf-8-sig (default: UTF-8 with BOM, so Excel shows Chinese "
                                  "correctly), utf-8, gbk or gb18030"] = "utf-8-sig",
    delimiter: Delimiter = ",",
) -> str:
    """Write rows to a CSV file with a header line and return its path.

    Dates are written as YYYY-MM-DD; empty values as nothing. The file is replaced if it
    exists."""
    sep = _delimiter(delimiter, "csv.write_rows", allow_auto=False)
    p = output_file(ctx, path, "csv.write_rows")
    names = list(columns) if columns is not None else columns_of(rows)
    buffer = io.StringIO(newline="")
    writer = _csv.writer(buffer, delimiter=sep)
    writer.writerow(names)
    for row in rows:
        writer.writerow([_cell(row.get(k)) for k in names])
    data = textcodec.encode(buffer.getvalue(), encoding, str(p), "csv.write_rows")
    try:
        p.write_bytes(data)
    except OSError as err:
        raise SystemFailure(f"csv.write_rows: cannot write {p}: {err.strerror or err}; is it "
                            f"open in Excel? Close it and retry") from None
    register(ctx, p)
    return str(p)
