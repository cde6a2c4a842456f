"""The S4 voucher generator: capitals, determinism, planted mismatches, records, images, OCR."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import random
import re
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from PIL import Image

from libs.steps.documents.fields import amount_in_words
from workhand.demo.vouchers import (
    COMPARED_FIELDS,
    Voucher,
    capital_amount,
    figures_amount,
    generate,
    load_truth,
    read_records,
)
from workhand.demo.vouchers.__main__ import main
from workhand.demo.vouchers.names import LOOK_ALIKES, grouped
from workhand.demo.vouchers.planting import KINDS, group_of

COUNT = 40  # 12 planted at 0.3: more than the ten kinds, so every kind must appear


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Voucher]]:
    out = tmp_path_factory.mktemp("vouchers")
    return out, generate(out, COUNT, seed=1)


def parse_capital_amount(text: str) -> Decimal:
    """The capitals read back by the product's own reader (documents.extract's amount_words)."""
    value = amount_in_words(text)
    assert value is not None, text
    return Decimal(value)


@pytest.mark.parametrize(("amount", "capital"), [
    ("0.01", "壹分"),
    ("0.10", "壹角"),
    ("0.50", "伍角"),
    ("1.00", "壹元整"),
    ("10.00", "壹拾元整"),
    ("10.50", "壹拾元伍角"),
    ("325.04", "叁佰贰拾伍元零肆分"),
    ("1409.50", "壹仟肆佰零玖元伍角"),
    ("1010.00", "壹仟零壹拾元整"),
    ("12345.67", "壹万贰仟叁佰肆拾伍元陆角柒分"),
    ("16409.02", "壹万陆仟肆佰零玖元零贰分"),
    ("100000.50", "壹拾万元伍角"),
    ("100010.00", "壹拾万零壹拾元整"),
    ("1000005.07", "壹佰万零伍元零柒分"),
    ("20000000.00", "贰仟万元整"),
    ("200000000.05", "贰亿元零伍分"),
])
def test_capital_amount_follows_the_bank_rules(amount: str, capital: str) -> None:
    assert capital_amount(Decimal(amount)) == capital
    assert parse_capital_amount(capital) == Decimal(amount)


def test_capitals_read_back_to_the_same_amount() -> None:
    rng = random.Random(7)
    for _ in range(3000):
        cents = rng.choice((rng.randrange(10 ** rng.randint(1, 11)),
                            rng.randrange(100) * 10 ** rng.randint(0, 9)))
        amount = Decimal(cents) / 100
        assert parse_capital_amount(capital_amount(amount)) == amount


def test_capital_reader_takes_prefix_and_suffix_and_rejects_other_text() -> None:
    assert parse_capital_amount("人民币壹万贰仟元整") == Decimal("12000.00")
    assert parse_capital_amount("拾圆正") == Decimal("10.00")
    for text in ("", "壹万贰仟", "壹万A元", "叁元伍"):
        assert amount_in_words(text) is None


def test_figures_and_grouped_accounts() -> None:
    assert figures_amount(Decimal("1000005.07")) == "￥1,000,005.07"
    assert figures_amount(Decimal("0.5")) == "￥0.50"
    assert grouped("6217850000123456789") == "6217 8500 0012 3456 789"


def _hashes(out: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((out / "images").iterdir())}


def test_same_seed_gives_the_same_images_and_records(tmp_path: Path) -> None:
    first = generate(tmp_path / "a", 6, seed=5)
    second = generate(tmp_path / "b", 6, seed=5)
    other = generate(tmp_path / "c", 6, seed=6)
    assert first == second
    assert _hashes(tmp_path / "a") == _hashes(tmp_path / "b")
    assert read_records(tmp_path / "a") == read_records(tmp_path / "b")
    assert (tmp_path / "a" / "truth.json").read_bytes() == \
        (tmp_path / "b" / "truth.json").read_bytes()
    assert [v.record for v in other] != [v.record for v in first]


def _differing_positions(a: str, b: str) -> list[int]:
    assert len(a) == len(b)
    return [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]


def test_planted_share_and_kinds(batch: tuple[Path, list[Voucher]]) -> None:
    _, vouchers = batch
    planted = [v for v in vouchers if v.mismatches]
    assert len(planted) == round(COUNT * 0.3)
    assert {(m.field, m.kind) for v in planted for m in v.mismatches} == set(KINDS)
    for v in planted:
        assert 1 <= len(v.mismatches) <= 2
        groups = [group_of(m.field) for m in v.mismatches]
        assert len(set(groups)) == len(groups)


def test_each_planted_mismatch_is_what_it_says(batch: tuple[Path, list[Voucher]]) -> None:
    _, vouchers = batch
    for v in vouchers:
        for m in v.mismatches:
            if m.field == "amount_in_words":
                assert m.expected == str(v.printed.amount) == str(v.record.amount)
                assert parse_capital_amount(v.printed.amount_in_words) == Decimal(m.printed)
            elif m.field == "date":
                assert m.expected == v.record.date.isoformat()
                assert abs((v.printed.date - v.record.date).days) == 1
            else:
                assert m.expected == str(getattr(v.record, m.field))
                assert m.printed == str(getattr(v.printed, m.field))
            if m.kind == "digit_changed":
                assert len(_differing_positions(m.expected, m.printed)) == 1
            elif m.kind == "digits_swapped":
                i, j = _differing_positions(m.expected, m.printed)
                assert j == i + 1 and m.expected[i] == m.printed[j]
            elif m.kind == "similar_char":
                (i,) = _differing_positions(m.expected, m.printed)
                assert LOOK_ALIKES[m.expected[i]] == m.printed[i]
            elif m.kind == "cent_off":
                assert abs(Decimal(m.printed) - Decimal(m.expected)) == Decimal("0.01")
            elif m.kind in ("amount_digit", "capital_disagrees"):
                width = max(len(m.expected), len(m.printed))
                assert len(_differing_positions(m.expected.zfill(width),
                                                m.printed.zfill(width))) == 1


def test_everything_not_planted_matches_the_record(batch: tuple[Path, list[Voucher]]) -> None:
    _, vouchers = batch
    for v in vouchers:
        planted = v.mismatched_fields
        for field in set(COMPARED_FIELDS) - planted - {"amount_in_words"}:
            assert getattr(v.printed, field) == getattr(v.record, field), (v.voucher_no, field)
        if "amount_in_words" not in planted:
            assert parse_capital_amount(v.printed.amount_in_words) == v.printed.amount
        assert v.printed.amount_text == figures_amount(v.printed.amount)
        assert v.printed.payer_account_text.replace(" ", "") == v.printed.payer_account
        assert v.printed.date_text in (v.printed.date.isoformat(),
                                       v.printed.date.strftime("%Y年%m月%d日"))
        assert 16 <= len(v.record.payer_account) <= 19 and v.record.payer_account.isdigit()


def test_records_are_readable_with_openpyxl(batch: tuple[Path, list[Voucher]]) -> None:
    out, vouchers = batch
    sheet = openpyxl.load_workbook(out / "交易流水.xlsx")["交易流水"]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:7] == ("凭证号", "交易日期", "付款人户名", "付款人账号", "收款人户名",
                           "收款人账号", "金额")
    assert len(rows) == COUNT + 1
    first = vouchers[0].record
    assert rows[1][0] == first.voucher_no and rows[1][3] == first.payer_account
    assert isinstance(rows[1][3], str) and isinstance(rows[1][6], float)
    assert rows[1][1] == dt.datetime.combine(first.date, dt.time())
    assert read_records(out) == [v.record for v in vouchers]


def test_images_are_pngs_of_the_expected_size(batch: tuple[Path, list[Voucher]]) -> None:
    out, vouchers = batch
    for v in vouchers:
        path = out / v.image
        assert path.name == f"{v.voucher_no}.png"
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        with Image.open(path) as image:
            assert image.size == (1200, 600) and image.mode == "RGB"
        for x, y, w, h in v.boxes.values():
            assert min(x, y) >= 0 and x + w <= 1200 and y + h <= 600
    assert any(v.degradations["seal"] for v in vouchers)
    assert all(abs(v.degradations["rotation_deg"]) <= 1.5 for v in vouchers)


def test_truth_reads_back(batch: tuple[Path, list[Voucher]]) -> None:
    out, vouchers = batch
    assert load_truth(out) == vouchers


def test_qualities_and_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--count", "3", "--seed", "2", "--out", str(tmp_path / "poor"),
                 "--quality", "poor", "--mismatch-rate", "0.34"]) == 0
    assert "3 vouchers (poor)" in capsys.readouterr().out
    poor = load_truth(tmp_path / "poor")
    assert sum(1 for v in poor if v.mismatches) == 1
    assert all(v.degradations["scale"] < 0.7 for v in poor)
    clean = generate(tmp_path / "clean", 3, seed=2, mismatch_rate=0, quality="clean")
    assert all(v.matches and v.degradations == {"seal": None} for v in clean)
    with pytest.raises(ValueError):
        generate(tmp_path / "x", 1, seed=1, quality="blurry")


def _ocr_text(text: str) -> str:
    """OCR output compared loosely: no spaces, half-width ￥ and brackets."""
    return re.sub(r"\s", "", text).replace("¥", "￥").replace("(", "（").replace(")", "）")


@pytest.mark.acceptance
def test_clean_vouchers_can_be_read_by_rapidocr(tmp_path: Path) -> None:
    os.environ["ORT_DISABLE_TELEMETRY"] = "1"
    from rapidocr import RapidOCR

    engine = RapidOCR(params={"Det.limit_type": "max", "Det.limit_side_len": 960})
    vouchers = generate(tmp_path, 5, seed=3, mismatch_rate=0, quality="clean")
    for v in vouchers:
        result = engine(str(tmp_path / v.image))
        text = _ocr_text("".join(result.txts or ()))
        assert v.printed.payer_account in text, (v.voucher_no, result.txts)
        assert v.printed.payee_account in text, (v.voucher_no, result.txts)
        assert _ocr_text(v.printed.amount_text) in text, (v.voucher_no, result.txts)


def test_image_box_follows_the_scan_rotation(batch: tuple[Path, list[Voucher]]) -> None:
    """A printed value's ink (black: the form's own ink is coloured) near a field sits inside
    image_box, which is not where it was drawn."""
    import numpy as np

    out, vouchers = batch
    tilted = [v for v in vouchers if abs(v.degradations["rotation_deg"]) > 1]
    assert tilted
    for v in tilted[:4]:
        pixels = np.asarray(Image.open(out / v.image).convert("RGB")).astype(int)
        brightest, dullest = pixels.max(axis=2), pixels.min(axis=2)
        black = (brightest < 100) & (brightest - dullest < 40)
        for name in ("payer_name", "payee_account", "voucher_no"):
            x, y, w, h = v.image_box(name)
            dx, dy, dw, dh = v.boxes[name]
            pad = 16
            near = black[max(0, y - pad):y + h + pad, max(0, x - pad):x + w + pad].sum()
            inside = black[y:y + h, x:x + w].sum()
            assert inside >= 0.9 * near > 0, (v.voucher_no, name)
            assert black[dy:dy + dh, dx:dx + dw].sum() < inside, (v.voucher_no, name)
