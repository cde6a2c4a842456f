"""Work queues as the runner sees them: a source of items leased one at a time.

Running alone (``workhand run``) there is no queue service; the orchestrator's worker passes a
``QueueSource`` that leases items from the server.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


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
