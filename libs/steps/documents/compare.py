"""A document's fields against the system's record, field by field: identical, different or
unsure — and only identical everywhere lets an item pass with no person (S4's rule: a planted
mismatch must never pass automatically, so a doubt is never read as a match).

Each kind compares as the bank does: account numbers digit by digit, names without OCR's spaces
and width differences, amounts to the cent, dates as dates. A field read with less confidence
than asked is unsure whatever it says; so is a field not found.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

from libs.steps.documents.fields import FieldKind, FoundField, typed

Verdict = Literal["identical", "different", "unsure"]
DEFAULT_CONFIDENT = 0.9
CORROBORATED = 0.8  # the least confidence a reading confirmed by another may have
REVIEW_KINDS: dict[FieldKind, str] = {"account": "account", "amount": "amount",
                                      "amount_words": "amount", "date": "date", "name": "name",
                                      "text": "text"}
"""A field's kind as review.request names it (account and amount: four-eyes)."""


@dataclass(frozen=True)
class FieldCheck:
    name: str
    kind: FieldKind
    record: str | None
    found: str | None
    verdict: Verdict
    confidence: float
    reason: str
    image: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """As review.request takes a field (an amount in capitals is an amount there: a
        reviewer's change to it needs a second reviewer too)."""
        return {"name": self.name, "label": self.name, "kind": REVIEW_KINDS[self.kind],
                "record": self.record, "found": self.found, "verdict": self.verdict,
                "confidence": round(self.confidence, 4), "image": self.image}


def compare_field(found: FoundField, record: Any, *, confident: float = DEFAULT_CONFIDENT,
                  image: str | None = None) -> FieldCheck:
    expected = None if record is None else typed(_as_text(record), found.kind)
    if found.value is None:
        return FieldCheck(found.name, found.kind, expected, None, "unsure", found.confidence,
                          f"not read on the document{_seen(found)}", image)
    if expected is None:
        return FieldCheck(found.name, found.kind, None, found.value, "unsure",
                          found.confidence, f"the record's value '{record}' is not a "
                          f"{found.kind.replace('_', ' ')}", image)
    same = found.value == expected
    if found.confidence < confident:
        return FieldCheck(found.name, found.kind, expected, found.value, "unsure",
                          found.confidence, f"read with confidence {found.confidence:.2f}, "
                          f"below {confident:g}" + ("" if same else "; it also differs"), image)
    if same:
        return FieldCheck(found.name, found.kind, expected, found.value, "identical",
                          found.confidence, "", image)
    return FieldCheck(found.name, found.kind, expected, found.value, "different",
                      found.confidence, _difference(found.kind, expected, found.value), image)


def fields_agree(first: FoundField, second: FoundField, *, confident: float = DEFAULT_CONFIDENT
          ) -> FieldCheck:
    """Two fields of the same document that must say the same (the amount in figures and in
    capitals): different when both are read surely and disagree."""
    name = f"{first.name}={second.name}"
    confidence = min(first.confidence, second.confidence)
    if first.value is None or second.value is None:
        return FieldCheck(name, first.kind, first.value, second.value, "unsure", confidence,
                          "one of the two was not read")
    if confidence < confident:
        return FieldCheck(name, first.kind, first.value, second.value, "unsure", confidence,
                          f"read with confidence {confidence:.2f}, below {confident:g}")
    if first.value == second.value:
        return FieldCheck(name, first.kind, first.value, second.value, "identical",
                          confidence, "")
    return FieldCheck(name, first.kind, first.value, second.value, "different", confidence,
                      f"{first.name} says {first.value}, {second.name} says {second.value}")


def corroborated(first: FoundField, second: FoundField, confident: float
                 ) -> dict[str, FoundField]:
    """Two readings of one value (the amount in figures and in capitals, read apart) that say
    the same, one of them surely and neither poorly, are both as sure as the surer: OCR
    misreading both into one same wrong value is far less likely than either doubt."""
    low, high = sorted((first.confidence, second.confidence))
    if first.value is None or first.value != second.value or high < confident \
            or low < CORROBORATED:
        return {}
    return {f.name: replace(f, confidence=high) for f in (first, second)}


def check_all(read: dict[str, FoundField], record: dict[str, Any],
              agree: list[tuple[str, str]], confident: float = DEFAULT_CONFIDENT,
              images: dict[str, str | None] | None = None) -> list[FieldCheck]:
    """Every field of the record against what was read, then every pair that must agree."""
    for first, second in agree:
        read = {**read, **corroborated(read[first], read[second], confident)}
    checks = [compare_field(read[name], value, confident=confident,
                            image=(images or {}).get(name)) for name, value in record.items()]
    return checks + [fields_agree(read[first], read[second], confident=confident)
                     for first, second in agree]


def overall(checks: list[FieldCheck]) -> Verdict:
    verdicts = {check.verdict for check in checks}
    if "different" in verdicts:
        return "different"
    if "unsure" in verdicts or not checks:
        return "unsure"
    return "identical"


def _as_text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def _seen(found: FoundField) -> str:
    return f" (read: '{found.text}')" if found.text else ""


def _difference(kind: FieldKind, record: str, found: str) -> str:
    if kind == "account" and len(record) == len(found):
        places = [str(i + 1) for i, (a, b) in enumerate(zip(record, found, strict=True))
                  if a != b]
        return f"digit{'s' if len(places) > 1 else ''} {', '.join(places)} differ"
    if kind == "account":
        return f"{len(found)} digits on the document, {len(record)} in the record"
    return f"the record says {record}, the document {found}"
