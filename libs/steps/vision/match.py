"""Find an image (a button, an icon) on a screen: fast, scale-robust template matching.

How a search runs (measured on a 1920×1080 screen, 2 cores — bench/image_locate.py):

1. **Greyscale, coarse to fine.** The screen is shrunk to a half- or quarter-size level and the
   needle, shrunk alike, is matched there (normalised correlation, `TM_CCOEFF_NORMED`): a few ms
   instead of ~60 ms at full size. Each promising spot is then matched again at full size in a
   small window around it, which gives the exact position and the score.
2. **Colour verification** on the found patch only: a red button must not pass for a green one of
   the same shape, which greyscale alone cannot tell apart.
3. **Scale.** A needle captured on a 100 % screen is drawn 25 % larger on a 125 % screen, and the
   score falls steeply off the right scale (0.997 at 1.25, 0.645 at 1.2), so the scale is found
   precisely: the scales that worked before are tried first, then 1.0, then a sweep over
   0.5–2.0 on the small level, refined by ±3 % in 1 % steps around the best peaks. The scale
   found is remembered per needle and screen size, so a robot's next search costs one search.

Images are BGR uint8 arrays (see box.py). A needle may carry a fourth, alpha channel (as
`load_image` returns for a PNG with transparent pixels): transparent pixels are left out of the
comparison, so an icon on a transparent background matches on any background.

OpenCV is imported inside the functions (importing a step library must stay light).
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, cast

from libs.steps.vision.box import Box

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from libs.steps.vision.box import Image

    Scores = NDArray[np.float32]

MIN_COARSE_SIDE = 12       # px: a needle shrunk below this on a level loses its shape
COARSE_SLACK = 0.25        # a coarse score this far below `confidence` is still worth refining
CANDIDATES_ONE = 12        # spots refined when only the best match is wanted
CANDIDATES_ALL = 300       # … and when every match is (repeated icons)
SWEEP_RANGE = (0.5, 2.0)   # scales the sweep covers: 50 %–200 % screens either way round
SWEEP_STEP = 1.04          # 4 % apart: the fine search (±3 %) closes every gap
FINE_REACH = 0.045         # the fine search: ±3 % around the scale, ±4.5 % around a peak
                           # of the 4 %-step sweep (the true scale can sit half-way) …
FINE_STEP = 0.005          # … in steps of at most 0.5 % (one pixel for needles up to 200 px)
SWEEP_MIN_SIDE = 8         # px: the sweep only ranks scales, a smaller level will do
CLIMB_STEPS = 12           # px the best fine scale may still move (see _find_scale)
SWEEP_PEAKS = 3            # sweep peaks refined by the fine search
SMOOTHING = 0.8            # Gaussian sigma (px) before the full-size score: see _smooth
SMOOTH_REACH = 2           # … over a 5×5 kernel
RESIZE_REACH = 2           # px at a resized needle's border that bicubic resampling guessed
OVERLAP_LIMIT = 0.5        # two matches overlapping more than this are one match
MIN_MASK_PIXELS = 16
COLOUR_CELL = 4            # px: colours are compared as averages over cells this size
CACHE_SIZE = 512


def _u8(array: object) -> NDArray[np.uint8]:
    """OpenCV's stubs type every result as a generic array: this is what it is here."""
    return cast("NDArray[np.uint8]", array)


def _f32(array: object) -> Scores:
    return cast("Scores", array)


class ImageMatchError(ValueError):
    """A search that cannot be run as asked: the message says why, in the user's terms."""


@dataclass(frozen=True)
class Match:
    """Where a needle was found: its box in screen coordinates, the score (0–1) and the scale
    the screen draws it at (1.25 = 25 % larger than the needle image)."""

    box: Box
    score: float
    scale: float


# --------------------------------------------------------------------------- loading images

