"""Reading a screen fast: only the regions asked, and only what changed since the last read.

A 1920×1080 screen read whole takes about half a second on 2 cores; a robot that waits for a
text reads the same screen many times with a few lines changed. ``ScreenReader`` keeps, per
region, the previous reading and a hash of each horizontal band of pixels; a read re-reads only
the bands whose pixels changed and keeps the previous lines elsewhere.

Why bands and not tiles: text runs horizontally, so a full-width band never cuts a line
lengthwise. A line may still cross the border between two bands (one changed, one not), so a
changed run of bands is grown before it is read:

1. to cover every previous line it touches (a changed line's old reading must go, whole);
2. by a margin above and below (``margin``, at least the tallest line expected) for the
   detector: a new line that starts in a changed band and reaches into an unchanged one is
   read whole from the window, never cut at the band border.

Of the window's lines, those touching the changed run are the new reading; those entirely in
the margin are unchanged text, already known, and are dropped (they may be cut by the window's
edge). A new line that still reaches the window's edge is read again with a wider margin.
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
"""Pixel rows per hashed band: small enough that one changed line re-reads little."""
MARGIN = 48
"""Rows read above and below a changed run: more than a line of 32-px text with its padding."""


@dataclass
class _Reading:
    hashes: list[bytes]
    lines: list[TextLine]  # in screen coordinates


@dataclass
class ScreenReader:
    """Reads screens (BGR images) through `engine`, re-reading only the bands that changed.

    One reader per screen (per robot): its memory is the last reading of each region asked.
    ``rows_read`` tells how many pixel rows the last ``read`` gave the engine (0: nothing
    changed), for tests and benchmarks."""

    engine: OcrEngine
    band_height: int = BAND_HEIGHT
    margin: int = MARGIN
    rows_read: int = 0
    _readings: dict[tuple[int, int, int, int], _Reading] = field(default_factory=dict)

    def forget(self) -> None:
        """Drops every previous reading: the next read reads everything again."""
        self._readings.clear()

    def read(self, screen: Image, region: Box | None = None) -> list[TextLine]:
        """The lines of text in `region` of `screen` (all of it when None), in screen
        coordinates, top to bottom, left to right."""
        height, width = screen.shape[:2]
        area = _clip(region or Box(0, 0, width, height), width, height)
        self.rows_read = 0
        if area.width == 0 or area.height == 0:
            return []
        pixels = area.crop(screen)
        key = (area.x, area.y, area.width, area.height)
        hashes = self._band_hashes(pixels)
        previous = self._readings.get(key)
        if previous is None or len(previous.hashes) != len(hashes):
            lines = self._read_window(pixels, area, 0, area.height)
            self.rows_read = area.height
        else:
            changed = [index for index, (old, new) in enumerate(
                zip(previous.hashes, hashes, strict=True)) if old != new]
            lines = self._update(pixels, area, previous.lines, changed) if changed \
                else previous.lines
        self._readings[key] = _Reading(hashes, lines)
        return list(lines)

    def read_regions(self, screen: Image, regions: list[Box]) -> list[list[TextLine]]:
        """Each region's lines (each region remembered on its own)."""
        rows = 0
        answers = []
        for region in regions:
            answers.append(self.read(screen, region))
            rows += self.rows_read
        self.rows_read = rows
        return answers

    def _band_hashes(self, pixels: Image) -> list[bytes]:
        hashes = []
        for top in range(0, pixels.shape[0], self.band_height):
            band = pixels[top:top + self.band_height]
            hashes.append(hashlib.blake2b(band.tobytes(), digest_size=16).digest())
        return hashes

    def _update(self, pixels: Image, area: Box, old_lines: list[TextLine],
                changed: list[int]) -> list[TextLine]:
        """Re-reads the changed bands (grown to whole old lines), keeps the other lines."""
        runs = _merge([(index * self.band_height,
                        min((index + 1) * self.band_height, area.height)) for index in changed])
        # in the area's own rows from here on
        old = [(line, line.box.y - area.y, line.box.bottom - area.y) for line in old_lines]
        grown = True
        while grown:  # cover every old line a run touches; that may reach another old line
            grown = False
            widened = []
            for top, bottom in runs:
                for _, line_top, line_bottom in old:
                    if line_top < bottom and line_bottom > top and (
                            line_top < top or line_bottom > bottom):
                        top, bottom = min(top, line_top), max(bottom, line_bottom)
                        grown = True
                widened.append((max(top, 0), min(bottom, area.height)))
            runs = _merge(widened)
        # runs whose windows would overlap are read as one (no line read twice)
        runs = _merge(runs, gap=2 * self.margin)
        kept = [line for line, line_top, line_bottom in old
                if not any(line_top < bottom and line_bottom > top for top, bottom in runs)]
        fresh: list[TextLine] = []
        for top, bottom in runs:
            fresh += self._read_run(pixels, area, top, bottom)
        # an unchanged line the detector saw again, whole, in a window: keep one of the two
        kept = [line for line in kept if not any(_overlap(line.box, new.box) > 0.5
                                                  for new in fresh)]
        return sort_lines(kept + fresh)

    def _read_run(self, pixels: Image, area: Box, top: int, bottom: int) -> list[TextLine]:
        """The lines touching rows [top, bottom) of the area, read in a window with margins."""
        margin = self.margin
        while True:
            window_top, window_bottom = max(top - margin, 0), min(bottom + margin, area.height)
            lines = self._read_window(pixels, area, window_top, window_bottom)
            self.rows_read += window_bottom - window_top
            touching = [line for line in lines
                        if line.box.y - area.y < bottom and line.box.bottom - area.y > top]
            cut = any((line.box.y - area.y <= window_top and window_top > 0) or
                      (line.box.bottom - area.y >= window_bottom and window_bottom < area.height)
                      for line in touching)
            if not cut or margin >= 4 * self.margin:
                return touching
            margin *= 2

    def _read_window(self, pixels: Image, area: Box, top: int, bottom: int) -> list[TextLine]:
        lines = self.engine.read(pixels[top:bottom])
        return [TextLine(line.text, Box(line.box.x + area.x, line.box.y + area.y + top,
                                        line.box.width, line.box.height), line.confidence)
                for line in lines]


def _clip(box: Box, width: int, height: int) -> Box:
    left, top = max(box.x, 0), max(box.y, 0)
    right, bottom = min(box.right, width), min(box.bottom, height)
    return Box(left, top, max(right - left, 0), max(bottom - top, 0))


def _merge(runs: list[tuple[int, int]], gap: int = 0) -> list[tuple[int, int]]:
    """Row intervals merged where they overlap, touch or are less than `gap` rows apart."""
    merged: list[tuple[int, int]] = []
    for top, bottom in sorted(runs):
        if merged and top <= merged[-1][1] + gap:
            merged[-1] = (merged[-1][0], max(merged[-1][1], bottom))
        else:
            merged.append((top, bottom))
    return merged


def _overlap(first: Box, second: Box) -> float:
    """The shared area as a share of the smaller box's area."""
    width = min(first.right, second.right) - max(first.x, second.x)
    height = min(first.bottom, second.bottom) - max(first.y, second.y)
    if width <= 0 or height <= 0:
        return 0.0
    return width * height / max(min(first.width * first.height, second.width * second.height), 1)
