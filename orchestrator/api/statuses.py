"""The HTTP status of each kind of refusal, for the API and the console alike."""

from __future__ import annotations

from orchestrator.refusals import (
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    NotRecognised,
    Refusal,
    TooManyTries,
    Unavailable,
)

STATUS_OF: dict[type[Refusal], int] = {
    NotFound: 404, Conflict: 409, Invalid: 422, Forbidden: 403, NotRecognised: 401,
    TooManyTries: 429, Unavailable: 503}


def status_of(refusal: Refusal) -> int:
    for kind in type(refusal).__mro__:
        if kind in STATUS_OF:
            return STATUS_OF[kind]
    return 422  # a Refusal of no kind yet: the request, as sent, cannot be met
