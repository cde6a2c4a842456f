"""A job's life as a small state machine: every allowed transition, and why, in one place.

    queued ──lease──► running ──► succeeded | failed | cancelled | timed_out
       ▲                 │
       └──(not_before)── retrying ◄── system error / lease expired, attempts left
"""

from __future__ import annotations

from enum import StrEnum


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    RETRYING = "retrying"  # waiting for its retry time; leasable once not_before has passed
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"


FINAL = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED, JobState.TIMED_OUT})
LEASABLE = frozenset({JobState.QUEUED, JobState.RETRYING})

TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    JobState.QUEUED: frozenset({JobState.RUNNING, JobState.CANCELLED}),
    JobState.RETRYING: frozenset({JobState.RUNNING, JobState.CANCELLED}),
    JobState.RUNNING: frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.RETRYING,
                                 JobState.CANCELLED, JobState.TIMED_OUT}),
    JobState.SUCCEEDED: frozenset(),
    JobState.FAILED: frozenset(),
    JobState.CANCELLED: frozenset(),
    JobState.TIMED_OUT: frozenset(),
}


class IllegalTransition(Exception):
    def __init__(self, current: str, wanted: str) -> None:
        super().__init__(f"a {current} job cannot become {wanted}")
        self.current, self.wanted = current, wanted


def check(current: str, wanted: JobState) -> JobState:
    """Raise IllegalTransition unless current → wanted is allowed."""
    if wanted not in TRANSITIONS[JobState(current)]:
        raise IllegalTransition(current, wanted)
    return wanted


def after_failure(attempt: int, max_attempts: int, error_kind: str) -> JobState:
    """Only system errors are retried, and only while attempts are left."""
    if error_kind == "system" and attempt < max_attempts:
        return JobState.RETRYING
    return JobState.FAILED


def retry_delay(attempt: int, delay_s: float, backoff: float) -> float:
    """Seconds before the next try after the n-th failed attempt (1-based)."""
    return float(delay_s * backoff ** max(0, attempt - 1))
