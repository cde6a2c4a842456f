"""Seeded Chinese names, banks, account numbers and amounts for the vouchers.

Every name is drawn so that it holds at least one character with a look-alike (形近字): a name
mismatch is planted by swapping such a character, the way a clerk's typo or an OCR misread would
change it (盛/感, 王/玉).
"""

from __future__ import annotations

import random
from decimal import Decimal

# Pairs that look alike in print; each maps both ways.
_LOOK_ALIKE_PAIRS = [
    "盛感", "王玉", "李季", "刘浏", "杨扬", "吴昊", "孙逊", "胡湖", "林材", "何河", "梁粱",
    "唐塘", "曹曾", "肖宵", "田由", "袁哀", "于干", "余佘", "杜社", "沈沉", "汪注", "金全",
    "贾贸", "夏复", "方万", "白自", "孟盂", "秦泰", "尹伊", "侯候", "史吏", "陶淘", "邵绍",
    "戴载", "伟传", "娟涓", "明朋", "秀季", "霞震", "桂挂", "建健", "国围", "辉挥", "晓哓",
    "春舂", "玲岭", "梅海", "凤风", "云去", "志忐", "宇字", "天夫", "永水", "雪雷", "波泼",
    "婷停", "琳淋", "帅师", "博搏", "达这", "恒垣", "源原", "利刹", "昌冒", "瑞端", "德徳",
    "嘉喜", "科料", "材村", "业亚", "发友", "工土", "鑫鍂", "晨晟", "鸿鸣", "旺汪", "宁宇",
    "兴共", "泽择", "润涧", "裕浴", "祥样", "通涌", "海梅",
]
LOOK_ALIKES: dict[str, str] = {}
for _pair in _LOOK_ALIKE_PAIRS:
    LOOK_ALIKES.setdefault(_pair[0], _pair[1])
    LOOK_ALIKES.setdefault(_pair[1], _pair[0])

SURNAMES = ["王", "李", "刘", "杨", "吴", "孙", "胡", "林", "何", "梁", "唐", "曹", "肖", "田",
            "袁", "余", "杜", "沈", "汪", "金", "贾", "夏", "方", "白", "孟", "秦", "尹", "侯",
            "史", "陶", "邵", "戴", "张", "陈", "黄", "赵", "周", "徐", "朱", "郭"]
GIVEN = ["伟", "娟", "明", "秀", "霞", "桂", "建", "国", "辉", "晓", "春", "玲", "梅", "凤", "云",
         "志", "宇", "天", "永", "雪", "波", "婷", "琳", "帅", "博", "华", "芳", "军", "静", "强",
         "敏", "丽", "磊", "洋", "杰", "涛", "平", "红", "英", "鹏"]
REGIONS = ["南昌", "九江", "赣州", "景德镇", "上饶", "宜春", "吉安", "抚州", "萍乡", "新余",
           "鹰潭", "江西", "江西省"]
BRANDS = ["盛", "达", "恒", "源", "利", "昌", "瑞", "德", "嘉", "鑫", "晨", "鸿", "旺", "兴",
          "泽", "润", "裕", "祥", "通", "海", "宁", "泰", "华", "金", "天", "永", "明", "博",
          "宇", "远", "丰", "信", "安", "和", "新", "力", "诚", "阳"]
INDUSTRIES = ["建材", "物流", "商贸", "科技", "电子", "机械设备", "食品", "农业开发", "建筑工程",
              "医药", "服饰", "家具", "能源", "环保科技", "信息技术", "汽车销售", "餐饮管理",
              "文化传媒", "纺织", "化工", "陶瓷", "水产", "印务", "钢材贸易"]
SUFFIXES = ["有限公司", "有限公司", "有限责任公司", "股份有限公司"]

BANKS = ["中国工商银行南昌八一支行", "中国建设银行九江浔阳支行", "中国农业银行赣州章贡支行",
         "中国银行景德镇分行营业部", "交通银行南昌分行营业部", "招商银行南昌红谷滩支行",
         "赣江银行南昌分行营业部", "赣江银行九江分行营业部", "赣江银行南昌红谷滩支行",
         "江西银行南昌高新支行", "九江银行庐山支行", "中国邮政储蓄银行上饶分行",
         "兴业银行南昌青山湖支行", "中信银行宜春分行", "上饶银行信州支行", "赣州银行章贡支行"]
PURPOSES = ["货款", "服务费", "工程款", "租金", "往来款", "设备款", "运费", "咨询费", "材料款",
            "劳务费", "保证金", "技术服务费", "广告费", "维修费"]


def person_name(rng: random.Random) -> str:
    """张伟, 王晓梅 …: a surname and one or two given characters."""
    given = "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))
    return rng.choice(SURNAMES) + given


def company_name(rng: random.Random) -> str:
    """南昌盛达建材有限公司 …: region, a two-character brand, the trade, the legal form."""
    brand = rng.choice(BRANDS) + rng.choice(BRANDS)
    while brand[0] == brand[1]:
        brand = rng.choice(BRANDS) + rng.choice(BRANDS)
    return rng.choice(REGIONS) + brand + rng.choice(INDUSTRIES) + rng.choice(SUFFIXES)


def name_positions(name: str) -> list[int]:
    """Where a look-alike can replace a character (never inside the legal form 有限公司)."""
    end = len(name)
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            end = len(name) - len(suffix)
            break
    return [i for i, char in enumerate(name[:end]) if char in LOOK_ALIKES]


def holder_name(rng: random.Random, company_share: float) -> str:
    """A company (most of the time) or a person, always with a look-alike character in it."""
    while True:
        name = company_name(rng) if rng.random() < company_share else person_name(rng)
        if name_positions(name):
            return name


def account_number(rng: random.Random, personal: bool) -> str:
    """A 16–19 digit account: a UnionPay card (62…) for people, a branch account for companies."""
    if personal:
        prefix = rng.choice(("6217", "6222", "6228", "6212"))
        length = rng.choice((16, 19, 19))
    else:
        prefix = rng.choice(("3601", "0791", "3602", "1502", "7980"))
        length = rng.choice((16, 17, 18, 19))
    return prefix + "".join(str(rng.randrange(10)) for _ in range(length - len(prefix)))


def grouped(account: str) -> str:
    """6217 8500 0012 3456 789: groups of four, as many vouchers print an account."""
    return " ".join(account[i:i + 4] for i in range(0, len(account), 4))


def amount(rng: random.Random) -> Decimal:
    """Amounts from a cent to ten million, with the shapes the capital rules care about:
    round yuan (整), zero 角 with 分 (零贰分), zeros inside the number (壹佰万零伍元)."""
    shape = rng.random()
    magnitude = rng.choice((1, 2, 3, 4, 4, 5, 5, 6, 6, 7))
    whole = rng.randrange(10 ** (magnitude - 1), 10 ** magnitude)
    if shape < 0.2:
        cents = 0
    elif shape < 0.3:
        cents = rng.randrange(1, 10)  # 零X分
    elif shape < 0.4:
        cents = rng.randrange(1, 10) * 10  # X角
    elif shape < 0.5:
        whole = (whole // 1000) * 1000 + rng.randrange(10)  # zeros in the middle
        cents = rng.randrange(100)
    else:
        cents = rng.randrange(100)
    if shape > 0.98:
        whole, cents = 0, rng.randrange(1, 100)  # under one yuan
    return (Decimal(whole * 100 + cents) / 100).quantize(Decimal("0.01"))