def load_image(path: Path) -> Image:
    """Read a PNG/JPEG/BMP file as a BGR image; with transparent pixels, as BGRA.

    Reads through numpy (`cv2.imread` fails on non-ASCII paths such as ``确定按钮.png``). A
    file whose alpha channel is fully opaque is returned as plain BGR; one with transparent
    pixels keeps its alpha channel, which `find_image` uses as a mask.
    """
    import cv2
    import numpy as np

    path = Path(path)
    if not path.is_file():
        raise ImageMatchError(f"image file {path} does not exist")
    data = np.fromfile(path, dtype=np.uint8)
    if data.size == 0:
        raise ImageMatchError(f"image file {path} is empty")
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if image is None or image.size == 0:
        raise ImageMatchError(f"cannot read image file {path}: not a PNG, JPEG or BMP image")
    return _as_bgr_or_bgra(image)


def _as_bgr_or_bgra(image: NDArray[np.generic]) -> Image:
    import cv2
    import numpy as np

    if image.dtype == np.uint16:  # 16-bit PNG
        image = (image // 257).astype(np.uint8)
    if image.ndim == 2:
        return _u8(cv2.cvtColor(_u8(image), cv2.COLOR_GRAY2BGR))
    if image.shape[2] == 4 and int(image[:, :, 3].min()) == 255:  # opaque: plain BGR
        return _u8(np.ascontiguousarray(image[:, :, :3]))
    return _u8(image)


# --------------------------------------------------------------------------- the needle

@dataclass
class _Needle:
    colour: Image                        # BGR
    grey: NDArray[np.uint8]
    mask: NDArray[np.uint8] | None       # 255 where a pixel counts, or None: all count
    digest: str

    @property
    def width(self) -> int:
        return int(self.grey.shape[1])

    @property
    def height(self) -> int:
        return int(self.grey.shape[0])

    def size_at(self, scale: float) -> tuple[int, int]:
        return max(1, round(self.width * scale)), max(1, round(self.height * scale))

    def resized(self, width: int, height: int) -> tuple[Image, NDArray[np.uint8],
                                                          NDArray[np.uint8] | None]:
        """Colour, grey and mask at this size (area averaging when shrinking)."""
        import cv2

        if (width, height) == (self.width, self.height):
            return self.colour, self.grey, self.mask
        shrink = width < self.width
        method = cv2.INTER_AREA if shrink else cv2.INTER_CUBIC
        colour = cv2.resize(self.colour, (width, height), interpolation=method)
        grey = cv2.resize(self.grey, (width, height), interpolation=method)
        mask = None
        if self.mask is not None:
            mask = cv2.resize(self.mask, (width, height), interpolation=cv2.INTER_NEAREST)
        return _u8(colour), _u8(grey), None if mask is None else _u8(mask)


def _prepare_needle(needle: Image) -> _Needle:
    import cv2
    import numpy as np

    _check_image(needle, "the image to find")
    image = _as_bgr_or_bgra(needle)
    mask = None
    if image.shape[2] == 4:
        mask = np.where(image[:, :, 3] >= 128, 255, 0).astype(np.uint8)
        if int(np.count_nonzero(mask)) < MIN_MASK_PIXELS:
            raise ImageMatchError("the image to find is (almost) fully transparent: "
                                  "nothing is left to match")
        # transparent pixels take the icon's mean colour: resizing and shrinking then blend
        # edges with that, not with whatever colour the file kept under alpha 0
        image = np.ascontiguousarray(image[:, :, :3])
        image[mask == 0] = image[mask > 0].mean(axis=0).round().astype(np.uint8)
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    counted = grey if mask is None else grey[mask > 0]
    if float(counted.std()) < 1.0:
        raise ImageMatchError("the image to find is one flat colour: it has no shape to match "
                              "(capture it with some of its border or text)")
    digest = hashlib.blake2b(image.tobytes(), digest_size=16)
    digest.update(repr(image.shape).encode())
    if mask is not None:
        digest.update(mask.tobytes())
    return _Needle(_u8(image), _u8(grey), mask, digest.hexdigest())


def _check_image(image: object, what: str) -> None:
    import numpy as np

    if not isinstance(image, np.ndarray):
        raise ImageMatchError(f"{what} is not an image (got {type(image).__name__})")
    if image.size == 0:
        raise ImageMatchError(f"{what} is empty (0×0 pixels)")
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (3, 4)):
        raise ImageMatchError(f"{what} is not a BGR image (array of shape {image.shape})")
    if image.dtype not in (np.uint8, np.uint16):
        raise ImageMatchError(f"{what} is not an 8-bit image (dtype {image.dtype})")


