"""settings.browser.network, .permissions and .geolocation: the robot's own network rules and
what pages may use, checked before anything runs (the rules are declared in
libs/network_rules.py; the browser applies them again when it starts). A value that is an
expression is left to the run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from libs import expressions
from libs.checks.base import Checks, kind_of, suggest
from libs.checks.paths import outside_reach
from libs.errors import Pos
from libs.loader import YList, YMap
from libs.network_rules import (
    FULFIL_KEYS,
    GEOLOCATION_KEYS,
    NETWORK_KEYS,
    PERMISSIONS,
    entry_problem,
)

_NETWORK_EXAMPLE = "{block: [ads.example.com], allow: [ebank.bank.cn], log_requests: true}"
_FULFIL_EXAMPLE = "{url: '**/api/rates', file: data/rates.json}"
_GEO_LIMITS = {"latitude": 90, "longitude": 180}


def _fixed(value: Any) -> bool:
    return value is not None and not expressions.has_expression(value)


class BrowserSettingsChecks(Checks):
    def browser_network(self, raw: Any, pos: Pos) -> None:
        if not _fixed(raw):
            return
        if not isinstance(raw, YMap):
            self.problem(pos, f"'network' must be a map, e.g. {_NETWORK_EXAMPLE}")
            return
        for key in raw:
            if key not in NETWORK_KEYS:
                self.problem(raw.key_pos[key], f"unknown network setting '{key}'"
                             f"{suggest(key, NETWORK_KEYS)} (network settings: "
                             f"{', '.join(NETWORK_KEYS)})")
        for key in ("block", "allow"):
            self._entries(key, raw.get(key), raw.where(key))
        logged = raw.get("log_requests")
        if _fixed(logged) and not isinstance(logged, bool):
            self.problem(raw.where("log_requests"), f"'log_requests' must be true or false, "
                         f"not {kind_of(logged)}")
        fulfil = raw.get("fulfil")
        if not _fixed(fulfil):
            return
        if not isinstance(fulfil, YList):
            self.problem(raw.where("fulfil"), f"'fulfil' must be a list of answers, e.g. "
                         f"[{_FULFIL_EXAMPLE}]")
            return
        for answer, where in zip(fulfil, fulfil.item_pos, strict=False):
            self._fulfil(answer, where)

    def _entries(self, key: str, entries: Any, pos: Pos) -> None:
        if not _fixed(entries):
            return
        what = "hosts" if key == "allow" else "hosts or address patterns"
        if not isinstance(entries, YList):
            self.problem(pos, f"'{key}' must be a list of {what}, e.g. "
                         f"{key}: [{'ebank.bank.cn' if key == 'allow' else 'ads.example.com'}]")
            return
        for entry, where in zip(entries, entries.item_pos, strict=False):
            if expressions.has_expression(entry):
                continue
            wrong = entry_problem(entry, hosts_only=key == "allow")
            if wrong:
                self.problem(where, f"network {key}: {wrong}")

    def _fulfil(self, answer: Any, pos: Pos) -> None:
        if not isinstance(answer, YMap):
            self.problem(pos, f"each fulfil answer is a map, e.g. {_FULFIL_EXAMPLE}")
            return
        for key in answer:
            if key not in FULFIL_KEYS:
                self.problem(answer.key_pos[key], f"a fulfil answer has no '{key}'"
                             f"{suggest(key, FULFIL_KEYS)} (it has: {', '.join(FULFIL_KEYS)})")
        missing = [k for k in ("url", "file") if k not in answer]
        if missing:
            self.problem(answer.pos, f"a fulfil answer needs {' and '.join(missing)}, e.g. "
                         f"{_FULFIL_EXAMPLE}")
        url = answer.get("url")
        if _fixed(url) and (wrong := entry_problem(url)):
            self.problem(answer.where("url"), f"fulfil url: {wrong}")
        self._fulfil_file(answer.get("file"), answer.where("file"))
        status = answer.get("status")
        if _fixed(status) and (not isinstance(status, int) or isinstance(status, bool)
                               or not 100 <= status <= 599):
            self.problem(answer.where("status"), f"fulfil status must be an HTTP status from "
                         f"100 to 599, e.g. 200, not {status!r}")
        kind = answer.get("content_type")
        if _fixed(kind) and not isinstance(kind, str):
            self.problem(answer.where("content_type"), "fulfil content_type must be text, "
                         "e.g. application/json")

    def _fulfil_file(self, file: Any, pos: Pos) -> None:
        if not _fixed(file):
            return
        if not isinstance(file, str) or not file.strip():
            self.problem(pos, "fulfil file must be a path in the robot's folder, e.g. "
                         "data/rates.json")
            return
        why = outside_reach(file, self.path.parent, self.bundle, writes=False)
        if why:
            self.problem(pos, f"fulfil file: {why}")
        elif not Path(file).is_absolute() and not (self.path.parent / file).is_file():
            # absolute paths may be folders the worker allows: only the run can tell
            self.problem(pos, f"fulfil file '{file}' was not found in the robot's folder; put "
                         "it there or correct the path")

    def browser_permissions(self, raw: Any, pos: Pos) -> None:
        if not _fixed(raw):
            return
        listed = ", ".join(PERMISSIONS)
        if not isinstance(raw, YList):
            self.problem(pos, f"'permissions' must be a list, e.g. [geolocation]; permissions "
                         f"are {listed}")
            return
        for name, where in zip(raw, raw.item_pos, strict=False):
            if _fixed(name) and name not in PERMISSIONS:
                self.problem(where, f"unknown browser permission '{name}'"
                             f"{suggest(str(name), PERMISSIONS)} (permissions: {listed})")

    def browser_geolocation(self, raw: Any, pos: Pos) -> None:
        if not _fixed(raw):
            return
        example = "{latitude: 31.23, longitude: 121.47}"
        if not isinstance(raw, YMap):
            self.problem(pos, f"'geolocation' must be a map, e.g. {example}")
            return
        for key in raw:
            if key not in GEOLOCATION_KEYS:
                self.problem(raw.key_pos[key], f"geolocation has no '{key}'"
                             f"{suggest(key, GEOLOCATION_KEYS)} (it has: "
                             f"{', '.join(GEOLOCATION_KEYS)})")
        missing = [k for k in _GEO_LIMITS if k not in raw]
        if missing:
            self.problem(raw.pos, f"geolocation needs {' and '.join(missing)}, e.g. {example}")
        for key in GEOLOCATION_KEYS:
            value: Any = raw.get(key)
            if not _fixed(value):
                continue
            number = isinstance(value, int | float) and not isinstance(value, bool)
            limit = _GEO_LIMITS.get(key)
            if limit is None and not (number and value >= 0):
                self.problem(raw.where(key), f"geolocation accuracy must be a number of "
                             f"metres (0 or more), not {value!r}")
            elif limit is not None and not (number and -limit <= value <= limit):
                self.problem(raw.where(key), f"geolocation {key} must be a number from "
                             f"-{limit} to {limit}, not {value!r}")
