"""documents.extract and documents.compare: read a scanned document's fields by their labels,
then check them against the system's record — identical, different or unsure, field by field,
with each field's crop kept as evidence for the person who reviews it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import Field

from libs.context import StepContext
from libs.errors import StepArgumentError
from libs.registry import step
from libs.steps.documents.compare import (
    DEFAULT_CONFIDENT,
    check_all,
    overall,
)
from libs.steps.documents.fields import FieldKind, FieldSpec, FoundField, extract
from libs.steps.ocr.for_run import image_file, ocr_for
from libs.steps.vision.box import Box
from libs.types import ReadPath

CROP_MARGIN = 6  # px around a field's box in its evidence crop: a person sees its edges


@step("documents.extract")
def extract_fields(
        ctx: StepContext,
        image: Annotated[ReadPath, "the scanned document (PNG or JPEG)"],
        fields: Annotated[dict[str, FieldSpec],
                          "each field by name: {label: 付款人户名, type: name}, {label: 账号, "
                          "type: account}, {label: （小写）, type: amount}, {pattern: ...}"],
        crops: Annotated[bool, "keep each field's picture in the run folder (evidence for "
                               "review)"] = True,
) -> dict[str, Any]:
    """Read a document by OCR and find each field by its label (the value right of it or below
    it) or a pattern, as its type: account, amount, amount_words (大写), date, name or text.

    Answers, by field name, {value, text (as read), type, confidence, box, image (its crop)};
    a field not found has value null and confidence 0. E.g.
    `- documents.extract: {image: ${item.图像}, fields: {户名: {label: 户名, type: name}}}`."""
    if not fields:
        raise StepArgumentError("documents.extract: fields is empty; name at least one field, "
                                "e.g. {户名: {label: 户名, type: name}}")
    picture = image_file(ctx, image, "documents.extract")
    lines = ocr_for(ctx).read(picture)
    answer: dict[str, Any] = {}
    for name, spec in fields.items():
        found = extract(lines, name, spec)
        entry = found.to_dict()
        entry["image"] = (_save_crop(ctx, picture, found, Path(image).stem)
                          if crops and found.box is not None else None)
        answer[name] = entry
    return answer


@step("documents.compare")
def compare(
        ctx: StepContext,
        found: Annotated[dict[str, Any], "what documents.extract answered"],
        record: Annotated[dict[str, Any], "the system's values by field name, e.g. {户名: "
                                          "${item.户名}, 金额: ${item.金额}}"],
        agree: Annotated[list[list[str]] | None, "pairs of the document's fields that must say "
                                                 "the same: [[金额, 大写]]"] = None,
        confident: Annotated[float, Field(gt=0, le=1), "below this OCR confidence a field is "
                                                       "unsure, whatever it says"]
        = DEFAULT_CONFIDENT,
) -> dict[str, Any]:
    """Compare a document's fields with the record: account numbers digit by digit, names
    without spaces and width differences, amounts to the cent, dates as dates.

    Answers {verdict: identical | different | unsure, fields: [{name, label, kind, record,
    found, verdict, confidence, image}], different: [names], unsure: [names], reasons: {name:
    why}}; only `identical` everywhere means no person needs to look (review.request takes
    the fields as they are)."""
    unknown = sorted(set(record) - set(found))
    if unknown:
        raise StepArgumentError(f"documents.compare: the record names {', '.join(unknown)}, "
                                f"which documents.extract did not read (it read "
                                f"{', '.join(found) or 'nothing'}); extract those fields too")
    for pair in agree or []:
        if len(pair) != 2 or any(name not in found for name in pair):
            raise StepArgumentError(f"documents.compare: agree takes pairs of extracted field "
                                    f"names, e.g. [[金额, 大写]]; {pair} is not one")
    read = {name: _found(name, value) for name, value in found.items()}
    images = {name: value.get("image") for name, value in found.items()}
    checks = check_all(read, record, [(a, b) for a, b in agree or []], confident, images)
    return {"verdict": overall(checks), "fields": [c.to_dict() for c in checks],
            "different": [c.name for c in checks if c.verdict == "different"],
            "unsure": [c.name for c in checks if c.verdict == "unsure"],
            "reasons": {c.name: c.reason for c in checks if c.reason}}


def _found(name: str, entry: Any) -> FoundField:
    if not isinstance(entry, dict) or "type" not in entry:
        raise StepArgumentError(f"documents.compare: found.{name} is not a field read by "
                                "documents.extract; pass what it answered (into: voucher, "
                                "then found: ${voucher})")
    box = entry.get("box")
    kind: FieldKind = entry["type"]
    return FoundField(name, kind, str(entry.get("text") or ""), entry.get("value"),
                      float(entry.get("confidence") or 0.0),
                      Box(**box) if isinstance(box, dict) else None)


def _save_crop(ctx: StepContext, picture: Any, found: FoundField, stem: str) -> str:
    from libs.steps.desktop.session import save_png

    assert found.box is not None
    height, width = picture.shape[:2]
    box = found.box
    area = Box(box.x - CROP_MARGIN, box.y - CROP_MARGIN, box.width + 2 * CROP_MARGIN,
               box.height + 2 * CROP_MARGIN).clipped(width, height)
    relative = f"documents/{stem}/{found.name}.png"
    path = ctx.output_path(relative, "documents.extract")
    save_png(area.crop(picture), path)
    ctx.artifact(path, "evidence")
    return relative
