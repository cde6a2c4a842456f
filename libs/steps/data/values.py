"""How two cell values are judged the same: text, amounts written as text, dates, blanks."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from typing import Any

from libs.expressions import parse_date, to_number

# Float sums drift (0.1 + 0.2 != 0.3); a relative slack of a few units in the last place keeps
# that from reporting a difference while staying far below a cent for any real amount.
_RELATIVE_SLACK = 1e-15
_ABSOLUTE_SLACK = 1e-9


def key_text(value: Any, strip: bool = True, ignore_case: bool = False) -> str:
    """A key value as text, so 1001, 1001.0 and '1001' (Excel vs CSV) find each other."""
    if value is None:
        return ""
    if isinstance(value, str):
        text = value.strip() if strip else value
    elif isinstance(value, float | Decimal) and math.isfinite(value) and value == int(value):
        text = str(int(value))
    else:
        text = str(value)
    return text.casefold() if ignore_case else text


def number(value: Any) -> float | int | None:
    """The value as a number when it reads as one ('￥1,234.50' included), else None."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return None if isinstance(value, float) and math.isnan(value) else value
    if isinstance(value, Decimal):
        return float(value)
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        result = to_number(value)
    except (ValueError, ArithmeticError):
        return None
    return None if isinstance(result, float) and not math.isfinite(result) else result


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def same(a: Any, b: Any, tolerance: float = 0.0, strip: bool = True,
         ignore_case: bool = False) -> bool:
    """Whether two cells hold the same value for a person reconciling them."""
    if isinstance(a, bool) or isinstance(b, bool):  # else True would equal 1
        return str(a).strip().casefold() == str(b).strip().casefold()
    if a is b or a == b:
        return True
    if isinstance(a, str) and strip:
        a = a.strip()
    if isinstance(b, str) and strip:
        b = b.strip()
    if a == b or (_blank(a) and _blank(b)):
        return True
    if isinstance(a, str) and isinstance(b, str) and ignore_case and a.casefold() == b.casefold():
        return True
    x, y = number(a), number(b)
    if x is not None and y is not None:
        slack = _ABSOLUTE_SLACK + _RELATIVE_SLACK * max(abs(x), abs(y))
        return abs(x - y) <= tolerance + slack
    return _same_date(a, b)


def _same_date(a: Any, b: Any) -> bool:
    # Excel gives dates as datetime, exports and web pages as text: compare them as days.
    if isinstance(a, str) and isinstance(b, dt.date):
        a, b = b, a
    if not (isinstance(a, dt.date) and isinstance(b, str)):
        return False
    if isinstance(a, dt.datetime) and a.time() != dt.time():
        return False
    try:
        return parse_date(a) == parse_date(b)
    except ValueError:
        return False
