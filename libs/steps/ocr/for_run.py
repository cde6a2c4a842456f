"""The run's OCR engine and the images steps read: loaded on first use, never on import."""

from __future__ import annotations

from typing import TYPE_CHECKING

from libs.context import StepContext

if TYPE_CHECKING:
    from libs.steps.ocr.engine import OcrEngine
    from libs.steps.vision.box import Image

OCR = "ocr.engine"


def ocr_for(ctx: StepContext) -> OcrEngine:
    """The OCR engine, loaded on the first read: the worker's engine with the profile the robot
    asks for (settings: {ocr: {profile: accurate}}; default fast)."""
    def load() -> OcrEngine:
        from libs.steps.ocr.choose import engine_for

        profile = (ctx.settings.get("ocr") or {}).get("profile", "fast")
        return engine_for({"ocr": {"profile": profile}})

    return ctx.resources.get(OCR, load)


def use_ocr(ctx: StepContext, engine: OcrEngine) -> None:
    """Make `engine` the run's (tests give a FakeOcr)."""
    ctx.resources.get(OCR, lambda: engine)


def image_file(ctx: StepContext, path: str, step: str) -> Image:
    """A PNG or JPEG the robot may read (its folder, its run folder, allowed folders)."""
    from libs.steps.vision.images import load_image

    return load_image(ctx.input_path(path, step))
