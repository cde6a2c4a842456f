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
   0.5–2.0 in 4 % steps on the small level, refined pixel by pixel of the needle's size
   within ±4.5 % of the best peaks (finer than the 1 % steps asked for: at 150 px a 1 % step
   is 1.5 px and skips the one size that scores 0.99). The scale found is remembered per
   needle and screen size, so a robot's next search there costs one search.

Images are BGR uint8 arrays (see box.py). A needle may carry a fourth, alpha channel (as
`load_image` returns for a PNG with transparent pixels): transparent pixels are left out of the
comparison, so an icon on a transparent background matches on any background.

images.py prepares the two images, scoring.py holds the comparisons; OpenCV is imported
inside the functions (importing a step library must stay light).
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from libs.steps.vision.box import Box
from libs.steps.vision.images import (
    ImageMatchError,
    Needle,
    Screen,
    load_image,
    prepare_needle,
)
from libs.steps.vision.scoring import (
    MIN_COARSE_SIDE,
    SMOOTH_REACH,
    coarse_template,
    colour_score,
    correlate,
    overlap,
    peaks,
    smooth,
    smooth_template,
    trimmed,
)

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from libs.steps.vision.box import Image

__all__ = ["ImageMatchError", "Match", "detect_scale", "find_image", "forget_scales",
           "load_image"]

COARSE_SLACK = 0.25        # a coarse score this far below `confidence` is still worth refining
CANDIDATES_ONE = 12        # spots refined when only the best match is wanted
CANDIDATES_ALL = 300       # … and when every match is (repeated icons)
SWEEP_RANGE = (0.5, 2.0)   # scales the sweep covers: 50 %–200 % screens either way round
SWEEP_STEP = 1.04          # 4 % apart: the fine search around each peak closes the gaps
FINE_REACH = 0.045         # the fine search: ±3 % around the scale, ±4.5 % around a peak
                           # of the 4 %-step sweep (the true scale can sit half-way) …
FINE_STEP = 0.005          # … in steps of at most 0.5 % (one pixel for needles up to 200 px)
SWEEP_MIN_SIDE = 8         # px: the sweep only ranks scales, a smaller level will do
CLIMB_STEPS = 12           # px the best fine scale may still move (see _find_scale)
SWEEP_PEAKS = 3            # sweep peaks refined by the fine search
OVERLAP_LIMIT = 0.5        # two matches overlapping more than this are one match
CACHE_SIZE = 512


@dataclass(frozen=True)
class Match:
    """Where a needle was found: its box in screen coordinates, the score (0–1) and the scale
    the screen draws it at (1.25 = 25 % larger than the needle image)."""

    box: Box
    score: float
    scale: float


# --------------------------------------------------------------------------- searching

def find_image(screen: Image, needle: Image, *, region: Box | None = None,
               confidence: float = 0.9, scales: Sequence[float] | None = None,
               find_all: bool = False, colour: bool = True) -> list[Match]:
    """Where `needle` appears on `screen`, best first; empty when nothing reaches `confidence`.

    `region` limits the search to part of the screen (boxes are still in screen coordinates).
    `scales` given: only those are searched; otherwise the scale is found (and remembered for
    this needle and screen size). `find_all`: every match, no two overlapping by more than
    half; otherwise at most one. `colour`: the found patch must also match in colour (not
    for a greyscale needle, which has none).
    """
    if not 0.0 < confidence <= 1.0:
        raise ImageMatchError(f"confidence must be between 0 and 1 (got {confidence})")
    prepared = prepare_needle(needle)
    searched = Screen(screen, region)
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
    prepared = prepare_needle(needle)
    searched = Screen(screen, region)
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
    for direction in ((1, -1) if best_score > 0 else ()):
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


