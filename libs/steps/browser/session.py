"""The run-wide browser: Playwright driving the system Chromium, its tabs and its JS dialogs.

Every browser step asks ``session_for(ctx)`` for the one BrowserSession of the run. Chromium is
started on first use (the first step that touches a page), so robots that only read Excel never
pay for it, and ``browser.close`` lets the next browser step start a fresh one.

The robot chooses none of the browser's reach: the program is the worker's (WORKHAND_CHROMIUM,
set from the worker's `chromium` setting), its flags come from an allow-list
(libs/browser_flags.py), and when the run's policy lists hosts, or the robot narrows them
(local_only, settings.browser.network), every request goes through the route in network.py.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from playwright.sync_api import (
    Browser,
    BrowserContext,
    Dialog,
    Page,
    Playwright,
    sync_playwright,
)
from playwright.sync_api import Error as PlaywrightError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from libs.browser_flags import check_flag, proxy_hosts
from libs.context import StepContext
from libs.errors import StepArgumentError, SystemFailure
from libs.network_rules import Geolocation, NetworkRules, Permission
from libs.policy import Refused
from libs.registry import describe_error
from libs.secrets import Secret
from libs.steps.browser.failures import first_line
from libs.steps.browser.network import NetworkGuard
from libs.steps.browser.targets import PLACE_ENGINE, PLACE_SCRIPT

DEFAULT_CHROMIUM = "/usr/bin/chromium"
# Chromium otherwise keeps calling Google services (update, sync, autofill) in the background:
# noise on a bank network and time stolen from the robot.
QUIET_ARGS = [
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
]
LOCAL_ONLY_ARG = "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1 , EXCLUDE localhost"


class Viewport(BaseModel):
    model_config = ConfigDict(extra="forbid")
    width: int = Field(1366, gt=0, description="page width in CSS pixels")
    height: int = Field(768, gt=0, description="page height in CSS pixels")


class BrowserSettings(BaseModel):
    """The robot's ``settings.browser`` map."""

    model_config = ConfigDict(extra="forbid")
    headless: bool = Field(True, description="run without a window (`workhand run --headed` "
                                             "overrides this)")
    slow_mo: float = Field(0, ge=0, description="pause this many milliseconds after every "
                                                "browser action (to watch a robot work)")
    viewport: Viewport = Field(default_factory=Viewport, description="page size {width, height}")
    locale: str = Field("zh-CN", description="browser language, e.g. zh-CN, en-US")
    args: list[str] = Field(default_factory=list, description="extra Chromium flags, from the "
                                                              "allowed list (window size, "
                                                              "language, proxy, ...)")
    local_only: bool = Field(False, description="resolve no host names except 127.0.0.1 and "
                                                "localhost (for tests and demos)")
    ignore_https_errors: bool = Field(False, description="accept sites whose certificate is not "
                                                         "trusted (intranet systems with their "
                                                         "own certificates)")
    network: NetworkRules = Field(default_factory=NetworkRules, description="the robot's own "
                                  "network rules: block, allow, fulfil, log_requests")
    permissions: list[Permission] = Field(default_factory=list, description="what pages may "
                                          "use without asking: geolocation, clipboard-read, "
                                          "clipboard-write, notifications")
    geolocation: Geolocation | None = Field(None, description="the position pages read "
                                            "{latitude, longitude} (grants geolocation)")

    def granted(self) -> list[str]:
        """The permissions to grant: a position given is a position pages may read."""
        wanted: list[str] = list(dict.fromkeys(self.permissions))
        if self.geolocation is not None and "geolocation" not in wanted:
            wanted.append("geolocation")
        return wanted


DialogAction = Literal["accept", "dismiss"]


@dataclass(frozen=True)
class DialogSeen:
    kind: str  # alert, confirm, prompt, beforeunload
    message: str
    answer: str


def timeout_ms(ctx: StepContext) -> float:
    """What is left of the step's time budget, in Playwright's milliseconds.

    Playwright reads 0 as "no timeout", so an exhausted budget becomes 1 ms, never 0.
    """
    return max(ctx.remaining * 1000, 1.0)


