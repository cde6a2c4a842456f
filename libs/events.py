"""Run events: every step's start and end, work items, logs. Sinks receive plain dicts.

Every event is masked before any sink sees it, so no sink can leak a secret.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

Sink = Callable[[dict[str, Any]], None]


class JsonlSink:
    """Appends one JSON object per line to OUTPUT/events.jsonl, flushed per event so a crash
    loses nothing that happened before it."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] = path.open("a", encoding="utf-8")

    def __call__(self, event: dict[str, Any]) -> None:
        self._file.write(json.dumps(event, ensure_ascii=False, default=str) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


class Collector:
    """Keeps events in memory (tests, and the worker's upload buffer)."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def __call__(self, event: dict[str, Any]) -> None:
        self.events.append(event)

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == kind]


def stamp(event: dict[str, Any]) -> dict[str, Any]:
    event.setdefault("ts", round(time.time(), 3))
    return event
