"""The narrow interface OCR goes through, and its fake.

An OcrEngine reads an image (numpy, BGR) and answers the lines of text it found, each with its
box and confidence. Which engine a worker runs (RapidOCR, the default; PaddleOCR, optional) and
which model profile ("fast", "accurate") is the worker's setting; steps ask
``libs.steps.ocr.choose.engine_for(settings)`` and never load a model themselves. The real
engines are imported on first use, so loading the step libraries never loads a model. FakeOcr
answers what a test told it, for unit tests.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from libs.steps.vision.box import Box

if TYPE_CHECKING:
    from libs.steps.vision.box import Image


@dataclass(frozen=True)
class TextLine:
    """One line of text read from an image: its words, where it is, how sure the engine is."""

    text: str
    box: Box
    confidence: float

    def to_dict(self) -> dict[str, object]:
        return {"text": self.text, "box": self.box.to_dict(),
                "confidence": round(self.confidence, 4)}


class OcrEngine(Protocol):
    name: str
    profile: str

    def read(self, image: Image, region: Box | None = None) -> list[TextLine]:
        """Every line of text in the image (only in `region`, when given), top to bottom, left
        to right; boxes in the image's coordinates, whatever the region."""
        ...


def read_in_region(read: Callable[[Image], list[TextLine]], image: Image,
                   region: Box | None) -> list[TextLine]:
    """What `read` (an engine reading a whole image) finds in `region` of the image, with boxes
    in the image's coordinates."""
    if region is None:
        return read(image)
    return [TextLine(line.text, Box(line.box.x + region.x, line.box.y + region.y,
                                    line.box.width, line.box.height), line.confidence)
            for line in read(region.crop(image))]


@dataclass
class FakeOcr:
    """Answers the ``lines`` that lie inside the region asked (image coordinates)."""

    lines: Sequence[TextLine] = ()
    name: str = "fake"
    profile: str = "fast"
    calls: list[Box | None] = field(default_factory=list)  # the region of each read

    def read(self, image: Image, region: Box | None = None) -> list[TextLine]:
        self.calls.append(region)
        height, width = image.shape[:2]
        area = region or Box(0, 0, width, height)
        return [line for line in self.lines
                if area.x <= line.box.x and area.y <= line.box.y
                and line.box.right <= area.right and line.box.bottom <= area.bottom]
