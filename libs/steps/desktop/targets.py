"""Screen targets: where a desktop step acts — an image, a text found by OCR, a point, or the
field beside a label's text (UiPath's anchor base) — and how each is found on a grab.

    {image: 确定按钮.png}                       the picture, searched scale-robustly (vision)
    {text: 确定}                                 the words, read by OCR
    {x: 120, y: 300}                             a point (in the window when `window` is given)
    {right_of: 账户名称}                          the field right of the label's text
    {image: 放大镜.png, below: 客户查询}           the picture closest below the text
    … with window (search only in that window), region {x, y, width, height}, confidence, nth

The finders here are pure (lines OCR read, a grab): session.py runs them on the run's screen,
so unit tests run them on arrays and fakes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from libs.steps.ocr.normalise import comparable
from libs.steps.vision.box import Box

if TYPE_CHECKING:
    from libs.steps.ocr.engine import TextLine
    from libs.steps.vision.box import Image

KINDS = ("image", "text")
ANCHORS = ("right_of", "left_of", "below", "above")
FIELD_GAP = 400  # px: how far from its label a field may start
FIELD_EDGE = 12  # colour difference (0-255) from the background that starts a field (its border)
BACKGROUND_AGAIN = 6  # … and that is the background again, where the field has ended
BACKGROUND_RUN = 10  # px of background in a row that end a field
SAME_LINE = 0.6  # share of the anchor's height a match must overlap to be on its line


class Region(BaseModel):
    """A rectangle of the screen (or of the window, with `window`), in pixels."""

    model_config = ConfigDict(extra="forbid")
    x: int = Field(ge=0, description="left edge")
    y: int = Field(ge=0, description="top edge")
    width: int = Field(gt=0, description="width")
    height: int = Field(gt=0, description="height")

    def box(self) -> Box:
        return Box(self.x, self.y, self.width, self.height)


class ScreenTarget(BaseModel):
    """Where a desktop step acts: one way to find it, optionally beside a label's text, inside
    a window or a region, and which match (nth)."""

    model_config = ConfigDict(extra="forbid")
    image: str | None = Field(None, description="a picture of it (PNG) in the robot's folder, "
                                                "found on the screen whatever its scale")
    text: str | None = Field(None, description="its words on the screen, found by OCR")
    x: int | None = Field(None, ge=0, description="a point: pixels from the left (of the "
                                                  "window, with window)")
    y: int | None = Field(None, ge=0, description="a point: pixels from the top")
    right_of: str | None = Field(None, description="the field (or the image / text) right of "
                                                   "this label's text, on its line")
    left_of: str | None = Field(None, description="… left of this text, on its line")
    below: str | None = Field(None, description="… below this text")
    above: str | None = Field(None, description="… above this text")
    window: str | None = Field(None, description="look only in the window whose title has "
                                                 "this text")
    region: Region | None = Field(None, description="look only in {x, y, width, height} (of "
                                                    "the window, with window)")
    confidence: float | None = Field(None, gt=0, le=1, description="how alike an image must "
                                                                   "be (default 0.9) or how "
                                                                   "sure OCR (default 0.5)")
    exact: bool = Field(False, description="text: the whole line must be this text (default: "
                                           "it contains it)")
    nth: int | None = Field(None, description="which match when several match (0 = the "
                                              "first, top to bottom; -1 = the last)")

    @model_validator(mode="after")
    def _consistent(self) -> ScreenTarget:
        wrong = screen_target_problem({name: getattr(self, name)
                                       for name in self.model_fields_set})
        if wrong:
            raise ValueError(wrong)
        return self

    @property
    def anchor(self) -> tuple[str, str] | None:
        for relation in ANCHORS:
            words = getattr(self, relation)
            if words is not None:
                return relation, words
        return None

    def describe(self) -> str:
        parts = [f"{key}: {value}" for key, value in self.model_dump(exclude_defaults=True).items()]
        return "{" + ", ".join(parts) + "}"


def screen_target_problem(given: dict[str, object]) -> str | None:
    """What is contradictory in a screen target's keys, with the fix; None when it is sound."""
    kinds = [k for k in KINDS if given.get(k) is not None]
    anchors = [k for k in ANCHORS if given.get(k) is not None]
    point = [k for k in ("x", "y") if given.get(k) is not None]
    if len(kinds) > 1:
        return (f"a screen target is found one way: {' or '.join(kinds)}, not both; keep one "
                "(an image beside a text: {image: ..., right_of: ...})")
    if point and len(point) == 1:
        return f"a point needs both x and y, not only {point[0]}"
    if point and (kinds or anchors):
        return ("a point {x, y} is already a place; drop image/text/right_of/... or drop x "
                "and y")
    if len(anchors) > 1:
        return f"a target sits beside one text, not {' and '.join(anchors)}; keep one"
    if not (kinds or anchors or point):
        return ("a screen target needs image, text, x and y, or a label's text to sit beside "
                "(right_of, below, ...), e.g. {text: 确定} or {right_of: 账户名称}")
    if given.get("exact") and given.get("text") is None:
        return "exact applies to text; drop it or add text"
    return None


