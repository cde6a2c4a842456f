"""S4's demo system: scanned bank vouchers (进账单 / 转账凭证) with the bank's transaction
records, and a truth file saying what each voucher shows and which fields were planted to differ.

    python -m workhand.demo.vouchers --count 50 --seed 1 --out DIR [--mismatch-rate 0.3]
        [--quality clean|scanned|poor]
"""

from workhand.demo.vouchers.amounts import capital_amount, figures_amount
from workhand.demo.vouchers.generator import generate, load_truth, read_records
from workhand.demo.vouchers.model import COMPARED_FIELDS, Mismatch, Printed, Record, Voucher

__all__ = ["COMPARED_FIELDS", "Mismatch", "Printed", "Record", "Voucher", "capital_amount",
           "figures_amount", "generate", "load_truth", "read_records"]
