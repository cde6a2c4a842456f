"""Normalisers for comparing text read by OCR with the text a system holds.

OCR of Chinese bank documents answers the same words in several spellings: full-width
'：，（）' and digits, '￥' or '¥' (or a 'Y' for the sign), dropped or extra spaces, and in digit
fields 'O' for 0 and 'l'/'I' for 1. These pure functions bring both sides to one spelling:

- ``normalise_text`` — labels, names, any text (full → half width, one currency sign, spaces);
- ``digits_only`` — account numbers, card numbers, voucher numbers: the digits, nothing else;
- ``normalise_amount`` — an amount in figures or in Chinese capitals (大写) as a Decimal.

They never guess beyond those rules: a letter among letters stays a letter, and an amount that
cannot be read raises ValueError (the caller routes it to a person).
"""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal, InvalidOperation
from typing import Literal

_YEN = "¥"  # what NFKC makes of the full-width '￥' (U+FFE5)
_Y_AS_YEN = re.compile(r"(?<![A-Za-z0-9])[Yy](?=\s?[0-9])")
"""A 'Y' standing alone right before digits is a misread '¥' ('Y12.50'); 'XY12' is not."""
_OTHER_YEN = re.compile("[\u5186\u5713]")  # '円', '圓' used as a sign before digits
_CONFUSABLE = {"O": "0", "o": "0", "D": "0", "I": "1", "l": "1", "|": "1"}
_INSIDE_DIGITS = re.compile(rf"(?<=[0-9])[{re.escape(''.join(_CONFUSABLE))}]+(?=[0-9])")
"""Confusable letters with a digit on each side: '62l7' → '6217', '1OO5' → '1005'."""
_SPACES = re.compile(r"\s+")
_FULL_WIDTH_SPACE = "\u3000"


def to_half_width(text: str) -> str:
    """NFKC: full-width digits, letters, '：，（）．' and the ideographic space become ASCII;
    '￥' becomes '¥'. Chinese characters are unchanged."""
    return unicodedata.normalize("NFKC", text.replace(_FULL_WIDTH_SPACE, " "))


def fix_digit_confusions(text: str) -> str:
    """O/o/D → 0 and I/l/| → 1, only between digits (inside a run of digits)."""
    return _INSIDE_DIGITS.sub(lambda m: "".join(_CONFUSABLE[c] for c in m.group()), text)


def normalise_text(text: str, spaces: Literal["remove", "collapse"] = "remove",
                   digit_confusions: bool = False) -> str:
    """`text` in one spelling for comparing: half width, '¥' for every yen sign (a lone 'Y'
    before digits included), spaces removed (or collapsed to one), trimmed. With
    `digit_confusions`, letters misread inside digit runs are digits again."""
    normal = to_half_width(text)
    normal = _Y_AS_YEN.sub(_YEN, normal)
    if digit_confusions:
        normal = fix_digit_confusions(normal)
    if spaces == "remove":
        return _SPACES.sub("", normal)
    return _SPACES.sub(" ", normal).strip()


def comparable(text: str) -> str:
    """Text as OCR and a robot author may both write it, for finding one in the other:
    normalise_text's spelling (full width folded, spaces gone: OCR drops and adds them), case
    ignored."""
    return normalise_text(text).casefold()


def digits_only(text: str) -> str:
    """The digits of an account or card number, confusions inside digit runs fixed first:
    '6217 8500 0012 3456 789' → '6217850000123456789', '62l7-85O0' → '62178500'.
    Spaces and dashes between groups are removed before the confusions are fixed, so a
    confusion next to a group break is still between digits."""
    normal = to_half_width(text)
    joined = re.sub(r"(?<=[0-9A-Za-z|])[\s\-]+(?=[0-9A-Za-z|])", "", normal)
    return re.sub(r"[^0-9]", "", fix_digit_confusions(joined))


_CURRENCY_WORDS = re.compile(r"^(?:人民币|RMB|CNY)\s*", re.IGNORECASE)
_FIGURES = re.compile(r"""^
    (?P<sign>[-−])?\s*
    [¥$]?\s*
    (?P<sign2>[-−])?\s*
    (?P<number>[0-9][0-9,\s]*(?:\.[0-9\s]*[0-9])?|\.[0-9]+)
    \s*(?:元|圆)?\s*(?:整|正)?
$""", re.VERBOSE)
_GROUPED = re.compile(r"^[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]+)?$")
_FORMAL = set("零壹贰貳叁參参肆伍陆陸柒捌玖拾佰仟万萬亿億元圆圓角分整正")
_CAPITAL_VARIANTS = str.maketrans({"参": "叁"})
"""'参' (the simplified '參') for 叁: written on vouchers, and PP-OCRv4 reads 叁 so."""


def normalise_amount(text: str) -> Decimal:
    """An amount as a Decimal, exact to the cent as written: '￥12,345.67', 'Y12,345.67',
    '12 345.67元', '人民币1,000.00', '壹万贰仟叁佰肆拾伍元陆角柒分', '伍佰元整'.

    Commas must group thousands ('1,2345' is refused); spaces inside the figures are dropped
    (OCR adds them). Raises ValueError for anything that is not one amount."""
    normal = to_half_width(text).strip()
    normal = _CURRENCY_WORDS.sub("", normal)
    normal = _Y_AS_YEN.sub(_YEN, normal)
    normal = _OTHER_YEN.sub(_YEN, normal) if re.match(r"^[\u5186\u5713]\s?[0-9]", normal) \
        else normal
    normal = fix_digit_confusions(normal)
    if not normal:
        raise ValueError("an empty text is not an amount")
    if set(normal.replace(" ", "")) <= _FORMAL:
        return _chinese_amount(normal.replace(" ", ""), text)
    match = _FIGURES.match(normal)
    if match is None:
        raise ValueError(f"{text!r} is not an amount")
    figures = re.sub(r"\s", "", match["number"])
    if "," in figures and not _GROUPED.match(figures):
        raise ValueError(f"{text!r} is not an amount: its commas do not group thousands")
    try:
        amount = Decimal(figures.replace(",", ""))
    except InvalidOperation:
        raise ValueError(f"{text!r} is not an amount") from None
    return -amount if match["sign"] or match["sign2"] else amount


def _chinese_amount(capitals: str, original: str) -> Decimal:
    """大写 (or plain Chinese numerals with 元) → Decimal, through libs.amounts (cn2an)."""
    from libs.amounts import to_number

    try:
        value = to_number(capitals.translate(_CAPITAL_VARIANTS))
    except ValueError:
        raise ValueError(f"{original!r} is not an amount") from None
    return Decimal(str(value)).quantize(Decimal("0.01"))
