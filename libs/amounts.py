"""Numbers read from text, as bank data writes them: '1,234.50', '￥1,234.50', 'RMB 1,234.50元',
full-width '１２３４．５', accounting negatives '(12.50)', '1.5万', and amounts in Chinese
numerals, 大写 included: '壹万贰仟叁佰肆拾伍元陆角柒分', '伍佰元整'.

Two readers share the rules:

- ``to_number`` — a value that *is* one number (an input, a cell being compared): anything else
  in the text makes it not a number;
- ``find_number`` — the expression function ``number()``: the one number *in* a text
  ('Item total: $17.98'). Two different numbers are refused, never guessed between.

Both raise ValueError, which the expression evaluator reports as a DataError (the data's fault).
"""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal, InvalidOperation
from typing import Any

_SHOWN = 80
"""How much of a text an error message quotes."""

MAX_DIGITS = 30
"""The most digits a number read from text may have (an amount or an account number has far
fewer; a million digits would take seconds to read)."""

MAX_NUMBER_TEXT = 100
"""The longest text ``to_number`` reads as one number: a longer one is never just a number."""

# After NFKC: full-width digits, '．', '，', '（', '￥' and '＄' are plain ASCII or '¥'.
_CURRENCY = r"(?:[$¥€£]|RMB|CNY|USD|HKD|EUR|GBP|JPY)"
_SCALES = {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "仟": 1000, "万": 10_000,
           "萬": 10_000, "亿": 100_000_000, "億": 100_000_000}
_DIGIT_NUMBER = re.compile(rf"""
    (?P<open>\(\s*)?
    (?:(?<![0-9A-Za-z.])(?P<minus>-)\s*)?
    (?:{_CURRENCY}\s*(?P<minus2>-\s*)?)?
    (?<![0-9.])(?<![0-9],)
    (?P<digits>(?:[0-9]{{1,3}}(?:,[0-9]{{3}})+|[0-9]+)(?:\.[0-9]+)?|\.[0-9]+)
    (?![.,]?[0-9])
    (?P<scale>\s*[{"".join(_SCALES)}]+)?
    (?:\s*[元圆圓])?
    (?P<close>\s*\))?
""", re.VERBOSE)
"""A number written in digits, with what may stand around it: a sign, a currency, a scale
(1.5万) and accounting parentheses. '2024-01-05' is three numbers, not a negative one."""

_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "壹": 1, "二": 2, "贰": 2, "貳": 2, "两": 2, "三": 3,
              "叁": 3, "參": 3, "四": 4, "肆": 4, "五": 5, "伍": 5, "六": 6, "陆": 6, "陸": 6,
              "七": 7, "柒": 7, "八": 8, "捌": 8, "九": 9, "玖": 9}
_FORMAL = set("壹贰貳叁參肆伍陆陸柒捌玖拾佰仟")
"""大写 characters: a run with one of them is an amount wherever it stands in a text."""
_CN = "".join(_CN_DIGITS)
_CN_AMOUNT = re.compile(rf"""
    (?=[{_CN}{"".join(_SCALES)}])  # a numeral first: no empty match at every character
    (?P<yuan>[{_CN}{"".join(_SCALES)}]+(?![角分]))?
    (?P<unit>[元圆圓])?
    (?:零?(?P<jiao>[{_CN}])角)?
    (?:零?(?P<fen>[{_CN}])分)?
    [整正]?
""", re.VERBOSE)
_ANY_DIGIT = re.compile("[0-9]")
_UNIT = re.compile("[元圆圓]")
_ANY_NUMERAL = re.compile(f"[{_CN}{''.join(_SCALES)}]")
# cn2an reads the common forms but not 貳/參/陸/圓 or 〇 in every place: write them its way
_CN2AN_FORM = str.maketrans({"貳": "贰", "參": "叁", "陸": "陆", "〇": "零", "萬": "万",
                             "億": "亿"})


def shown(text: str) -> str:
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"


def normalized(value: Any) -> str:
    """NFKC makes full-width digits and signs plain; U+2212 and dashes as a minus."""
    text = unicodedata.normalize("NFKC", str(value))
    return text.replace("\u2212", "-").replace("\u2013", "-").strip()


def _as_result(number: Decimal, exact_whole: bool) -> int | float:
    return int(number) if exact_whole and number == number.to_integral_value() else float(number)


def _plain(text: str) -> int | float | None:
    """The text as one number in digits, or None: '1,234.50', '¥ 1 234.5', '(12.50)', '-$5',
    '1,234.50-'."""
    # spaces group digits in threes ('1 234.50'), nothing else: '3 17.98' is two numbers
    text = re.sub(r"(?<=[0-9]) (?=[0-9]{3}(?![0-9]))", "", text)
    if text.endswith("-") and not text.startswith(("-", "(")):  # '1,234.50-': ledgers (SAP)
        value = _plain(text[:-1].rstrip())
        return None if value is None else -value
    match = _DIGIT_NUMBER.fullmatch(text)
    if match is None or bool(match["open"]) != bool(match["close"]):
        return None
    return _digit_value(match)


def _digit_value(match: re.Match[str]) -> int | float:
    digits = match["digits"].replace(",", "")
    if len(digits) > MAX_DIGITS:
        raise ValueError(f"'{shown(match['digits'])}' has {len(digits):,} digits, more than "
                         f"the {MAX_DIGITS} a number read from text may have")
    number = Decimal(digits)
    scale = match["scale"]
    for ch in (scale or "").strip():
        number *= _SCALES[ch]
    negative = bool(match["minus"] or match["minus2"]) or bool(match["open"] and match["close"])
    whole = "." not in digits or bool(scale)
    return _as_result(-number if negative else number, whole)


