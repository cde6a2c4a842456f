"""A robot's own browser network rules and permissions (settings.browser.network, .permissions,
.geolocation): declared once here, read by the checker (libs/checks/browser_settings.py), the
JSON Schema (libs/reference.py) and the browser (libs/steps/browser/network.py).

A robot's rules only ever narrow what the worker's policy allows (libs/policy.py): ``allow``
keeps fewer hosts, ``block`` refuses more, and ``fulfil`` answers a request from a file of the
robot's own folder, so that request never leaves the machine.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from libs.policy import host_matches

PERMISSIONS = ("geolocation", "clipboard-read", "clipboard-write", "notifications")
Permission = Literal["geolocation", "clipboard-read", "clipboard-write", "notifications"]
PATTERN_SCHEMES = ("http", "https", "ws", "wss", "*", "**")
NETWORK_KEYS = ("block", "allow", "fulfil", "log_requests")
FULFIL_KEYS = ("url", "file", "status", "content_type")
GEOLOCATION_KEYS = ("latitude", "longitude", "accuracy")
# Host names as Chromium sends them (IDN already punycode), with fnmatch wildcards; or an IPv6
# address, bracketed or not.
_HOST = re.compile(r"^[a-z0-9*?_-]+(\.[a-z0-9*?_-]+)*\.?$|^\[?[0-9a-f:.]+]?$")
HOW_TO_WRITE = ("write a host such as ads.example.com, *.example.com or 10.0.0.0/8, or an "
                "address pattern such as **/api/rates or https://ads.example.com/**")


def _network(entry: str) -> bool:
    try:
        ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return False
    return True


def is_address_pattern(entry: str) -> bool:
    """An entry with a '/' that is not an IP network (10.0.0.0/8) is an address pattern;
    anything else names hosts."""
    return "/" in entry and not _network(entry.strip())


def entry_problem(entry: object, *, hosts_only: bool = False) -> str | None:
    """Why an allow/block/fulfil entry cannot be used (a sentence with the fix), or None."""
    if not isinstance(entry, str):
        return f"each entry must be text; {HOW_TO_WRITE}"
    text = entry.strip()
    if not text:
        return f"an entry is empty; {HOW_TO_WRITE}"
    if any(c.isspace() for c in text):
        return f"'{text}' contains a space; {HOW_TO_WRITE}"
    if is_address_pattern(text):
        if hosts_only:
            return (f"'{text}' is an address pattern, but allow takes hosts only (e.g. "
                    "ebank.bank.cn, *.bank.cn, 10.0.0.0/8); to refuse addresses use block")
        if "***" in text:
            return f"'{text}' has '***'; write ** for any characters, * for any but '/'"
        if "://" in text:
            scheme = text.split("://", 1)[0]
            if scheme.lower() not in PATTERN_SCHEMES:
                return (f"'{text}' starts with '{scheme}://'; address patterns match http, "
                        "https, ws or wss addresses (or * for any of them)")
        elif not text.startswith("*"):
            return (f"'{text}' is neither a host nor a whole address; start the pattern with "
                    f"** (e.g. **/{text.lstrip('/')}) or with http:// or https://")
        return None
    host, colon, port = text.rpartition(":")
    if colon and port.isdigit() and host.count(":") == 0:  # IPv6 addresses hold several
        return (f"'{text}' has a port, but hosts are matched without one; write {host}, or "
                f"an address pattern such as http://{text}/**")
    if not _network(text) and not _HOST.match(text.lower()):
        return f"'{text}' is not a host name; {HOW_TO_WRITE}"
    return None


def _glob(pattern: str) -> re.Pattern[str]:
    """``**`` any characters, ``*`` any but '/', everything else as written (Playwright's
    glob, without its {a,b} and ? forms, which addresses use literally)."""
    out = []
    for i, part in enumerate(pattern.split("**")):
        if i:
            out.append(".*")
        out.append("[^/]*".join(re.escape(p) for p in part.split("*")))
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)


def matches(url: str, host: str, entry: str) -> bool:
    """Whether a request matches an entry: a host entry by its host (libs/policy.py's rule),
    an address pattern by the whole address, or by the address without its query (so
    **/api/rates also matches /api/rates?day=1)."""
    text = entry.strip()
    if not is_address_pattern(text):
        return bool(host) and host_matches(host, [text])
    glob = _glob(text)
    return bool(glob.fullmatch(url) or glob.fullmatch(url.split("#", 1)[0].split("?", 1)[0]))


def shown_url(url: str) -> str:
    """An address fit for logs: no user or password, no fragment, and query values as ***
    (tokens travel in query strings); parameter names stay, to tell requests apart."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return url.split("?", 1)[0].split("#", 1)[0]
    netloc = (f"[{host}]" if ":" in host else host) + (f":{port}" if port else "")
    shown = f"{parts.scheme}://{netloc}{parts.path}" if parts.scheme else parts.path
    if parts.query:
        shown += "?" + "&".join(seg.split("=", 1)[0] + ("=***" if "=" in seg else "")
                                for seg in parts.query.split("&"))
    return shown


class Fulfil(BaseModel):
    """One answer from a file: requests matching ``url`` never reach the network."""

    model_config = ConfigDict(extra="forbid")
    url: str = Field(description="the requests to answer: an address pattern (** any "
                                 "characters, * any but '/'), e.g. **/api/rates, or a host")
    file: str = Field(description="the file to answer with, in the robot's folder, e.g. "
                                  "data/rates.json")
    status: int = Field(200, ge=100, le=599, description="the HTTP status of the answer")
    content_type: str | None = Field(None, description="the answer's Content-Type (default: "
                                                       "from the file's extension)")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        wrong = entry_problem(value)
        if wrong:
            raise ValueError(wrong)
        return value.strip()


class NetworkRules(BaseModel):
    """The robot's ``settings.browser.network`` map."""

    model_config = ConfigDict(extra="forbid")
    block: list[str] = Field(default_factory=list, description="refuse requests to these hosts "
                             "or address patterns, e.g. [ads.example.com, **/track/**]")
    allow: list[str] | None = Field(None, description="reach only these hosts (within the "
                                    "hosts the worker allows), e.g. [ebank.bank.cn, "
                                    "*.bank.local]")
    fulfil: list[Fulfil] = Field(default_factory=list, description="answer requests from "
                                 "files of the robot's folder, e.g. [{url: '**/api/rates', "
                                 "file: data/rates.json}]")
    log_requests: bool = Field(False, description="record every request (method, address, "
                               "status) in network-requests.jsonl in the run's folder")

    @field_validator("block")
    @classmethod
    def _block(cls, value: list[str]) -> list[str]:
        return _entries(value, hosts_only=False)

    @field_validator("allow")
    @classmethod
    def _allow(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _entries(value, hosts_only=True)

    @property
    def routes(self) -> bool:
        """Whether these rules need every request routed (logging alone does not)."""
        return bool(self.block or self.fulfil) or self.allow is not None


def _entries(values: list[str], *, hosts_only: bool) -> list[str]:
    for value in values:
        wrong = entry_problem(value, hosts_only=hosts_only)
        if wrong:
            raise ValueError(wrong)
    return [v.strip() for v in values]


class Geolocation(BaseModel):
    """The position the browser reports to pages (navigator.geolocation)."""

    model_config = ConfigDict(extra="forbid")
    latitude: float = Field(ge=-90, le=90, description="degrees north, e.g. 31.23")
    longitude: float = Field(ge=-180, le=180, description="degrees east, e.g. 121.47")
    accuracy: float = Field(0, ge=0, description="in metres")
