"""Planted mismatches: one or two fields of a voucher made to differ from its record.

Each kind is a mistake that really happens on bank vouchers (or that OCR makes, which a check
must treat the same way): one digit of an account keyed wrong or two swapped, a look-alike
character in a name (盛/感), an amount a cent or a digit off, the 大写 amount not agreeing with
the 小写 one on the voucher itself, the date a day off.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from decimal import Decimal

from workhand.demo.vouchers.model import Mismatch
from workhand.demo.vouchers.names import LOOK_ALIKES, name_positions

# (field, kind) — every kind a planted voucher can carry.
KINDS: tuple[tuple[str, str], ...] = (
    ("payer_account", "digit_changed"), ("payer_account", "digits_swapped"),
    ("payee_account", "digit_changed"), ("payee_account", "digits_swapped"),
    ("payer_name", "similar_char"), ("payee_name", "similar_char"),
    ("amount", "cent_off"), ("amount", "amount_digit"),
    ("amount_in_words", "capital_disagrees"), ("date", "day_off"),
)
# Fields that cannot both be planted on one voucher: the 大写 is checked against the 小写.
_GROUP = {"amount_in_words": "amount"}


def group_of(field: str) -> str:
    return _GROUP.get(field, field)


@dataclass
class Values:
    """The values a voucher will show, before any are planted (they start as the record's)."""

    payer_name: str
    payer_account: str
    payee_name: str
    payee_account: str
    amount: Decimal
    words_amount: Decimal  # what the 大写 says
    date: dt.date


def _change_digit(rng: random.Random, digits: str, first: int = 0) -> tuple[str, str]:
    position = rng.randrange(first, len(digits))
    old = digits[position]
    new = rng.choice([d for d in "0123456789" if d != old and (position or d != "0")])
    return (digits[:position] + new + digits[position + 1:],
            f"position {position + 1}: {old} → {new}")


def _swap_digits(rng: random.Random, digits: str) -> tuple[str, str]:
    candidates = [i for i in range(len(digits) - 1) if digits[i] != digits[i + 1]]
    i = rng.choice(candidates)
    swapped = digits[:i] + digits[i + 1] + digits[i] + digits[i + 2:]
    return swapped, f"positions {i + 1}–{i + 2}: {digits[i:i + 2]} → {swapped[i:i + 2]}"


def _similar_char(rng: random.Random, name: str) -> tuple[str, str]:
    position = rng.choice(name_positions(name))
    old = name[position]
    new = LOOK_ALIKES[old]
    return name[:position] + new + name[position + 1:], f"position {position + 1}: {old} → {new}"


def _amount_digit(rng: random.Random, amount: Decimal) -> tuple[Decimal, str]:
    """One digit of the amount changed (12,345.67 → 12,845.67), never to zero or the same."""
    text = f"{amount:.2f}".replace(".", "")
    while True:
        changed, detail = _change_digit(rng, text)
        value = Decimal(int(changed)) / 100
        if value > 0 and value != amount:
            return value.quantize(Decimal("0.01")), detail


def plant(values: Values, kind: tuple[str, str], rng: random.Random) -> Mismatch:
    """Change ``values`` in place as ``kind`` says and describe the change."""
    field, how = kind
    if field in ("payer_account", "payee_account"):
        before = getattr(values, field)
        after, detail = (_change_digit(rng, before) if how == "digit_changed"
                         else _swap_digits(rng, before))
        setattr(values, field, after)
        return Mismatch(field, how, before, after, detail)
    if field in ("payer_name", "payee_name"):
        before = getattr(values, field)
        after, detail = _similar_char(rng, before)
        setattr(values, field, after)
        return Mismatch(field, how, before, after, detail)
    if field == "amount":
        before_amount = values.amount
        if how == "cent_off":
            step = Decimal("0.01") if rng.random() < 0.5 or before_amount <= Decimal("0.01") \
                else Decimal("-0.01")
            values.amount, detail = before_amount + step, f"{step:+}"
        else:
            values.amount, detail = _amount_digit(rng, before_amount)
        values.words_amount = values.amount  # the voucher agrees with itself: only 小写 ≠ record
        return Mismatch(field, how, str(before_amount), str(values.amount), detail)
    if field == "amount_in_words":
        values.words_amount, detail = _amount_digit(rng, values.amount)
        return Mismatch(field, how, str(values.amount), str(values.words_amount), detail)
    if field == "date":
        days = rng.choice((-1, 1))
        before_date = values.date
        values.date = before_date + dt.timedelta(days=days)
        return Mismatch(field, how, before_date.isoformat(), values.date.isoformat(),
                        f"{days:+d} day")
    raise ValueError(f"unknown mismatch kind: {kind}")


def choose_kinds(rng: random.Random, planted: int) -> list[list[tuple[str, str]]]:
    """Kinds for ``planted`` vouchers: every kind appears once before any repeats (so a batch
    of ten or more planted vouchers covers them all), and about a third get a second field."""
    firsts: list[tuple[str, str]] = []
    while len(firsts) < planted:
        cycle = list(KINDS)
        rng.shuffle(cycle)
        firsts.extend(cycle)
    chosen = []
    for first in firsts[:planted]:
        kinds = [first]
        if rng.random() < 0.35:
            others = [k for k in KINDS if group_of(k[0]) != group_of(first[0])]
            kinds.append(rng.choice(others))
        chosen.append(kinds)
    return chosen
