"""Regenerate accounts.xlsx (S1's work list) from the demo systems' seed data, and
s5-待备案账户.xlsx (S5's accounts to file in the desktop client) from its seeded batch.

    .venv/bin/python robots/data/make_data.py

Account numbers are written as text cells: as numbers Excel would round 18 digits and drop
leading zeros, which is exactly the mistake the robot must never see.
"""

from __future__ import annotations

from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Font

from workhand.demo.seed import BRANCHES, accounts

HERE = Path(__file__).resolve().parent


S5_ACCOUNTS = 5


def s5_accounts() -> Path:
    from workhand.demo.filing.batch import make_batch, write_batch

    return write_batch(make_batch(S5_ACCOUNTS, seed=1), HERE / "s5-待备案账户.xlsx")


def main() -> Path:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "账户"
    ws.append(["账号", "企业名称", "网点"])
    for a in accounts():
        if a.due:
            ws.append([a.number, a.company, BRANCHES[a.branch]])
            ws.cell(ws.max_row, 1).number_format = "@"
    for cell in ws[1]:
        cell.font = Font(bold=True)
    ws.freeze_panes = "A2"
    for col, width in zip("ABC", (24, 36, 18), strict=True):
        ws.column_dimensions[col].width = width
    out = HERE / "accounts.xlsx"
    wb.save(out)
    return out


if __name__ == "__main__":
    print(f"wrote {main()} and {s5_accounts()}")
