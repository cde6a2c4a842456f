"""The browser library: Playwright (sync API) driving the system Chromium.

Targets, waiting and errors follow Playwright: a step waits for its element to be ready (up to
the step's timeout), a target must match exactly one element, and a failure names the target as
the robot wrote it and the page's address.
"""

from libs.steps.browser import (
    actions,
    files,
    lists,
    navigation,
    network,
    questions,
    reading,
    tables,
    tabs,
    waiting,
)
from libs.steps.browser.session import BrowserSession, BrowserSettings, session_for

__all__ = ["BrowserSession", "BrowserSettings", "actions", "files", "lists", "navigation",
           "network", "questions", "reading", "session_for", "tables", "tabs", "waiting"]
