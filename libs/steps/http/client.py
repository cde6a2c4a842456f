"""The httpx side of the http steps: the shared client, text decoding and safe messages."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

from libs.context import StepContext
from libs.secrets import MASK, check_destination

# GB2312 and GBK pages routinely contain characters only GB18030 (their superset) can decode.
_CHINESE_SUPERSET = {"gb2312": "gb18030", "gbk": "gb18030", "gb_2312-80": "gb18030",
                     "x-gbk": "gb18030", "cp936": "gb18030", "euc-cn": "gb18030"}
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_\-]+)""", re.I)
BOUND_HEADERS = "workhand.bound_headers"
"""The request extension naming the headers that hold a secret bound to hosts."""
_USERINFO = re.compile(r"(?<=://)[^/@\s]*@")


def shared_client(ctx: StepContext, verify_tls: bool) -> httpx.Client:
    """One client per run (and TLS mode): connections are reused and cookies set by a login
    request are sent with the requests after it, as a browser would."""
    key = "http.client" if verify_tls else "http.client.unverified"

    def allowed(request: httpx.Request) -> None:
        # every request, redirects included: a redirect must not lead to a host not allowed,
        # nor carry a header secret to a host its credential is not bound to
        ctx.policy.check_url(str(request.url), "http.request")
        for name, secret in request.extensions.get(BOUND_HEADERS, {}).items():
            if name in request.headers:
                check_destination(secret, str(request.url))

    return ctx.resources.get(key, lambda: httpx.Client(
        verify=verify_tls, follow_redirects=True, event_hooks={"request": [allowed]}))


def decode(response: httpx.Response) -> str:
    """The body as text: the declared charset (GBK read as GB18030), else UTF-8, else the page's
    <meta charset>, else GB18030 (Chinese systems often declare nothing)."""
    body = response.content
    if not body:
        return ""
    declared = response.charset_encoding
    if declared:
        codec = _CHINESE_SUPERSET.get(declared.lower(), declared)
        try:
            return body.decode(codec, errors="replace")
        except LookupError:
            pass  # an unknown charset name: guess as if none were declared
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    meta = _META_CHARSET.search(body[:4096])
    if meta:
        name = meta.group(1).decode("ascii").lower()
        try:
            return body.decode(_CHINESE_SUPERSET.get(name, name), errors="replace")
        except LookupError:
            pass
    return body.decode("gb18030", errors="replace")


def parse_json(response: httpx.Response, text: str) -> Any:
    """Parsed JSON when the body is JSON (legacy systems often label it text/html), else None."""
    kind = response.headers.get("content-type", "").lower()
    stripped = text.lstrip()
    if "json" not in kind and not stripped.startswith(("{", "[")):
        return None
    try:
        return json.loads(stripped)
    except ValueError:
        return None


def safe(ctx: StepContext, message: str, secrets: list[str]) -> str:
    """A message fit for users: run secrets, this request's secrets and URL passwords masked."""
    message = _USERINFO.sub(f"{MASK}@", ctx.masker.text(message))
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        message = message.replace(secret, MASK)
    return message


def preview(text: str, limit: int = 200) -> str:
    """The start of a body on one line, for error messages."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit] + "…"
