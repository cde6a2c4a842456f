"""ScreenReader's tiles: what is re-read, what is kept, and that no line is ever cut.

The fake engine here "reads" filled rectangles: each connected block of colour is one line,
its text the words of its colours from left to right (RED is 账号, GREEN 金额...). A block that
touches an edge of the image it was given may be cut by that edge, and the fake then answers it
as '~cut~' — so a test sees any window that cut a line.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from libs.steps.ocr.engine import TextLine, read_in_region
from libs.steps.ocr.screen_reader import ScreenReader
from libs.steps.vision.box import Box

WIDTH, HEIGHT = 400, 320
WHITE = (255, 255, 255)


@dataclass
class RectangleOcr:
    """Reads each non-white colour's bounding box as one line: TEXTS[colour]."""

    texts: dict[tuple[int, int, int], str]
    padding: int = 0  # a real detector's box reaches a few pixels past the ink
    name: str = "rectangles"
    profile: str = "fast"
    calls: list[tuple[int, int]] = field(default_factory=list)

    def read(self, image: np.ndarray, region: Box | None = None) -> list[TextLine]:
        return read_in_region(self._read, image, region)

    def _read(self, image: np.ndarray) -> list[TextLine]:
        import cv2

        self.calls.append(image.shape[:2])
        height, width = image.shape[:2]
        ink = np.any(image != 255, axis=2).astype(np.uint8)
        count, labels, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=4)
        lines = []
        for label in range(1, count):
            x, y, w, h = (int(value) for value in stats[label][:4])
            block = image[y:y + h, x:x + w][labels[y:y + h, x:x + w] == label]
            words = []
            for column in range(x, x + w):  # the colours of the block, left to right
                for colour, text in self.texts.items():
                    if text not in words and np.any(np.all(
                            image[y:y + h, column] == np.array(colour, np.uint8), axis=1)):
                        words.append(text)
            assert len(block)
            left, top = max(x - self.padding, 0), max(y - self.padding, 0)
            right = min(x + w + self.padding, width)
            bottom = min(y + h + self.padding, height)
            cut = left == 0 or top == 0 or right == width or bottom == height
            lines.append(TextLine("~cut~" if cut else "".join(words),
                                  Box(left, top, right - left, bottom - top), 0.9))
        return sorted(lines, key=lambda line: (line.box.y, line.box.x))


def screen(*rectangles: tuple[tuple[int, int, int], int, int, int, int]) -> np.ndarray:
    """A white screen with (colour, x, y, width, height) rectangles."""
    image = np.full((HEIGHT, WIDTH, 3), 255, np.uint8)
    for colour, x, y, width, height in rectangles:
        image[y:y + height, x:x + width] = colour
    return image


RED, GREEN, BLUE, GREY, BLACK = (0, 0, 200), (0, 200, 0), (200, 0, 0), (90, 90, 90), (0, 0, 0)
TEXTS = {RED: "账号", GREEN: "金额", BLUE: "日期", GREY: "户名", BLACK: "确定"}


def texts(lines: list[TextLine]) -> list[str]:
    return [line.text for line in lines]


def full_read(image: np.ndarray) -> list[TextLine]:
    return RectangleOcr(TEXTS).read(image)


def test_first_read_reads_everything_then_nothing_when_unchanged() -> None:
    engine = RectangleOcr(TEXTS)
    reader = ScreenReader(engine, band_height=64, margin=24)
    image = screen((RED, 10, 10, 100, 20), (GREEN, 10, 200, 120, 20))
    first = reader.read(image)
    assert texts(first) == ["账号", "金额"]
    assert reader.pixels_read == HEIGHT * WIDTH
    again = reader.read(image.copy())
    assert again == first
    assert reader.pixels_read == 0
    assert len(engine.calls) == 1  # nothing changed: the engine was not asked


