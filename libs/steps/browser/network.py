"""What the browser may request, and the record of it: the worker's hosts (libs/policy.py),
settings.browser.local_only and the robot's own rules (settings.browser.network, declared in
libs/network_rules.py), enforced by one route over every request of the browser context.

The route is installed only when something restricts requests (a route makes every request a
round trip through Playwright); ``log_requests`` alone listens to the browser's events and
routes nothing. Every refused request is a line of ``network-blocked.jsonl`` in the run's folder;
the first one of each host and reason is also a warning in the run's log. Addresses are written
as libs/network_rules.shown_url shows them (no query values, no passwords) and masked.
"""

from __future__ import annotations

import json
import mimetypes
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from playwright.sync_api import BrowserContext, Request, Response, Route, WebSocketRoute

from libs.context import StepContext
from libs.errors import StepArgumentError
from libs.network_rules import Fulfil, NetworkRules, is_address_pattern, matches, shown_url
from libs.policy import host_matches

if TYPE_CHECKING:
    from libs.steps.browser.session import BrowserSettings

BLOCKED_LOG = "network-blocked.jsonl"
REQUEST_LOG = "network-requests.jsonl"
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
# Schemes that never leave the browser: not routed, not refused.
LOCAL_SCHEMES = ("data", "blob", "about", "chrome-error")
WEB = ("http", "https", "ws", "wss")
WHERE = "settings.browser.network"


@dataclass(frozen=True)
class Answer:
    """A fulfil rule with its file read (once, when the browser starts)."""

    rule: Fulfil
    body: bytes
    content_type: str


