"""The demo systems' fixed data: the same companies, accounts and transactions on every start.

Only dates move: the change list is always "yesterday's" and the statement "today's", counted
from the day the demo is (re)seeded, so the example robots work on any day without editing.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

BRANCHES: dict[str, str] = {
    "0101": "南昌分行营业部",
    "0102": "南昌红谷滩支行",
    "0201": "九江分行营业部",
    "0202": "九江浔阳支行",
    "0301": "赣州分行营业部",
    "0401": "景德镇分行营业部",
}

USERS: dict[str, tuple[str, str]] = {
    "accounts": ("zhangwei", "Demo@2026"),
    "imaging": ("0101001", "Demo@2026"),
    "core": ("duizhang01", "Demo@2026"),
    "clearing": ("duizhang01", "Clear@2026"),
    "oa": ("oa_admin", "Demo@2026"),
}
"""(username, password) per system; robots/credentials/demo.yaml holds the same values."""

OA_TOKEN = "demo-oa-token-7f3a9c"
MAIL_DOMAIN = "demo-bank.cn"


def branch_mail(code: str) -> str:
    """The branch's mailbox, e.g. wd0102@demo-bank.cn (what S2 notifies point to point)."""
    return f"wd{code}@{MAIL_DOMAIN}"


@dataclass(frozen=True)
class Company:
    name: str
    code: str  # 统一社会信用代码
    status: str  # 存续 / 注销 / 吊销 / 经营异常
    annual_report: str  # 已公示 / 未公示
    legal_rep: str
    founded: str
    authority: str
    note: str = ""


@dataclass(frozen=True)
class Account:
    number: str
    company: str
    branch: str
    due: bool  # due for this year's annual inspection
    opened: str
    kind: str = "基本存款账户"


@dataclass(frozen=True)
class Change:
    number: str
    holder: str
    kind: str  # 开户 / 变更 / 销户
    branch: str
    days_ago: int  # 1 = yesterday
    filed: bool  # already filed in the central-bank image system


@dataclass(frozen=True)
class Transaction:
    serial: str
    time: str
    account: str
    holder: str
    side: str  # 借 / 贷
    amount: str  # exact decimal text, e.g. "12345.60"
    memo: str


def _code(i: int, city: str) -> str:
    letter = "ABCDEFGHJKLMNPQRTUWXY"[i % 21]
    return f"9136{city}MA{35 + i % 60:02d}{letter}{(i * 7919) % 10000:04d}X"


_S1: list[tuple[str, str, str, str, str]] = [
    # account, company, branch, registry status, annual report
    ("079101880000100101", "南昌恒达建材有限公司", "0101", "存续", "已公示"),
    ("360102880000100102", "江西赣江物流有限公司", "0102", "存续", "已公示"),
    ("079201880000100103", "九江长江船舶配件有限公司", "0201", "注销", "未公示"),
    ("360301880000100104", "赣州稀土新材料科技有限公司", "0301", "存续", "已公示"),
    ("360101880000100105", "南昌青云谱食品贸易有限公司", "0101", "经营异常", "未公示"),
    ("360202880000100106", "江西鄱阳湖水产养殖有限公司", "0202", "存续", "已公示"),
    ("360201880000100107", "九江庐山旅游文化发展有限公司", "0201", "吊销", "未公示"),
    ("360102880000100108", "江西瑞丰农业开发有限公司", "0102", "存续", "已公示"),
    ("360401880000100109", "景德镇陶瓷艺术品有限公司", "0401", "存续", "未公示"),
    ("360102880000100110", "南昌高新区智联信息技术有限公司", "0102", "存续", "已公示"),
    ("079701880000100111", "赣州南康家具制造有限公司", "0301", "经营异常", "已公示"),
    ("360101880000100112", "江西洪都机电设备有限公司", "0101", "存续", "已公示"),
]

# Renamed since the account was opened: the registry knows only the new name, so a search for
# the bank's recorded name finds nothing and the account goes back to its branch.
_RENAMED = ("360301880000100113", "赣州虔州钨业有限公司", "0301", "赣州虔州钨业股份有限公司")

_INSPECTED: list[tuple[str, str, str]] = [
    ("360101880000100201", "南昌八一广场百货有限公司", "0101"),
    ("360102880000100202", "江西红谷滩置业有限公司", "0102"),
    ("360201880000100203", "九江石化配套服务有限公司", "0201"),
    ("360202880000100204", "九江浔阳江畔酒店管理有限公司", "0202"),
    ("360301880000100205", "赣州客家围屋文化旅游有限公司", "0301"),
    ("360401880000100206", "景德镇高岭土矿业有限公司", "0401"),
    ("360101880000100207", "南昌绳金塔商贸有限公司", "0101"),
    ("360102880000100208", "江西昌北机场航空服务有限公司", "0102"),
]

# Branch offices and namesakes: a search for the head office finds these too (paging, and a
# robot that clicks the first hit instead of the exact name gets the wrong company).
_NAMESAKES: list[tuple[str, str, str]] = [
    ("南昌恒达建材有限公司红谷滩分公司", "存续", "已公示"),
    ("南昌恒达建材有限公司青山湖分公司", "注销", "未公示"),
    ("江西赣江物流有限公司九江分公司", "存续", "已公示"),
    ("江西赣江物流有限公司赣州分公司", "吊销", "未公示"),
    ("江西赣江物流有限公司吉安分公司", "存续", "已公示"),
    ("江西赣江物流有限公司上饶分公司", "经营异常", "未公示"),
    ("江西赣江物流有限公司抚州分公司", "存续", "已公示"),
    ("江西赣江物流有限公司宜春分公司", "存续", "已公示"),
]

