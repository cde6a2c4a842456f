"""The comparisons under image matching: smoothing, the pyramid, correlation, colour.

Used by match.py (see its docstring for how a search runs); OpenCV and numpy are imported
inside the functions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from libs.steps.vision.box import Box

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from libs.steps.vision.box import Image

    Scores = NDArray[np.float32]

MIN_COARSE_SIDE = 12       # px: a needle shrunk below this on a level loses its shape
SMOOTHING = 0.8            # Gaussian sigma (px) before the full-size score: see smooth
SMOOTH_REACH = 2           # … over a 5×5 kernel
RESIZE_REACH = 2           # px at a resized needle's border that bicubic resampling guessed
COLOUR_CELL = 4            # px: colours are compared as averages over cells this size
MIN_MASK_PIXELS = 16       # opaque pixels a needle (or its coarse mask) needs to count


def as_u8(array: object) -> NDArray[np.uint8]:
    """OpenCV's stubs type every result as a generic array: this is what it is here."""
    return cast("NDArray[np.uint8]", array)


def as_scores(array: object) -> Scores:
    return cast("Scores", array)


def smooth(image: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """A light blur. A screen drawn at 125 % renders its text afresh (hinting, 1-px borders
    that stay 1 px) rather than enlarging the 100 % pixels: sharp edges then disagree by a
    pixel and a real match scores ~0.84; smoothed, ~0.90 (an icon 0.94 → 0.98). An exact copy
    still scores 1."""
    import cv2

    size = 2 * SMOOTH_REACH + 1
    return as_u8(cv2.GaussianBlur(image, (size, size), SMOOTHING))


def shrink(image: NDArray[np.uint8], factor: int) -> NDArray[np.uint8]:
    """Halve (twice for 4) with a low-pass first (a Gaussian pyramid level, cv2.pyrDown: a
    third of a millisecond for a 1920×1080 screen). Plain area averaging aliases: a 1-px
    border falls in one coarse pixel or smears over two depending on where the button sits,
    and a button at odd coordinates scored 0.60 at half size; low-passed and compared without
    its outer coarse pixels (coarse_template), above 0.9."""
    import cv2

    for _ in range(factor.bit_length() - 1):
        image = as_u8(cv2.pyrDown(image))
    return image


def coarse_template(grey: NDArray[np.uint8], mask: NDArray[np.uint8] | None,
                     factor: int) -> tuple[NDArray[np.uint8], NDArray[np.uint8] | None, int]:
    """The needle shrunk like the screen, its outer coarse pixels trimmed off (the blur had no
    neighbours for them), its mask shrunk alike (only fully opaque coarse pixels count), and
    the coarse pixels trimmed each side."""
    import cv2
    import numpy as np

    small = shrink(grey, factor)
    trim = 2 if min(small.shape) >= MIN_COARSE_SIDE + 4 else 1
    small_mask = None
    if mask is not None:
        size = (small.shape[1], small.shape[0])
        shrunk = cv2.resize(shrink(mask, factor), size, interpolation=cv2.INTER_AREA)
        # a coarse pixel counts when most of its blur came from opaque pixels
        small_mask = np.where(shrunk >= 200, 255, 0).astype(np.uint8)[trim:-trim, trim:-trim]
        if int(np.count_nonzero(small_mask)) < MIN_MASK_PIXELS:
            small_mask = None  # too little left at this size: compare the whole patch
    return small[trim:-trim, trim:-trim], small_mask, trim


def smooth_template(grey: NDArray[np.uint8], scale: float,
                     masked: bool) -> tuple[NDArray[np.uint8], int]:
    """The smoothed needle without the border the blur had no neighbours for (so an exact
    copy still scores 1), and the width trimmed off each side. A resized needle loses two
    pixels more: its resampling had no neighbours at the border either. A needle with
    transparent parts is not smoothed: the blur would mix the screen's background into its
    edge pixels (and thin strokes are all edge)."""
    if masked:
        return grey, 0
    reach = SMOOTH_REACH + (0 if scale == 1.0 else RESIZE_REACH)
    trim = reach if min(grey.shape) >= 4 * reach + MIN_COARSE_SIDE else 0
    smoothed = smooth(grey)
    if trim:
        smoothed = smoothed[trim:-trim, trim:-trim]
    return smoothed, trim


def trimmed(mask: NDArray[np.uint8] | None, trim: int) -> NDArray[np.uint8] | None:
    if mask is None or not trim:
        return mask
    return mask[trim:-trim, trim:-trim]


def correlate(image: NDArray[np.uint8], template: NDArray[np.uint8],
               mask: NDArray[np.uint8] | None) -> Scores:
    """Normalised correlation of `template` at every position of `image` (−1…1)."""
    import cv2
    import numpy as np

    if mask is None:
        return as_scores(cv2.matchTemplate(image, template, cv2.TM_CCOEFF_NORMED))
    scores = as_scores(cv2.matchTemplate(image, template, cv2.TM_CCOEFF_NORMED, mask=mask))
    # masked correlation divides by ~0 over flat screen areas: those are not matches
    scores = as_scores(np.nan_to_num(scores, nan=0.0, posinf=0.0, neginf=0.0))
    return as_scores(np.clip(scores, -1.0, 1.0, out=scores))


def peaks(scores: Scores, threshold: float, limit: int, width: int,
           height: int) -> list[tuple[int, int, float]]:
    """The best spots of a score map, each at least half a needle from the others."""
    import cv2

    spots: list[tuple[int, int, float]] = []
    scores = scores.copy()
    reach_x, reach_y = max(width // 2, 1), max(height // 2, 1)
    while len(spots) < limit:
        _, best, _, (x, y) = cv2.minMaxLoc(scores)
        if best < threshold:
            break
        spots.append((int(x), int(y), float(best)))
        scores[max(y - reach_y + 1, 0):y + reach_y, max(x - reach_x + 1, 0):x + reach_x] = -1.0
    return spots


def colour_score(needle: Image, patch: Image, mask: NDArray[np.uint8] | None) -> float:
    """How alike two same-sized BGR patches are in colour (0–1), cell by cell.

    Both are averaged over cells of COLOUR_CELL px (so a pixel's shift or a border rendered
    afresh at another scale hardly counts) and each cell scores its largest channel
    difference: a red button where a green one is expected differs by ~200 of 255 over most
    cells (score ~0.3), though in grey the two are the same. Transparent pixels do not count.
    """
    import cv2
    import numpy as np

    height, width = needle.shape[:2]
    cells = (max(width // COLOUR_CELL, 1), max(height // COLOUR_CELL, 1))
    weight = (np.ones((height, width), np.float32) if mask is None
              else (mask > 0).astype(np.float32))

    def cell_means(image: Image) -> NDArray[np.float32]:
        weighted = image.astype(np.float32) * weight[:, :, None]
        return as_scores(cv2.resize(weighted, cells, interpolation=cv2.INTER_AREA))

    counted = cv2.resize(weight, cells, interpolation=cv2.INTER_AREA)
    used = counted > 0.25  # cells that are mostly transparent say little
    if not used.any():
        used = counted > 0
    scale = np.where(used, 1.0 / np.maximum(counted, 1e-6), 0.0)[:, :, None]
    difference = np.abs(cell_means(needle) - cell_means(patch)) * scale
    worst = difference.max(axis=2)[used]
    return max(0.0, 1.0 - float(worst.mean()) / 255.0)


def overlap(first: Box, second: Box) -> float:
    """The shared area as a share of the smaller box."""
    width = min(first.right, second.right) - max(first.x, second.x)
    height = min(first.bottom, second.bottom) - max(first.y, second.y)
    if width <= 0 or height <= 0:
        return 0.0
    smaller = min(first.width * first.height, second.width * second.height)
    return width * height / smaller
