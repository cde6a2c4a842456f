"""Amounts as a bank voucher prints them: in capitals (大写) and in figures (小写).

The capitals follow the People's Bank rules for filling in vouchers (正确填写票据和结算凭证的基本
规定): 整 after 元 when there are no 角 or 分, one 零 for a run of zeros inside the number, 零
after 元 when 角 is zero but 分 is not (壹万陆仟肆佰零玖元零贰分). cn2an writes them so; they are
read back by the product's own reader (libs/steps/documents/fields.py amount_in_words), which
the tests run over every amount the generator writes.
"""

from __future__ import annotations

from decimal import Decimal

import cn2an

CENT = Decimal("0.01")


def capital_amount(amount: Decimal) -> str:
    """壹万贰仟叁佰肆拾伍元陆角柒分 for 12345.67; 壹拾元整 for 10.00; 壹分 for 0.01."""
    if amount < 0:
        raise ValueError(f"a voucher amount is never negative: {amount}")
    return str(cn2an.an2cn(f"{amount.quantize(CENT)}", "rmb"))


def figures_amount(amount: Decimal) -> str:
    """￥12,345.67 — the 小写 amount with thousands separators, as printers fill it in."""
    return f"￥{amount.quantize(CENT):,}"


