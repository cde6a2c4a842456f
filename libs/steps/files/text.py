"""Text encodings as bank systems produce them: UTF-8 (with or without BOM), UTF-16, GBK."""

from __future__ import annotations

import codecs

from libs.errors import StepArgumentError

AUTO = "auto"
_GB = {"gbk", "gb2312", "cp936", "936", "ms936", "gb18030"}


def _codec(encoding: str, step: str) -> str:
    try:
        return codecs.lookup(encoding.strip()).name
    except LookupError:
        raise StepArgumentError(f"{step}: unknown encoding '{encoding}'; use auto, utf-8, "
                                f"utf-8-sig, gbk or gb18030") from None


def detect(data: bytes) -> str:
    """The encoding 'auto' picks: a BOM decides; else UTF-8 if it decodes; else GB18030.

    GB18030 is a superset of GBK and GB2312, which Chinese banking systems export."""
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"  # Excel's "Unicode text" export
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return "gb18030"
    return "utf-8"


def decode(data: bytes, encoding: str, where: str, step: str) -> str:
    """Bytes → text; ``where`` names the file in error messages."""
    name = detect(data) if encoding.strip().lower() == AUTO else _codec(encoding, step)
    try:
        text = data.decode(name)
    except UnicodeDecodeError as err:
        if name in _GB and name != "gb18030":
            # GBK files often hold a few characters only GB18030 has (rare names)
            return decode(data, "gb18030", where, step)
        bad = data[err.start:err.start + 4].hex(" ")
        hint = ("the file is neither UTF-8 nor GBK/GB18030; give its encoding explicitly"
                if encoding.strip().lower() == AUTO else "try encoding: auto")
        raise StepArgumentError(f"{step}: cannot read {where} as {name}: the bytes {bad} at "
                                f"position {err.start} are not valid {name}; {hint}") from None
    return text.removeprefix("\ufeff")  # a BOM read with plain utf-8 must not stick to the header


def encode(text: str, encoding: str, where: str, step: str) -> bytes:
    """Text → bytes; a character the encoding cannot hold is named with its position."""
    name = _codec(encoding, step)
    try:
        return text.encode(name)
    except UnicodeEncodeError as err:
        line = text.count("\n", 0, err.start) + 1
        raise StepArgumentError(
            f"{step}: cannot write {where} as {name}: the character '{text[err.start]}' on "
            f"line {line} has no {name} code; use encoding utf-8-sig (or gb18030)") from None
