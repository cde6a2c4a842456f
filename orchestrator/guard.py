"""What a request body may be, checked once at the edge (plain ASGI, the body read once):

- its size, per route (Settings.max_*_bytes): a Content-Length over the cap is refused at once
  without reading a byte, a chunked body is counted while it streams and cut at the cap (413);
- for JSON, text both databases can store: no NUL character (PostgreSQL text and JSONB cannot
  hold it), no lone UTF-16 surrogate ("\\ud800", not text at all), no NaN or Infinity (Python
  reads them, JSON and PostgreSQL do not), nesting at most MAX_DEPTH levels (deeper JSON exhausts
  the parsers' recursion). People's requests that break these rules get a 422 sentence naming
  the place; what workers report for their robots (events, outcomes, item reports) is cleaned
  instead, so a robot's odd text never costs the outcome of its job.

The checks cost nothing on ordinary bodies: the JSON is parsed here only when its bytes hint
at a problem (an escaped NUL or surrogate, NaN/Infinity, many brackets, a long robot text).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException
from fastapi.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from orchestrator.settings import Settings

MAX_DEPTH = 64
MAX_ROBOT_TEXT = 65_536  # characters of one string a worker reports; longer is cut, with a note
CUT_DEEP = f"(cut by the orchestrator: nested deeper than {MAX_DEPTH} levels)"


@dataclass(frozen=True)
class Route:
    """How much body a route takes and whose text it carries."""
    cap: int
    setting: str  # the Settings field, named in the 413's fix
    what: str
    from_robot: bool = False  # text a worker reports for its robot: cleaned, not refused
    files: bool = False  # a file, streamed to the route as it arrives (never held here)


_QUEUE = r"/api/v1/queues/[^/]+"
# (method, path pattern, Settings field, what it is, "robot": text from a robot | "files")
ROUTES: tuple[tuple[str, re.Pattern[str], str, str, str], ...] = (
    ("PUT", re.compile(r"^/api/v1/jobs/[^/]+/artifacts/"), "max_artifact_bytes",
     "an artifact", "files"),
    ("POST", re.compile(r"^/api/v1/robots/?$"), "max_deploy_bytes", "a robot deploy", "files"),
    ("POST", re.compile(rf"^{_QUEUE}/items/file/?$"), "max_import_bytes", "a queue file import",
     "files"),
    ("POST", re.compile(rf"^{_QUEUE}/items/?$"), "max_items_bytes", "queue items", ""),
    ("POST", re.compile(r"^/api/v1/(lease|jobs/[^/]+/(events|complete)|queue-items/[^/]+/"
                        r"report)/?$"), "max_report_bytes", "a worker's report", "robot"),
)


def route_of(method: str, path: str, settings: Settings) -> Route:
    for verb, pattern, setting, what, kind in ROUTES:
        if method == verb and pattern.match(path):
            return Route(getattr(settings, setting), setting, what, from_robot=kind == "robot",
                         files=kind == "files")
    return Route(settings.max_body_bytes, "max_body_bytes", "this request")


def size_text(size: int) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if size >= scale:
            return f"{size / scale:g} {unit}"
    return f"{size} bytes"


class BodyTooLarge(HTTPException):
    def __init__(self, route: Route) -> None:
        super().__init__(413, f"the request body is larger than {size_text(route.cap)}, the "
                              f"limit for {route.what}; send less, or have the administrator "
                              f"raise WORKHAND_{route.setting.upper()}")


def error(detail: str, status: int, **extra: Any) -> Response:
    """Errors are ASCII-escaped JSON, so no odd character in a message can break the reply."""
    return Response(json.dumps({"detail": detail, **extra}, ensure_ascii=True),
                    status_code=status, media_type="application/json")


# -- JSON text --------------------------------------------------------------------------------

_ESCAPED_NUL = b"\\u0000"
_ESCAPED_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_NOT_A_NUMBER = re.compile(rb"NaN|Infinity")
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_INNERMOST = re.compile(rb"\[\]|\{\}")
_SURROGATE = re.compile("[\ud800-\udfff]")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def too_deep(body: bytes) -> bool:
    """JSON nested deeper than MAX_DEPTH, found without parsing it (parsers recurse, and ~1,000
    levels exhaust them): strings dropped, then only brackets kept, then the innermost pairs
    taken away one level at a time."""
    if body.count(b"[") + body.count(b"{") <= MAX_DEPTH:
        return False
    brackets = _STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    for _ in range(MAX_DEPTH):
        brackets, taken = _INNERMOST.subn(b"", brackets)
        if not brackets or not taken:  # done, or not JSON (the route says what is wrong)
            return False
    return True


def _suspect(body: bytes, from_robot: bool) -> bool:
    return (_ESCAPED_NUL in body or _NOT_A_NUMBER.search(body) is not None
            or _ESCAPED_SURROGATE.search(body) is not None
            or body.count(b"[") + body.count(b"{") > MAX_DEPTH
            or (from_robot and len(body) > MAX_ROBOT_TEXT))


def _at(where: str, key: object) -> str:
    return f"{where}[{key}]" if isinstance(key, int) else f"{where}.{key}" if where else str(key)


def _text_problem(text: str) -> str | None:
    if "\x00" in text:
        return "holds a NUL character (\\u0000), which the database cannot store"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "holds a lone UTF-16 surrogate (\\ud800-\\udfff), which is not text"
    return None


def problem_in(value: Any, where: str = "", depth: int = 0) -> str | None:
    """The first place in parsed JSON that no database can store, as a sentence; else None."""
    if depth > MAX_DEPTH:
        return f"the JSON is nested deeper than {MAX_DEPTH} levels; send a flatter structure"
    if isinstance(value, str):
        why = _text_problem(value)
        return None if why is None else f"{where or 'the body'} {why}; send valid UTF-8 text"
    if isinstance(value, float) and not math.isfinite(value):
        return (f"{where or 'the body'} is {value!r}, which JSON and the database cannot hold; "
                "send a number or null")
    if isinstance(value, dict):
        for key, item in value.items():
            why = _text_problem(key)
            if why is not None:
                return f"a key in {where or 'the body'} {why}; send valid UTF-8 text"
            found = problem_in(item, _at(where, key), depth + 1)
            if found:
                return found
    elif isinstance(value, list):
        for n, item in enumerate(value):
            found = problem_in(item, _at(where, n), depth + 1)
            if found:
                return found
    return None


def clean_text(text: str, limit: int = MAX_ROBOT_TEXT) -> str:
    """A robot's text made storable: NUL removed, lone surrogates replaced, cut with a note."""
    text = text.replace("\x00", "")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = _SURROGATE.sub("\ufffd", text)
    if len(text) > limit:
        text = (f"{text[:limit]} ... ({len(text) - limit} more characters cut by the "
                "orchestrator)")
    return text


