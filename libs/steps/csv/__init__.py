"""CSV steps: read and write delimited text files (UTF-8, UTF-8 with BOM, GBK).

Imports inside this package are absolute, so ``import csv`` always means the standard library.
"""

from libs.steps.csv.steps import read_rows, write_rows

__all__ = ["read_rows", "write_rows"]
