"""What the filing form accepts: the field names, the account types and the checks on submit.

Pure functions, no Tk: the client, the batch generator and the tests share them. A legacy
back end checks the shape of what it is given, not whether it is true: an account number of the
right length is accepted whatever its digits, so a robot that types a wrong digit files a wrong
account, and only a comparison of the client's records with the work file finds it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass

MAX_TEXT = 100  # characters in a name or a remark
ACCOUNT_TYPES: tuple[str, ...] = ("基本存款账户", "一般存款账户", "专用存款账户", "临时存款账户")


@dataclass(frozen=True)
class Field:
    """One input of the filing form: the attribute name records use and the label on screen."""

    key: str
    label: str
    required: bool = True


FIELDS: tuple[Field, ...] = (
    Field("account_name", "账户名称"),
    Field("account_number", "账号"),
    Field("account_type", "账户类型"),
    Field("opened_on", "开户日期"),
    Field("legal_representative", "法定代表人"),
    Field("id_number", "证件号码"),
    Field("remarks", "备注", required=False),
)
"""Top to bottom as on screen (and in tab order)."""

LABELS: dict[str, str] = {f.key: f.label for f in FIELDS}

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"  # GB 11643-1999: the check character for (weighted sum mod 11)
_DIGITS = re.compile(r"[0-9]+")  # not \d: that also matches full-width and other scripts' digits
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def id_check_character(first17: str) -> str:
    """The 18th character of a resident ID number whose first 17 digits are given."""
    if len(first17) != 17 or not _DIGITS.fullmatch(first17):
        raise ValueError(f"an ID number starts with 17 digits, not {first17!r}")
    total = sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


def problems(values: dict[str, str], today: dt.date | None = None) -> list[tuple[str, str]]:
    """Every problem with a filing as (field key, red message), top to bottom; empty when fine.

    ``values`` holds each field's text exactly as typed; only surrounding spaces are forgiven
    when deciding whether a required field was filled in (the text is recorded as typed).
    """
    today = today or dt.date.today()
    found: list[tuple[str, str]] = []
    for f in FIELDS:
        text = values.get(f.key, "")
        if not text.strip():
            if f.required:
                verb = "请选择" if f.key == "account_type" else "请填写"
                found.append((f.key, f"{verb}{f.label}"))
            continue
        found.extend((f.key, message) for message in _CHECKS[f.key](text, today))
    return found


def validate(values: dict[str, str], today: dt.date | None = None) -> list[str]:
    """The red messages the form shows for these values (empty when they may be filed)."""
    return [message for _, message in problems(values, today)]


def _length_errors(label: str) -> Callable[[str, dt.date], list[str]]:
    def check(text: str, _today: dt.date) -> list[str]:
        return [f"{label}不能超过{MAX_TEXT}个字"] if len(text) > MAX_TEXT else []
    return check


def _number_errors(text: str, _today: dt.date) -> list[str]:
    if _DIGITS.fullmatch(text) and 12 <= len(text) <= 19:
        return []
    return ["账号必须是12–19位数字"]


def _type_errors(text: str, _today: dt.date) -> list[str]:
    return [] if text in ACCOUNT_TYPES else ["账户类型必须从列表中选择"]


def _date_errors(text: str, today: dt.date) -> list[str]:
    if not _DATE.fullmatch(text):
        return ["开户日期格式应为YYYY-MM-DD"]
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        return ["开户日期不是有效日期"]
    if day > today:
        return ["开户日期不能晚于今天"]
    if day.year < 1949:
        return ["开户日期不是有效日期"]
    return []


def _id_errors(text: str, _today: dt.date) -> list[str]:
    if len(text) != 18 or not (_DIGITS.fullmatch(text[:17]) and re.fullmatch(r"[0-9X]", text[17])):
        return ["证件号码应为18位（最后一位可为X）"]
    if id_check_character(text[:17]) != text[17]:
        return ["证件号码校验位错误"]
    return []


_CHECKS: dict[str, Callable[[str, dt.date], list[str]]] = {
    "account_name": _length_errors("账户名称"),
    "account_number": _number_errors,
    "account_type": _type_errors,
    "opened_on": _date_errors,
    "legal_representative": _length_errors("法定代表人"),
    "id_number": _id_errors,
    "remarks": _length_errors("备注"),
}
