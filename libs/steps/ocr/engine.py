"""The narrow interface OCR goes through, and its fake.

An OcrEngine reads an image (numpy, BGR) and answers the lines of text it found, each with its
box and confidence. Which engine a worker runs (RapidOCR, the default; PaddleOCR, optional) and
which model profile ("fast", "accurate") is the worker's setting; steps ask
``libs.steps.ocr.choose.engine_for(settings)`` and never load a model themselves. The real
engines are imported on first use, so loading the step libraries never loads a model. FakeOcr
answers what a test told it, for unit tests.
"""

from __future__ import annotations

from collections.abc import Sequence
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

    def read(self, image: Image) -> list[TextLine]:
        """Every line of text in the image, top to bottom, left to right."""
        ...


@dataclass
class FakeOcr:
    """Answers ``lines`` (offset into a cropped image, as a real engine would see it)."""

    lines: Sequence[TextLine] = ()
    name: str = "fake"
    profile: str = "fast"
    calls: list[tuple[int, int]] = field(default_factory=list)  # (height, width) of each image
    origin: tuple[int, int] = (0, 0)  # tests set where a crop starts, to shift lines into it

    def read(self, image: Image) -> list[TextLine]:
        height, width = image.shape[:2]
        self.calls.append((height, width))
        ox, oy = self.origin
        found = []
        for line in self.lines:
            box = Box(line.box.x - ox, line.box.y - oy, line.box.width, line.box.height)
            if box.x >= 0 and box.y >= 0 and box.right <= width and box.bottom <= height:
                found.append(TextLine(line.text, box, line.confidence))
        return found
