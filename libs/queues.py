"""Work queues as the runner sees them: a source of items leased one at a time.

Running alone (``workhand run``) there is no queue service; the orchestrator's worker passes a
``QueueSource`` that leases items from the server.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable


@dataclass
class QueueItem:
    reference: str
    payload: Any
    handle: Any = None  # what the source needs to report the outcome


class QueueSource(Protocol):
    def lease(self, queue: str) -> QueueItem | None:
        """The next item of the queue, or None when it is empty."""

    def report(self, queue: str, item: QueueItem, outcome: str, message: str) -> None:
        """outcome: done | business_exception | system_error."""


# -- human review -------------------------------------------------------------------------
# A robot hands its current work item to people with the review.request step: the item ends
# in_review (neither done nor an exception) and the robot goes on with its next item; nothing
# waits for a person. With an orchestrator the request goes with the item's report (a
# ReviewSource); run alone, it is written to review-requests.jsonl in the run folder.

IN_REVIEW = "in_review"
LOCAL_REVIEWS = "review-requests.jsonl"


@dataclass
class ReviewRequest:
    """What a reviewer needs: each field as {name, label, kind, record, found, confidence,
    verdict, image} (image: the crop's path in the run folder, or None), why, and where the
    item goes once approved (None: the queue's own setting)."""
    reason: str
    fields: list[dict[str, Any]]
    next_queue: str | None = None

    def to_json(self, images: Callable[[Path], str | None] | None = None) -> dict[str, Any]:
        """The request as JSON; `images` turns a crop's path into what is sent (e.g. base64),
        else paths are kept as text."""
        fields = []
        for f in self.fields:
            image = f.get("image")
            shown = None if image is None else (images(Path(image)) if images else str(image))
            fields.append({**f, "image": shown})
        return {"reason": self.reason, "next_queue": self.next_queue, "fields": fields}


class HandedToReview(Exception):  # a signal, not an error: the item is fine
    """Raised by review.request: the runner ends the current work item in review."""

    def __init__(self, request: ReviewRequest) -> None:
        super().__init__(request.reason)
        self.request = request


@runtime_checkable
class ReviewSource(Protocol):
    def review(self, queue: str, item: QueueItem, request: ReviewRequest) -> None:
        """End the item in review, its evidence with it (instead of report())."""


def write_local_review(output_dir: Path, reference: str, request: ReviewRequest) -> Path:
    """A local run's review request: one JSON line in the run folder, its crops named by
    their paths in it (a crop from elsewhere, e.g. the robot's folder, is copied to
    review/<n>/<field>.png first, so the run folder holds all the evidence)."""
    path = output_dir / LOCAL_REVIEWS
    number = sum(1 for _ in path.open(encoding="utf-8")) + 1 if path.exists() else 1

    def relative(image: Path) -> str:
        try:
            return image.resolve().relative_to(output_dir.resolve()).as_posix()
        except ValueError:
            name = next(f["name"] for f in request.fields if f.get("image") == str(image))
            copy = output_dir / "review" / str(number) / f"{name}.png"
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(image, copy)
            return copy.relative_to(output_dir).as_posix()

    line = {"reference": reference, **request.to_json(relative)}
    with path.open("a", encoding="utf-8") as out:
        out.write(json.dumps(line, ensure_ascii=False) + "\n")
    return path
