"""PaddleEngine's adapter, against a stub ``paddleocr`` module (the real one is optional and
not installed here): what it builds PaddleOCR with, and how it turns results into TextLines."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from libs.steps.ocr.paddle import PaddleEngine, PaddleUnavailable, results_to_lines
from libs.steps.vision.box import Box


class StubPaddleOCR:
    built: ClassVar[list[dict[str, Any]]] = []

    def __init__(self, **arguments: Any) -> None:
        StubPaddleOCR.built.append(arguments)

    def predict(self, image: np.ndarray) -> list[dict[str, Any]]:
        return [{
            "rec_texts": ["金额：￥12.50", "", "账号：6217"],
            "rec_scores": [0.91, 0.2, 0.98],
            "rec_polys": [
                np.array([[10, 60], [120, 60], [120, 80], [10, 80]], np.int16),
                np.array([[0, 0], [5, 0], [5, 5], [0, 5]], np.int16),
                np.array([[12.4, 20.2], [150.6, 19.8], [150.6, 40.7], [12.4, 41.1]]),
            ],
            "rec_boxes": np.array([[10, 60, 120, 80], [0, 0, 5, 5], [12, 19, 151, 41]]),
        }]


@pytest.fixture
def stub_paddleocr(monkeypatch: pytest.MonkeyPatch) -> type[StubPaddleOCR]:
    module = types.ModuleType("paddleocr")
    module.PaddleOCR = StubPaddleOCR  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "paddleocr", module)
    monkeypatch.delenv("PADDLE_PDX_DISABLE_MODEL_SOURCE_CHECK", raising=False)
    StubPaddleOCR.built = []
    return StubPaddleOCR


def _model_folders(root: Path, *names: str) -> Path:
    for name in names:
        (root / name).mkdir(parents=True)
        for file in ("inference.json", "inference.pdiparams", "inference.yml"):
            (root / name / file).write_bytes(b"")
    return root


def test_results_become_sorted_lines_with_boxes(stub_paddleocr: type[StubPaddleOCR],
                                                tmp_path: Path) -> None:
    import os

    folder = _model_folders(tmp_path, "PP-OCRv5_mobile_det", "PP-OCRv5_mobile_rec")
    engine = PaddleEngine("fast", threads=1, models_dir=folder)
    lines = engine.read(np.zeros((100, 200, 3), np.uint8))
    assert [(line.text, line.box) for line in lines] == [
        ("账号：6217", Box(12, 19, 139, 22)),
        ("金额：￥12.50", Box(10, 60, 110, 20)),
    ]
    assert lines[0].confidence == pytest.approx(0.98)
    assert os.environ["PADDLE_PDX_DISABLE_MODEL_SOURCE_CHECK"] == "True"
    (arguments,) = stub_paddleocr.built
    assert arguments["text_detection_model_dir"] == str(folder / "PP-OCRv5_mobile_det")
    assert arguments["text_recognition_model_name"] == "PP-OCRv5_mobile_rec"
    assert arguments["use_textline_orientation"] is False
    assert (arguments["text_det_limit_type"], arguments["text_det_limit_side_len"]) == (
        "max", 960)
    assert arguments["cpu_threads"] == 1
    engine.read(np.zeros((10, 10, 3), np.uint8))
    assert len(stub_paddleocr.built) == 1  # built once


def test_missing_model_folders_are_named(stub_paddleocr: type[StubPaddleOCR],
                                         tmp_path: Path) -> None:
    engine = PaddleEngine("accurate", models_dir=tmp_path)
    with pytest.raises(PaddleUnavailable, match="PP-OCRv5_server_det is missing"):
        engine.read(np.zeros((10, 10, 3), np.uint8))


def test_without_paddleocr_the_error_says_how_to_install(monkeypatch: pytest.MonkeyPatch,
                                                         tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "paddleocr", None)  # import fails as if not installed
    engine = PaddleEngine(models_dir=tmp_path)
    with pytest.raises(PaddleUnavailable) as raised:
        engine.read(np.zeros((10, 10, 3), np.uint8))
    message = str(raised.value)
    assert "pip install 'paddleocr>=3,<4' paddlepaddle" in message
    assert "PADDLE_PDX_DISABLE_MODEL_SOURCE_CHECK" in message
    assert "engine: rapidocr" in message


def test_empty_or_partial_results_give_no_lines() -> None:
    assert results_to_lines([]) == []
    assert results_to_lines(None) == []
    assert results_to_lines([{"rec_texts": [], "rec_scores": [], "rec_polys": []}]) == []
    assert results_to_lines([{"rec_texts": ["x"]}]) == []


def test_an_unknown_profile_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown OCR profile"):
        PaddleEngine("turbo")
