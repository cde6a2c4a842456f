"""Fields found by their labels among OCR's lines, typed as the bank reads them, and compared with
the record: identical only when every field is read surely and says the same."""

from __future__ import annotations

import pytest

from libs.steps.documents.compare import check_all, compare_field, fields_agree, overall
from libs.steps.documents.fields import (
    FieldSpec,
    FoundField,
    account_digits,
    amount_in_words,
    amount_value,
    date_value,
    extract,
    name_value,
)
from libs.steps.ocr.engine import TextLine
from libs.steps.vision.box import Box


def line(text: str, x: int, y: int, width: int = 200, confidence: float = 0.97) -> TextLine:
    return TextLine(text, Box(x, y, width, 30), confidence)


VOUCHER = [
    line("转账凭证", 500, 20),
    line("日期：2026年12月04日", 800, 70, 300),
    line("付款人户名", 40, 120, 150), line("广州市恒达贸易有限公司", 220, 122, 330),
    line("账号", 40, 170, 60), line("6217 0000 1234 5678", 220, 171, 300, 0.93),
    line("人民币（大写）壹万贰仟叁佰肆拾伍元陆角柒分", 40, 220, 600),
    line("（小写）￥12,345.67", 700, 220, 260),
    line("用途", 40, 270, 60),
    line("货款", 40, 310, 60),
]


@pytest.mark.parametrize(("name", "spec", "value"), [
    ("户名", FieldSpec(label="付款人户名", type="name"), "广州市恒达贸易有限公司"),
    ("账号", FieldSpec(label="账号", type="account"), "6217000012345678"),
    ("金额", FieldSpec(label="（小写）", type="amount"), "12345.67"),
    ("大写", FieldSpec(label="(大写)", type="amount_words"), "12345.67"),
    ("日期", FieldSpec(label="日期", type="date"), "2026-12-04"),
    ("用途", FieldSpec(label="用途", where="below"), "货款"),
    ("号", FieldSpec(pattern=r"(\d{4}) 0000"), "6217"),
])
def test_fields_are_found_beside_below_or_after_their_labels(
        name: str, spec: FieldSpec, value: str) -> None:
    found = extract(VOUCHER, name, spec)
    assert found.value == value
    assert found.box is not None and found.confidence > 0.9


def test_a_value_after_its_label_on_one_line_gets_its_part_of_the_box() -> None:
    found = extract(VOUCHER, "金额", FieldSpec(label="（小写）", type="amount"))
    assert found.text == "￥12,345.67"
    assert found.box == Box(960 - 186, 220, 186, 30)  # the last 10 of 14 characters


def test_a_field_not_on_the_document_is_unsure_never_identical() -> None:
    found = extract(VOUCHER, "收款人", FieldSpec(label="收款人户名", type="name"))
    assert (found.value, found.confidence, found.box) == (None, 0.0, None)
    check = compare_field(found, "张三")
    assert (check.verdict, check.reason) == ("unsure", "not read on the document")


@pytest.mark.parametrize(("reader", "text", "value"), [
    (account_digits, "6217 O000 l234 5678", "6217000012345678"),  # O and l inside digits
    (account_digits, "12345", None),
    (amount_value, "￥1,000,005.07", "1000005.07"),
    (amount_value, "¥ 10.5", "10.50"),
    (amount_value, "无", None),
    (amount_in_words, "零元零壹分", "0.01"),
    (amount_in_words, "拾元整", "10.00"),
    (amount_in_words, "壹拾万元伍角", "100000.50"),
    (amount_in_words, "壹佰万零伍元零柒分", "1000005.07"),
    (amount_in_words, "张三", None),
    (date_value, "2026/12/4", "2026-12-04"),
    (date_value, "2026年2月30日", None),
    (name_value, "张 三", "张三"),
    (name_value, "ＡＢＣ公司", "ABC公司"),
])
def test_values_are_read_as_their_kind(reader: object, text: str, value: str | None) -> None:
    assert reader(text) == value  # type: ignore[operator]


def test_each_kind_compares_as_the_bank_does() -> None:
    account = extract(VOUCHER, "账号", FieldSpec(label="账号", type="account"))
    assert compare_field(account, "6217000012345678").verdict == "identical"
    swapped = compare_field(account, "6217000012345687")
    assert (swapped.verdict, swapped.reason) == ("different", "digits 15, 16 differ")
    amount = extract(VOUCHER, "金额", FieldSpec(label="（小写）", type="amount"))
    assert compare_field(amount, 12345.67).verdict == "identical"
    assert compare_field(amount, "12345.68").verdict == "different"
    name = extract(VOUCHER, "户名", FieldSpec(label="付款人户名", type="name"))
    assert compare_field(name, "广州市恒达贸易有限公司 ").verdict == "identical"
    assert compare_field(name, "广州市恒达貿易有限公司").verdict == "different"
    date = extract(VOUCHER, "日期", FieldSpec(label="日期", type="date"))
    assert compare_field(date, "2026-12-04").verdict == "identical"


def test_a_match_read_with_too_little_confidence_is_unsure() -> None:
    account = extract(VOUCHER, "账号", FieldSpec(label="账号", type="account"))  # read at 0.93
    check = compare_field(account, "6217000012345678", confident=0.95)
    assert (check.verdict, check.reason) == ("unsure", "read with confidence 0.93, below 0.95")
    assert overall([check]) == "unsure"


def test_figures_and_capitals_must_agree() -> None:
    figures = extract(VOUCHER, "金额", FieldSpec(label="（小写）", type="amount"))
    words = extract(VOUCHER, "大写", FieldSpec(label="（大写）", type="amount_words"))
    assert fields_agree(figures, words).verdict == "identical"
    altered = [*VOUCHER[:6], line("人民币（大写）壹万贰仟叁佰肆拾伍元陆角捌分", 40, 220, 600),
               *VOUCHER[7:]]
    words = extract(altered, "大写", FieldSpec(label="（大写）", type="amount_words"))
    check = fields_agree(figures, words)
    assert (check.verdict, check.reason) == ("different", "金额 says 12345.67, 大写 says 12345.68")
    assert overall([compare_field(figures, "12345.67"), check]) == "different"


def test_figures_confirmed_by_capitals_are_sure_and_a_poor_reading_stays_unsure() -> None:
    def amounts(confidence: float) -> dict[str, FoundField]:
        lines = [*VOUCHER[:7], line("（小写）￥12,345.67", 700, 220, 260, confidence)]
        return {"金额": extract(lines, "金额", FieldSpec(label="（小写）", type="amount")),
                "大写": extract(lines, "大写", FieldSpec(label="（大写）", type="amount_words"))}

    record = {"金额": "12345.67"}
    assert overall(check_all(amounts(0.86), record, [("金额", "大写")])) == "identical"
    checks = check_all(amounts(0.7), record, [("金额", "大写")])  # too poor to be confirmed
    assert [c.verdict for c in checks] == ["unsure", "unsure"]
    assert overall(check_all(amounts(0.86), record, [])) == "unsure"  # nothing confirms it