def test_only_the_changed_band_is_read_again() -> None:
    engine = RectangleOcr(TEXTS)
    reader = ScreenReader(engine, band_height=64, margin=24)
    reader.read(screen((RED, 10, 10, 100, 20), (GREEN, 10, 200, 120, 20)))
    changed = screen((RED, 10, 10, 100, 20), (BLUE, 10, 200, 90, 20))  # 金额 → 日期
    lines = reader.read(changed)
    assert texts(lines) == ["账号", "日期"]
    assert lines == full_read(changed)
    # one 64 × 240 tile and its margins (24 rows, 96 columns: the left edge is the screen's)
    assert reader.pixels_read == (64 + 2 * 24) * (240 + 96)


def test_a_changed_line_across_a_band_border_is_read_whole() -> None:
    engine = RectangleOcr(TEXTS)
    reader = ScreenReader(engine, band_height=64, margin=24)
    reader.read(screen((RED, 10, 54, 100, 20), (GREEN, 10, 250, 50, 20)))  # rows 54-74: bands 0, 1
    changed = screen((BLUE, 10, 54, 100, 20), (GREEN, 10, 250, 50, 20))
    lines = reader.read(changed)
    assert texts(lines) == ["日期", "金额"]
    assert lines == full_read(changed)


def test_an_old_line_reaching_into_a_changed_band_is_replaced_whole() -> None:
    # 户名 spans bands 1 and 2 (rows 110-140); only band 1's other line changes (GREEN → BLUE)
    engine = RectangleOcr(TEXTS)
    reader = ScreenReader(engine, band_height=64, margin=8)
    before = screen((GREEN, 10, 70, 40, 20), (GREY, 200, 110, 100, 30), (RED, 10, 280, 40, 20))
    reader.read(before)
    after = screen((BLUE, 10, 70, 40, 20), (GREY, 200, 110, 100, 30), (RED, 10, 280, 40, 20))
    lines = reader.read(after)
    assert lines == full_read(after)
    assert texts(lines).count("户名") == 1
    assert "~cut~" not in texts(lines)


def test_a_new_line_across_bands_is_read_whole() -> None:
    engine = RectangleOcr(TEXTS)
    reader = ScreenReader(engine, band_height=64, margin=16)
    reader.read(screen((RED, 10, 10, 40, 20)))
    after = screen((RED, 10, 10, 40, 20), (BLACK, 100, 110, 200, 70))  # rows 110-180: bands 1, 2
    lines = reader.read(after)
    assert lines == full_read(after)
    assert "~cut~" not in texts(lines)


def test_the_window_widens_when_a_box_reaches_its_edge() -> None:
    # the detector's box reaches 10 px past the ink, the margin is 4 px: the first window cuts
    # the new line's box, so the run is read again with a wider margin
    engine = RectangleOcr(TEXTS, padding=10)
    reader = ScreenReader(engine, band_height=64, margin=4)
    reader.read(screen((RED, 30, 30, 40, 20)))
    after = screen((RED, 30, 30, 40, 20), (BLACK, 100, 130, 200, 50))  # band 2, rows 130-180
    lines = reader.read(after)
    assert texts(lines) == ["账号", "确定"]
    assert lines == RectangleOcr(TEXTS, padding=10).read(after)
    # the first read, then windows with 4-, 8- and 16-px margins (the box starts 10 px above)
    assert [height for height, _ in engine.calls] == [HEIGHT, 64 + 8, 64 + 16, 64 + 32]


def test_unchanged_lines_in_the_margin_are_kept_once() -> None:
    engine = RectangleOcr(TEXTS)
    reader = ScreenReader(engine, band_height=64, margin=40)
    before = screen((RED, 10, 40, 40, 20), (GREEN, 10, 70, 40, 20), (BLUE, 10, 140, 40, 20))
    reader.read(before)
    after = screen((RED, 10, 40, 40, 20), (GREY, 10, 70, 40, 20), (BLUE, 10, 140, 40, 20))
    lines = reader.read(after)
    assert texts(lines) == ["账号", "户名", "日期"]
    assert lines == full_read(after)


