"""Synthetic Chinese bank text for OCR tests and benchmarks: lines and a 1920×1080 screen.

Rendered with PIL in Noto Sans CJK (fonts-noto-cjk), so every sample's text and place are known.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from libs.steps.vision.box import Box

if TYPE_CHECKING:
    from PIL import ImageFont

    from libs.steps.vision.box import Image

FONT_PATH = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"

BANK_LINES = [
    "账号：6217 8500 0012 3456 789",
    "账号：6228480402564890018",
    "金额：￥12,345.67",
    "金额：¥ 1,000,000.00",
    "人民币壹万贰仟叁佰肆拾伍元陆角柒分",
    "大写：伍佰元整",
    "日期：2024年03月15日",
    "交易日期：2023-12-31",
    "深圳市华强电子科技有限公司",
    "收款人：上海浦东发展银行股份有限公司",
    "付款人：重庆市渝北区建设工程有限公司",
    "开户行：中国农业银行山东省分行营业部",
    "凭证号：NO.20240315008",
    "摘要：货款（第3期）",
    "户名：张伟",
    "金额（小写）：￥8,600.00",
    "人民币（大写）：捌仟陆佰元整",
    "流水号：TX202403150001234",
    "余额：￥305,120.09",
    "确定",
]


@dataclass(frozen=True)
class PlacedText:
    text: str
    box: Box  # where the ink is, in screen pixels


@cache
def font(size: int) -> ImageFont.FreeTypeFont:
    from PIL import ImageFont

    return ImageFont.truetype(FONT_PATH, size)


def render_line(text: str, size: int = 20, margin: int = 12) -> Image:
    """One line of black text on white, `margin` pixels around it (BGR)."""
    import numpy as np
    from PIL import Image as PILImage
    from PIL import ImageDraw

    left, top, right, bottom = font(size).getbbox(text)
    width, height = right - left + 2 * margin, bottom - top + 2 * margin
    canvas = PILImage.new("RGB", (width, height), "white")
    ImageDraw.Draw(canvas).text((margin - left, margin - top), text, font=font(size), fill="black")
    return np.ascontiguousarray(np.asarray(canvas)[:, :, ::-1])


def draw_texts(canvas_rgb: object, texts: list[tuple[str, int, int, int]]) -> list[PlacedText]:
    """Draws (text, x, y, size) on a PIL image; answers where each text's ink is."""
    from PIL import ImageDraw

    draw = ImageDraw.Draw(canvas_rgb)  # type: ignore[arg-type]
    placed = []
    for text, x, y, size in texts:
        draw.text((x, y), text, font=font(size), fill=(20, 20, 20))
        left, top, right, bottom = draw.textbbox((x, y), text, font=font(size))
        placed.append(PlacedText(text, Box(left, top, right - left, bottom - top)))
    return placed


SCREEN_TEXTS = [
    ("网上银行 企业账户查询", 40, 24, 22),
    ("账号：6217 8500 0012 3456 789", 120, 140, 20),
    ("户名：深圳市华强电子科技有限公司", 120, 200, 20),
    ("余额：￥305,120.09", 120, 260, 20),
    ("交易日期：2023-12-31", 1100, 140, 20),
    ("流水号：TX202403150001234", 1100, 200, 20),
    ("摘要：货款（第3期）", 1100, 260, 20),
    ("收款人：上海浦东发展银行股份有限公司", 120, 420, 16),
    ("金额（小写）：￥8,600.00", 120, 470, 16),
    ("人民币（大写）：捌仟陆佰元整", 120, 520, 16),
    ("开户行：中国农业银行山东省分行营业部", 1100, 420, 16),
    ("凭证号：NO.20240315008", 1100, 470, 16),
    ("状态：已受理", 1100, 520, 16),
    ("确定", 860, 960, 20),
    ("取消", 1000, 960, 20),
]
"""(text, x, y, font size) of the synthetic bank screen."""


def bank_screen(texts: list[tuple[str, int, int, int]] | None = None,
                ) -> tuple[Image, list[PlacedText]]:
    """A 1920×1080 light-grey screen with a title bar, panels and known text at known places."""
    import numpy as np
    from PIL import Image as PILImage
    from PIL import ImageDraw

    canvas = PILImage.new("RGB", (1920, 1080), (240, 240, 240))
    draw = ImageDraw.Draw(canvas)
    draw.rectangle((0, 0, 1919, 70), fill=(225, 232, 245))
    draw.rectangle((80, 110, 1000, 320), outline=(160, 160, 160), fill=(255, 255, 255))
    draw.rectangle((1060, 110, 1860, 320), outline=(160, 160, 160), fill=(255, 255, 255))
    draw.rectangle((840, 945, 940, 995), outline=(120, 120, 120), fill=(250, 250, 250))
    draw.rectangle((980, 945, 1080, 995), outline=(120, 120, 120), fill=(250, 250, 250))
    placed = draw_texts(canvas, SCREEN_TEXTS if texts is None else texts)
    return np.ascontiguousarray(np.asarray(canvas)[:, :, ::-1]), placed
