"""RapidEngine: PP-OCR models on onnxruntime through ``rapidocr``, offline, behind OcrEngine.

The model is loaded on the first read and kept for the process (loading takes about a second;
a worker's robots share it). rapidocr and onnxruntime are imported only then, so importing this
module loads nothing.

Settings that matter (measured, /work/shared/RECIPES.md and bench/ocr_screen.py):

- the detector limit is a *maximum* side (``limit_type="max"``, 960 px): RapidOCR's default
  (``min``, 736) upscales a 60-px line to 736 px — 2.4 s a line and worse reading; with ``max``
  a small image is read at its own size (never upscaled for detection) and a 1920×1080 screen
  is detected at half size, the text still recognised from the full-resolution crop. Measured
  on the synthetic bank screen (15 texts, 16–22 px; bench/ocr_screen.py --limit, CPU time with
  1 thread): 640 px missed a 16-px line with both profiles (0.52–0.57 s); 960 read all 15
  (0.81–0.94 s); 1280 read all 15 too, in 1.08 s;
- recognition one line at a time (``rec_batch_num=1``): batches pad lines to the widest;
- explicit local paths for every model: asked for a model it does not carry, RapidOCR starts a
  download from a hub;
- ``ORT_DISABLE_TELEMETRY=1`` before onnxruntime loads (it looks a telemetry host up otherwise).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from libs.steps.ocr.engine import TextLine, read_in_region
from libs.steps.ocr.models import profile as model_profile
from libs.steps.ocr.models import verify_models
from libs.steps.vision.box import Box

if TYPE_CHECKING:
    from libs.steps.vision.box import Image

DETECTOR_LIMIT = 960
"""The longest side the detector sees (larger images are scaled down for detection only)."""


class ModelsMissing(RuntimeError):
    """A profile's model files are missing or not the pinned ones; the message says the fix."""


def sort_lines(lines: list[TextLine]) -> list[TextLine]:
    """Top to bottom, left to right: lines whose vertical centres are within half a line
    height of each other are one row, read left to right."""
    ordered = sorted(lines, key=lambda line: (line.box.y + line.box.height / 2, line.box.x))
    rows: list[list[TextLine]] = []
    for line in ordered:
        centre = line.box.y + line.box.height / 2
        if rows:
            last = rows[-1][0]
            if abs(centre - (last.box.y + last.box.height / 2)) <= max(
                    min(last.box.height, line.box.height) / 2, 1):
                rows[-1].append(line)
                continue
        rows.append([line])
    return [line for row in rows for line in sorted(row, key=lambda line: line.box.x)]


def quad_to_box(quad: Any) -> Box:
    """The axis-aligned box around a detector quadrilateral (4 × (x, y) floats)."""
    xs = [float(point[0]) for point in quad]
    ys = [float(point[1]) for point in quad]
    left, top = int(min(xs)), int(min(ys))
    right, bottom = round(max(xs)), round(max(ys))
    return Box(max(left, 0), max(top, 0), max(right - max(left, 0), 1),
               max(bottom - max(top, 0), 1))


def to_lines(boxes: Any, texts: Any, scores: Any) -> list[TextLine]:
    """RapidOCR's result arrays as sorted TextLines (empty texts dropped)."""
    if boxes is None or texts is None or scores is None:
        return []
    lines = [TextLine(str(text), quad_to_box(quad), float(score))
             for quad, text, score in zip(boxes, texts, scores, strict=True) if str(text).strip()]
    return sort_lines(lines)


class RapidEngine:
    """OcrEngine over rapidocr with a pinned model profile ("fast" or "accurate")."""

    name = "rapidocr"

    def __init__(self, profile: str = "fast", threads: int | None = None,
                 models_dir: Path | None = None, detector_limit: int = DETECTOR_LIMIT,
                 use_classifier: bool = True) -> None:
        self.profile = profile
        self.models = model_profile(profile, models_dir)  # raises on an unknown profile
        self.models_dir = models_dir
        self.threads = threads
        self.detector_limit = detector_limit
        self.use_classifier = use_classifier
        self._ocr: Any = None
        self._loading = threading.Lock()

    def params(self) -> dict[str, Any]:
        """The RapidOCR parameters this engine runs with (every model an explicit path)."""
        from rapidocr import OCRVersion  # imports cv2 and onnxruntime: only when loading

        threads = -1 if self.threads is None else max(1, self.threads)
        return {
            "Global.log_level": "warning",
            "Global.use_cls": self.use_classifier,
            "Det.model_path": str(self.models.det.path),
            "Det.ocr_version": OCRVersion(self.models.version),
            "Det.limit_type": "max",
            "Det.limit_side_len": self.detector_limit,
            "Rec.model_path": str(self.models.rec.path),
            # one line at a time: a batch pads every line to the widest one's width; measured
            # 10-20 % less CPU on the bank screen than RapidOCR's batches of 6
            "Rec.rec_batch_num": 1,
            "Rec.ocr_version": OCRVersion(self.models.version),
            "Cls.model_path": str(self.models.cls.path),
            "Cls.ocr_version": OCRVersion.PPOCRV4,  # the mobile v2.0 classifier's input shape
            "EngineConfig.onnxruntime.intra_op_num_threads": threads,
            "EngineConfig.onnxruntime.inter_op_num_threads": 1,
        }

    def load(self) -> None:
        """Loads the models now (else the first read does); checks their hashes first."""
        if self._ocr is not None:
            return
        with self._loading:
            if self._ocr is not None:
                return
            problems = verify_models(self.profile, self.models_dir)
            if problems:
                raise ModelsMissing(" ".join(problems))
            os.environ["ORT_DISABLE_TELEMETRY"] = "1"  # before onnxruntime loads
            from rapidocr import RapidOCR

            self._ocr = RapidOCR(params=self.params())

    def read(self, image: Image, region: Box | None = None) -> list[TextLine]:
        """Every line of text in the image (BGR; in `region` only, when given), top to bottom,
        left to right."""
        return read_in_region(self._read, image, region)

    def _read(self, image: Image) -> list[TextLine]:
        self.load()
        if image.size == 0:
            return []
        if image.ndim == 3 and image.shape[2] == 4:
            image = image[:, :, :3]  # an mss grab is BGRA: the alpha byte is not colour
        result = self._ocr(image)
        return to_lines(getattr(result, "boxes", None), getattr(result, "txts", None),
                        getattr(result, "scores", None))
