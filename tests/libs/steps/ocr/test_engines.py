"""engine_for (one engine per process from the worker's settings), FakeOcr, line order, and
that importing the OCR modules loads nothing heavy."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from libs.steps.ocr.choose import (
    OcrSettingsError,
    engine_for,
    forget_engines,
    ocr_problems,
    ocr_settings,
)
from libs.steps.ocr.engine import FakeOcr, TextLine
from libs.steps.ocr.limits import CappedEngine
from libs.steps.ocr.paddle import PaddleEngine
from libs.steps.ocr.rapid import RapidEngine, quad_to_box, sort_lines, to_lines
from libs.steps.vision.box import Box

ROOT = Path(__file__).resolve().parents[4]


@pytest.fixture(autouse=True)
def fresh_engines() -> Iterator[None]:
    forget_engines()
    yield
    forget_engines()


def test_the_default_is_rapidocr_fast_built_once() -> None:
    engine = engine_for({})
    assert isinstance(engine, RapidEngine)
    assert (engine.name, engine.profile) == ("rapidocr", "fast")
    assert engine._ocr is None  # nothing loaded until the first read
    assert engine_for(None) is engine
    assert engine_for({"ocr": {"engine": "rapidocr", "profile": "fast"}}) is engine
    accurate = engine_for({"ocr": {"profile": "accurate"}})
    assert accurate is not engine and accurate.profile == "accurate"


def test_paddleocr_is_chosen_by_name() -> None:
    engine = engine_for({"ocr": {"engine": "paddleocr", "profile": "accurate"}})
    assert isinstance(engine, PaddleEngine)
    assert engine.det_model == "PP-OCRv5_server_det"


def test_a_slots_folder_caps_reads_with_threads_to_match(tmp_path: Path) -> None:
    engine = engine_for({"ocr": {"slots_dir": str(tmp_path), "slots": 1}})
    assert isinstance(engine, CappedEngine)
    assert engine.slots.slots == 1
    assert isinstance(engine.engine, RapidEngine)
    assert engine.engine.threads == engine.slots.threads


@pytest.mark.parametrize(("ocr", "message"), [
    ({"engine": "tesseract"}, "unknown OCR engine 'tesseract'"),
    ({"profile": "turbo"}, "unknown OCR profile 'turbo'"),
    ({"slots": 0}, "ocr.slots must be a whole number"),
    ({"threads": "2"}, "ocr.threads must be a whole number"),
])
def test_wrong_settings_say_what_to_write(ocr: dict[str, object], message: str) -> None:
    with pytest.raises(OcrSettingsError, match=message):
        ocr_settings({"ocr": ocr})


def test_a_worker_checks_its_ocr_settings_at_start(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    assert ocr_problems({}) == []
    assert ocr_problems({"ocr": {"profile": "accurate"}}) == []
    (missing_det, _) = ocr_problems({"ocr": {"models_dir": str(tmp_path)}})
    assert "is missing: run `.venv/bin/python -m libs.steps.ocr.models install`" in missing_det
    (wrong,) = ocr_problems({"ocr": {"engine": "tesseract"}})
    assert wrong.startswith("unknown OCR engine 'tesseract'")
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *rest: None if name ==
                        "paddleocr" else real_find_spec(name, *rest))
    (no_paddle,) = ocr_problems({"ocr": {"engine": "paddleocr"}})
    assert "paddleocr package is not installed" in no_paddle and "pip install" in no_paddle
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *rest: object())
    problems = ocr_problems({"ocr": {"engine": "paddleocr", "models_dir": str(tmp_path)}})
    assert [problem.split(" is missing")[0] for problem in problems] == [
        f"The paddleocr model folder {tmp_path / 'PP-OCRv5_mobile_det'}",
        f"The paddleocr model folder {tmp_path / 'PP-OCRv5_mobile_rec'}"]


def test_fake_ocr_answers_lines_inside_the_region() -> None:
    inside = TextLine("确定", Box(110, 210, 40, 20), 0.99)
    outside = TextLine("取消", Box(400, 210, 40, 20), 0.98)
    fake = FakeOcr([inside, outside])
    region = Box(100, 200, 200, 100)
    lines = fake.read(np.zeros((1080, 1920, 3), np.uint8), region)
    assert lines == [inside]  # boxes in the image's coordinates, whatever the region
    assert fake.calls == [region]
    assert lines[0].to_dict() == {"text": "确定", "box": {"x": 110, "y": 210, "width": 40,
                                                           "height": 20}, "confidence": 0.99}


def test_lines_are_sorted_by_rows_then_left_to_right() -> None:
    def line(text: str, x: int, y: int, height: int = 20) -> TextLine:
        return TextLine(text, Box(x, y, 50, height), 0.9)

    lines = [line("右下", 300, 104), line("左下", 10, 100), line("右上", 300, 12),
             line("左上", 10, 10), line("底", 10, 200)]
    assert [found.text for found in sort_lines(lines)] == ["左上", "右上", "左下", "右下", "底"]


def test_quads_become_axis_aligned_boxes() -> None:
    assert quad_to_box([[10.6, 20.2], [99.5, 18.9], [100.2, 40.0], [10.1, 41.4]]) == Box(
        10, 18, 90, 23)
    assert quad_to_box([[-3, -2], [5, -2], [5, 4], [-3, 4]]) == Box(0, 0, 5, 4)
    assert to_lines(None, None, None) == []
    quads = np.array([[[0, 50], [30, 50], [30, 60], [0, 60]], [[0, 0], [30, 0], [30, 9], [0, 9]]])
    assert [line.text for line in to_lines(quads, ("下", "上"), (0.9, 0.8))] == ["上", "下"]


def test_importing_the_ocr_modules_loads_no_model_or_native_library() -> None:
    code = (
        "import sys\n"
        "import libs.steps.ocr.engine, libs.steps.ocr.rapid, libs.steps.ocr.models\n"
        "import libs.steps.ocr.paddle, libs.steps.ocr.normalise, libs.steps.ocr.limits\n"
        "import libs.steps.ocr.screen_reader, libs.steps.ocr.choose\n"
        "from libs.steps.ocr.choose import engine_for\n"
        "engine_for({})\n"
        "heavy = [name for name in ('cv2', 'rapidocr', 'onnxruntime', 'paddleocr', 'numpy',\n"
        "         'Xlib', 'mss') if name in sys.modules]\n"
        "print(heavy)\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, check=True, env={"PYTHONPATH": str(ROOT)})
    assert result.stdout.strip() == "[]", result.stdout + result.stderr
