"""What the worker reads of a robot's run folder: events.jsonl as the runner appends to it, and
the files that become the attempt's artifacts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

EVENT_BATCH = 500


class EventTail:
    """Reads events.jsonl as the runner appends to it. Only complete lines are sent; each
    carries its line number as `seq`, so a batch sent twice is stored once by the server."""

    def __init__(self, path: Path) -> None:
        self.path, self.offset, self.line = path, 0, 0

    def batch(self) -> tuple[list[dict[str, Any]], int, int]:
        """The next events after those acknowledged, and the position after them."""
        events: list[dict[str, Any]] = []
        offset, line = self.offset, self.line
        try:
            with self.path.open("rb") as file:
                file.seek(offset)
                while len(events) < EVENT_BATCH:
                    raw = file.readline()
                    if not raw.endswith(b"\n"):  # still being written (or nothing more)
                        break
                    offset, line = offset + len(raw), line + 1
                    try:
                        event = json.loads(raw)
                    except ValueError:
                        continue
                    if isinstance(event, dict):
                        events.append({**event, "seq": line})
        except FileNotFoundError:
            pass
        return events, offset, line

    def ack(self, offset: int, line: int) -> None:
        self.offset, self.line = offset, line


def artifacts(run_dir: Path, result: dict[str, Any] | None) -> dict[str, Path]:
    """Artifact name (its path relative to the run folder) → file: everything in the run folder
    (result.json, events.jsonl, screenshots, downloads, written files), plus files the robot
    registered outside it (named external/FILE)."""
    files = {p.relative_to(run_dir).as_posix(): p
             for p in sorted(run_dir.rglob("*")) if p.is_file()}
    for entry in (result or {}).get("artifacts") or []:
        path = Path(str(entry.get("path", ""))) if isinstance(entry, dict) else None
        if path is None or not path.is_absolute() or not path.is_file():
            continue
        try:
            path.resolve().relative_to(run_dir.resolve())
        except ValueError:
            files.setdefault(f"external/{path.name}", path)
    return files
