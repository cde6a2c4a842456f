"""Fenced code blocks of the Markdown guide, with where they stand and the marker before them.

Shared by tests/docs/test_guide.py (every YAML example is checked) and
tests/docs/test_tutorial.py (the tutorial's blocks, assembled and run).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FENCE = re.compile(r"^(\s*)(`{3,})\s*([^`\s]*)\s*(.*)$")
MARKER = re.compile(r"^\s*<!--\s*tutorial:\s*(.*?)\s*-->\s*$")


@dataclass(frozen=True)
class Block:
    file: Path
    line: int  # the line of the opening fence, 1-based
    lang: str  # yaml, text, bash, ...
    words: tuple[str, ...]  # what follows the language: ``yaml wrong`` → ("wrong",)
    text: str
    marker: str | None  # the ``<!-- tutorial: ... -->`` just before the block, if any

    @property
    def where(self) -> str:
        shown = self.file.relative_to(ROOT) if self.file.is_relative_to(ROOT) else self.file
        return f"{shown}:{self.line}"


def blocks(path: Path) -> list[Block]:
    """Every fenced block of a Markdown file, in order; a block's indentation (inside a list
    item) is taken off its lines."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    marker: str | None = None
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if opening is None:
            marked = MARKER.match(lines[i])
            if marked:
                marker = marked.group(1)
            elif lines[i].strip():
                marker = None  # a marker stands right before its block (blank lines allowed)
            i += 1
            continue
        indent, ticks, lang, rest = opening.groups()
        body: list[str] = []
        start = i + 1
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(ticks):
            line = lines[i]
            body.append(line[len(indent):] if line.startswith(indent) else line.lstrip())
            i += 1
        found.append(Block(path, start, lang.lower(), tuple(rest.split()),
                           "\n".join(body) + "\n", marker))
        marker = None
        i += 1
    return found


def guide_files() -> list[Path]:
    """README.md and every Markdown page under docs/."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
