"""data.compare: reconcile two tables by key (a dict join: 100k rows a side in about a second)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from pydantic import Field

from libs.context import StepContext
from libs.errors import StepArgumentError
from libs.registry import step
from libs.steps.data.values import key_text, same
from libs.types import Rows

Key = str | list[str]
KeyFunc = Callable[[dict[str, Any]], Any]


@step("data.compare")
def compare(
    ctx: StepContext,
    left: Annotated[Rows, "the first table, e.g. the core system's statement rows"],
    right: Annotated[Rows, "the second table, e.g. the counter-party's statement rows"],
    key: Annotated[Key | None, "the key column, or several columns that together identify a "
                               "row (e.g. [账号, 日期])"] = None,
    left_key: Annotated[Key | None, "the key column(s) of the left table when they are named "
                                    "differently from the right's"] = None,
    right_key: Annotated[Key | None, "the key column(s) of the right table when they are named "
                                     "differently from the left's"] = None,
    columns: Annotated[list[str] | dict[str, str] | None,
                       "the columns to compare (default: every column both tables have, "
                       "keys excepted); a map {left column: right column} pairs columns "
                       "named differently"] = None,
    tolerance: Annotated[float, Field(ge=0),
                         "numbers within this of each other are equal, e.g. 0.01"] = 0,
    ignore_case: Annotated[bool, "compare text and keys ignoring upper/lower case"] = False,
    strip: Annotated[bool, "ignore spaces around text values and keys"] = True,
) -> dict[str, Any]:
    """Reconcile two tables by key: matched, only-left, only-right and differing rows.

    Values that both read as numbers are compared as numbers, so 1234.5, '1,234.50' and
    '￥1,234.50' are equal; empty text equals an empty cell; a date equals its text
    ('2024-01-31'). Keys match as text (1001 finds '1001').
    Returns {matched, only_left, only_right, different, duplicates_left, duplicates_right,
    summary}. `different` holds {key, left, right, fields: {column: {left, right}}}; `matched`
    holds the left rows. When a key occurs more than once on a side, its first row is compared
    and the later ones are listed in duplicates_left/duplicates_right. `summary` counts each list
    plus left_total and right_total, and `balanced` is true only when every row matched."""
    lcols = _key_columns(left_key if left_key is not None else key, "left_key")
    rcols = _key_columns(right_key if right_key is not None else key, "right_key")
    if len(lcols) != len(rcols):
        raise StepArgumentError(f"the left key {lcols} and the right key {rcols} have different "
                                "numbers of columns; give the same number on both sides")
    pairs = _pairs(left, right, lcols, rcols, columns)

    right_index: dict[Any, dict[str, Any]] = {}
    duplicates_right: Rows = []
    for row in _keyed(right, rcols, "right", strip, ignore_case):
        k, r = row
        if k in right_index:
            duplicates_right.append(r)
        else:
            right_index[k] = r

    matched: Rows = []
    only_left: Rows = []
    different: list[dict[str, Any]] = []
    duplicates_left: Rows = []
    seen: set[Any] = set()
    for k, lrow in _keyed(left, lcols, "left", strip, ignore_case):
        if k in seen:
            duplicates_left.append(lrow)
            continue
        seen.add(k)
        rrow = right_index.get(k)
        if rrow is None:
            only_left.append(lrow)
            continue
        fields = {}
        for lc, rc in pairs:
            a, b = lrow.get(lc), rrow.get(rc)
            if a is not b and a != b and not same(a, b, tolerance, strip, ignore_case):
                fields[lc] = {"left": a, "right": b}
        if fields:
            shown = lrow[lcols[0]] if len(lcols) == 1 else {c: lrow[c] for c in lcols}
            different.append({"key": shown, "left": lrow, "right": rrow, "fields": fields})
        else:
            matched.append(lrow)
    only_right = [row for k, row in right_index.items() if k not in seen]

    summary = {
        "matched": len(matched), "only_left": len(only_left), "only_right": len(only_right),
        "different": len(different), "duplicates_left": len(duplicates_left),
        "duplicates_right": len(duplicates_right), "left_total": len(left),
        "right_total": len(right),
    }
    summary["balanced"] = not (only_left or only_right or different
                               or duplicates_left or duplicates_right)
    ctx.log("compared {left_total} left rows with {right_total} right rows: {matched} matched, "
            "{different} different, {only_left} only left, {only_right} only right, "
            "{duplicates_left}/{duplicates_right} duplicate keys".format(**summary))
    return {"matched": matched, "only_left": only_left, "only_right": only_right,
            "different": different, "duplicates_left": duplicates_left,
            "duplicates_right": duplicates_right, "summary": summary}


def _key_columns(key: Key | None, name: str) -> list[str]:
    if key is None:
        raise StepArgumentError(f"data.compare needs the key column: give 'key' (or '{name}')")
    cols = [key] if isinstance(key, str) else list(key)
    if not cols:
        raise StepArgumentError(f"'{name}' is an empty list; name at least one key column")
    return cols


def _header(rows: Rows) -> list[str]:
    """Every column of a table: the first row's order, then any others the later rows add."""
    first = list(rows[0]) if rows else []
    extra = set().union(*rows).difference(first) if rows else set()
    return first + sorted(extra)


def _pairs(left: Rows, right: Rows, lcols: list[str], rcols: list[str],
           columns: list[str] | dict[str, str] | None) -> list[tuple[str, str]]:
    lhead, rhead = _header(left), _header(right)
    if columns is None:
        rset = set(rhead).difference(rcols)
        return [(c, c) for c in lhead if c in rset and c not in lcols]
    pairs = list(columns.items()) if isinstance(columns, dict) else [(c, c) for c in columns]
    for lc, rc in pairs:
        for side, col, head, rows in (("left", lc, lhead, left), ("right", rc, rhead, right)):
            if rows and col not in head:
                raise StepArgumentError(f"the {side} table has no column '{col}' to compare; "
                                        f"its columns are: {', '.join(map(str, head))}")
    return pairs


def _keyed(rows: Rows, cols: list[str], side: str, strip: bool,
           ignore_case: bool) -> list[tuple[Any, dict[str, Any]]]:
    """Each row with its key (text, or a tuple of texts for a key of several columns)."""
    if len(cols) == 1:
        c = cols[0]
        key: KeyFunc = lambda row: key_text(row[c], strip, ignore_case)  # noqa: E731
    else:
        key = lambda row: tuple(key_text(row[c], strip, ignore_case) for c in cols)  # noqa: E731
    keyed = []
    for number, row in enumerate(rows, start=1):
        try:
            keyed.append((key(row), row))
        except KeyError:
            missing = next(c for c in cols if c not in row)
            raise StepArgumentError(
                f"row {number} of the {side} table has no key column '{missing}'; its columns "
                f"are: {', '.join(map(str, row))}") from None
    return keyed
