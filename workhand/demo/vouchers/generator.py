"""generate(): a batch of scanned vouchers, the bank's transaction records, and the truth.

Writes OUT/images/<凭证号>.png, OUT/交易流水.xlsx (one row per voucher) and OUT/truth.json.
The same seed gives the same files byte for byte: every random choice comes from generators
seeded by (seed, voucher index).
"""

from __future__ import annotations

import datetime as dt
import json
import random
from decimal import Decimal
from pathlib import Path

from openpyxl import Workbook, load_workbook
from openpyxl.styles import Font

from workhand.demo.vouchers import names
from workhand.demo.vouchers.amounts import capital_amount, figures_amount
from workhand.demo.vouchers.degrade import QUALITIES, degrade
from workhand.demo.vouchers.drawing import render
from workhand.demo.vouchers.model import (
    TRUTH_SCHEMA,
    Mismatch,
    Printed,
    Record,
    Voucher,
    voucher_from_dict,
)
from workhand.demo.vouchers.planting import Values, choose_kinds, plant

RECORDS_FILE = "交易流水.xlsx"
TRUTH_FILE = "truth.json"
IMAGES_DIR = "images"
RECORD_COLUMNS = ("凭证号", "交易日期", "付款人户名", "付款人账号", "收款人户名", "收款人账号",
                  "金额", "用途")
TITLES = ("赣江银行 进账单（回单）", "赣江银行 转账凭证")
FIRST_DAY = dt.date(2026, 11, 2)  # fixed, not today: the same seed gives the same batch


def _is_person(name: str) -> bool:
    return not name.endswith(tuple(names.SUFFIXES))


def _record(rng: random.Random, voucher_no: str) -> Record:
    payer = names.holder_name(rng, company_share=0.75)
    payee = names.holder_name(rng, company_share=0.9)
    while payee == payer:
        payee = names.holder_name(rng, company_share=0.9)
    return Record(
        voucher_no=voucher_no,
        date=FIRST_DAY + dt.timedelta(days=rng.randrange(10)),
        payer_name=payer, payer_account=names.account_number(rng, _is_person(payer)),
        payee_name=payee, payee_account=names.account_number(rng, _is_person(payee)),
        amount=names.amount(rng), purpose=rng.choice(names.PURPOSES))


def _printed(rng: random.Random, record: Record, kinds: list[tuple[str, str]],
             ) -> tuple[Printed, list[Mismatch]]:
    values = Values(record.payer_name, record.payer_account, record.payee_name,
                    record.payee_account, record.amount, record.amount, record.date)
    mismatches = [plant(values, kind, rng) for kind in kinds]
    spaced = rng.random() < 0.4  # some voucher printers group account digits in fours
    chinese_date = rng.random() < 0.6

    # a 进账单 is the payee bank's form: most payees bank with 赣江银行, payers anywhere else
    home = [b for b in names.BANKS if b.startswith("赣江银行")]
    payee_bank = rng.choice(home) if rng.random() < 0.7 else rng.choice(names.BANKS)
    payer_bank = rng.choice([b for b in names.BANKS if b != payee_bank])

    def account_text(account: str) -> str:
        return names.grouped(account) if spaced else account

    printed = Printed(
        voucher_no=record.voucher_no, title=rng.choice(TITLES), date=values.date,
        date_text=(f"{values.date.year}年{values.date.month:02d}月{values.date.day:02d}日"
                   if chinese_date else values.date.isoformat()),
        payer_name=values.payer_name, payer_account=values.payer_account,
        payer_account_text=account_text(values.payer_account),
        payer_bank=payer_bank,
        payee_name=values.payee_name, payee_account=values.payee_account,
        payee_account_text=account_text(values.payee_account),
        payee_bank=payee_bank,
        amount=values.amount, amount_text=figures_amount(values.amount),
        amount_in_words=capital_amount(values.words_amount),
        amount_in_words_value=values.words_amount, purpose=record.purpose)
    return printed, mismatches