def cleaned(value: Any, depth: int = 0) -> Any:
    """Parsed JSON from a robot, storable by both databases (see clean_text; NaN → null)."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict | list) and depth >= MAX_DEPTH:
        return CUT_DEEP
    if isinstance(value, dict):
        return {clean_text(k, 500): cleaned(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [cleaned(v, depth + 1) for v in value]
    return value


def _judge(body: bytes, from_robot: bool) -> tuple[bytes, str | None]:
    """The body to hand on (cleaned for a robot's report) and the refusal, if any."""
    if not _suspect(body, from_robot):
        return body, None
    deep = f"the JSON is nested deeper than {MAX_DEPTH} levels; send a flatter structure"
    if not from_robot and too_deep(body):
        return body, deep
    try:
        value = json.loads(body)
    except RecursionError:
        return body, deep
    except ValueError:
        return body, None  # not JSON: the route's own validation says so
    if not from_robot:
        return body, problem_in(value)
    fixed = cleaned(value)
    if fixed == value:
        return body, None
    return json.dumps(fixed, ensure_ascii=False, allow_nan=False).encode(), None


# -- the middleware ---------------------------------------------------------------------------

def _is_json(scope: Scope) -> bool:
    """A body without a Content-Type counts as JSON too (FastAPI reads it so unless its
    strict_content_type is on): no way around the checks."""
    types = [v for k, v in scope["headers"] if k == b"content-type"]
    return not types or any(b"json" in t.lower() for t in types)


def _declared_length(scope: Scope) -> int | None:
    for key, value in scope["headers"]:
        if key == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class BodyGuard:
    """The size and text rules above, for every POST, PUT and PATCH."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app, self.settings = app, settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if "\x00" in scope["path"] or b"%00" in scope["query_string"]:
            await error("the URL holds a NUL character (%00), which no name or value can "
                        "hold; remove it", 422)(scope, receive, send)
            return
        if scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        route = route_of(scope["method"], scope["path"], self.settings)
        declared = _declared_length(scope)
        if declared is not None and declared > route.cap:
            await error(BodyTooLarge(route).detail, 413)(scope, receive, send)
            return
        if not route.files and _is_json(scope):
            await self._json(route, scope, receive, send)
            return
        await self._streamed(route, scope, receive, send)

    async def _streamed(self, route: Route, scope: Scope, receive: Receive, send: Send) -> None:
        """Other bodies (files) go to the route as they arrive, counted: past the cap, the
        route's next read raises BodyTooLarge, which answers 413."""
        size, started = 0, False

        async def counted() -> Message:
            nonlocal size
            message = await receive()
            if message["type"] == "http.request":
                size += len(message.get("body", b""))
                if size > route.cap:
                    raise BodyTooLarge(route)
            return message

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, sending)
        except BodyTooLarge as err:  # raised outside the app's own error handling
            if started:
                raise
            await error(str(err.detail), 413)(scope, receive, send)

    async def _json(self, route: Route, scope: Scope, receive: Receive, send: Send) -> None:
        chunks: list[bytes] = []
        size = 0
        message: Message = {"more_body": True}
        while message.get("more_body"):
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                await self.app(scope, receive, send)
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > route.cap:
                await error(BodyTooLarge(route).detail, 413)(scope, receive, send)
                return
            chunks.append(chunk)
        body, refusal = _judge(b"".join(chunks), route.from_robot)
        if refusal is not None:
            await error(refusal, 422)(scope, receive, send)
            return
        if len(body) != size:
            scope = {**scope, "headers": [(k, v) for k, v in scope["headers"]
                                          if k != b"content-length"]
                     + [(b"content-length", str(len(body)).encode())]}
        await self.app(scope, _replay(body, receive), send)


def _replay(body: bytes, receive: Receive) -> Callable[[], Any]:
    handed = False

    async def replay() -> Message:
        nonlocal handed
        if handed:
            return await receive()
        handed = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay
