"""Scan effects: what a counter scanner and a tired document camera do to a voucher.

Each effect is drawn from a seeded generator and recorded (the ``degradations`` of truth.json),
so a benchmark can tell which effect an OCR error came with. ``clean`` applies none; ``scanned``
the ordinary set (tinted paper, slight noise and blur, rotation within ±1.5°, sometimes a pass
at 0.7× resolution, JPEG at 60–85, a faint seal on some); ``poor`` all of them, stronger.
"""

from __future__ import annotations

import io
import random
from typing import Any

import numpy as np
from PIL import Image, ImageFilter

from workhand.demo.vouchers.drawing import stamp

QUALITIES = ("clean", "scanned", "poor")
SEAL_TEXT = "赣江银行股份有限公司"


def _settings(rng: random.Random, quality: str) -> dict[str, Any]:
    if quality == "scanned":
        return {
            "tint": [rng.randint(240, 252), rng.randint(234, 246), rng.randint(215, 232)],
            "rotation_deg": round(rng.uniform(-1.5, 1.5), 2),
            "scale": 0.7 if rng.random() < 0.35 else 1.0,
            "blur_radius": round(rng.uniform(0.3, 0.8), 2),
            "noise_sigma": round(rng.uniform(3, 8), 1),
            "jpeg_quality": rng.randint(60, 85),
            "shading": 0.0,
            "fade": 0.0,
        }
    if quality == "poor":
        return {
            "tint": [rng.randint(228, 245), rng.randint(218, 236), rng.randint(190, 215)],
            "rotation_deg": round(rng.choice((-1, 1)) * rng.uniform(1.0, 2.5), 2),
            "scale": round(rng.uniform(0.5, 0.6), 2),
            "blur_radius": round(rng.uniform(0.8, 1.3), 2),
            "noise_sigma": round(rng.uniform(9, 15), 1),
            "jpeg_quality": rng.randint(30, 50),
            "shading": round(rng.uniform(0.1, 0.25), 2),  # uneven light across the page
            "fade": round(rng.uniform(0.15, 0.35), 2),  # a worn printer ribbon
        }
    return {}


def _seal(image: Image.Image, rng: random.Random, quality: str,
          boxes: dict[str, list[int]]) -> dict[str, Any] | None:
    """A seal on some vouchers, over the payee's bank or the amount, as counters stamp them."""
    if quality == "clean" or rng.random() > (0.45 if quality == "scanned" else 0.75):
        return None
    over = rng.choice(("payee_bank", "amount", "date", "payee_name"))
    x, y, w, h = boxes[over]
    centre = (min(max(x + rng.randint(0, max(w, 1)), 110), 1090), min(max(y + h // 2, 100), 500))
    radius = rng.randint(62, 80)
    opacity = round(rng.uniform(0.3, 0.5) if quality == "scanned" else rng.uniform(0.5, 0.8), 2)
    stamp(image, rng, centre, radius, opacity, SEAL_TEXT, "业务专用章")
    covers = sorted(name for name, (bx, by, bw, bh) in boxes.items()
                    if _circle_meets_box(centre, radius, (bx, by, bw, bh)))
    return {"over": over, "covers": covers, "centre": list(centre), "radius": radius,
            "opacity": opacity}


def _circle_meets_box(centre: tuple[int, int], radius: int,
                      box: tuple[int, int, int, int]) -> bool:
    x, y, w, h = box
    nearest_x = min(max(centre[0], x), x + w)
    nearest_y = min(max(centre[1], y), y + h)
    return (nearest_x - centre[0]) ** 2 + (nearest_y - centre[1]) ** 2 <= radius ** 2


def degrade(image: Image.Image, rng: random.Random, quality: str,
            boxes: dict[str, list[int]]) -> tuple[Image.Image, dict[str, Any]]:
    """The voucher as the scanner delivers it, and what was done to it."""
    if quality not in QUALITIES:
        raise ValueError(f"quality must be one of {', '.join(QUALITIES)}, not {quality!r}")
    settings = _settings(rng, quality)
    settings["seal"] = _seal(image, rng, quality, boxes)
    if quality == "clean":
        return image, settings
    noise = np.random.default_rng(rng.randrange(2**32))
    pixels = np.asarray(image, dtype=np.float32) / 255.0
    if settings["fade"]:
        pixels = 1.0 - (1.0 - pixels) * (1.0 - settings["fade"])
    pixels *= np.array(settings["tint"], dtype=np.float32) / 255.0
    if settings["shading"]:
        ramp = np.linspace(1.0, 1.0 - settings["shading"], pixels.shape[1], dtype=np.float32)
        pixels *= ramp[None, :, None]
    page = Image.fromarray((pixels * 255).clip(0, 255).astype(np.uint8))
    # the scanner's lid is grey where the tilted page does not cover the glass
    page = page.rotate(settings["rotation_deg"], resample=Image.Resampling.BICUBIC,
                       fillcolor=(96, 96, 100))
    if settings["scale"] < 1:
        small = (int(page.width * settings["scale"]), int(page.height * settings["scale"]))
        page = page.resize(small, Image.Resampling.BILINEAR).resize(
            image.size, Image.Resampling.BILINEAR)
    page = page.filter(ImageFilter.GaussianBlur(settings["blur_radius"]))
    grain = noise.normal(0.0, settings["noise_sigma"], (page.height, page.width, 1))
    noisy = (np.asarray(page, dtype=np.float32) + grain).clip(0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noisy).save(buffer, "JPEG", quality=settings["jpeg_quality"])
    buffer.seek(0)
    return Image.open(buffer).convert("RGB"), settings
