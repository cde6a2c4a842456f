"""The voucher image: a 进账单 / 转账凭证 form in coloured ink, filled in by a printer in black.

Drawn with PIL at 1200×600. The form (ruling, labels) is in the bank's ink colour and a serif
face, as pre-printed stationery is; the values are in a sans face and may sit a few pixels off
their cells, as a voucher printer's feed leaves them. ``render`` answers the image and each
field's box (x, y, w, h) so tests and the document work can crop a field.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFont

from workhand.demo.vouchers.model import PAGE_SIZE, Printed

WIDTH, HEIGHT = PAGE_SIZE
FONT_DIR = "/usr/share/fonts/opentype/noto"
SANS = f"{FONT_DIR}/NotoSansCJK-Regular.ttc"
SERIF = f"{FONT_DIR}/NotoSerifCJK-Regular.ttc"
SERIF_BOLD = f"{FONT_DIR}/NotoSerifCJK-Bold.ttc"
_INKS = [(32, 78, 150), (168, 42, 46), (24, 112, 84)]  # blue, red, green stationery
VALUE_INK = (22, 22, 26)
STAMP_RED = (214, 36, 40)

Box = list[int]
Font = ImageFont.FreeTypeFont


@lru_cache(maxsize=64)
def font(path: str, size: int) -> Font:
    # index 2 of the Noto CJK collections is the SC (Simplified Chinese) face
    return ImageFont.truetype(path, size, index=2)


@dataclass
class _Pen:
    draw: ImageDraw.ImageDraw
    ink: tuple[int, int, int]
    dx: int
    dy: int

    def label(self, xy: tuple[float, float], text: str, size: int = 20,
              anchor: str = "lm", path: str = SERIF) -> None:
        self.draw.text(xy, text, font=font(path, size), fill=self.ink, anchor=anchor)

    def value(self, xy: tuple[float, float], text: str, size: int, max_width: int) -> Box:
        """Draw a filled-in value, shrunk until it fits its cell; answer its box."""
        while size > 12 and font(SANS, size).getlength(text) > max_width:
            size -= 1
        at = (xy[0] + self.dx, xy[1] + self.dy)
        self.draw.text(at, text, font=font(SANS, size), fill=VALUE_INK, anchor="lm")
        left, top, right, bottom = self.draw.textbbox(at, text, font=font(SANS, size),
                                                      anchor="lm")
        return [int(left), int(top), int(right - left), int(bottom - top)]

    def line(self, x0: float, y0: float, x1: float, y1: float, width: int = 2) -> None:
        self.draw.line([(x0, y0), (x1, y1)], fill=self.ink, width=width)


def _vertical(pen: _Pen, x: float, top: float, bottom: float, text: str, size: int) -> None:
    """Characters stacked top to bottom, spread over the cell (付款人 down the side)."""
    step = (bottom - top) / len(text)
    for i, char in enumerate(text):
        pen.label((x, top + step * (i + 0.5)), char, size, anchor="mm")


def _form(pen: _Pen, title: str, copy_note: str) -> None:
    """The pre-printed part: title, ruling and labels."""
    pen.label((WIDTH / 2, 38), title, 34, anchor="mm", path=SERIF_BOLD)
    half = font(SERIF_BOLD, 34).getlength(title) / 2
    pen.line(WIDTH / 2 - half, 62, WIDTH / 2 + half, 62, 2)
    pen.line(WIDTH / 2 - half, 67, WIDTH / 2 + half, 67, 1)
    pen.label((880, 38), "凭证号", 18)
    pen.label((420, 95), "日期", 20)
    left, right, top, bottom = 40, 1150, 120, 540
    pen.draw.rectangle([left, top, right, bottom], outline=pen.ink, width=3)
    for y in (180, 240):  # rows inside the party blocks
        pen.line(86, y, 595, y, 1)
        pen.line(641, y, right, y, 1)
    for y in (300, 380, 435):
        pen.line(left, y, right, y, 2)
    for x in (86, 186, 641, 741):
        pen.line(x, top, x, 300, 1)
    pen.line(595, top, 595, 300, 2)
    _vertical(pen, 63, top + 6, 294, "付款人", 20)
    _vertical(pen, 618, top + 6, 294, "收款人", 20)
    for x in (96, 651):
        for y, text in ((150, "全    称"), (210, "账    号"), (270, "开户银行")):
            pen.label((x, y), text, 19)
    pen.line(186, 300, 186, 540, 1)
    pen.label((113, 340), "金额", 22, anchor="mm")
    pen.label((196, 340), "人民币（大写）", 18)
    pen.line(800, 300, 800, 380, 1)
    pen.label((810, 340), "（小写）", 18)
    pen.label((113, 407), "用途", 22, anchor="mm")
    pen.line(595, 380, 595, 540, 1)
    pen.label((611, 407), "票据种类", 18)
    pen.label((700, 407), "转账支票", 18)
    pen.label((880, 407), "票据张数", 18)
    pen.label((970, 407), "1", 18)
    pen.label((113, 487), "备注", 22, anchor="mm")
    pen.label((611, 455), "收款人开户银行签章", 18)
    pen.label((200, 520), "复核", 18)
    pen.label((400, 520), "记账", 18)
    _vertical(pen, 1172, 150, 520, copy_note, 14)


def render(printed: Printed, rng: random.Random) -> tuple[Image.Image, dict[str, Box]]:
    """The clean voucher (no scan effects yet) and each printed field's box."""
    image = Image.new("RGB", (WIDTH, HEIGHT), (255, 255, 255))
    pen = _Pen(ImageDraw.Draw(image), rng.choice(_INKS), rng.randint(-4, 4), rng.randint(-3, 3))
    _form(pen, printed.title, "此联是收款人开户银行交给收款人的回单")
    boxes = {
        "voucher_no": pen.value((945, 38), printed.voucher_no, 22, 190),
        "date": pen.value((470, 95), printed.date_text, 24, 260),
        "payer_name": pen.value((196, 150), printed.payer_name, 23, 390),
        "payer_account": pen.value((196, 210), printed.payer_account_text, 24, 390),
        "payer_bank": pen.value((196, 270), printed.payer_bank, 21, 390),
        "payee_name": pen.value((751, 150), printed.payee_name, 23, 390),
        "payee_account": pen.value((751, 210), printed.payee_account_text, 24, 390),
        "payee_bank": pen.value((751, 270), printed.payee_bank, 21, 390),
        "amount_in_words": pen.value((330, 340), printed.amount_in_words, 24, 460),
        "amount": pen.value((885, 340), printed.amount_text, 26, 255),
        "purpose": pen.value((196, 407), printed.purpose, 22, 390),
    }
    teller = f"柜员：{printed.voucher_no[:4]}{rng.randint(1, 30):03d}"
    pen.value((44, 566), f"{teller}    打印：{printed.date.isoformat()} "
              f"{rng.randint(8, 17):02d}:{rng.randint(0, 59):02d}", 15, 500)
    return image, boxes


