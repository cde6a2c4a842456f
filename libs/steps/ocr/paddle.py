"""PaddleEngine: the optional engine, PaddleOCR 3.x (on PaddlePaddle) behind the same OcrEngine.

For sites that run PaddlePaddle already. The ``paddleocr`` package is not a Workhand
dependency (with paddlepaddle it is 331 MB of wheels, 1.4 GB installed): it is imported on the
first read, and a clear error says how to install it when it is missing.

Offline, PaddleOCR 3.x refuses to start unless ``PADDLE_PDX_DISABLE_MODEL_SOURCE_CHECK=True``
and every model is given as a local folder of Paddle inference files (``inference.json``,
``inference.pdiparams``, ``inference.yml``); this engine sets the first and always passes the
folders: ``<models_dir>/<model name>/`` for the profile's detection and recognition models.
The document-orientation, unwarping and text-line orientation models are switched off (a
screen or a scan straightened by the caller needs none, and each would be another download).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from libs.steps.ocr.engine import TextLine, read_in_region
from libs.steps.ocr.rapid import DETECTOR_LIMIT, quad_to_box, sort_lines
from libs.steps.vision.box import Box

if TYPE_CHECKING:
    from libs.steps.vision.box import Image

PADDLE_MODELS = {
    "fast": ("PP-OCRv5_mobile_det", "PP-OCRv5_mobile_rec"),
    "accurate": ("PP-OCRv5_server_det", "PP-OCRv5_server_rec"),
}
"""Each profile's (detection, recognition) model names; their folders carry the same names."""

INSTALL_HINT = (
    "the 'paddleocr' engine needs the paddleocr 3.x and paddlepaddle packages, which Workhand "
    "does not install (1.4 GB): `.venv/bin/python -m pip install 'paddleocr>=3,<4' "
    "paddlepaddle`, then put each model's Paddle inference folder under the worker's "
    "ocr.models_dir (one folder per model name, e.g. PP-OCRv5_mobile_det/ with inference.json, "
    "inference.pdiparams and inference.yml): offline, PaddleOCR starts only with "
    "PADDLE_PDX_DISABLE_MODEL_SOURCE_CHECK=True (set by Workhand) and local model folders. "
    "Or use the default engine: ocr: {engine: rapidocr}")


class PaddleUnavailable(RuntimeError):
    """paddleocr is not installed, or a model folder is missing; the message says the fix."""


def paddle_models_dir() -> Path:
    configured = os.environ.get("WORKHAND_PADDLE_MODELS")
    return Path(configured) if configured else Path.home() / ".paddlex" / "official_models"


class PaddleEngine:
    """OcrEngine over PaddleOCR 3.x's ``PaddleOCR(...).predict``, with local model folders."""

    name = "paddleocr"

    def __init__(self, profile: str = "fast", threads: int | None = None,
                 models_dir: Path | None = None, detector_limit: int = DETECTOR_LIMIT,
                 det_model: str | None = None, rec_model: str | None = None) -> None:
        if profile not in PADDLE_MODELS:
            raise ValueError(f"unknown OCR profile {profile!r}: use one of "
                             f"{', '.join(PADDLE_MODELS)}")
        self.profile = profile
        self.threads = threads
        self.models_dir = Path(models_dir) if models_dir else paddle_models_dir()
        self.detector_limit = detector_limit
        default_det, default_rec = PADDLE_MODELS[profile]
        self.det_model = det_model or default_det
        self.rec_model = rec_model or default_rec
        self._ocr: Any = None
        self._loading = threading.Lock()

    def model_problems(self) -> list[str]:
        """Missing model folders, as sentences (no import of paddleocr)."""
        problems = []
        for model in (self.det_model, self.rec_model):
            folder = self.models_dir / model
            if not (folder / "inference.pdiparams").is_file():
                problems.append(f"the paddleocr model folder {folder} is missing or has no "
                                "inference.pdiparams: copy the model's Paddle inference files "
                                "there (PaddleOCR must not download them at run time)")
        return problems

    def arguments(self) -> dict[str, Any]:
        """What ``paddleocr.PaddleOCR`` is built with (PaddleOCR 3.x names)."""
        arguments: dict[str, Any] = {
            "text_detection_model_name": self.det_model,
            "text_detection_model_dir": str(self.models_dir / self.det_model),
            "text_recognition_model_name": self.rec_model,
            "text_recognition_model_dir": str(self.models_dir / self.rec_model),
            "use_doc_orientation_classify": False,
            "use_doc_unwarping": False,
            "use_textline_orientation": False,
            "text_det_limit_type": "max",
            "text_det_limit_side_len": self.detector_limit,
            "device": "cpu",
        }
        if self.threads is not None:
            arguments["cpu_threads"] = max(1, self.threads)
        return arguments

    def load(self) -> None:
        if self._ocr is not None:
            return
        with self._loading:
            if self._ocr is not None:
                return
            os.environ["PADDLE_PDX_DISABLE_MODEL_SOURCE_CHECK"] = "True"
            try:
                from paddleocr import PaddleOCR
            except ImportError as error:
                raise PaddleUnavailable(f"{INSTALL_HINT} ({error})") from None
            problems = self.model_problems()
            if problems:
                raise PaddleUnavailable("; ".join(problems))
            self._ocr = PaddleOCR(**self.arguments())

    def read(self, image: Image, region: Box | None = None) -> list[TextLine]:
        """Every line of text in the image (BGR; in `region` only, when given), top to bottom,
        left to right."""
        return read_in_region(self._read, image, region)

    def _read(self, image: Image) -> list[TextLine]:
        self.load()
        if image.size == 0:
            return []
        return results_to_lines(self._ocr.predict(image))


def results_to_lines(results: Any) -> list[TextLine]:
    """PaddleOCR 3.x ``predict`` results (one dict-like OCRResult per image, with rec_texts,
    rec_scores and rec_polys) as sorted TextLines."""
    lines = []
    for result in results or ():
        texts = result.get("rec_texts") or []
        scores = result.get("rec_scores")
        polys = result.get("rec_polys")
        if polys is None:
            polys = result.get("dt_polys")
        if scores is None or polys is None:
            continue
        for text, score, quad in zip(texts, scores, polys, strict=True):
            if str(text).strip():
                lines.append(TextLine(str(text), quad_to_box(quad), float(score)))
    return sort_lines(lines)
