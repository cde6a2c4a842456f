"""ocr.read, ocr.read_lines and ocr.find: the text of an image file (a scan, a saved screenshot),
read by the worker's OCR engine (PP-OCR models, offline). The screen is read by desktop.read_text.
"""

from __future__ import annotations

from typing import Annotated, Any

from libs.context import StepContext
from libs.registry import step
from libs.steps.desktop.targets import Region, comparable
from libs.steps.ocr.engine import TextLine
from libs.steps.ocr.for_run import image_file, ocr_for
from libs.types import ReadPath

ImageFile = Annotated[ReadPath, "the image file (PNG or JPEG) in the robot's or run's folder"]
AreaOf = Annotated[Region | None, "read only this part of the image: {x, y, width, height}"]


def read_image(ctx: StepContext, image: str, region: Region | None, step_name: str
               ) -> list[TextLine]:
    picture = image_file(ctx, image, step_name)
    return ocr_for(ctx).read(picture, None if region is None else region.box())


def joined(lines: list[TextLine]) -> str:
    """Lines as text: one per line, in reading order (what a person would copy)."""
    return "\n".join(line.text for line in lines)


@step("ocr.read", main="image")
def read(ctx: StepContext, image: ImageFile, region: AreaOf = None) -> str:
    """The text of an image, line by line (e.g. a scanned letter); `region` reads a part."""
    return joined(read_image(ctx, image, region, "ocr.read"))


@step("ocr.read_lines", main="image")
def read_lines(ctx: StepContext, image: ImageFile, region: AreaOf = None
               ) -> list[dict[str, Any]]:
    """Every line of text of an image with where it is and how sure OCR is: [{text, box: {x, y,
    width, height}, confidence}], top to bottom."""
    return [line.to_dict() for line in read_image(ctx, image, region, "ocr.read_lines")]


@step("ocr.find")
def find(ctx: StepContext, image: ImageFile,
         text: Annotated[str, "the words to find (full-width and spaces do not matter)"],
         region: AreaOf = None) -> dict[str, Any] | None:
    """The first line of an image that contains the text: {text, box, confidence}; null when
    no line does (a yes/no with `if: ${found}`)."""
    wanted = comparable(text)
    for line in read_image(ctx, image, region, "ocr.find"):
        if wanted in comparable(line.text):
            return line.to_dict()
    return None
