"""Reading a screen fast: only the regions asked, and only what changed since the last read.

A 1920×1080 screen read whole takes about half a second on 2 cores; a robot that waits for a
text reads the same screen many times with a few values changed. ``ScreenReader`` keeps, per
region, the previous reading and a hash of each tile of pixels (64 rows × 240 columns); a read
re-reads only around the tiles whose pixels changed and keeps the previous lines elsewhere.

Tiles cut lines; the reading must not. A changed part (changed tiles joined) is grown before it
is read, until nothing changes:

1. parts closer than their windows' margins are joined (no line is read twice);
2. every previous line a part touches is taken in whole (a changed line's old reading goes,
   and the unchanged start of a line whose end changed is read with it).

Each part is then read in a window: the part plus margins (``margin`` rows above and below,
``side_margin`` columns left and right) for the detector, so a new line reaching from a changed
tile into an unchanged one is read whole. Of the window's lines, those touching the part are the
new reading; those only in the margins are unchanged text, already known, and are dropped (the
window's edge may cut them). A new line that still reaches the window's edge may be cut: the
part is read again in a window with twice, then four times the margins.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from libs.steps.ocr.engine import TextLine
from libs.steps.ocr.rapid import sort_lines  # pure: loads no model
from libs.steps.vision.box import Box

if TYPE_CHECKING:
    from libs.steps.ocr.engine import OcrEngine
    from libs.steps.vision.box import Image

BAND_HEIGHT = 64
"""Pixel rows per tile: small enough that one changed line re-reads little."""
TILE_WIDTH = 240
"""Pixel columns per tile (8 across a 1920-px screen)."""
MARGIN = 48
"""Rows read above and below a changed part: more than a line of 32-px text with its padding."""
SIDE_MARGIN = 96
"""Columns read left and right of a changed part (a few characters of the same line)."""

_Rect = tuple[int, int, int, int]  # left, top, right, bottom, in the area's own pixels


@dataclass
class _Reading:
    hashes: list[list[bytes]]  # [tile row][tile column]
    lines: list[TextLine]  # in screen coordinates


@dataclass
class ScreenReader:
    """Reads screens (BGR images) through `engine`, re-reading only the tiles that changed.

    One reader per screen (per robot): its memory is the last reading of each region asked.
    ``pixels_read`` tells how many pixels the last ``read`` gave the engine (0: nothing
    changed), for tests and benchmarks."""

    engine: OcrEngine
    band_height: int = BAND_HEIGHT
    tile_width: int = TILE_WIDTH
    margin: int = MARGIN
    side_margin: int = SIDE_MARGIN
    pixels_read: int = 0
    _readings: dict[tuple[int, int, int, int], _Reading] = field(default_factory=dict)

    def forget(self) -> None:
        """Drops every previous reading: the next read reads everything again."""
        self._readings.clear()

    def read(self, screen: Image, region: Box | None = None) -> list[TextLine]:
        """The lines of text in `region` of `screen` (all of it when None), in screen
        coordinates, top to bottom, left to right."""
        height, width = screen.shape[:2]
        area = (region or Box(0, 0, width, height)).clipped(width, height)
        self.pixels_read = 0
        if area.width == 0 or area.height == 0:
            return []
        pixels = area.crop(screen)
        key = (area.x, area.y, area.width, area.height)
        hashes = self._tile_hashes(pixels)
        previous = self._readings.get(key)
        if previous is None:
            lines = self._read_window(screen, area, (0, 0, area.width, area.height))
        else:
            changed = [self._tile_rect(row, column, area)
                       for row, (old_row, new_row) in enumerate(
                           zip(previous.hashes, hashes, strict=True))
                       for column, (old, new) in enumerate(zip(old_row, new_row, strict=True))
                       if old != new]
            lines = self._update(screen, area, previous.lines, changed) if changed \
                else previous.lines
        self._readings[key] = _Reading(hashes, lines)
        return list(lines)

    def read_regions(self, screen: Image, regions: list[Box]) -> list[list[TextLine]]:
        """Each region's lines (each region remembered on its own)."""
        pixels = 0
        answers = []
        for region in regions:
            answers.append(self.read(screen, region))
            pixels += self.pixels_read
        self.pixels_read = pixels
        return answers

    def _tile_hashes(self, pixels: Image) -> list[list[bytes]]:
        rows = []
        for top in range(0, pixels.shape[0], self.band_height):
            band = pixels[top:top + self.band_height]
            rows.append([hashlib.blake2b(band[:, left:left + self.tile_width].tobytes(),
                                         digest_size=16).digest()
                         for left in range(0, pixels.shape[1], self.tile_width)])
        return rows

    def _tile_rect(self, row: int, column: int, area: Box) -> _Rect:
        return (column * self.tile_width, row * self.band_height,
                min((column + 1) * self.tile_width, area.width),
                min((row + 1) * self.band_height, area.height))

    def _update(self, screen: Image, area: Box, old_lines: list[TextLine],
                changed: list[_Rect]) -> list[TextLine]:
        """Re-reads the changed tiles (grown to whole old lines), keeps the other lines."""
        old = [(line, (line.box.x - area.x, line.box.y - area.y, line.box.right - area.x,
                       line.box.bottom - area.y)) for line in old_lines]
        rects = changed
        while True:
            # parts whose windows would overlap are read as one (no line read twice) ...
            rects = _merge(rects, 2 * self.side_margin, 2 * self.margin)
            # ... and every old line a part touches is read again whole (its old reading goes)
            grown = [_union([rect] + [line_rect for _, line_rect in old
                                      if _intersects(rect, line_rect)]) for rect in rects]
            if grown == rects:
                break
            rects = grown
        kept = [line for line, line_rect in old
                if not any(_intersects(rect, line_rect) for rect in rects)]
        fresh: list[TextLine] = []
        for rect in rects:
            for line in self._read_part(screen, area, rect):
                if not any(_overlap(line.box, other.box) > 0.5 for other in fresh):
                    fresh.append(line)
        # an unchanged line the detector saw again, whole, in a window: keep one of the two
        kept = [line for line in kept if not any(_overlap(line.box, new.box) > 0.5
                                                  for new in fresh)]
        return sort_lines(kept + fresh)

    def _read_part(self, screen: Image, area: Box, rect: _Rect) -> list[TextLine]:
        """The lines touching `rect` (area pixels), read in a window with margins around it;
        a wider window when a line found reaches the window's edge (it may be cut)."""
        left, top, right, bottom = rect
        scale = 1
        while True:
            window = (max(left - scale * self.side_margin, 0), max(top - scale * self.margin, 0),
                      min(right + scale * self.side_margin, area.width),
                      min(bottom + scale * self.margin, area.height))
            lines = self._read_window(screen, area, window)
            touching = [line for line in lines if _intersects(rect, _in_area(line.box, area))]
            if scale >= 4 or not any(_at_edge(_in_area(line.box, area), window, area)
                                     for line in touching):
                return touching
            scale *= 2

    def _read_window(self, screen: Image, area: Box, window: _Rect) -> list[TextLine]:
        """The lines in a window of the area, in screen coordinates (the engine crops)."""
        left, top, right, bottom = window
        self.pixels_read += (right - left) * (bottom - top)
        return self.engine.read(screen, Box(area.x + left, area.y + top, right - left,
                                            bottom - top))


