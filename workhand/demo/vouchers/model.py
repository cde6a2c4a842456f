"""What a generated voucher is: the bank's record, what the image shows, and how they differ.

truth.json holds these for tests and benchmarks only; a robot sees the images and the
transaction records (交易流水.xlsx), never the truth.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import asdict, dataclass, field, fields
from decimal import Decimal
from typing import Any

TRUTH_SCHEMA = 1
PAGE_SIZE = (1200, 600)  # every voucher image, whatever its quality

# The fields a voucher check compares with the record, in the order a report lists them.
COMPARED_FIELDS = ("payer_name", "payer_account", "payee_name", "payee_account", "amount",
                   "amount_in_words", "date")


@dataclass(frozen=True)
class Record:
    """One row of 交易流水.xlsx: what the bank's system says the transaction was."""

    voucher_no: str
    date: dt.date
    payer_name: str
    payer_account: str
    payee_name: str
    payee_account: str
    amount: Decimal
    purpose: str


@dataclass(frozen=True)
class Printed:
    """What the voucher image shows: each value, and its text exactly as drawn.

    ``amount`` is the 小写 figure; ``amount_in_words_value`` what the 大写 text says — the two
    differ only on a voucher planted with a ``capital_disagrees`` mismatch.
    """

    voucher_no: str
    title: str
    date: dt.date
    date_text: str  # 2026年11月03日 or 2026-11-03
    payer_name: str
    payer_account: str  # digits only
    payer_account_text: str  # as drawn: digits, or groups of four
    payer_bank: str
    payee_name: str
    payee_account: str
    payee_account_text: str
    payee_bank: str
    amount: Decimal
    amount_text: str  # ￥12,345.67
    amount_in_words: str  # 壹万贰仟叁佰肆拾伍元陆角柒分
    amount_in_words_value: Decimal
    purpose: str


@dataclass(frozen=True)
class Mismatch:
    """One planted difference: ``field`` on the voucher is not what the record (or, for
    ``amount_in_words``, the voucher's own 小写 amount) says."""

    field: str  # one of COMPARED_FIELDS
    kind: str  # digit_changed, digits_swapped, similar_char, cent_off, amount_digit,
    #            capital_disagrees, day_off
    expected: str  # the record's value (the 小写 amount for amount_in_words)
    printed: str  # the value on the voucher
    detail: str  # e.g. "position 7: 3 → 8", "盛 → 感"


@dataclass(frozen=True)
class Voucher:
    """One generated voucher: its image file (relative to the output folder) and its truth."""

    voucher_no: str
    image: str
    quality: str
    record: Record
    printed: Printed
    mismatches: tuple[Mismatch, ...] = ()
    degradations: dict[str, Any] = field(default_factory=dict)
    # field → [x, y, w, h] where it was drawn, before the scan's rotation (image_box applies it)
    boxes: dict[str, list[int]] = field(default_factory=dict)

    @property
    def matches(self) -> bool:
        """True when nothing was planted: a voucher check should pass it with no person."""
        return not self.mismatches

    @property
    def mismatched_fields(self) -> set[str]:
        return {m.field for m in self.mismatches}

    def image_box(self, name: str) -> list[int]:
        """Where field ``name`` is in the image file: its drawn box turned by the scan's
        rotation about the page centre (PIL's rotate: counter-clockwise for a positive angle),
        as the upright box [x, y, w, h] around it, clipped to the page."""
        x, y, w, h = self.boxes[name]
        angle = math.radians(float(self.degradations.get("rotation_deg") or 0.0))
        cx, cy = PAGE_SIZE[0] / 2, PAGE_SIZE[1] / 2
        cos, sin = math.cos(angle), math.sin(angle)
        xs, ys = [], []
        for px, py in ((x, y), (x + w, y), (x, y + h), (x + w, y + h)):
            xs.append(cx + (px - cx) * cos + (py - cy) * sin)
            ys.append(cy - (px - cx) * sin + (py - cy) * cos)
        left, top = max(0, math.floor(min(xs))), max(0, math.floor(min(ys)))
        right = min(PAGE_SIZE[0], math.ceil(max(xs)))
        bottom = min(PAGE_SIZE[1], math.ceil(max(ys)))
        return [left, top, right - left, bottom - top]

    def to_dict(self) -> dict[str, Any]:
        return _plain(asdict(self))


def _plain(value: Any) -> Any:
    """JSON-ready: dates as ISO text, amounts as exact decimal text, tuples as lists."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _typed(cls: type[Any], data: dict[str, Any]) -> dict[str, Any]:
    """Turn JSON text back into dates and Decimals where the dataclass says so."""
    out: dict[str, Any] = {}
    for f in fields(cls):
        value = data[f.name]
        if f.type in ("dt.date", dt.date):
            value = dt.date.fromisoformat(value)
        elif f.type in ("Decimal", Decimal):
            value = Decimal(value)
        out[f.name] = value
    return out


def voucher_from_dict(data: dict[str, Any]) -> Voucher:
    return Voucher(
        voucher_no=data["voucher_no"], image=data["image"], quality=data["quality"],
        record=Record(**_typed(Record, data["record"])),
        printed=Printed(**_typed(Printed, data["printed"])),
        mismatches=tuple(Mismatch(**m) for m in data["mismatches"]),
        degradations=data["degradations"], boxes=data["boxes"])
