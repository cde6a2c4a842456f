"""Amounts as a bank voucher prints them: in capitals (大写) and in figures (小写).

The capitals follow the People's Bank rules for filling in vouchers (正确填写票据和结算凭证的基本
规定): 整 after 元 when there are no 角 or 分, one 零 for a run of zeros inside the number, 零
after 元 when 角 is zero but 分 is not (壹万陆仟肆佰零玖元零贰分). cn2an writes them so; its own
reverse conversion rejects some of these legal forms (元零贰分, a lone 壹角), so the parser here
is ours — tests and the document checks read capitals back with it.
"""

from __future__ import annotations

from decimal import Decimal

import cn2an

CENT = Decimal("0.01")
_DIGITS = {"零": 0, "壹": 1, "贰": 2, "叁": 3, "肆": 4, "伍": 5, "陆": 6, "柒": 7, "捌": 8,
           "玖": 9}
_SMALL_UNITS = {"拾": 10, "佰": 100, "仟": 1000}
_IGNORED = set("人民币整正（）() ")


def capital_amount(amount: Decimal) -> str:
    """壹万贰仟叁佰肆拾伍元陆角柒分 for 12345.67; 壹拾元整 for 10.00; 壹分 for 0.01."""
    if amount < 0:
        raise ValueError(f"a voucher amount is never negative: {amount}")
    return str(cn2an.an2cn(f"{amount.quantize(CENT)}", "rmb"))


def figures_amount(amount: Decimal) -> str:
    """￥12,345.67 — the 小写 amount with thousands separators, as printers fill it in."""
    return f"￥{amount.quantize(CENT):,}"


def _integer_part(text: str) -> int:
    total = section = digit = 0
    for char in text:
        if char in _DIGITS:
            digit = _DIGITS[char]
        elif char in _SMALL_UNITS:
            # 拾 with no digit before it (拾元) means one ten
            section += (digit or 1) * _SMALL_UNITS[char]
            digit = 0
        elif char == "万":
            total += (section + digit) * 10_000
            section = digit = 0
        elif char == "亿":
            total = (total + section + digit) * 100_000_000
            section = digit = 0
        else:
            raise ValueError(f"not a capital amount: {char!r} in {text!r}")
    return total + section + digit


def parse_capital_amount(text: str) -> Decimal:
    """The amount a capital (大写) text says: 壹佰万零伍元零柒分 → Decimal('1000005.07').

    Accepts 元 or 圆, an optional 人民币 prefix and 整/正 suffix; raises ValueError otherwise.
    """
    cleaned = "".join(c for c in text if c not in _IGNORED).replace("圆", "元")
    if not cleaned:
        raise ValueError(f"not a capital amount: {text!r}")
    if "元" in cleaned:
        whole_text, _, fraction_text = cleaned.partition("元")
    elif "角" in cleaned or "分" in cleaned:  # 伍角, 壹分: under one yuan
        whole_text, fraction_text = "", cleaned
    else:
        raise ValueError(f"not a capital amount (no 元, 角 or 分): {text!r}")
    cents = 0
    digit = 0
    for char in fraction_text:
        if char in _DIGITS:
            digit = _DIGITS[char]
        elif char == "角":
            cents += digit * 10
            digit = 0
        elif char == "分":
            cents += digit
            digit = 0
        else:
            raise ValueError(f"not a capital amount: {char!r} in {text!r}")
    if digit:
        raise ValueError(f"a digit with no 角 or 分 after it: {text!r}")
    whole = _integer_part(whole_text) if whole_text else 0
    return (Decimal(whole) + Decimal(cents) / 100).quantize(CENT)
