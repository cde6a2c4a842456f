"""A job's state machine: every (current, wanted) pair, the allowed ones written out here again
(from states.py's picture, not from its table), so a rule loosened there shows up here."""

from __future__ import annotations

import itertools

import pytest

from orchestrator import states
from orchestrator.states import IllegalTransition, JobState

Q, RUN, RETRY = JobState.QUEUED, JobState.RUNNING, JobState.RETRYING
OK, FAIL, CANCEL, TIMEOUT = (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED,
                             JobState.TIMED_OUT)
ALLOWED = {
    (Q, RUN), (Q, CANCEL),  # leased, or cancelled while waiting
    (RETRY, RUN), (RETRY, CANCEL),
    (RUN, OK), (RUN, FAIL), (RUN, RETRY), (RUN, CANCEL), (RUN, TIMEOUT),
    (RUN, Q),  # released: a stopping (or fenced) worker hands the job back unfinished
}  # a final state goes nowhere; only a release goes back to queued; running never runs again
PAIRS = list(itertools.product(JobState, JobState))


def test_the_table_is_the_picture() -> None:
    assert {(a, b) for a, wanted in states.TRANSITIONS.items() for b in wanted} == ALLOWED
    assert set(states.TRANSITIONS) == set(JobState)


@pytest.mark.parametrize("current,wanted", PAIRS, ids=[f"{a}->{b}" for a, b in PAIRS])
def test_every_pair_is_allowed_or_refused_as_the_rules_say(current: JobState,
                                                           wanted: JobState) -> None:
    if (current, wanted) in ALLOWED:
        assert states.check(current.value, wanted) is wanted
        return
    with pytest.raises(IllegalTransition) as refused:
        states.check(current.value, wanted)
    assert str(refused.value) == f"a {current} job cannot become {wanted}"
    assert (refused.value.current, refused.value.wanted) == (current.value, wanted)


def test_final_states_are_final() -> None:
    for final in states.FINAL:
        assert not any((final, wanted) in ALLOWED for wanted in JobState)
        for wanted in JobState:
            with pytest.raises(IllegalTransition):
                states.check(final.value, wanted)