def stamp(image: Image.Image, rng: random.Random, centre: tuple[int, int], radius: int,
          opacity: float, arc_text: str, centre_text: str) -> None:
    """A round red seal (红章) printed over the image: ink darkens what is under it (multiply),
    so the text beneath stays but loses contrast — as a real seal over print does."""
    size = radius * 2 + 8
    layer = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(layer)
    c = size / 2
    draw.ellipse([4, 4, size - 4, size - 4], outline=255, width=max(3, radius // 18))
    _star(draw, c, c, radius * 0.28)
    draw.text((c, c + radius * 0.52), centre_text, font=font(SANS, max(12, radius // 5)),
              fill=255, anchor="mm")
    char_size = max(12, int(radius * 0.24))
    span = math.radians(250)
    for i, char in enumerate(arc_text):
        angle = -math.pi / 2 - span / 2 + span * (i + 0.5) / len(arc_text)
        glyph = Image.new("L", (char_size * 2, char_size * 2), 0)
        ImageDraw.Draw(glyph).text((char_size, char_size), char,
                                   font=font(SANS, char_size), fill=255, anchor="mm")
        glyph = glyph.rotate(-math.degrees(angle) - 90, resample=Image.Resampling.BICUBIC)
        r = radius * 0.74
        x, y = c + r * math.cos(angle), c + r * math.sin(angle)
        layer.paste(glyph, (int(x - char_size), int(y - char_size)), glyph)
    layer = layer.rotate(rng.uniform(-25, 25), resample=Image.Resampling.BICUBIC)
    # blotchy ink: the seal never prints evenly
    speckle = np.random.default_rng(rng.randrange(2**32)).uniform(0.35, 1.0, (size, size))
    strength = np.asarray(layer, dtype=np.float64) * np.where(speckle > 0.5, 1.0, speckle)
    alpha = Image.fromarray((strength * opacity).astype(np.uint8), "L")
    red = Image.new("RGB", (size, size), STAMP_RED)
    region = (centre[0] - size // 2, centre[1] - size // 2)
    under = image.crop((region[0], region[1], region[0] + size, region[1] + size))
    inked = ImageChops.multiply(under, red)
    image.paste(Image.composite(inked, under, alpha), region)


def _star(draw: ImageDraw.ImageDraw, cx: float, cy: float, r: float) -> None:
    points = []
    for i in range(10):
        radius = r if i % 2 == 0 else r * 0.4
        angle = -math.pi / 2 + i * math.pi / 5
        points.append((cx + radius * math.cos(angle), cy + radius * math.sin(angle)))
    draw.polygon(points, fill=255)