def test_a_line_that_moved_is_found_where_it_went() -> None:
    engine = RectangleOcr(TEXTS)
    reader = ScreenReader(engine, band_height=64, margin=24)
    reader.read(screen((RED, 10, 10, 40, 20), (GREEN, 10, 100, 40, 20)))
    after = screen((RED, 10, 10, 40, 20), (GREEN, 200, 260, 40, 20))
    lines = reader.read(after)
    assert lines == full_read(after)
    assert [line.box for line in lines if line.text == "金额"] == [Box(200, 260, 40, 20)]


def test_regions_are_read_alone_in_screen_coordinates() -> None:
    engine = RectangleOcr(TEXTS)
    reader = ScreenReader(engine, band_height=64, margin=24)
    image = screen((RED, 10, 10, 40, 20), (GREEN, 210, 150, 60, 20), (BLUE, 10, 280, 40, 20))
    region = Box(200, 100, 150, 120)
    lines = reader.read(image, region)
    assert texts(lines) == ["金额"]
    assert lines[0].box == Box(210, 150, 60, 20)
    assert engine.calls == [(120, 150)]  # only the region's pixels
    # a change outside the region does not make it read again
    elsewhere = screen((RED, 10, 10, 40, 20), (GREEN, 210, 150, 60, 20), (GREY, 10, 280, 40, 20))
    assert reader.read(elsewhere, region) == lines
    assert reader.pixels_read == 0
    both = reader.read_regions(elsewhere, [region, Box(0, 250, 100, 70)])
    assert [texts(found) for found in both] == [["金额"], ["户名"]]
    assert reader.pixels_read == 100 * 70


def test_a_line_whose_end_changed_is_read_again_whole() -> None:
    # 账号金额 spans two tile columns (x 150-330); only its end (in the second column) changes
    engine = RectangleOcr(TEXTS)
    reader = ScreenReader(engine, band_height=64, tile_width=200, margin=24, side_margin=16)
    before = screen((RED, 150, 100, 100, 20), (GREEN, 250, 100, 80, 20), (GREY, 10, 250, 40, 20))
    reader.read(before)
    after = screen((RED, 150, 100, 100, 20), (BLUE, 250, 100, 80, 20), (GREY, 10, 250, 40, 20))
    lines = reader.read(after)
    assert texts(lines) == ["账号日期", "户名"]
    assert lines == full_read(after)


def test_far_apart_changes_are_read_in_small_windows() -> None:
    engine = RectangleOcr(TEXTS)
    reader = ScreenReader(engine, band_height=64, tile_width=100, margin=8, side_margin=8)
    reader.read(screen((RED, 10, 10, 40, 20), (GREEN, 350, 280, 40, 20)))
    after = screen((BLUE, 10, 10, 40, 20), (GREY, 350, 280, 40, 20))
    lines = reader.read(after)
    assert texts(lines) == ["日期", "户名"]
    assert lines == full_read(after)
    # two windows of one tile each (plus margins inside the screen), not one 400-px-wide band
    assert engine.calls[1:] == [(64 + 8, 100 + 8), (64 + 8, 100 + 8)]


def test_a_region_off_the_screen_is_clipped() -> None:
    reader = ScreenReader(RectangleOcr(TEXTS))
    image = screen((RED, 350, 300, 40, 15))
    assert texts(reader.read(image, Box(300, 280, 500, 500))) == ["账号"]
    assert reader.read(image, Box(1000, 1000, 10, 10)) == []


def test_forget_reads_everything_again() -> None:
    engine = RectangleOcr(TEXTS)
    reader = ScreenReader(engine)
    image = screen((RED, 10, 10, 40, 20))
    reader.read(image)
    reader.forget()
    reader.read(image)
    assert len(engine.calls) == 2
