"""engine_for(settings): the OCR engine a worker's settings choose, one per process.

    ocr:
      engine: rapidocr        # or paddleocr (optional, installed by the site)
      profile: fast           # or accurate (see libs.steps.ocr.models)
      slots_dir: /run/workhand/ocr-slots   # the machine-wide cap's folder (optional)
      slots: 1                # reads at once on the machine (default: cores - 1, at least 1)
      threads: 1              # onnxruntime threads per read (default: to match the slots)
      models_dir: /opt/ocr    # where the extra model files are (optional)

Robots never build an engine: steps ask ``engine_for(settings)``, which builds it on the first
call (loading nothing: the model loads on the first read) and answers the same one after.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from libs.steps.ocr.engine import OcrEngine
from libs.steps.ocr.limits import CappedEngine, OcrSlots, default_slots, threads_per_read

ENGINES = ("rapidocr", "paddleocr")
_engines: dict[tuple[object, ...], OcrEngine] = {}
_lock = threading.Lock()


class OcrSettingsError(ValueError):
    """The worker's ocr settings name an unknown engine or profile, or a wrong value."""


def ocr_settings(settings: dict[str, Any] | None) -> dict[str, Any]:
    """The checked ``ocr`` part of the worker's settings, with defaults filled in."""
    given = dict((settings or {}).get("ocr") or {})
    engine = given.get("engine", "rapidocr")
    profile = given.get("profile", "fast")
    if engine not in ENGINES:
        raise OcrSettingsError(f"unknown OCR engine {engine!r} in the worker's settings "
                               f"(ocr.engine): use one of {', '.join(ENGINES)}")
    if profile not in ("fast", "accurate"):
        raise OcrSettingsError(f"unknown OCR profile {profile!r} in the worker's settings "
                               "(ocr.profile): use fast or accurate")
    slots = given.get("slots", default_slots())
    if not isinstance(slots, int) or isinstance(slots, bool) or slots < 1:
        raise OcrSettingsError(f"ocr.slots must be a whole number of at least 1, not {slots!r}")
    threads = given.get("threads", threads_per_read(slots))
    if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
        raise OcrSettingsError(f"ocr.threads must be a whole number of at least 1, "
                               f"not {threads!r}")
    return {"engine": engine, "profile": profile, "slots": slots, "threads": threads,
            "slots_dir": given.get("slots_dir"), "models_dir": given.get("models_dir")}


def engine_for(settings: dict[str, Any] | None) -> OcrEngine:
    """The process's engine for these settings (built once; its model loads on first read)."""
    chosen = ocr_settings(settings)
    key = tuple(sorted((name, str(value)) for name, value in chosen.items()))
    with _lock:
        engine = _engines.get(key)
        if engine is None:
            engine = _build(chosen)
            _engines[key] = engine
        return engine


def ocr_problems(settings: dict[str, Any] | None) -> list[str]:
    """What stops the configured engine from reading, as sentences with the fix; [] when it
    can. A worker calls this when it starts (it hashes the model files; loads nothing)."""
    try:
        chosen = ocr_settings(settings)
    except OcrSettingsError as error:
        return [f"{error}."]
    models_dir = Path(chosen["models_dir"]) if chosen["models_dir"] else None
    if chosen["engine"] == "rapidocr":
        from libs.steps.ocr.models import verify_models

        return verify_models(chosen["profile"], models_dir)
    import importlib.util

    from libs.steps.ocr.paddle import INSTALL_HINT, PaddleEngine

    if importlib.util.find_spec("paddleocr") is None:
        return [f"The paddleocr package is not installed: {INSTALL_HINT}."]
    return [f"{problem[0].upper()}{problem[1:]}." for problem in
            PaddleEngine(chosen["profile"], models_dir=models_dir).model_problems()]


def forget_engines() -> None:
    """Drops the cached engines (tests; a worker whose settings changed)."""
    with _lock:
        _engines.clear()


def _build(chosen: dict[str, Any]) -> OcrEngine:
    models_dir = Path(chosen["models_dir"]) if chosen["models_dir"] else None
    engine: OcrEngine
    if chosen["engine"] == "paddleocr":
        from libs.steps.ocr.paddle import PaddleEngine

        engine = PaddleEngine(chosen["profile"], threads=chosen["threads"],
                              models_dir=models_dir)
    else:
        from libs.steps.ocr.rapid import RapidEngine

        engine = RapidEngine(chosen["profile"], threads=chosen["threads"],
                             models_dir=models_dir)
    if chosen["slots_dir"]:
        return CappedEngine(engine, OcrSlots(Path(chosen["slots_dir"]), chosen["slots"]))
    return engine
