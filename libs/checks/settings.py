"""The robot's settings: known keys, the time limit, browser options (flags on the allow-list in
libs/browser_flags.py, never the browser program) and the expressions in them."""

from __future__ import annotations

from typing import Any

from libs import expressions
from libs.browser_flags import check_flag
from libs.checks.base import suggest
from libs.checks.browser_settings import BrowserSettingsChecks
from libs.checks.expression_use import ExpressionChecks
from libs.errors import Pos
from libs.loader import YList, YMap
from libs.secrets import SECRET_SETTINGS

SETTINGS_KEYS = ("timeout", "browser", "mail", "screenshots", "http", "ocr")
OCR_PROFILES = ("fast", "accurate")
BROWSER_KEYS = ("headless", "slow_mo", "viewport", "locale", "args", "local_only",
                "ignore_https_errors", "network", "permissions", "geolocation")
DEFAULT_TIMEOUT = 30.0


class SettingsChecks(ExpressionChecks, BrowserSettingsChecks):
    def check_settings(self, raw: Any, pos: Pos) -> tuple[dict[str, Any], float]:
        if raw is None:
            return {}, DEFAULT_TIMEOUT
        if not isinstance(raw, YMap):
            self.problem(pos, "'settings' must be a map (timeout, browser, mail, screenshots)")
            return {}, DEFAULT_TIMEOUT
        for key in raw:
            if key not in SETTINGS_KEYS:
                hint = (f"; browser options go under browser: {{{key}: ...}}"
                        if key in BROWSER_KEYS else suggest(key, SETTINGS_KEYS))
                self.problem(raw.key_pos[key], f"unknown setting '{key}'{hint}")
        timeout = self.duration(raw.get("timeout", DEFAULT_TIMEOUT), raw.where("timeout"),
                                "timeout") or DEFAULT_TIMEOUT
        browser = raw.get("browser")
        if browser is not None:
            if not isinstance(browser, YMap):
                self.problem(raw.where("browser"), "'browser' settings must be a map, e.g. "
                             "{headless: true}")
            else:
                for key in browser:
                    if key == "executable":
                        self.problem(browser.key_pos[key], "a robot may not choose the browser "
                                     "program; remove settings.browser.executable (the "
                                     "worker's chromium setting, or WORKHAND_CHROMIUM, "
                                     "decides)")
                    elif key not in BROWSER_KEYS:
                        self.problem(browser.key_pos[key], f"unknown browser setting '{key}'"
                                     f"{suggest(key, BROWSER_KEYS)}")
                self.browser_args(browser.get("args"), browser.where("args"))
                self.browser_network(browser.get("network"), browser.where("network"))
                self.browser_permissions(browser.get("permissions"),
                                         browser.where("permissions"))
                self.browser_geolocation(browser.get("geolocation"),
                                         browser.where("geolocation"))
        ocr = raw.get("ocr")
        if ocr is not None and (not isinstance(ocr, YMap) or set(ocr) - {"profile"}
                                or ocr.get("profile", "fast") not in OCR_PROFILES):
            self.problem(raw.where("ocr"), "'ocr' settings are {profile: fast} or {profile: "
                         "accurate} (the models OCR reads with; the engine is the worker's)")
        shots = raw.get("screenshots", "on_failure")
        if shots not in ("on_failure", "every_step", "never"):
            self.problem(raw.where("screenshots"), "'screenshots' must be on_failure, "
                         "every_step or never")
        return dict(raw), timeout

    def browser_args(self, args: Any, pos: Pos) -> None:
        """settings.browser.args: each literal flag on the allow-list (libs/browser_flags.py);
        an expression is checked when the browser starts."""
        if args is None or expressions.has_expression(args):
            return
        if not isinstance(args, YList):
            self.problem(pos, "'args' must be a list of Chromium flags, e.g. "
                         "[--window-size=1920,1080]")
            return
        for arg, where in zip(args, args.item_pos, strict=False):
            if not isinstance(arg, str):
                self.problem(where, "each Chromium flag must be text, e.g. --lang=zh-CN")
            elif not expressions.has_expression(arg) and (wrong := check_flag(arg)):
                self.problem(where, wrong)

    def settings_expressions(self, raw: Any) -> None:
        """Expressions in settings; only mail.password may take a secret (passed whole)."""
        if not isinstance(raw, YMap):
            return
        for key, value in raw.items():
            if isinstance(value, YMap):
                for field_name, item in value.items():
                    self.value_or_expression(item, value.where(field_name), False,
                                             (key, field_name) in SECRET_SETTINGS)
            else:
                self.value_or_expression(value, raw.where(key), False)