_S2: list[tuple[str, str, str, str, int, bool]] = [
    ("360102880000200201", "江西绿源环保科技有限公司", "开户", "0102", 1, True),
    ("079201880000200202", "九江港盛国际货运代理有限公司", "开户", "0201", 1, False),
    ("360101880000200203", "南昌东湖晨曦文化传媒有限公司", "变更", "0101", 1, True),
    ("360301880000200204", "赣州章贡区宏远建筑劳务有限公司", "销户", "0301", 1, True),
    ("360202880000200205", "九江浔阳楼餐饮管理有限公司", "开户", "0202", 1, True),
    ("360401880000200206", "景德镇御窑文化创意有限公司", "变更", "0401", 1, False),
    ("360102880000200207", "南昌红谷滩新区金融服务外包有限公司", "开户", "0102", 1, True),
    ("079101880000200208", "江西省百川医药连锁有限公司", "销户", "0101", 1, True),
    ("360301880000200209", "赣州脐橙电子商务有限公司", "开户", "0301", 1, False),
    ("360201880000200210", "九江共青城羽绒服饰有限公司", "变更", "0201", 1, True),
    # the day before yesterday: a robot that ignores the date would report these too
    ("360101880000200301", "南昌滕王阁文化发展有限公司", "开户", "0101", 2, False),
    ("360202880000200302", "九江鄱湖渔业合作社", "变更", "0202", 2, True),
    ("360301880000200303", "赣州通天岩石材有限公司", "销户", "0301", 2, True),
]

_REPS = ["张建国", "李红梅", "王志强", "刘芳", "陈晓东", "杨丽华", "赵卫东", "黄海燕", "周明",
         "吴秀英", "徐国平", "孙丽娟"]
_CITY = {"01": "0100", "02": "0400", "03": "0700", "04": "0200"}
_AUTHORITY = {"01": "南昌市市场监督管理局", "02": "九江市市场监督管理局",
              "03": "赣州市市场监督管理局", "04": "景德镇市市场监督管理局"}


def companies() -> list[Company]:
    """Every company the public registry knows (S1's, their namesakes, S2's, the inspected)."""
    rows: list[tuple[str, str, str, str]] = [(c, s, r, b) for _, c, b, s, r in _S1]
    rows += [(c, "存续", "已公示", b) for _, c, b in _INSPECTED]
    rows += [(n, s, r, "0101" if n.startswith("南昌") else "0201") for n, s, r in _NAMESAKES]
    rows += [(h, "存续", "已公示", b) for _, h, _, b, _, _ in _S2]
    rows.append((_RENAMED[3], "存续", "已公示", _RENAMED[2]))
    out = []
    for i, (name, status, report, branch) in enumerate(rows):
        city = branch[:2]
        note = ""
        if status == "经营异常":
            note = "通过登记的住所或者经营场所无法联系"
        elif status == "吊销":
            note = "成立后无正当理由超过6个月未开业"
        out.append(Company(name, _code(i, _CITY[city]), status, report, _REPS[i % len(_REPS)],
                           f"{2008 + i % 14}-{1 + i % 12:02d}-{1 + (i * 3) % 28:02d}",
                           _AUTHORITY[city], note))
    return out


def accounts() -> list[Account]:
    """S1's accounts due for inspection, then some already inspected this year."""
    due = [Account(a, c, b, True, f"{2012 + i % 9}-{1 + i % 12:02d}-15")
           for i, (a, c, b) in enumerate([r[:3] for r in _S1] + [_RENAMED[:3]])]
    done = [Account(a, c, b, False, f"{2010 + i % 9}-{1 + i % 12:02d}-08")
            for i, (a, c, b) in enumerate(_INSPECTED)]
    return due + done


def changes() -> list[Change]:
    """Account openings, changes and closings of the last two days (S2's input)."""
    return [Change(*row) for row in _S2]


_MEMOS = ["货款", "工资代发", "税费缴纳", "服务费", "往来款", "租金", "保证金", "水电费"]
_HOLDERS = [c for _, c, _, _, _ in _S1] + [c for _, c, _ in _INSPECTED]

MISSING_IN_CORE = 6  # 0-based transaction indexes with a deliberate difference (S3)
MISSING_IN_CLEARING = 18
CENT_DIFFERENCE = 10  # core amount is 0.01 more than clearing's
HUNDRED_DIFFERENCE = 22  # core amount is 100.00 more than clearing's
TRANSACTIONS = 30


def transactions(day: dt.date) -> tuple[list[Transaction], list[Transaction]]:
    """Today's transactions as the core system and the clearing system each record them."""
    rnd = random.Random(20261112)
    ymd = day.strftime("%Y%m%d")
    base: list[Transaction] = []
    for i in range(TRANSACTIONS):
        cents = rnd.randint(50_000, 50_000_000)
        holder = _HOLDERS[rnd.randrange(len(_HOLDERS))]
        account = next(a.number for a in accounts() if a.company == holder)
        seconds = 8 * 3600 + 30 * 60 + i * 911 + rnd.randint(0, 600)
        clock = f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
        base.append(Transaction(f"{ymd}{i + 1:06d}", clock,
                                account, holder, rnd.choice("借贷"), f"{cents / 100:.2f}",
                                rnd.choice(_MEMOS)))
    core, clearing = [], []
    for i, t in enumerate(base):
        if i != MISSING_IN_CORE:
            delta = {CENT_DIFFERENCE: 1, HUNDRED_DIFFERENCE: 10_000}.get(i, 0)
            cents = round(float(t.amount) * 100) + delta
            core.append(Transaction(t.serial, t.time, t.account, t.holder, t.side,
                                    f"{cents / 100:.2f}", t.memo))
        if i != MISSING_IN_CLEARING:
            clearing.append(t)
    return core, clearing
