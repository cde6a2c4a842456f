"""Data steps: reconcile two tables (data.compare) and small table helpers (sum, count, ...)."""

from libs.steps.data.compare import compare
from libs.steps.data.tables import count, filter_rows, group_sum, sum_column

__all__ = ["compare", "count", "filter_rows", "group_sum", "sum_column"]