def _chinese(match: re.Match[str]) -> int | float:
    """壹万贰仟叁佰肆拾伍元陆角柒分 → 12345.67: cn2an reads the 元 part, 角 and 分 are tenths and
    hundredths (cn2an knows neither)."""
    yuan = match["yuan"]
    number = Decimal(0)
    if yuan and len(yuan) > MAX_DIGITS:  # cn2an takes long, and fails, on a very long run
        raise ValueError(f"'{shown(yuan)}' is too long for an amount in Chinese numerals "
                         f"(at most {MAX_DIGITS} characters)")
    if yuan:
        import cn2an  # lazily: it takes a moment to import, and most robots never need it

        try:
            number = Decimal(cn2an.cn2an(yuan.translate(_CN2AN_FORM), "normal"))
        except ValueError:
            raise ValueError(f"'{yuan}' is not an amount in Chinese numerals; write it like "
                             "壹万贰仟叁佰元整 or 12300") from None
    cents = [(match["jiao"], Decimal("0.1")), (match["fen"], Decimal("0.01"))]
    for digit, size in cents:
        if digit:
            number += _CN_DIGITS[digit] * size
    return _as_result(number, not any(d for d, _ in cents))


def _chinese_amounts(text: str) -> list[tuple[int, str, int | float]]:
    """The amounts in Chinese numerals in a text, as (where, run, value): a run counts if it has
    a 大写 character, says 元, or is the whole text; so '一千元', '伍佰' and '三元五角' count, but
    not the 一 of '第一笔', 一分 of '一分钟' or 五角 of '五角星'."""
    found = []
    for match in _CN_AMOUNT.finditer(text):
        run = match[0]
        if not (match["yuan"] or match["jiao"] or match["fen"]):
            continue
        if run == text.strip() or _FORMAL & set(run) or match["unit"]:
            found.append((match.start(), run, _chinese(match)))
    return found


def to_number(value: Any) -> int | float:
    """A value that is one number: '1,234.50', '￥1 234.5', ' 12 ', '(12.50)', '伍佰元整'; bank
    amounts often come as text. Anything else around the number makes it not one."""
    if isinstance(value, int | float):
        return value
    text = normalized(value)
    if len(text) > MAX_NUMBER_TEXT:
        raise ValueError(f"'{shown(str(value))}' is not a number")
    plain = _plain(text)
    if plain is not None:
        return plain
    try:  # 1e3, Infinity: what Decimal reads (callers decide about the infinite ones)
        number = Decimal(text)
    except InvalidOperation:
        number = None
    if number is not None and not (number.is_finite() and number.adjusted() >= MAX_DIGITS):
        return _as_result(number, "." not in text) if number.is_finite() else float(number)
    amounts = _chinese_amounts(text)
    # Chinese numerals make a number here only as an amount (大写, or with 元): a form's 三 for
    # a count, or a 十 in a cell, is more likely a slip than a number the robot should use.
    if len(amounts) == 1 and amounts[0][1] == text and (_FORMAL & set(text) or
                                                        _UNIT.search(text)):
        return amounts[0][2]
    raise ValueError(f"'{shown(str(value))}' is not a number")


MAX_NUMBERS = 1_000
"""The most numbers number() looks through in one text (to tell whether they are all one)."""


def numbers_in(text: str) -> list[tuple[str, int | float]]:
    """Every number in a text, as (how it is written, its value), in digits and in Chinese, in
    order; raises ValueError past MAX_NUMBERS."""
    found: list[tuple[int, str, int | float]] = []
    masked = list(text)
    for match in _DIGIT_NUMBER.finditer(text) if _ANY_DIGIT.search(text) else ():
        written = match[0].strip()
        if not (match["open"] and match["close"]):  # '(3 items': no accounting negative
            written = written.lstrip("( ").rstrip(") ")
        found.append((match.start(), written, _digit_value(match)))
        masked[match.start():match.end()] = " " * len(match[0])  # 万 of 1.5万 is read already
        if len(found) > MAX_NUMBERS:
            break
    if len(found) <= MAX_NUMBERS and _ANY_NUMERAL.search(text):
        found += _chinese_amounts("".join(masked))
    if len(found) > MAX_NUMBERS:
        raise ValueError(f"'{shown(text)}' holds more than {MAX_NUMBERS:,} numbers; pick the "
                         "one you mean with re_search, e.g. number(re_search(text, "
                         "'total: (.+)'))")
    return [(written, value) for _, written, value in sorted(found, key=lambda f: f[0])]


def find_number(value: Any) -> int | float:
    """number(): the one number in a text ('Item total: $17.98' → 17.98)."""
    if isinstance(value, int | float):
        return value
    text = normalized("" if value is None else value)
    try:
        return to_number(text)
    except ValueError:
        pass
    if not text:
        raise ValueError("number() was given an empty value; check that the field or cell "
                         "holds a number")
    found = numbers_in(text)
    values = {Decimal(str(v)) for _, v in found}
    if not found:
        raise ValueError(f"there is no number in '{shown(str(value))}'; number() reads text "
                         "like '1,234.50', 'Item total: $17.98' or '壹万元整'")
    if len(values) > 1:
        written = [w for w, _ in found]
        listed = ", ".join(f"'{w}'" for w in written[:-1][:4]) + f" and '{written[-1]}'"
        raise ValueError(f"'{shown(str(value))}' holds {len(written)} numbers ({listed}), so "
                         "number() cannot tell which one to read; pick it out first with "
                         "re_search, e.g. number(re_search(text, 'total: (.+)'))")
    return found[0][1]
