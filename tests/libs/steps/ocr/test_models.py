"""Pinned model files: verify_models finds a missing or changed file and says the fix."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest

from libs.steps.ocr import models
from libs.steps.ocr.models import PROFILES, extract_v4, profile, verify_models
from libs.steps.ocr.rapid import ModelsMissing, RapidEngine


@pytest.mark.parametrize("name", PROFILES)
def test_the_installed_profiles_verify(name: str) -> None:
    assert verify_models(name) == []


def test_profiles_are_pinned_to_different_models() -> None:
    fast, accurate = profile("fast"), profile("accurate")
    assert fast.version == "PP-OCRv4" and accurate.version == "PP-OCRv6"
    assert {fast.det.sha256, fast.rec.sha256}.isdisjoint({accurate.det.sha256,
                                                          accurate.rec.sha256})
    assert all(len(model.sha256) == 64 for model in fast.files + accurate.files)


def _copy_fast(folder: Path) -> Path:
    folder.mkdir()
    for model in profile("fast").files[:2]:
        shutil.copy(model.path, folder / model.path.name)
    return folder


def test_a_tampered_copy_fails_with_the_fix(tmp_path: Path) -> None:
    folder = _copy_fast(tmp_path / "models")
    assert verify_models("fast", folder) == []
    rec = folder / "ch_PP-OCRv4_rec_infer.onnx"
    data = bytearray(rec.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one byte changed
    rec.write_bytes(bytes(data))
    (problem,) = verify_models("fast", folder)
    assert "rec model" in problem and str(rec) in problem
    assert "not the pinned 48fc40f2" in problem
    assert "python -m libs.steps.ocr.models install" in problem


def test_a_missing_file_fails_with_the_fix(tmp_path: Path) -> None:
    (first, second) = verify_models("fast", tmp_path / "nowhere")
    assert "det model" in first and "is missing" in first
    assert "rapidocr_onnxruntime==1.4.4" in first
    assert "rec model" in second


def test_an_unknown_profile_is_a_problem_not_a_crash() -> None:
    (problem,) = verify_models("turbo")
    assert "unknown OCR profile 'turbo'" in problem


def test_the_engine_refuses_to_load_models_that_fail(tmp_path: Path) -> None:
    import numpy as np

    engine = RapidEngine("fast", models_dir=tmp_path)
    with pytest.raises(ModelsMissing, match="is missing: run"):
        engine.read(np.zeros((10, 10, 3), np.uint8))


def test_the_models_folder_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Path) -> None:
    monkeypatch.setenv(models.MODELS_DIR_VARIABLE, str(tmp_path))
    assert profile("fast").det.path.parent == tmp_path


def test_only_the_pinned_wheel_is_extracted(tmp_path: Path) -> None:
    wheel = tmp_path / "rapidocr_onnxruntime-1.4.4-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for member in models.V4_MEMBERS.values():
            archive.writestr(member, b"not a model")
    with pytest.raises(ValueError, match="is not the pinned"):
        extract_v4(wheel, tmp_path / "models")
    assert not (tmp_path / "models").exists()


def test_the_command_line_verifies(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert models.main(["verify"]) == 0
    assert models.main(["verify", "fast", "--dir", str(tmp_path)]) == 1
    assert "is missing" in capsys.readouterr().err
    folder = _copy_fast(tmp_path / "copy")
    assert models.main(["install", "--dir", str(folder)]) == 0  # in place: nothing fetched
    assert "in place" in capsys.readouterr().out
