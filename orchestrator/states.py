"""A job's life as a small state machine: every allowed transition, and why, in one place.

    queued ──lease──► running ──► succeeded | failed | cancelled | timed_out
     ▲ ▲                 │ │
     │ └──(not_before)── retrying ◄── system error / lease expired, attempts left
     └──── released ───────┘   (a stopping worker hands the job back unfinished)

A released attempt is no try of the job: `tries` (what max_attempts limits and the retry delay
grows with) counts the attempts that ended any other way. The attempt number still grows by one
a lease, so each attempt keeps its own events, artifacts and job token.
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
                                 JobState.CANCELLED, JobState.TIMED_OUT,
                                 JobState.QUEUED}),  # released by its worker
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


RELEASED = "released"  # the outcome of an attempt its worker handed back (Attempt.outcome)


def tries(attempt: int, released: int) -> int:
    """The tries a job has used: its attempts (the current one included) less those released."""
    return max(1, attempt - released)


def after_failure(tries: int, max_attempts: int, error_kind: str) -> JobState:
    """Only system errors are retried, and only while tries are left (see tries())."""
    if error_kind == "system" and tries < max_attempts:
        return JobState.RETRYING
    return JobState.FAILED


def retry_delay(tries: int, delay_s: float, backoff: float) -> float:
    """Seconds before the next try after the n-th failed try (1-based)."""
    return float(delay_s * backoff ** max(0, tries - 1))
