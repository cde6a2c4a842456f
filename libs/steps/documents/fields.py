"""Fields of a scanned document found by their labels, from the lines OCR read (pure).

A bank voucher prints `户名：张三` on one line, or `户名` in one cell and `张三` in the
cell right of it, or the value on the line below its label; amounts in figures after `（小写）`
and in capitals after `（大写）`. A field is declared by its label (where its value is: right or
below), or by a pattern, and a type that turns the text read into a value: account (digits),
amount (to the cent), amount_words (大写), date, name, text.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from libs.steps.desktop.targets import Found, beside
from libs.steps.ocr.engine import TextLine
from libs.steps.ocr.normalise import (
    comparable,
    digits_only,
    fix_digit_confusions,
    normalise_amount,
    to_half_width,
)
from libs.steps.vision.box import Box

FieldKind = Literal["account", "amount", "amount_words", "date", "name", "text"]
SEPARATORS = ":：;；,，、 \t"
_DATE = re.compile(r"(\d{4})\s*[年\-/.]\s*(\d{1,2})\s*[月\-/.]\s*(\d{1,2})\s*日?")


class FieldSpec(BaseModel):
    """One field to find on a document."""

    model_config = ConfigDict(extra="forbid")
    label: str | None = Field(None, description="the label printed before the value, e.g. 户名")
    where: Literal["right", "below"] = Field("right", description="where the value is: after "
                                                                  "the label on its line "
                                                                  "(right) or under it (below)")
    pattern: str | None = Field(None, description="a regular expression the value matches; "
                                                  "its first group is the value, if it has one")
    type: FieldKind = Field("text", description="account, amount, amount_words (大写), date, "
                                                "name or text")
    nth: int = Field(0, description="which of several such labels (0 = the first, top to "
                                    "bottom)")

    @model_validator(mode="after")
    def _found_somehow(self) -> FieldSpec:
        if self.label is None and self.pattern is None:
            raise ValueError("a field is found by its label (label: 户名) or a pattern "
                             "(pattern: 'No\\.(\\d+)'); give one")
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as err:
                raise ValueError(f"the pattern '{self.pattern}' is not a regular expression "
                                 f"({err})") from None
        return self


@dataclass(frozen=True)
class FoundField:
    """What was read for a field: the raw text, the typed value (None when it could not be
    read as its type), where it was and how sure OCR was."""

    name: str
    kind: FieldKind
    text: str
    value: str | None
    confidence: float
    box: Box | None

    def to_dict(self) -> dict[str, object]:
        return {"value": self.value, "text": self.text, "type": self.kind,
                "confidence": round(self.confidence, 4),
                "box": None if self.box is None else self.box.to_dict()}


def extract(lines: list[TextLine], name: str, spec: FieldSpec) -> FoundField:
    """Find one field among the document's lines (missing: value None, confidence 0)."""
    text, box, confidence = _read(lines, spec)
    value = typed(text, spec.type) if text else None
    return FoundField(name, spec.type, text, value, confidence if value is not None else 0.0,
                      box)


def _read(lines: list[TextLine], spec: FieldSpec) -> tuple[str, Box | None, float]:
    """The text of the field, where it is and OCR's confidence: the first reading that is a
    value of the field's kind (the rest of the label's line, else the lines beside it, closest
    first: a 小写 amount right of a 大写 label is not an amount in capitals)."""
    def fits(text: str) -> bool:
        return bool(text) and typed(text, spec.type) is not None

    if spec.label is None:
        assert spec.pattern is not None
        for line in lines:
            value = _match(spec.pattern, line.text)
            if value is not None and fits(value):
                return value, line.box, line.confidence
        return "", None, 0.0
    having = label_lines(lines, spec.label)
    if len(having) <= spec.nth:
        return "", None, 0.0
    line = having[spec.nth]
    rest = _after_label(line.text, spec.label).strip(SEPARATORS)
    if spec.where == "right" and fits(_pattern_or(spec, rest)):
        return _pattern_or(spec, rest), _tail_box(line, rest), line.confidence
    others = [Found(other.box, other.confidence, "text") for other in lines if other is not line]
    relation = "right_of" if spec.where == "right" else "below"
    for candidate in beside(line.box, others, relation):
        source = next(other for other in lines if other.box == candidate.box)
        value = _pattern_or(spec, source.text.strip(SEPARATORS))
        if fits(value):
            return value, source.box, source.confidence
    return "", None, 0.0