def _in_area(box: Box, area: Box) -> _Rect:
    return box.x - area.x, box.y - area.y, box.right - area.x, box.bottom - area.y


def _intersects(first: _Rect, second: _Rect) -> bool:
    return (first[0] < second[2] and second[0] < first[2] and first[1] < second[3]
            and second[1] < first[3])


def _union(rects: list[_Rect]) -> _Rect:
    return (min(rect[0] for rect in rects), min(rect[1] for rect in rects),
            max(rect[2] for rect in rects), max(rect[3] for rect in rects))


def _at_edge(rect: _Rect, window: _Rect, area: Box) -> bool:
    """Whether `rect` reaches an edge of `window` that is not the area's own edge."""
    return ((rect[0] <= window[0] and window[0] > 0) or (rect[1] <= window[1] and window[1] > 0)
            or (rect[2] >= window[2] and window[2] < area.width)
            or (rect[3] >= window[3] and window[3] < area.height))


def _merge(rects: list[_Rect], gap_x: int, gap_y: int) -> list[_Rect]:
    """Rectangles joined (into their bounding box) while any two are less than the gaps
    apart, overlap or touch."""
    merged = sorted(rects)
    joined = True
    while joined:
        joined = False
        for index, first in enumerate(merged):
            for other in range(index + 1, len(merged)):
                second = merged[other]
                if (first[0] <= second[2] + gap_x and second[0] <= first[2] + gap_x
                        and first[1] <= second[3] + gap_y and second[1] <= first[3] + gap_y):
                    merged[index] = _union([first, second])
                    del merged[other]
                    joined = True
                    break
            if joined:
                break
    return sorted(merged)


def _overlap(first: Box, second: Box) -> float:
    """The shared area as a share of the smaller box's area."""
    width = min(first.right, second.right) - max(first.x, second.x)
    height = min(first.bottom, second.bottom) - max(first.y, second.y)
    if width <= 0 or height <= 0:
        return 0.0
    return width * height / max(min(first.width * first.height, second.width * second.height), 1)
