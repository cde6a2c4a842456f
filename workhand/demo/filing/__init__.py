"""账户备案系统（演示）: S5's legacy desktop filing client (Tk), its records and its work batch.

    python -m workhand.demo.filing --data DIR [--users FILE] [--slow SECONDS]

``records.read_filings(DIR)`` reads what was filed; ``batch.make_batch`` / ``batch.write_batch``
make the work file a robot files from. Importing this package opens no display (Tk is imported
by ``app`` only).
"""
