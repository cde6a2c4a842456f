"""The normalisers OCR text is compared through: pure functions, every rule pinned."""

from __future__ import annotations

from decimal import Decimal

import pytest

from libs.steps.ocr.normalise import (
    digits_only,
    fix_digit_confusions,
    normalise_amount,
    normalise_text,
    to_half_width,
)


@pytest.mark.parametrize(("text", "expected"), [
    ("金额：￥12,345.67", "金额:¥12,345.67"),
    ("金额（小写）：￥8,600.00", "金额(小写):¥8,600.00"),
    ("１２３ＡＢＣ，ｘｙｚ", "123ABC,xyz"),
    ("户名： 张  伟 ", "户名:张伟"),
    ("户名：\u3000张伟", "户名:张伟"),
    ("Y12.50", "¥12.50"),
    ("Y 12.50", "¥12.50"),
    ("¥12.50", "¥12.50"),
    ("XY12", "XY12"),  # a Y inside a word is a letter
    ("YES 12", "YES12"),
    ("深圳市华强电子科技有限公司", "深圳市华强电子科技有限公司"),
])
def test_normalise_text_removes_spaces_and_width(text: str, expected: str) -> None:
    assert normalise_text(text) == expected


def test_normalise_text_collapses_spaces_when_asked() -> None:
    assert normalise_text("  账号：6217  8500\t0012 ", spaces="collapse") == "账号:6217 8500 0012"


def test_both_spellings_of_a_line_compare_equal() -> None:
    read, written = "人民币 (大写): 捌仟陆佰元整", "人民币（大写）：捌仟陆佰元整"
    assert normalise_text(read) == normalise_text(written)
    assert normalise_text("金额：¥ 1,000.00") == normalise_text("金额：￥1,000.00")


def test_digit_confusions_only_inside_digit_runs() -> None:
    assert fix_digit_confusions("62l7 85O0 1OO5") == "6217 8500 1005"
    assert fix_digit_confusions("NO.2024 Ol1 IOU") == "NO.2024 Ol1 IOU"  # no digit each side
    assert fix_digit_confusions("1|2") == "112"
    assert normalise_text("账号62l7", digit_confusions=True) == "账号6217"
    assert normalise_text("账号62l7") == "账号62l7"  # off unless asked


def test_to_half_width_keeps_chinese() -> None:
    assert to_half_width("（第３期）：货款") == "(第3期):货款"


@pytest.mark.parametrize(("text", "expected"), [
    ("6217 8500 0012 3456 789", "6217850000123456789"),
    ("账号：6228480402564890018", "6228480402564890018"),
    ("６２１７－８５００", "62178500"),
    ("62l7 85O0", "62178500"),
    ("6217 O012", "62170012"),  # a confusion right after a group break
    ("NO.20240315008", "20240315008"),
    ("", ""),
])
def test_digits_only(text: str, expected: str) -> None:
    assert digits_only(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("￥12,345.67", "12345.67"),
    ("¥ 1,000,000.00", "1000000.00"),
    ("Y12,345.67", "12345.67"),
    ("１２，３４５．６７", "12345.67"),
    ("12 345.67元", "12345.67"),
    ("12,345.6 7", "12345.67"),  # a space OCR put inside the cents
    ("人民币1,000.00", "1000.00"),
    ("RMB 8,600.00", "8600.00"),
    ("500", "500"),
    ("500元整", "500"),
    ("-12.50", "-12.50"),
    ("1O0.00", "100.00"),
    ("壹万贰仟叁佰肆拾伍元陆角柒分", "12345.67"),
    ("伍佰元整", "500.00"),
    ("壹万贰仟参佰肆拾伍元陆角柒分", "12345.67"),  # 参 for 叁
    ("捌仟陆佰元整", "8600.00"),
    ("人民币壹拾万元整", "100000.00"),
])
def test_normalise_amount(text: str, expected: str) -> None:
    amount = normalise_amount(text)
    assert isinstance(amount, Decimal)
    assert amount == Decimal(expected)


def test_amounts_keep_their_cents_exactly() -> None:
    assert normalise_amount("￥0.10") + normalise_amount("￥0.20") == Decimal("0.30")
    assert normalise_amount("12,345.67") != normalise_amount("12,345.76")


@pytest.mark.parametrize("text", [
    "", "元", "整", "abc", "12.34.56", "1,2345.00", "12,34", "￥", "2024-01-05", "十二点五",
    "金额：12.00", "12.00 13.00",
])
def test_normalise_amount_refuses_what_is_not_one_amount(text: str) -> None:
    with pytest.raises(ValueError):
        normalise_amount(text)
