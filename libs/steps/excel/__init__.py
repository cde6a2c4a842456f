"""Excel steps (openpyxl): read rows and cells from .xlsx workbooks, write rows, set cells."""

from libs.steps.excel.steps import append_row, read_cell, read_rows, set_cell, write_rows

__all__ = ["append_row", "read_cell", "read_rows", "set_cell", "write_rows"]