def label_lines(lines: list[TextLine], label: str) -> list[TextLine]:
    """The lines that hold the label, in reading order (rows, then left to right); a label OCR
    cut in two (账 | 号, spaced out on the form) is two neighbours on one row."""
    wanted = comparable(label)
    found = [line for line in lines if wanted in comparable(line.text)]
    for first in lines:
        for second in lines:
            gap = second.box.x - first.box.right  # OCR's boxes of neighbours may overlap
            height = max(first.box.height, second.box.height)
            if (first is second or second.box.x <= first.box.x
                    or not -height <= gap <= 2 * height
                    or not _same_row(first.box, second.box)):
                continue
            joined = comparable(first.text) + comparable(second.text)
            if wanted in joined and wanted not in comparable(first.text) \
                    and wanted not in comparable(second.text):
                box = Box(first.box.x, min(first.box.y, second.box.y),
                          second.box.right - first.box.x,
                          max(first.box.bottom, second.box.bottom)
                          - min(first.box.y, second.box.y))
                found.append(TextLine(first.text + second.text, box,
                                      min(first.confidence, second.confidence)))
    return reading_order(found)


def reading_order(lines: list[TextLine]) -> list[TextLine]:
    """Rows top to bottom, each left to right: lines whose middles are within half a line's
    height are one row (a scan turned by a degree puts the right of a row a little higher)."""
    rows: list[list[TextLine]] = []
    for line in sorted(lines, key=lambda line: line.box.y + line.box.height / 2):
        middle = line.box.y + line.box.height / 2
        if rows and abs(middle - _middle(rows[-1][0].box)) <= line.box.height / 2:
            rows[-1].append(line)
        else:
            rows.append([line])
    return [line for row in rows for line in sorted(row, key=lambda line: line.box.x)]


def _middle(box: Box) -> float:
    return box.y + box.height / 2


def _same_row(first: Box, second: Box) -> bool:
    return abs(_middle(first) - _middle(second)) <= max(first.height, second.height) / 2


def _pattern_or(spec: FieldSpec, value: str) -> str:
    if spec.pattern is None:
        return value
    return _match(spec.pattern, value) or ""


def _match(pattern: str, text: str) -> str | None:
    import regex

    try:
        found = regex.search(pattern, text, timeout=0.5)
    except TimeoutError:
        return None
    if found is None:
        return None
    return str(found.group(1) if found.re.groups else found.group(0))


def _after_label(text: str, label: str) -> str:
    """What follows the label on its line, comparing as OCR text is compared (full-width forms
    folded, spaces ignored), but answering the characters as they were read."""
    wanted = comparable(label)
    folded = ""
    for index, char in enumerate(text):
        folded += comparable(char)
        if folded.endswith(wanted):
            return text[index + 1:]
    return ""


def _tail_box(line: TextLine, value: str) -> Box:
    """The share of the line's box the value (its last characters) takes."""
    total = max(len(line.text), 1)
    width = round(line.box.width * min(len(value), total) / total)
    return Box(line.box.right - width, line.box.y, max(width, 1), line.box.height)


# -- types ----------------------------------------------------------------------------------


def typed(text: str, kind: FieldKind) -> str | None:
    """The text as a value of its kind, as text (JSON-safe, exact): None when it is not one."""
    readers = {"account": account_digits, "amount": amount_value,
               "amount_words": amount_in_words, "date": date_value, "name": name_value,
               "text": plain_text}
    return readers[kind](text)


def plain_text(text: str) -> str | None:
    value = " ".join(unicodedata.normalize("NFKC", text).split())
    return value or None


def name_value(text: str) -> str | None:
    """A name as printed, with OCR's spaces and width differences gone (names have none)."""
    value = "".join(unicodedata.normalize("NFKC", text).split()).strip(SEPARATORS)
    return value or None


def account_digits(text: str) -> str | None:
    """Only the digits, letters misread inside digit runs read as the digits they are; None
    unless 6–40 digits."""
    digits = digits_only(text)
    return digits if 6 <= len(digits) <= 40 else None


def amount_value(text: str) -> str | None:
    """An amount in figures to the cent, e.g. '￥12,345.60' → '12345.60'; None unless the text
    is one amount."""
    if not re.search(r"[0-9]", to_half_width(text)):
        return None
    return _cents(text)


def amount_in_words(text: str) -> str | None:
    """An amount in Chinese capitals (大写), e.g. '人民币壹万贰仟叁佰肆拾伍元陆角柒分' →
    '12345.67' (人民币 and a (大写) label dropped first); None unless it is one."""
    words = "".join(to_half_width(text).split()).replace("(大写)", "").replace("大写", "")
    if not any(unit in words for unit in "元圆角分") or re.search(r"[0-9]", words):
        return None
    return _cents(words)


def _cents(text: str) -> str | None:
    try:
        return f"{normalise_amount(text).quantize(Decimal('0.01'))}"
    except (ValueError, InvalidOperation):
        return None


def date_value(text: str) -> str | None:
    """A date as ISO text: '2026年12月4日', '2026-12-04', '2026/12/4' → '2026-12-04'."""
    found = _DATE.search(fix_digit_confusions(to_half_width(text)))
    if found is None:
        return None
    try:
        return dt.date(*(int(part) for part in found.groups())).isoformat()
    except ValueError:
        return None
