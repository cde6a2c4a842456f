"""The tellers who may log in: a users file (JSON: {"0101": "password", ...}) or the demo's."""

from __future__ import annotations

import json
from pathlib import Path

DEFAULT_TELLERS: dict[str, str] = {"0101": "Filing@2026", "0102": "Filing@2026"}
"""teller number → password, when no users file is given (S5's robot logs in as 0101)."""


def load_tellers(path: Path | str | None) -> dict[str, str]:
    """The tellers in a users file, or DEFAULT_TELLERS when ``path`` is None."""
    if path is None:
        return dict(DEFAULT_TELLERS)
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not data or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise ValueError(f"{path}: a users file is a JSON object of teller number → password, "
                         'e.g. {"0101": "Filing@2026"}')
    return data