ScreenTargetArg = Annotated[
    ScreenTarget,
    Field(description="a map: {image: file.png} / {text: 确定} / {x, y} / {right_of: 账户名称} "
                      "(the field beside a label), with optional window, region, confidence, "
                      "exact and nth"),
]


@dataclass(frozen=True)
class Found:
    """A target found on the screen: its box (screen pixels) and how sure the finder is."""

    box: Box
    confidence: float
    how: str  # "image", "text", "point", "field"

    def to_dict(self) -> dict[str, object]:
        return {**self.box.to_dict(), "confidence": round(self.confidence, 4), "how": self.how}


def find_text(lines: list[TextLine], words: str, *, exact: bool = False,
              confidence: float = 0.5) -> list[Found]:
    """Every place the words were read, top to bottom; a word inside a longer line gets the
    part of the line's box its characters take."""
    wanted = comparable(words)
    found = []
    for line in lines:
        if line.confidence < confidence:
            continue
        text = comparable(line.text)
        start = text.find(wanted) if not exact else (0 if text == wanted else -1)
        if start < 0 or not wanted:
            continue
        found.append(Found(_part_of(line.box, start, len(wanted), len(text)),
                           line.confidence, "text"))
    return sorted(found, key=lambda f: (f.box.y, f.box.x))


def _part_of(box: Box, start: int, length: int, total: int) -> Box:
    """The share of a line's box that characters start..start+length take (OCR gives lines;
    characters of a CJK line are close to evenly wide)."""
    if total <= 0 or length >= total:
        return box
    left = box.x + round(box.width * start / total)
    width = max(1, round(box.width * length / total))
    return Box(left, box.y, width, box.height)


def beside(anchor: Box, candidates: list[Found], relation: str) -> list[Found]:
    """The candidates in `relation` to the anchor, closest first: on its line for right_of /
    left_of, in its column band for below / above."""
    def on_line(f: Found) -> bool:
        overlap = min(f.box.bottom, anchor.bottom) - max(f.box.y, anchor.y)
        return overlap >= SAME_LINE * min(anchor.height, f.box.height)

    def in_column(f: Found) -> bool:
        return f.box.x < anchor.right + anchor.width and f.box.right > anchor.x - anchor.width

    rules: dict[str, tuple[Callable[[Found], bool], Callable[[Found], int]]] = {
        "right_of": (lambda f: on_line(f) and f.box.x >= anchor.right - 2,
                     lambda f: f.box.x - anchor.right),
        "left_of": (lambda f: on_line(f) and f.box.right <= anchor.x + 2,
                    lambda f: anchor.x - f.box.right),
        "below": (lambda f: in_column(f) and f.box.y >= anchor.bottom - 2,
                  lambda f: f.box.y - anchor.bottom),
        "above": (lambda f: in_column(f) and f.box.bottom <= anchor.y + 2,
                  lambda f: anchor.y - f.box.bottom),
    }
    keep, distance = rules[relation]
    return sorted((f for f in candidates if keep(f)), key=distance)


def field_beside(grab: Image, anchor: Box, relation: str, area: Box) -> Found | None:
    """The input field next to a label: walking away from the label's text along its middle,
    the field starts where the pixels first differ from the background the walk starts on (its
    border) and ends where that background comes back and stays (a field's inside, its text and
    its cursor are all something else than the background).

    Legacy clients draw labels beside entries with nothing linking them: this finds the entry
    the way a person does, by looking beside the label."""
    import numpy as np

    height, width = grab.shape[:2]
    horizontal = relation in ("right_of", "left_of")
    step = 1 if relation in ("right_of", "below") else -1
    if horizontal:
        fixed = min(max(anchor.center[1], 0), height - 1)
        start = anchor.right + 1 if step > 0 else anchor.x - 1
        limit = min(area.right, width) if step > 0 else max(area.x, 0) - 1
        line = grab[fixed, :, :3].astype(np.int16)
    else:
        fixed = min(max(anchor.x + min(anchor.width // 2, 10), 0), width - 1)
        start = anchor.bottom + 1 if step > 0 else anchor.y - 1
        limit = min(area.bottom, height) if step > 0 else max(area.y, 0) - 1
        line = grab[:, fixed, :3].astype(np.int16)
    positions = list(range(start, limit, step))
    if not positions:
        return None
    differs = np.abs(line[positions] - line[positions[0]]).max(axis=1)
    changed = np.flatnonzero(differs[:FIELD_GAP] > FIELD_EDGE)
    if not len(changed):
        return None
    first = int(changed[0])
    back = differs[first:] <= BACKGROUND_AGAIN
    # the background again for BACKGROUND_RUN pixels in a row: the field has ended
    runs = np.convolve(back.astype(np.int16), np.ones(BACKGROUND_RUN, np.int16), "valid")
    ended = np.flatnonzero(runs == BACKGROUND_RUN)
    last = first + (int(ended[0]) if len(ended) else len(back)) - 1
    near, far = sorted((positions[first], positions[max(last, first)]))
    length = max(far - near + 1, 8)
    if horizontal:
        box = Box(near, anchor.y, length, anchor.height)
    else:
        box = Box(anchor.x, near, max(anchor.width, 40), length)
    return Found(box, 1.0, "field")