def _fine_scales(needle: Needle, peak: float) -> list[float]:
    """Scales within FINE_REACH of a sweep peak. Stepped by whole pixels of the needle's longer
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

    def __init__(self, screen: Screen, needle: Needle, confidence: float, find_all: bool,
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
        grey, trim = smooth_template(grey_full, scale, mask is not None)
        factor = self.level_for(width, height)
        if factor > 1:
            small, small_mask, small_trim = coarse_template(grey_full, mask, factor)
            level = self.screen.level(factor)
            if small.shape[0] > level.shape[0] or small.shape[1] > level.shape[1]:
                factor = 1  # a region about the needle's size: search it at full size
        threshold = max(self.confidence - COARSE_SLACK, 0.2) if factor > 1 else self.confidence
        limit = CANDIDATES_ALL if self.find_all else CANDIDATES_ONE
        if factor == 1:
            spots = [(x - trim, y - trim, score) for x, y, score in
                     peaks(correlate(self.screen.grey if mask is not None
                                       else self.screen.smooth, grey, trimmed(mask, trim)),
                            threshold, limit, width, height)]
        else:
            coarse = peaks(correlate(level, small, small_mask), threshold, limit,
                            small.shape[1], small.shape[0])
            spots = [refined for x, y, _ in coarse
                     if (refined := self._refine((x - small_trim) * factor,
                                                 (y - small_trim) * factor, 2 * factor, grey,
                                                 trimmed(mask, trim), trim))]
        found = []
        for x, y, score in spots:
            if score < self.confidence:
                continue
            if self.colour and self.needle.in_colour:
                patch = self.screen.patch(x, y, width, height)
                score = min(score, colour_score(colour, patch, mask))
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
            window = smooth(self.screen.grey[outer_top:bottom + pad, outer_left:right + pad])
            window = window[top - outer_top:top - outer_top + bottom - top,
                            left - outer_left:left - outer_left + right - left]
        else:  # see smooth_template
            window = self.screen.grey[top:bottom, left:right]
        scores = correlate(window, grey, mask)
        row, column = np.unravel_index(int(np.argmax(scores)), scores.shape)
        return left + int(column) - trim, top + int(row) - trim, float(scores[row, column])

    def score_near(self, scale: float, x: int, y: int, factor: int) -> float:
        """The full-size grey score at this scale near (x, y), found at a level `factor`."""
        width, height = self.needle.size_at(scale)
        _, grey_full, mask = self.needle.resized(width, height)
        grey, trim = smooth_template(grey_full, scale, mask is not None)
        reach = factor + math.ceil(FINE_REACH * max(width, height))
        refined = self._refine(x, y, reach, grey, trimmed(mask, trim), trim)
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
                small, small_mask, trim = coarse_template(grey, mask, factor)
                level = self.screen.level(factor)
            if small.shape[0] > level.shape[0] or small.shape[1] > level.shape[1]:
                continue
            _, best, _, (x, y) = cv2.minMaxLoc(correlate(level, small, small_mask))
            curve.append((scale, float(best), (x - trim) * factor, (y - trim) * factor, factor))
        tops = [curve[i] for i in range(len(curve))
                if (i == 0 or curve[i][1] >= curve[i - 1][1])
                and (i == len(curve) - 1 or curve[i][1] >= curve[i + 1][1])]
        tops.sort(key=lambda top: top[1], reverse=True)
        return [(scale, x, y, factor) for scale, _, x, y, factor in tops[:SWEEP_PEAKS]]


def _sweep_scales() -> list[float]:
    low, high = SWEEP_RANGE
    count = int(math.log(high / low) / math.log(SWEEP_STEP)) + 1
    return [round(low * SWEEP_STEP ** i, 4) for i in range(count)]


def _best_first(found: list[Match], find_all: bool) -> list[Match]:
    """Best first, without matches overlapping a better one by more than half."""
    kept: list[Match] = []
    for match in sorted(found, key=lambda match: match.score, reverse=True):
        if all(overlap(match.box, other.box) <= OVERLAP_LIMIT for other in kept):
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