def generate(out_dir: str | Path, count: int, seed: int, mismatch_rate: float = 0.3,
             quality: str = "scanned") -> list[Voucher]:
    """Write ``count`` vouchers, their records and truth.json into ``out_dir``; answer them.

    ``round(count × mismatch_rate)`` vouchers carry one or two planted mismatches; the others
    match their record exactly.
    """
    if quality not in QUALITIES:
        raise ValueError(f"quality must be one of {', '.join(QUALITIES)}, not {quality!r}")
    if not 0 <= mismatch_rate <= 1:
        raise ValueError(f"mismatch_rate must be between 0 and 1, not {mismatch_rate}")
    out = Path(out_dir)
    (out / IMAGES_DIR).mkdir(parents=True, exist_ok=True)
    batch = random.Random(seed)
    branch = batch.choice(("0101", "0102", "0201", "0301"))
    first_serial = batch.randrange(10_000, 90_000)
    planted_count = round(count * mismatch_rate)
    planted_at = sorted(batch.sample(range(count), planted_count))
    kinds_at = dict(zip(planted_at, choose_kinds(batch, planted_count), strict=True))
    vouchers = []
    for index in range(count):
        rng = random.Random(f"{seed}:{index}")
        record = _record(rng, f"{branch}{first_serial + index:08d}")
        printed, mismatches = _printed(rng, record, kinds_at.get(index, []))
        clean, boxes = render(printed, rng)
        image, degradations = degrade(clean, rng, quality, boxes)
        relative = f"{IMAGES_DIR}/{record.voucher_no}.png"
        image.save(out / relative, "PNG", optimize=False)
        vouchers.append(Voucher(record.voucher_no, relative, quality, record, printed,
                                tuple(mismatches), degradations, boxes))
    _write_records(out / RECORDS_FILE, [v.record for v in vouchers])
    truth = {"schema": TRUTH_SCHEMA, "seed": seed, "count": count, "quality": quality,
             "mismatch_rate": mismatch_rate, "vouchers": [v.to_dict() for v in vouchers]}
    (out / TRUTH_FILE).write_text(json.dumps(truth, ensure_ascii=False, indent=1),
                                  encoding="utf-8")
    return vouchers


def _write_records(path: Path, records: list[Record]) -> None:
    """交易流水.xlsx: a header row, then one row per transaction; accounts are text cells
    (19 digits do not survive as numbers), amounts are numbers shown with two decimals."""
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "交易流水"
    sheet.append(list(RECORD_COLUMNS))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for r in records:
        sheet.append([r.voucher_no, r.date, r.payer_name, r.payer_account, r.payee_name,
                      r.payee_account, float(r.amount), r.purpose])
        row = sheet.max_row
        sheet.cell(row, 2).number_format = "yyyy-mm-dd"
        for column in (1, 4, 6):
            sheet.cell(row, column).number_format = "@"
        sheet.cell(row, 7).number_format = "#,##0.00"
    for letter, width in zip("ABCDEFGH", (16, 12, 34, 24, 34, 24, 16, 12), strict=True):
        sheet.column_dimensions[letter].width = width
    workbook.save(path)


def read_records(out_dir: str | Path) -> list[Record]:
    """The rows of 交易流水.xlsx back as Records (what a robot reads from the bank's system)."""
    workbook = load_workbook(Path(out_dir) / RECORDS_FILE, read_only=True)
    sheet = workbook["交易流水"]
    rows = sheet.iter_rows(min_row=2, values_only=True)
    records = []
    for no, day, payer, payer_account, payee, payee_account, amount, purpose in rows:
        date = day.date() if isinstance(day, dt.datetime) else dt.date.fromisoformat(str(day))
        records.append(Record(str(no), date, str(payer), str(payer_account), str(payee),
                              str(payee_account), Decimal(str(amount)).quantize(Decimal("0.01")),
                              str(purpose)))
    workbook.close()
    return records


def load_truth(out_dir: str | Path) -> list[Voucher]:
    """The vouchers generate() wrote into ``out_dir``, read back from truth.json."""
    data = json.loads((Path(out_dir) / TRUTH_FILE).read_text(encoding="utf-8"))
    if data.get("schema") != TRUTH_SCHEMA:
        raise ValueError(f"truth.json schema {data.get('schema')}, expected {TRUTH_SCHEMA}")
    return [voucher_from_dict(v) for v in data["vouchers"]]
