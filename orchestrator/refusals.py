"""What the orchestrator refuses, by kind.

The domain (jobs, queues, people, tokens, the daily report) raises a kind with a sentence that
says what was asked, why it cannot be and what to do; it knows nothing of HTTP. The API and the
console map each kind to a status in one place (api/statuses.py), the CLI prints the sentence.
"""

from __future__ import annotations

from typing import Any


class Refusal(Exception):
    """A request that cannot be met. The sentence may be a template with values, kept apart
    so that the console can show it in the reader's language (i18n.text)."""

    def __init__(self, message: str, **values: Any) -> None:
        super().__init__(message.format(**values) if values else message)
        self.message, self.values = message, values

    def reworded(self, message: str) -> Refusal:
        """The same kind of refusal with a sentence that says more (e.g. which row)."""
        return type(self)(message)


class NotFound(Refusal):
    """Nothing of that name or id."""


class Conflict(Refusal):
    """It exists, but its state does not allow this now (a job that ended, a name taken)."""


class Invalid(Refusal):
    """A value given is not right."""


class Forbidden(Refusal):
    """This caller may not do this (beyond its role: e.g. a job another worker holds)."""


class NotRecognised(Refusal):
    """Signing in with a name and password that do not match."""


class TooManyTries(Refusal):
    """Refused for a while after too many failures."""

    def __init__(self, message: str, minutes: int = 1, **values: Any) -> None:
        super().__init__(message, **values)
        self.minutes = minutes  # until the next try may succeed

    def reworded(self, message: str) -> Refusal:
        return TooManyTries(message, self.minutes)


class Unavailable(Refusal):
    """Something it needs cannot be reached for now; the same request may work later."""
