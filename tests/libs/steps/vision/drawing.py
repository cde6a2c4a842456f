"""Synthetic screens for the image-matching tests: a desktop drawn with PIL at any scale.

Everything is drawn from scratch at the asked scale (coordinates, line widths and font sizes
multiplied), as a 125 % display renders it — not a resized screenshot. Boxes come back in
screen pixels so tests can assert exact positions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image as PILImage
from PIL import ImageDraw, ImageFont

from libs.steps.vision.box import Box

if TYPE_CHECKING:
    from libs.steps.vision.box import Image

CJK_FONT = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"
GREEN, RED, BLUE, GREY = (46, 160, 67), (207, 34, 46), (9, 105, 218), (110, 118, 129)
YELLOW = (250, 200, 40)


@dataclass
class Screen:
    image: Image                                   # BGR
    boxes: dict[str, Box] = field(default_factory=dict)
    icons: list[Box] = field(default_factory=list)


def font(size: float) -> ImageFont.FreeTypeFont:
    # a fractional size is kept: rounding 22.5 to 22 would draw text at 1.22, not 1.25
    return ImageFont.truetype(CJK_FONT, max(size, 6.0))


def draw_button(draw: ImageDraw.ImageDraw, x: float, y: float, text: str,
                fill: tuple[int, int, int], scale: float) -> Box:
    width, height = 120 * scale, 40 * scale
    box = (round(x), round(y), round(x + width) - 1, round(y + height) - 1)
    draw.rounded_rectangle(box, radius=round(6 * scale), fill=fill,
                           outline=(30, 30, 30), width=max(1, round(scale)))
    draw.text((x + width / 2, y + height / 2), text, font=font(20 * scale),
              fill=(255, 255, 255), anchor="mm")
    return Box(box[0], box[1], box[2] - box[0] + 1, box[3] - box[1] + 1)


def draw_icon(draw: ImageDraw.ImageDraw, x: float, y: float, scale: float) -> Box:
    """A gear-like icon: a ring with a dot and a bar, 32 px at scale 1."""
    size = 32 * scale
    draw.ellipse((x, y, x + size, y + size), outline=BLUE, width=max(1, round(4 * scale)))
    inner = 11 * scale
    draw.ellipse((x + inner, y + inner, x + size - inner, y + size - inner), fill=YELLOW)
    draw.rectangle((x + size * 0.45, y - 0 * scale, x + size * 0.55, y + size * 0.3),
                   fill=BLUE)
    return Box(round(x), round(y), round(size) + 1, round(size) + 1)


def draw_screen(scale: float = 1.0, *, seed: int = 7, size: tuple[int, int] = (1920, 1080),
                confirm_fill: tuple[int, int, int] = GREEN,
                window_at: tuple[int, int] = (300, 200)) -> Screen:
    """A desktop: a window with a title, labels, a text field, buttons 确定/取消 and a toolbar
    of repeated icons, on a noisy wallpaper. `window_at` is the window's top left (screen px,
    not scaled) so a test can move the window."""
    rng = np.random.default_rng(seed)
    wallpaper = rng.integers(60, 110, (size[1], size[0], 3), dtype=np.uint8)
    picture = PILImage.fromarray(wallpaper, "RGB")
    draw = ImageDraw.Draw(picture)
    screen = Screen(np.zeros((1, 1, 3), np.uint8))
    left, top = window_at

    def at(x: float, y: float) -> tuple[float, float]:
        return left + x * scale, top + y * scale

    wx, wy = at(0, 0)
    draw.rectangle((wx, wy, wx + 900 * scale, wy + 560 * scale), fill=(246, 248, 250),
                   outline=(90, 90, 90), width=max(1, round(scale)))
    draw.rectangle((wx, wy, wx + 900 * scale, wy + 36 * scale), fill=(36, 41, 47))
    draw.text(at(16, 6), "对公账户年检 — 客户端", font=font(18 * scale), fill=(240, 240, 240))
    for row, label in enumerate(["企业名称", "统一社会信用代码", "账号", "开户日期"]):
        draw.text(at(40, 80 + row * 56), label, font=font(16 * scale), fill=(30, 30, 30))
        fx, fy = at(240, 74 + row * 56)
        draw.rectangle((fx, fy, fx + 400 * scale, fy + 34 * scale), fill=(255, 255, 255),
                       outline=(160, 160, 160), width=max(1, round(scale)))
    for index in range(6):  # a toolbar of repeated icons
        ix, iy = at(40 + index * 56, 330)
        screen.icons.append(draw_icon(draw, ix, iy, scale))
    bx, by = at(520, 470)
    screen.boxes["确定"] = draw_button(draw, bx, by, "确定", confirm_fill, scale)
    bx, by = at(680, 470)
    screen.boxes["取消"] = draw_button(draw, bx, by, "取消", GREY, scale)
    bx, by = at(40, 470)
    screen.boxes["red"] = draw_button(draw, bx, by, "提交", RED, scale)
    bx, by = at(200, 470)
    screen.boxes["green"] = draw_button(draw, bx, by, "提交", GREEN, scale)
    rgb = np.asarray(picture)
    screen.image = np.ascontiguousarray(rgb[:, :, ::-1])
    return screen