class BrowserSession:
    """One Chromium, one browser context, the current tab, and the dialog policy of a run."""

    def __init__(self, ctx: StepContext) -> None:
        self.ctx = ctx
        self.dialog_action: DialogAction = "accept"
        self.dialog_text: str | None = None
        self.dialogs: list[DialogSeen] = []
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None
        self._context: BrowserContext | None = None
        self._page: Page | None = None
        # secrets typed into a page of this browser: a page script (browser.evaluate) could
        # read them back in any disguise, which no masking can recognise
        self.secrets_typed: list[str] = []
        self._history: list[Page] = []  # tabs in the order they were made current
        self._adopted: set[int] = set()
        self._network: NetworkGuard | None = None

    def acting_for(self, ctx: StepContext) -> None:
        """Make this step the one logs and records name (requests are seen during it)."""
        self.ctx = ctx
        if self._network is not None:
            self._network.ctx = ctx

    # -- the browser ------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._browser is not None and self._browser.is_connected()

    @property
    def context(self) -> BrowserContext:
        if self._context is None or not self.running:
            self.close()  # a crashed browser leaves a Playwright driver behind
            self._launch()
        assert self._context is not None
        return self._context

    def _settings(self) -> BrowserSettings:
        raw = self.ctx.settings.get("browser") or {}
        try:
            return BrowserSettings.model_validate(raw)
        except ValidationError as err:
            raise StepArgumentError(
                f"settings.browser is not valid: {describe_error(err)}; allowed keys are "
                f"{', '.join(BrowserSettings.model_fields)}") from None

    def _executable(self) -> str:
        """The worker's Chromium (its `chromium` setting reaches the robot process as
        WORKHAND_CHROMIUM), never the robot's choice."""
        wanted = os.environ.get("WORKHAND_CHROMIUM") or DEFAULT_CHROMIUM
        found = wanted if Path(wanted).is_file() else shutil.which(wanted)
        if not found:
            raise SystemFailure(
                f"Chromium was not found at '{wanted}'; install it (apt-get install chromium) or "
                "set the worker's chromium setting (or WORKHAND_CHROMIUM) to it")
        return found

    def _args(self, settings: BrowserSettings) -> list[str]:
        """settings.browser.args, each on the allow-list (libs/browser_flags.py); a proxy must
        be a host the run may reach."""
        for arg in settings.args:
            wrong = check_flag(arg)
            if wrong:
                raise Refused(f"settings.browser.args: {wrong}")
            if arg.startswith("--proxy-server="):
                for host in proxy_hosts(arg.partition("=")[2]):
                    if not self.ctx.policy.allows_host(host):
                        raise Refused(f"settings.browser.args: the proxy host '{host}' is not "
                                      "among the hosts this worker allows robots to reach; "
                                      "ask an admin to add it to the worker's settings")
        return list(settings.args)

    def _launch(self) -> None:
        settings = self._settings()
        extra = self._args(settings)
        executable = self._executable()
        headless = settings.headless and not self.ctx.state.headed
        args = [*QUIET_ARGS, *([LOCAL_ONLY_ARG] if settings.local_only else []), *extra]
        network = NetworkGuard(self.ctx, settings)  # reads fulfil files: refused before launch
        where = settings.geolocation
        try:
            self._playwright = sync_playwright().start()
            self._playwright.selectors.register(PLACE_ENGINE, PLACE_SCRIPT)
            self._browser = self._playwright.chromium.launch(
                executable_path=executable, headless=headless, slow_mo=settings.slow_mo,
                args=args, timeout=max(timeout_ms(self.ctx), 30_000))
            self._context = self._browser.new_context(
                viewport={"width": settings.viewport.width, "height": settings.viewport.height},
                locale=settings.locale, accept_downloads=True,
                ignore_https_errors=settings.ignore_https_errors,
                permissions=settings.granted(),
                geolocation=None if where is None else {
                    "latitude": where.latitude, "longitude": where.longitude,
                    "accuracy": where.accuracy})
        except PlaywrightError as err:
            self.close()
            hint = ("a window needs a display: set DISPLAY (e.g. start Xvfb) or run headless"
                    if not headless and not os.environ.get("DISPLAY")
                    else "check that this Chromium starts by hand and the arguments in "
                         "settings.browser.args")
            raise SystemFailure(f"cannot start Chromium ({executable}): {first_line(err)}; "
                                f"{hint}") from None
        self._context.on("page", self._adopt)
        self._network = network
        network.install(self._context)

    def close(self) -> None:
        """Close the browser; the next browser step starts a new one."""
        for closing in (self._context, self._browser, self._playwright):
            if closing is None:
                continue
            try:
                if isinstance(closing, BrowserContext | Browser):
                    closing.close()
                else:
                    closing.stop()
            except Exception:  # a dead browser cannot be closed twice
                continue
        self._playwright = self._browser = self._context = self._page = None
        self._network = None
        self.secrets_typed.clear()
        self._history.clear()
        self._adopted.clear()

    def typing(self, text: object) -> None:
        """Remember a secret about to be typed into a page of this browser."""
        if isinstance(text, Secret):
            self.secrets_typed.append(text.name)

    def no_secrets_typed(self, step: str) -> None:
        """Refuse a step that runs the robot's own script in pages that were given a secret."""
        if self.secrets_typed:
            raise Refused(
                f"{step}: a secret ('{self.secrets_typed[0]}') was typed into this browser, and "
                "a script could read it back from the page in a disguise no masking "
                "recognises; read the page with browser.read_text or browser.read_table "
                "instead, or start a fresh browser with browser.close first")

    def capture(self, path: Path) -> Path | None:
        """Screenshot the current tab for a failure report; None when no page is open."""
        page = self._page
        if page is None or page.is_closed() or not self.running:
            return None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=path, timeout=5000)
        except Exception:
            return None
        return path

    def idle(self, ctx: StepContext | None, seconds: float) -> bool:
        """Pause for `seconds` (the pause of step `ctx`) while Playwright keeps delivering the
        browser's events, so a dialog a page timer opens meanwhile is answered (and logged, at
        that step) during the pause, not at the next browser step. False, without pausing, when
        no page is open (the caller sleeps).
        """
        page = self._page
        if page is None or page.is_closed() or not self.running:
            return False
        if ctx is not None:  # what happens meanwhile is logged at the pausing step
            self.ctx = ctx
        end = time.monotonic() + seconds
        # Slices: the pause ends on time even if the tab closes, and a cancel (SIGTERM becomes
        # KeyboardInterrupt) is never held for long inside one Playwright call.
        while (left := end - time.monotonic()) > 0:
            try:
                page.wait_for_timeout(min(left, 0.25) * 1000)
            except PlaywrightError:  # the tab or the browser went away meanwhile
                time.sleep(max(0.0, end - time.monotonic()))
                break
        return True

    # -- tabs -------------------------------------------------------------------------------

    @property
    def page(self) -> Page:
        """The current tab; when it was closed, the tab used before it (or a new blank one)."""
        if self._page is not None and not self._page.is_closed() and self.running:
            return self._page
        context = self.context
        self._history = [p for p in self._history if not p.is_closed()]
        if self._history:
            self._page = self._history[-1]
        elif context.pages:
            self.switch_to(context.pages[-1])
        else:
            self.new_page()
        assert self._page is not None
        return self._page

    @property
    def url(self) -> str:
        """The current tab's address, for messages (never starts a browser)."""
        page = self._page
        return page.url if page is not None and not page.is_closed() else "(no page open)"

    @property
    def pages(self) -> list[Page]:
        return list(self.context.pages)

    def new_page(self) -> Page:
        page = self.context.new_page()
        self._adopt(page)
        self.switch_to(page)
        return page

    def switch_to(self, page: Page) -> None:
        self._page = page
        if page in self._history:
            self._history.remove(page)
        self._history.append(page)

    def close_page(self) -> None:
        page = self.page
        if page in self._history:
            self._history.remove(page)
        self._page = None
        page.close()

    def _adopt(self, page: Page) -> None:
        # Called for every tab: the ones robots open and the pop-ups the site opens.
        if id(page) in self._adopted:
            return
        self._adopted.add(id(page))
        page.on("dialog", self._on_dialog)

    # -- JS dialogs -------------------------------------------------------------------------

    def _on_dialog(self, dialog: Dialog) -> None:
        if self.dialog_action == "dismiss":
            answer = "dismissed"
        elif dialog.type == "prompt":
            text = self.dialog_text if self.dialog_text is not None else dialog.default_value
            answer = f"accepted with '{text}'"
        else:
            answer = "accepted"
        self.dialogs.append(DialogSeen(dialog.type, dialog.message, answer))
        self.ctx.log(f"browser {dialog.type} dialog: '{dialog.message}' ({answer})")
        try:
            if self.dialog_action == "dismiss":
                dialog.dismiss()
            elif dialog.type == "prompt":
                dialog.accept(text)
            else:
                dialog.accept()
        except PlaywrightError as err:  # the page went away while the dialog was open
            self.ctx.log(f"browser dialog could not be answered: {err}", "warning")


def session_for(ctx: StepContext) -> BrowserSession:
    """The run's browser session (created on first use), now acting for this step."""
    session = ctx.resources.get("browser", lambda: BrowserSession(ctx))
    session.acting_for(ctx)
    return session

