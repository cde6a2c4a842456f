"""review.request: the robot hands its current work item to people and goes on with the next.

Each field carries the system's value (record), the document's (found), how sure the reading
was and the robot's verdict; a crop of the field's image when it has one. With an orchestrator
the item ends in_review there, its evidence with it (a reviewer decides on the console's review
page; approved items flow on to the next queue); run alone, the request is written to
review-requests.jsonl in the run folder. Fields of kind account or amount are sensitive: a
reviewer's change to one needs a second, different reviewer (four-eyes).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from libs.context import StepContext
from libs.errors import StepArgumentError, SystemFailure
from libs.queues import HandedToReview, ReviewRequest
from libs.registry import step
from libs.steps.files.paths import source_file

MAX_FIELDS = 100
MAX_IMAGE_BYTES = 2 * 1024 * 1024  # a field's crop; a whole page scan is not a crop
PNG = b"\x89PNG\r\n\x1a\n"
Value = str | int | float | None


class ReviewField(BaseModel):
    """One field as the reviewer sees it."""

    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\s/]+$"),
                    "the field's key, e.g. amount (what the next robot reads)"]
    label: Annotated[str, Field(max_length=200), "what the reviewer reads, e.g. 金额"] = ""
    kind: Annotated[Literal["account", "amount", "name", "date", "text"],
                    "account and amount are sensitive: a change needs a second reviewer"] = "text"
    record: Annotated[Value, "the system's value"] = None
    found: Annotated[Value, "the document's value"] = None
    confidence: Annotated[float, Field(ge=0, le=1), "how sure the reading is, 0-1"] = 0.0
    verdict: Annotated[Literal["identical", "different", "unsure"],
                       "the robot's comparison of the two"] = "unsure"
    image: Annotated[str | None, "the field's crop (PNG) in the run folder"] = None


def text_of(value: Value) -> str:
    """Values are compared and shown as text: 1234.5 and '1234.5' are one amount."""
    return "" if value is None else str(value)


@step("review.request", main="reason")
def request(
    ctx: StepContext,
    fields: Annotated[list[ReviewField], Field(min_length=1, max_length=MAX_FIELDS),
                      "the fields to review: {name, label, kind, record, found, confidence, "
                      "verdict, image}"],
    reason: Annotated[str, Field(min_length=1, max_length=2000),
                      "why people must look, e.g. 金额不一致"],
    next_queue: Annotated[str | None, Field(min_length=1, max_length=200),
                          "where the item goes once approved (default: the queue's own "
                          "setting, review_next)"] = None,
) -> None:
    """Hand the current work item to people: it ends in review and the robot goes on.

    Use it inside a for_each with work_item (a work queue, or a local list). Nothing waits for
    a person: a second robot works the approved items from the next queue, their payload the
    item's own with the reviewed values under each field's name."""
    names = [f.name for f in fields]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise StepArgumentError(f"review.request: field name(s) {', '.join(repeated)} given "
                                "twice; each field needs a name of its own")
    shown = []
    for f in fields:
        image = None
        if f.image is not None and f.image.strip():
            path = source_file(ctx, f.image, "review.request")
            size = path.stat().st_size
            if size > MAX_IMAGE_BYTES:
                raise StepArgumentError(f"review.request: field '{f.name}': {path.name} is "
                                        f"{size:,} bytes; a crop may be up to "
                                        f"{MAX_IMAGE_BYTES:,} (crop the field, not the page)")
            with path.open("rb") as data:
                if data.read(8) != PNG:
                    raise SystemFailure(f"review.request: field '{f.name}': {path.name} is not "
                                        "a PNG image")
            image = str(path)
        shown.append({"name": f.name, "label": f.label or f.name, "kind": f.kind,
                      "record": text_of(f.record), "found": text_of(f.found),
                      "confidence": round(f.confidence, 4), "verdict": f.verdict,
                      "image": image})
    raise HandedToReview(ReviewRequest(reason, shown, next_queue))
