"""The Chromium flags a robot may give in ``settings.browser.args`` (imports no Playwright, so
`workhand check` uses it too).

Chromium has flags that run programs (--renderer-cmd-prefix, --utility-cmd-prefix,
--gpu-launcher, --browser-subprocess-path), open it to the network (--remote-debugging-*),
load code (--load-extension) or turn its protections off (--disable-web-security): any of them
in a robot file would be a way out of every step. So only the flags below are accepted, each
with a checked value; the program itself is the worker's choice (its `chromium` setting, or
WORKHAND_CHROMIUM), never the robot's.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

_SIZE = re.compile(r"^\d{2,5},\d{2,5}$")
_LANG = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
_SCALE = re.compile(r"^\d+(\.\d+)?$")
_HOST_LIST = re.compile(r"^[A-Za-z0-9*.,:;/<>\-\[\]_ ]*$")
PROXY_SCHEMES = ("http", "https", "socks", "socks4", "socks5")


@dataclass(frozen=True)
class Flag:
    name: str
    help: str
    value: Callable[[str], str | None] | None = None  # None: takes no value; else a checker


def _size(value: str) -> str | None:
    return None if _SIZE.match(value) else "must be WIDTH,HEIGHT in pixels, e.g. 1920,1080"


def _lang(value: str) -> str | None:
    return None if _LANG.match(value) else "must be a language tag, e.g. zh-CN or en-US"


def _scale(value: str) -> str | None:
    if _SCALE.match(value) and 0 < float(value) <= 4:
        return None
    return "must be a number from 0.25 to 4, e.g. 1.5"


def _proxy(value: str) -> str | None:
    try:
        proxy_hosts(value)
    except ValueError as err:
        return str(err)
    return None


def _hosts(value: str) -> str | None:
    if value and _HOST_LIST.match(value):
        return None
    return "must be host names or patterns separated by commas, e.g. *.bank.local,10.0.0.1"


ALLOWED: dict[str, Flag] = {f.name: f for f in (
    Flag("--window-size", "the window's size in pixels, e.g. --window-size=1920,1080", _size),
    Flag("--lang", "the browser's language, e.g. --lang=zh-CN", _lang),
    Flag("--proxy-server", "send traffic through a proxy, which must be a host the worker "
                           "allows, e.g. --proxy-server=http://proxy.bank.local:8080", _proxy),
    Flag("--proxy-bypass-list", "hosts reached without the proxy, e.g. "
                                "--proxy-bypass-list=*.bank.local", _hosts),
    Flag("--no-proxy-server", "reach every host directly, whatever the system's proxy"),
    Flag("--ignore-certificate-errors", "accept intranet sites whose certificate is not "
                                        "trusted (or settings.browser.ignore_https_errors)"),
    Flag("--force-device-scale-factor", "the screen's scale, e.g. 1.5", _scale),
    Flag("--disable-gpu", "draw without the GPU"),
    Flag("--disable-dev-shm-usage", "keep shared memory in /tmp (small /dev/shm)"),
    Flag("--start-maximized", "open the window maximized"),
    Flag("--hide-scrollbars", "no scroll bars (screenshots)"),
    Flag("--mute-audio", "no sound"),
    Flag("--disable-notifications", "no site notifications"),
    Flag("--disable-popup-blocking", "let sites open pop-up windows"),
    Flag("--disable-extensions", "no extensions"),
    Flag("--force-color-profile", "the colour profile, e.g. srgb (stable screenshots)",
         lambda v: None if v in ("srgb", "generic-rgb") else "must be srgb or generic-rgb"),
    Flag("--font-render-hinting", "font hinting, e.g. none (stable screenshots)",
         lambda v: None if v in ("none", "slight", "medium", "full")
         else "must be none, slight, medium or full"),
)}


def check_flag(text: str) -> str | None:
    """None when the flag may be given, else what is wrong and how to fix it."""
    name, sep, value = text.partition("=")
    flag = ALLOWED.get(name)
    if flag is None:
        return (f"the Chromium flag '{name}' is not allowed in a robot: only "
                f"{', '.join(sorted(ALLOWED))} are (see docs/robots.md); ask an admin for "
                "anything else")
    if flag.value is None:
        return f"the Chromium flag '{name}' takes no value" if sep else None
    if not sep or not value:
        return f"the Chromium flag '{name}' needs a value: {flag.help}"
    wrong = flag.value(value)
    return f"the Chromium flag '{name}' {wrong}" if wrong else None


def proxy_hosts(value: str) -> list[str]:
    """The hosts a --proxy-server value names: `host:port`, `scheme://host:port`, or rules
    such as `http=proxy1:80;https=proxy2:80`. ValueError when it is none of these."""
    hosts = []
    for rule in value.split(";"):
        target = rule.split("=", 1)[1] if "=" in rule else rule
        for part in target.split(","):
            part = part.strip()
            if not part:
                continue
            url = urlsplit(part if "://" in part else f"http://{part}")
            if url.scheme not in PROXY_SCHEMES:
                raise ValueError(f"must use a proxy scheme ({', '.join(PROXY_SCHEMES)}), not "
                                 f"'{url.scheme}'")
            try:
                url.port  # noqa: B018  (raises on a port that is not a number)
            except ValueError:
                raise ValueError(f"has a bad port in '{part}'") from None
            if not url.hostname or url.path not in ("", "/"):
                raise ValueError(f"must be a proxy's host and port, e.g. "
                                 f"http://proxy.bank.local:8080, not '{part}'")
            hosts.append(url.hostname)
    if not hosts:
        raise ValueError("must name a proxy, e.g. http://proxy.bank.local:8080")
    return hosts


def flags_markdown() -> str:
    """The allowed flags as a Markdown list (docs)."""
    return "\n".join(f"- `{f.name}{'=…' if f.value else ''}`: {f.help}"
                     for f in ALLOWED.values())