class NetworkGuard:
    """The route, the blocked-request record and the request log of one browser context."""

    def __init__(self, ctx: StepContext, settings: BrowserSettings) -> None:
        self.ctx = ctx  # the session keeps this the current step's context
        self.rules: NetworkRules = settings.network
        self.local_only = settings.local_only
        self.answers = [self._answer(rule) for rule in self.rules.fulfil]
        self._told: set[tuple[str, str]] = set()  # (host, reason) already in the run's log
        self._answered: dict[int, str] = {}  # id(request) → the file that answered it
        self._unwritable: set[str] = set()

    @property
    def routes(self) -> bool:
        return self.local_only or self.ctx.policy.hosts is not None or self.rules.routes

    def install(self, context: BrowserContext) -> None:
        self._warn_allow_outside_policy()
        if self.routes:  # a route costs a round trip per request: only when something is refused
            context.route("**/*", self.guard)
            # WebSockets pass by no request route: without their own, a page would reach any host
            context.route_web_socket(lambda url: True, self.guard_socket)
        if self.rules.log_requests:
            context.on("response", self._response)
            context.on("requestfailed", self._failed)

    def _answer(self, rule: Fulfil) -> Answer:
        """The file a fulfil rule answers with, read through the run's path policy."""
        what = f"{WHERE}.fulfil"
        path = self.ctx.input_path(rule.file, what)  # Refused outside the robot's reach
        if not path.is_file():
            raise StepArgumentError(
                f"{what}: the file '{rule.file}' (for {rule.url}) was not found in the robot's "
                "folder; put it there or correct the path")
        kind = rule.content_type or mimetypes.guess_type(path.name)[0] \
            or "application/octet-stream"
        return Answer(rule, path.read_bytes(), kind)

    def _warn_allow_outside_policy(self) -> None:
        # allow only narrows the worker's hosts: say so when it names one the worker refuses
        for entry in self.rules.allow or ():
            if not any(c in entry for c in "*?/") and not self.ctx.policy.allows_host(entry):
                self.ctx.log(f"{WHERE}.allow: '{entry}' is not among the hosts this worker "
                             "allows robots to reach, so requests to it stay blocked; ask an "
                             "admin to add it to the worker's settings", "warning")

    # -- the route ---------------------------------------------------------------------------

    def guard(self, route: Route) -> None:
        request = route.request
        url = request.url
        parts = urlsplit(url)
        scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
        if scheme in LOCAL_SCHEMES:
            route.continue_()
            return
        for answer in self.answers:  # answered here: the request never leaves the machine
            if scheme in WEB and matches(url, host, answer.rule.url):
                if self.rules.log_requests:  # popped by the log's handlers only
                    self._answered[id(request)] = answer.rule.file
                route.fulfill(status=answer.rule.status, body=answer.body,
                              content_type=answer.content_type,
                              headers={"access-control-allow-origin": "*"})
                return
        refused = self.refusal(scheme, host, url)
        if refused is None:
            route.continue_()
            return
        route.abort("blockedbyclient")
        self._record_blocked(request.method, url, request.resource_type, host or f"{scheme}:",
                             *refused)

    def guard_socket(self, socket: WebSocketRoute) -> None:
        url = socket.url
        parts = urlsplit(url)
        scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
        refused = self.refusal(scheme, host, url)
        if refused is None:
            socket.connect_to_server()  # messages then pass both ways untouched
            return
        socket.close(code=1008, reason="blocked by the run's network rules")
        self._record_blocked("WEBSOCKET", url, "websocket", host or f"{scheme}:", *refused)

    def refusal(self, scheme: str, host: str, url: str) -> tuple[str, str] | None:
        """(who refused, why) for a request the run may not make, or None."""
        if scheme not in WEB or not host:
            return "scheme", "robots' browsers reach only http and https addresses"
        if not self.ctx.policy.allows_host(host):
            return "worker", "it is not among the hosts this worker allows robots to reach"
        if self.local_only and host not in LOCAL_HOSTS:
            return "local_only", "settings.browser.local_only allows only this machine"
        allow = self.rules.allow
        if allow is not None and not host_matches(host, allow):
            return "allow", f"it is not in {WHERE}.allow"
        for entry in self.rules.block:
            if matches(url, host, entry):
                kind = "address pattern" if is_address_pattern(entry) else "host"
                return "block", f"{WHERE}.block has the {kind} '{entry}'"
        return None

    def _record_blocked(self, method: str, address: str, resource: str, host: str, by: str,
                        why: str) -> None:
        url = self._shown(address)
        self._append(BLOCKED_LOG, {"method": method, "url": url, "host": host,
                                   "resource": resource, "by": by, "reason": why})
        if (host, by) not in self._told:
            self._told.add((host, by))
            self.ctx.log(f"browser: blocked {method} {url} ({why}); further requests "
                         f"to '{host}' refused for this reason are recorded in {BLOCKED_LOG} "
                         "only", "warning")

    # -- the request log ---------------------------------------------------------------------

    def _response(self, response: Response) -> None:
        request = response.request
        entry: dict[str, Any] = {"method": request.method, "url": self._shown(response.url),
                                 "status": response.status, "resource": request.resource_type}
        answered = self._answered.pop(id(request), None)
        if answered is not None:
            entry["answered_from"] = answered
        self._append(REQUEST_LOG, entry)

    def _failed(self, request: Request) -> None:
        self._answered.pop(id(request), None)
        error = request.failure or "failed"
        # Chromium words a request the route aborted as net::ERR_BLOCKED_BY_CLIENT.Inspector
        error = "blocked" if "ERR_BLOCKED_BY_CLIENT" in error else error
        self._append(REQUEST_LOG, {"method": request.method, "url": self._shown(request.url),
                                   "status": None, "resource": request.resource_type,
                                   "error": error})

    def _shown(self, url: str) -> str:
        return self.ctx.masker.text(shown_url(url))

    def _append(self, name: str, entry: dict[str, Any]) -> None:
        """One JSON line in the run's folder (opened per line: a killed run keeps its lines)."""
        ctx = self.ctx
        path = ctx.output_dir / name
        first = not path.exists()
        line = {"ts": round(time.time(), 3), "step": str(ctx.pos), **entry}
        try:
            with path.open("a", encoding="utf-8") as out:
                out.write(json.dumps(line, ensure_ascii=False) + "\n")
        except OSError as err:  # a full disk must not break the page's requests
            if name not in self._unwritable:
                self._unwritable.add(name)
                ctx.log(f"browser: cannot write {name} in the run's folder ({err.strerror}); "
                        "its lines are lost", "warning")
            return
        if first:
            ctx.artifact(path, "file")
