"""Small table helpers: data.sum, data.count, data.filter, data.group_sum."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Annotated, Any

from libs.context import StepContext
from libs.errors import StepArgumentError
from libs.registry import step
from libs.steps.data.values import key_text, number, same
from libs.types import Rows

RowsArg = Annotated[Rows, "the rows, e.g. what excel.read_rows returned"]


@step("data.sum")
def sum_column(ctx: StepContext, rows: RowsArg,
               column: Annotated[str, "the column to add up, e.g. 金额"]) -> float | int:
    """Add up a column; amounts written as text ('1,234.50', '￥100') count, blank cells do not.

    The sum is exact in decimal (0.1 + 0.2 gives 0.3)."""
    _check_column(rows, column, "data.sum")
    return _total(rows, column, range(1, len(rows) + 1))


@step("data.count", main="rows")
def count(ctx: StepContext, rows: Annotated[list[Any], "the rows (or any list)"]) -> int:
    """Count the rows of a table (or the items of any list)."""
    return len(rows)


@step("data.filter")
def filter_rows(ctx: StepContext, rows: RowsArg,
                where: Annotated[dict[str, Any], "column → value the row must have, e.g. "
                                                 "{状态: 存续}; a list means any of its values"],
                ) -> Rows:
    """Keep the rows whose columns have the given values (all conditions must hold).

    Values compare as data.compare does: spaces around text are ignored and amounts compare as
    numbers ('100.00' equals 100)."""
    for column in where:
        _check_column(rows, column, "data.filter")
    wanted = {c: v if isinstance(v, list) else [v] for c, v in where.items()}
    return [row for row in rows
            if all(any(same(row.get(c), v) for v in vs) for c, vs in wanted.items())]


@step("data.group_sum")
def group_sum(ctx: StepContext, rows: RowsArg,
              by: Annotated[str, "the column to group by, e.g. 机构"],
              column: Annotated[str, "the column to add up in each group, e.g. 金额"],
              ) -> dict[str, float | int]:
    """Add up a column per value of another, e.g. the total amount per branch.

    Returns {group: total} in the order the groups first appear; group names are the text of
    the `by` column (spaces around it ignored)."""
    _check_column(rows, by, "data.group_sum")
    _check_column(rows, column, "data.group_sum")
    groups: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for index, row in enumerate(rows, start=1):
        groups.setdefault(key_text(row.get(by)), []).append((index, row))
    return {name: _total([row for _, row in members], column, [i for i, _ in members])
            for name, members in groups.items()}


def _check_column(rows: Rows, column: str, step_name: str) -> None:
    """Refuse a column no row has (a typo would otherwise give 0 or nothing, silently)."""
    if rows and not any(column in row for row in rows):
        raise StepArgumentError(f"{step_name}: no row has a column '{column}'; the columns are: "
                                f"{', '.join(map(str, rows[0]))}")


def _total(rows: Rows, column: str, numbers: Sequence[int]) -> float | int:
    """The exact decimal sum; `numbers` are the rows' positions in the table, for messages."""
    total = Decimal(0)
    exact_int = True
    for row_number, row in zip(numbers, rows, strict=True):
        value = row.get(column)
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        amount = number(value)
        if amount is None:
            raise StepArgumentError(f"row {row_number}: '{column}' is {value!r}, which is not a "
                                    "number; correct the data or filter such rows out first")
        exact_int = exact_int and isinstance(amount, int)
        total += Decimal(amount) if isinstance(amount, int) else Decimal(repr(amount))
    return int(total) if exact_int else float(total)
