"""A batch of accounts to file (S5's work file): deterministic for a seed, valid for the form.

``make_batch(20, seed=1)`` gives the same 20 accounts on every machine: Jiangxi company names,
legal representatives, account numbers (18 or 19 digits, Luhn check digit), resident ID numbers
with a correct GB 11643 check character, opening dates and account types. ``write_batch``
writes them to an .xlsx work file with the Chinese headers the S5 robot reads; every cell is
text, so a spreadsheet never turns an account number into 6.21785E+17.

    python -m workhand.demo.filing.batch OUT.xlsx [--count 20] [--seed 1]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
from pathlib import Path

from workhand.demo.filing.rules import ACCOUNT_TYPES, id_check_character

HEADERS: tuple[str, ...] = ("账户名称", "账号", "账户类型", "开户日期", "法定代表人", "证件号码")
SHEET = "待备案"

_CITIES = ("南昌", "九江", "赣州", "景德镇", "上饶", "吉安", "宜春", "抚州", "萍乡", "新余", "鹰潭")
_BRANDS = ("恒达", "赣鑫", "瑞丰", "鸿运", "华腾", "百川", "青云", "锦程", "博远", "润泽", "嘉禾",
           "鼎盛", "汇通", "庐峰", "章贡", "滕阁", "昌泰", "鄱湖", "洪都", "赣江", "兴旺", "德懋")
_TRADES = ("建材", "物流", "食品贸易", "医药连锁", "机械制造", "文化传媒", "农业开发", "电子商务",
           "建筑工程", "环保科技", "信息技术", "陶瓷艺术", "稀土新材料", "纺织服饰", "餐饮管理")
_FORMS = ("有限公司", "有限公司", "有限公司", "股份有限公司", "有限责任公司")
_SURNAMES = ("张", "李", "王", "刘", "陈", "杨", "黄", "赵", "周", "吴", "徐", "孙", "胡", "朱",
             "熊", "涂", "龚", "鄢", "万", "邹", "喻", "罗", "曾", "彭")
_GIVEN = ("建国", "红梅", "志强", "芳", "晓东", "丽华", "卫东", "海燕", "明", "秀英", "国平",
          "丽娟", "婷", "磊", "文斌", "小龙", "玉兰", "德胜", "雪", "俊杰", "淑珍", "家豪", "喆",
          "梓涵", "昊天")
# Districts of Jiangxi cities (the first six digits of an ID number)
_AREAS = ("360102", "360103", "360111", "360402", "360403", "360702", "360703", "360202",
          "361102", "360802", "362502", "360902", "360302", "360502", "360602")
_TYPE_WEIGHTS = (6, 2, 1, 1)  # most accounts filed are basic accounts
_BANK_PREFIXES = ("3601", "0791", "6217")


def luhn_digit(digits: str) -> str:
    """The Luhn check digit to append to ``digits``."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return str((10 - total % 10) % 10)


def _id_number(rnd: random.Random) -> str:
    born = dt.date(1960, 1, 1) + dt.timedelta(days=rnd.randrange(365 * 38))
    first17 = f"{rnd.choice(_AREAS)}{born:%Y%m%d}{rnd.randrange(1000):03d}"
    return first17 + id_check_character(first17)


def _account_number(rnd: random.Random) -> str:
    length = rnd.choice((18, 18, 19))
    body = rnd.choice(_BANK_PREFIXES) + "".join(
        str(rnd.randrange(10)) for _ in range(length - 5))
    return body + luhn_digit(body)


def make_batch(count: int, seed: int = 1) -> list[dict[str, str]]:
    """``count`` distinct accounts, each a dict keyed by HEADERS (all values text)."""
    rnd = random.Random(seed)
    names: set[str] = set()
    numbers: set[str] = set()
    rows: list[dict[str, str]] = []
    last_day = dt.date(2025, 12, 31)
    while len(rows) < count:
        name = (rnd.choice(_CITIES) + rnd.choice(_BRANDS) + rnd.choice(_TRADES)
                + rnd.choice(_FORMS))
        number = _account_number(rnd)
        if name in names or number in numbers:
            continue  # the name space is large, so this only retries; a huge count still ends
        names.add(name)
        numbers.add(number)
        opened = last_day - dt.timedelta(days=rnd.randrange(365 * 15))
        rows.append(dict(zip(HEADERS, (
            name, number, rnd.choices(ACCOUNT_TYPES, weights=_TYPE_WEIGHTS)[0],
            opened.isoformat(), rnd.choice(_SURNAMES) + rnd.choice(_GIVEN), _id_number(rnd),
        ), strict=True)))
    return rows


def write_batch(rows: list[dict[str, str]], path: Path | str, sheet: str = SHEET) -> Path:
    """Write the rows to an .xlsx work file (headers in the first row, every cell text)."""
    from openpyxl import Workbook  # the client itself never needs openpyxl

    book = Workbook()
    page = book.active
    assert page is not None  # a new workbook always has one sheet
    page.title = sheet
    page.append(list(HEADERS))
    for row in rows:
        page.append([row[h] for h in HEADERS])
    for cells in page.iter_rows(min_row=2):
        for cell in cells:
            cell.number_format = "@"
    for column, width in zip("ABCDEF", (40, 24, 16, 14, 12, 22), strict=True):
        page.column_dimensions[column].width = width
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    book.save(out)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workhand.demo.filing.batch",
                                     description="Write a batch of accounts to file (S5).")
    parser.add_argument("out", type=Path, help="the .xlsx work file to write")
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    print(write_batch(make_batch(args.count, args.seed), args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