# --------------------------------------------------------------------------- the screen

class _Screen:
    """The searched part of the screen: colour, grey, and grey levels shrunk by 2 and 4."""

    def __init__(self, screen: Image, region: Box | None) -> None:
        import cv2
        import numpy as np

        _check_image(screen, "the screen")
        if screen.ndim == 2:
            screen = _u8(cv2.cvtColor(screen, cv2.COLOR_GRAY2BGR))
        elif screen.shape[2] == 4:  # an mss grab is BGRA: cvtColor drops alpha in ~1 ms,
            # where numpy's strided copy of screen[:, :, :3] takes ~40 ms for 1920×1080
            screen = _u8(cv2.cvtColor(screen, cv2.COLOR_BGRA2BGR))
        height, width = screen.shape[:2]
        self.size = (int(width), int(height))
        if region is None:
            self.origin = (0, 0)
            part = screen
        else:
            left, top = max(region.x, 0), max(region.y, 0)
            right, bottom = min(region.right, width), min(region.bottom, height)
            if right <= left or bottom <= top:
                raise ImageMatchError(
                    f"the region {_describe_box(region)} lies outside the screen "
                    f"({width}×{height})")
            self.origin = (left, top)
            part = screen[top:bottom, left:right]
        self.region = region
        self.colour: Image = np.ascontiguousarray(part)
        self.grey = _u8(cv2.cvtColor(self.colour, cv2.COLOR_BGR2GRAY))
        self._levels: dict[int, NDArray[np.uint8]] = {1: self.grey}
        self._smooth: NDArray[np.uint8] | None = None

    @property
    def width(self) -> int:
        return int(self.grey.shape[1])

    @property
    def height(self) -> int:
        return int(self.grey.shape[0])

    def level(self, factor: int) -> NDArray[np.uint8]:
        """The grey screen shrunk `factor` (2 or 4) times, made once (see _shrink)."""
        if factor not in self._levels:
            self._levels[factor] = _shrink(self.level(factor // 2), 2)
        return self._levels[factor]

    @property
    def smooth(self) -> NDArray[np.uint8]:
        """The grey screen, lightly smoothed (made once): what full-size scores compare."""
        if self._smooth is None:
            self._smooth = _smooth(self.grey)
        return self._smooth

    def describe(self) -> str:
        if self.region is None:
            return f"the screen ({self.width}×{self.height})"
        return f"the region {_describe_box(self.region)}"


def _describe_box(box: Box) -> str:
    return f"{box.width}×{box.height} at ({box.x}, {box.y})"


# --------------------------------------------------------------------------- searching

def find_image(screen: Image, needle: Image, *, region: Box | None = None,
               confidence: float = 0.9, scales: Sequence[float] | None = None,
               find_all: bool = False, colour: bool = True) -> list[Match]:
    """Where `needle` appears on `screen`, best first; empty when nothing reaches `confidence`.

    `region` limits the search to part of the screen (boxes are still in screen coordinates).
    `scales` given: only those are searched; otherwise the scale is found (and remembered for
    this needle and screen size). `find_all`: every match, no two overlapping by more than
    half; otherwise at most one. `colour`: the found patch must also match in colour.
    """
    if not 0.0 < confidence <= 1.0:
        raise ImageMatchError(f"confidence must be between 0 and 1 (got {confidence})")
    prepared = _prepare_needle(needle)
    searched = _Screen(screen, region)
    search = _Search(searched, prepared, confidence, find_all, colour)
    if scales is not None:
        wanted = [float(scale) for scale in scales]
        if not wanted or any(not scale > 0 for scale in wanted):
            raise ImageMatchError(f"scales must be positive numbers (got {list(scales)})")
        search.require_fit(wanted)
        found = [match for scale in wanted for match in search.at_scale(scale)]
        return _best_first(found, find_all)
    scale, found = _find_scale(search)
    if scale is not None:
        _remember_scale(prepared.digest, searched.size, scale)
    return found


def detect_scale(screen: Image, needle: Image, *, region: Box | None = None,
                 confidence: float = 0.9, colour: bool = True) -> float | None:
    """The scale at which `screen` draws `needle` (1.25 on a 125 % screen for a needle captured
    at 100 %), or None when the needle is not on the screen at any scale from 0.5 to 2.0.

    Remembered per needle and screen size: asking again, or searching with `find_image`
    afterwards, costs one search at that scale.
    """
    prepared = _prepare_needle(needle)
    searched = _Screen(screen, region)
    scale, _ = _find_scale(_Search(searched, prepared, confidence, False, colour))
    if scale is not None:
        _remember_scale(prepared.digest, searched.size, scale)
    return scale


def _find_scale(search: _Search) -> tuple[float | None, list[Match]]:
    """The scale the needle is drawn at, and the matches there (empty, None: not found)."""
    known = _known_scale(search.needle.digest, search.screen.size)
    search.require_fit([1.0 if known is None else known])
    # a hint, not a rule: on X11 each application scales itself (Tk, GTK, a browser's zoom),
    # so one screen can show the same button at 100 % in one window and 125 % in another
    likely = ([] if known is None else [known]) + _likely_scales(search.screen.size)
    tried: set[float] = set()
    for scale in likely:
        if scale in tried or not search.fits(scale):
            continue
        tried.add(scale)
        found = search.at_scale(scale)
        if found:
            return scale, found
    # the sweep gives each peak's scale and place; the fine scales are then scored at full
    # size in a window around that place only (a fraction of a millisecond each) and the
    # whole search, colour check and find_all included, runs once, at the best of them
    best_score, best_scale, best_place = -1.0, 0.0, (0, 0, 1)
    for peak, x, y, factor in search.sweep_peaks():
        for scale in _fine_scales(search.needle, peak):
            if scale in tried or not search.fits(scale):
                continue
            score = search.score_near(scale, x, y, factor)
            if score > best_score:
                best_score, best_scale, best_place = score, scale, (x, y, factor)
    # small needles rank scales roughly on the coarse level, and the best can lie past the
    # fine range: climb on, a pixel of the longer side at a time, while the score rises
    step = 1 / max(search.needle.width, search.needle.height)
    for direction in (1, -1):
        scale = best_scale
        for _ in range(CLIMB_STEPS):
            scale = round(scale + direction * step, 4)
            if not search.fits(scale) or scale <= 0:
                break
            score = search.score_near(scale, *best_place)
            if score <= best_score:
                break
            best_score, best_scale = score, scale
    if best_score >= search.confidence:
        found = search.at_scale(best_scale)
        if found:
            return best_scale, found
    return None, []


def _fine_scales(needle: _Needle, peak: float) -> list[float]:
    """Scales within ±3 % of a sweep peak. Stepped by whole pixels of the needle's longer
    side rather than by 1 %: at 150 px, 1 % steps jump from 149 to 151 px and miss the one
    size that scores 0.99 (the score falls off within a pixel or two)."""
    longer = max(needle.width, needle.height)
    centre = longer * peak
    step = max(1, round(centre * FINE_STEP))
    sizes = range(math.ceil(centre * (1 - FINE_REACH)), math.floor(centre * (1 + FINE_REACH)) + 1,
                  step)
    return [round(size / longer, 4) for size in sizes]


class _Search:
    """One needle on one (part of a) screen at the asked confidence."""

    def __init__(self, screen: _Screen, needle: _Needle, confidence: float, find_all: bool,
                 colour: bool) -> None:
        self.screen, self.needle = screen, needle
        self.confidence, self.find_all, self.colour = confidence, find_all, colour

    def fits(self, scale: float) -> bool:
        width, height = self.needle.size_at(scale)
        return width <= self.screen.width and height <= self.screen.height

    def fits_any(self, scales: Sequence[float]) -> bool:
        return any(self.fits(scale) for scale in scales)

    def require_fit(self, scales: Sequence[float]) -> None:
        if self.fits_any(scales):
            return
        width, height = self.needle.size_at(scales[0])
        at = "" if scales[0] == 1.0 else f" at scale {scales[0]:g}"
        raise ImageMatchError(
            f"the image to find ({width}×{height}{at}) is larger than "
            f"{self.screen.describe()}: it cannot be in it")

    def level_for(self, width: int, height: int, least: int = MIN_COARSE_SIDE) -> int:
        """The coarsest level (4, 2 or 1) at which the needle keeps `least` pixels a side."""
        for factor in (4, 2):
            if min(width, height) // factor >= least:
                return factor
        return 1

    def at_scale(self, scale: float) -> list[Match]:
        """Every match at this scale (best first, at most one unless find_all)."""
        width, height = self.needle.size_at(scale)
        colour, grey_full, mask = self.needle.resized(width, height)
        grey, trim = _smooth_template(grey_full, scale, mask is not None)
        factor = self.level_for(width, height)
        threshold = max(self.confidence - COARSE_SLACK, 0.2) if factor > 1 else self.confidence
        limit = CANDIDATES_ALL if self.find_all else CANDIDATES_ONE
        if factor == 1:
            spots = [(x - trim, y - trim, score) for x, y, score in
                     _peaks(_correlate(self.screen.grey if mask is not None
                                       else self.screen.smooth, grey, _trimmed(mask, trim)),
                            threshold, limit, width, height)]
        else:
            small, small_mask, small_trim = _coarse_template(grey_full, mask, factor)
            level = self.screen.level(factor)
            if small.shape[0] > level.shape[0] or small.shape[1] > level.shape[1]:
                return []
            coarse = _peaks(_correlate(level, small, small_mask), threshold, limit,
                            small.shape[1], small.shape[0])
            spots = [refined for x, y, _ in coarse
                     if (refined := self._refine((x - small_trim) * factor,
                                                 (y - small_trim) * factor, 2 * factor, grey,
                                                 _trimmed(mask, trim), trim))]
        found = []
        for x, y, score in spots:
            if score < self.confidence:
                continue
            if self.colour:
                patch = self.screen.colour[y:y + height, x:x + width]
                score = min(score, _colour_score(colour, patch, mask))
                if score < self.confidence:
                    continue
            box = Box(x + self.screen.origin[0], y + self.screen.origin[1], width, height)
            found.append(Match(box, round(score, 4), scale))
        return _best_first(found, self.find_all)

    def _refine(self, x: int, y: int, margin: int, grey: NDArray[np.uint8],
                mask: NDArray[np.uint8] | None, trim: int) -> tuple[int, int, float] | None:
        """The exact spot and score at full size within `margin` px of a coarse spot (x, y)
        (full-size px), for a template trimmed by `trim` px each side."""
        import numpy as np

        height, width = grey.shape
        x, y = x + trim, y + trim
        left, top = max(x - margin, 0), max(y - margin, 0)
        right = min(x + margin + width, self.screen.width)
        bottom = min(y + margin + height, self.screen.height)
        if right - left < width or bottom - top < height:
            return None
        if mask is None:  # smooth the window with its neighbours, as the needle was
            pad = SMOOTH_REACH
            outer_left, outer_top = max(left - pad, 0), max(top - pad, 0)
            window = _smooth(self.screen.grey[outer_top:bottom + pad, outer_left:right + pad])
            window = window[top - outer_top:top - outer_top + bottom - top,
                            left - outer_left:left - outer_left + right - left]
        else:  # see _smooth_template
            window = self.screen.grey[top:bottom, left:right]
        scores = _correlate(window, grey, mask)
        row, column = np.unravel_index(int(np.argmax(scores)), scores.shape)
        return left + int(column) - trim, top + int(row) - trim, float(scores[row, column])

    def score_near(self, scale: float, x: int, y: int, factor: int) -> float:
        """The full-size grey score at this scale near (x, y), found at a level `factor`."""
        width, height = self.needle.size_at(scale)
        _, grey_full, mask = self.needle.resized(width, height)
        grey, trim = _smooth_template(grey_full, scale, mask is not None)
        reach = factor + math.ceil(FINE_REACH * max(width, height))
        refined = self._refine(x, y, reach, grey, _trimmed(mask, trim), trim)
        return -1.0 if refined is None else refined[2]

    def sweep_peaks(self) -> list[tuple[float, int, int, int]]:
        """The scales whose coarse score stands out in a sweep over SWEEP_RANGE, each with
        the place it scored best (full-size px) and the level it was searched at."""
        import cv2

        curve: list[tuple[float, float, int, int, int]] = []
        for scale in _sweep_scales():
            if not self.fits(scale):
                continue
            width, height = self.needle.size_at(scale)
            factor = self.level_for(width, height, SWEEP_MIN_SIDE)
            _, grey, mask = self.needle.resized(width, height)
            if factor == 1:
                trim = 0
                small, small_mask = grey, mask
                level = self.screen.grey
            else:
                small, small_mask, trim = _coarse_template(grey, mask, factor)
                level = self.screen.level(factor)
            if small.shape[0] > level.shape[0] or small.shape[1] > level.shape[1]:
                continue
            _, best, _, (x, y) = cv2.minMaxLoc(_correlate(level, small, small_mask))
            curve.append((scale, float(best), (x - trim) * factor, (y - trim) * factor, factor))
        peaks = [curve[i] for i in range(len(curve))
                 if (i == 0 or curve[i][1] >= curve[i - 1][1])
                 and (i == len(curve) - 1 or curve[i][1] >= curve[i + 1][1])]
        peaks.sort(key=lambda peak: peak[1], reverse=True)
        return [(scale, x, y, factor) for scale, _, x, y, factor in peaks[:SWEEP_PEAKS]]


def _sweep_scales() -> list[float]:
    low, high = SWEEP_RANGE
    count = int(math.log(high / low) / math.log(SWEEP_STEP)) + 1
    return [round(low * SWEEP_STEP ** i, 4) for i in range(count)]


def _smooth(image: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """A light blur. A screen drawn at 125 % renders its text afresh (hinting, 1-px borders
    that stay 1 px) rather than enlarging the 100 % pixels: sharp edges then disagree by a
    pixel and a real match scores ~0.84; smoothed, ~0.90 (an icon 0.94 → 0.98). An exact copy
    still scores 1."""
    import cv2

    size = 2 * SMOOTH_REACH + 1
    return _u8(cv2.GaussianBlur(image, (size, size), SMOOTHING))


def _shrink(image: NDArray[np.uint8], factor: int) -> NDArray[np.uint8]:
    """Halve (twice for 4) with a low-pass first (a Gaussian pyramid level, cv2.pyrDown: a
    third of a millisecond for a 1920×1080 screen). Plain area averaging aliases: a 1-px
    border falls in one coarse pixel or smears over two depending on where the button sits,
    and a button at odd coordinates scored 0.60 at half size; low-passed and compared without
    its outer coarse pixels (_coarse_template), above 0.9."""
    import cv2

    for _ in range(factor.bit_length() - 1):
        image = _u8(cv2.pyrDown(image))
    return image


def _coarse_template(grey: NDArray[np.uint8], mask: NDArray[np.uint8] | None,
                     factor: int) -> tuple[NDArray[np.uint8], NDArray[np.uint8] | None, int]:
    """The needle shrunk like the screen, its outer coarse pixels trimmed off (the blur had no
    neighbours for them), its mask shrunk alike (only fully opaque coarse pixels count), and
    the coarse pixels trimmed each side."""
    import cv2
    import numpy as np

    small = _shrink(grey, factor)
    trim = 2 if min(small.shape) >= MIN_COARSE_SIDE + 4 else 1
    small_mask = None
    if mask is not None:
        size = (small.shape[1], small.shape[0])
        shrunk = cv2.resize(_shrink(mask, factor), size, interpolation=cv2.INTER_AREA)
        # a coarse pixel counts when most of its blur came from opaque pixels
        small_mask = np.where(shrunk >= 200, 255, 0).astype(np.uint8)[trim:-trim, trim:-trim]
        if int(np.count_nonzero(small_mask)) < MIN_MASK_PIXELS:
            small_mask = None  # too little left at this size: compare the whole patch
    return small[trim:-trim, trim:-trim], small_mask, trim


def _smooth_template(grey: NDArray[np.uint8], scale: float,
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
    smooth = _smooth(grey)
    if trim:
        smooth = smooth[trim:-trim, trim:-trim]
    return smooth, trim


def _trimmed(mask: NDArray[np.uint8] | None, trim: int) -> NDArray[np.uint8] | None:
    if mask is None or not trim:
        return mask
    return mask[trim:-trim, trim:-trim]


def _correlate(image: NDArray[np.uint8], template: NDArray[np.uint8],
               mask: NDArray[np.uint8] | None) -> Scores:
    """Normalised correlation of `template` at every position of `image` (−1…1)."""
    import cv2
    import numpy as np

    if mask is None:
        return _f32(cv2.matchTemplate(image, template, cv2.TM_CCOEFF_NORMED))
    scores = _f32(cv2.matchTemplate(image, template, cv2.TM_CCOEFF_NORMED, mask=mask))
    # masked correlation divides by ~0 over flat screen areas: those are not matches
    scores = _f32(np.nan_to_num(scores, nan=0.0, posinf=0.0, neginf=0.0))
    return _f32(np.clip(scores, -1.0, 1.0, out=scores))


def _peaks(scores: Scores, threshold: float, limit: int, width: int,
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


def _colour_score(needle: Image, patch: Image, mask: NDArray[np.uint8] | None) -> float:
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
        return _f32(cv2.resize(weighted, cells, interpolation=cv2.INTER_AREA))

    counted = cv2.resize(weight, cells, interpolation=cv2.INTER_AREA)
    used = counted > 0.25  # cells that are mostly transparent say little
    if not used.any():
        used = counted > 0
    scale = np.where(used, 1.0 / np.maximum(counted, 1e-6), 0.0)[:, :, None]
    difference = np.abs(cell_means(needle) - cell_means(patch)) * scale
    worst = difference.max(axis=2)[used]
    return max(0.0, 1.0 - float(worst.mean()) / 255.0)


def _overlap(first: Box, second: Box) -> float:
    """The shared area as a share of the smaller box."""
    width = min(first.right, second.right) - max(first.x, second.x)
    height = min(first.bottom, second.bottom) - max(first.y, second.y)
    if width <= 0 or height <= 0:
        return 0.0
    smaller = min(first.width * first.height, second.width * second.height)
    return width * height / smaller


def _best_first(found: list[Match], find_all: bool) -> list[Match]:
    """Best first, without matches overlapping a better one by more than half."""
    kept: list[Match] = []
    for match in sorted(found, key=lambda match: match.score, reverse=True):
        if all(_overlap(match.box, other.box) <= OVERLAP_LIMIT for other in kept):
            kept.append(match)
            if not find_all:
                break
    return kept


# --------------------------------------------------------------------------- remembered scales

_scales_lock = threading.Lock()
_needle_scales: OrderedDict[tuple[str, tuple[int, int]], float] = OrderedDict()
_screen_scales: dict[tuple[int, int], list[float]] = {}  # the latest scales found, newest first


def _known_scale(digest: str, screen_size: tuple[int, int]) -> float | None:
    with _scales_lock:
        return _needle_scales.get((digest, screen_size))


def _likely_scales(screen_size: tuple[int, int]) -> list[float]:
    """Scales worth one search each before a sweep: those other needles had on this screen
    size (a 125 % screen draws every needle at 1.25), then 1.0."""
    with _scales_lock:
        others = list(_screen_scales.get(screen_size, []))
    return [*others, 1.0]


def _remember_scale(digest: str, screen_size: tuple[int, int], scale: float) -> None:
    with _scales_lock:
        _needle_scales[(digest, screen_size)] = scale
        _needle_scales.move_to_end((digest, screen_size))
        while len(_needle_scales) > CACHE_SIZE:
            _needle_scales.popitem(last=False)
        recent = [scale] + [other for other in _screen_scales.get(screen_size, [])
                            if other != scale]
        _screen_scales[screen_size] = recent[:3]


def forget_scales() -> None:
    """Forget every remembered scale (tests; a screen whose resolution setting changed)."""
    with _scales_lock:
        _needle_scales.clear()
        _screen_scales.clear()
