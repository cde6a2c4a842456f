"""The scheduler: turns due schedule fires into jobs, each fire exactly once, in any number of
processes.

APScheduler only computes fire times here (``CronTrigger.get_next_fire_time``). Its job stores
and executors are not used: two processes sharing a job store run jobs twice (RECIPES.md).
Instead every fire is a row in ``fires`` with a unique (schedule, fire_time) key, inserted in the
same transaction as its job; the process that loses the race gets IntegrityError, rolls back and
moves on, so the database decides who fires.

``schedules.last_fire`` is the watermark: every fire time up to it has been dealt with (fired or
dropped); fire times after it and not after now are due. A fire is *missed* when it is more than
``grace_s`` late (the scheduler was down or stalled). Misfire policies:

- ``skip``: fire what is on time; drop missed fires.
- ``run_once``: everything due becomes one job, for the latest due fire time.
- ``catch_up``: one job per due fire, oldest first; at most 100 (older ones are dropped, logged).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections import deque
from collections.abc import Callable

from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from orchestrator import jobs
from orchestrator.models import Fire, Schedule
from orchestrator.outages import log_failure
from orchestrator.refusals import Refusal
from orchestrator.schedules import as_utc, make_trigger, next_fire

log = logging.getLogger("workhand.scheduler")

GRACE_S = 60.0  # later than this, a fire counts as missed
CATCH_UP_MAX = 100  # catch_up never floods the queue with more jobs than this per schedule
SCAN_MAX = 100_000  # fire times looked at per schedule and tick (a per-minute cron: 69 days)
MAX_SLEEP_S = 1.0  # picks up schedules added or changed by other processes within a second

Clock = Callable[[], dt.datetime]


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def due_fires(trigger: CronTrigger, misfire: str, watermark: dt.datetime, now: dt.datetime,
              grace_s: float = GRACE_S) -> tuple[list[dt.datetime], int]:
    """The fire times to fire now under the misfire policy, oldest first, and how many due fire
    times are dropped. Due: after the watermark, not after now."""
    grace = dt.timedelta(seconds=grace_s)
    keep: deque[dt.datetime] = deque(maxlen=1 if misfire == "run_once" else CATCH_UP_MAX)
    seen = 0
    found = next_fire(trigger, watermark)
    while found is not None and found <= now:
        seen += 1
        keep.append(found)
        if seen == SCAN_MAX:  # a very long outage: jump to the grace window, fire only that
            log.warning("more than %d fire times were missed; looking only at the last %s s",
                        SCAN_MAX, grace_s)
            found = next_fire(trigger, max(found, now - grace))
            continue
        found = next_fire(trigger, found)
    fires = [t for t in keep if now - t <= grace] if misfire == "skip" else list(keep)
    return fires, seen - len(fires)


class Scheduler:
    """One background thread; ``tick(now)`` does one round and can be driven by tests."""

    def __init__(self, sessions: sessionmaker[Session], *, clock: Clock | None = None,
                 grace_s: float = GRACE_S, max_sleep_s: float = MAX_SLEEP_S) -> None:
        self.sessions = sessions
        self.clock = clock or _utcnow
        self.grace_s, self.max_sleep_s = grace_s, max_sleep_s
        self.next_due: dt.datetime | None = None  # the earliest fire time after the last tick
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="workhand-scheduler",
                                        daemon=True)
        self._bad: set[tuple[str, str, str]] = set()  # broken rows already logged
        # (name, cron, timezone, watermark) → the first fire time after the watermark
        self._first: dict[tuple[str, str, str, dt.datetime], dt.datetime | None] = {}

    def tick(self, now: dt.datetime | None = None) -> int:
        """Fire every due schedule; returns the number of jobs this call created.

        An idle tick only reads the schedules: the first fire time after each watermark is
        remembered, so thousands of schedules cost no cron arithmetic and no writes."""
        now = as_utc(now or self.clock())
        with self.sessions() as session:  # just what is needed to know what is due
            rows = session.execute(select(Schedule.name, Schedule.cron, Schedule.timezone,
                                          Schedule.last_fire)
                                   .where(Schedule.enabled.is_(True),
                                          Schedule.paused.is_(False))).all()
        created, next_due = 0, None
        remembered: dict[tuple[str, str, str, dt.datetime], dt.datetime | None] = {}
        for row in rows:
            trigger = self._trigger(row.name, row.cron, row.timezone)
            if trigger is None:
                continue
            try:
                if row.last_fire is None:  # first sight: it starts from now, no past fires
                    self._advance(row.name, now)
                    watermark = now
                else:
                    watermark = as_utc(row.last_fire)
                key = (row.name, row.cron, row.timezone, watermark)
                first = self._first[key] if key in self._first else next_fire(trigger, watermark)
                if first is not None and first <= now:
                    created += self._due(row.name, trigger, watermark, now)
                    first = next_fire(trigger, now)
                else:
                    remembered[key] = first
            except Exception as err:  # one schedule's trouble must not stop the others
                log_failure(log, f"schedule {row.name} could not fire; trying again", err)
                continue
            if first is not None and (next_due is None or first < next_due):
                next_due = first
        self._first = remembered
        self.next_due = next_due
        return created

    def _due(self, name: str, trigger: CronTrigger, watermark: dt.datetime,
             now: dt.datetime) -> int:
        with self.sessions() as session:
            row = session.get(Schedule, name)
        if row is None or not row.enabled or row.paused:
            return 0
        fires, dropped = due_fires(trigger, row.misfire, watermark, now, self.grace_s)
        if dropped:
            log.warning("schedule %s: %d missed fire(s) dropped (misfire: %s)", row.name,
                        dropped, row.misfire)
        created = sum(self._fire(row, fire_time) for fire_time in fires)
        self._advance(row.name, now)
        return created

    def _trigger(self, name: str, cron: str, timezone: str) -> CronTrigger | None:
        try:
            return make_trigger(cron, timezone)
        except (ValueError, KeyError) as err:  # ZoneInfoNotFoundError is a KeyError
            if (name, cron, timezone) not in self._bad:
                self._bad.add((name, cron, timezone))
                log.error("schedule %s cannot fire: cron '%s' in %s: %s", name, cron, timezone,
                          err)
            return None

    def _fire(self, row: Schedule, fire_time: dt.datetime) -> int:
        """Record the fire and create its job in one transaction; 0 if another process won."""
        try:
            with self.sessions.begin() as session:
                fire = Fire(schedule=row.name, fire_time=fire_time)
                session.add(fire)
                session.flush()  # IntegrityError here: this fire is someone else's
                try:
                    with session.begin_nested():
                        job = jobs.create_job(
                            session, robot=row.robot, inputs=dict(row.inputs),
                            priority=row.priority, labels=list(row.labels),
                            timeout_s=row.timeout_s, max_attempts=row.max_attempts,
                            retry_delay_s=row.retry_delay_s, retry_backoff=row.retry_backoff,
                            schedule=row.name, source="schedule")
                except Refusal as err:
                    # Recorded without a job, so it is not retried every second; logged instead.
                    log.error("schedule %s fired at %s but started no job: %s", row.name,
                              fire_time.isoformat(), err)
                    return 0
                fire.job_id = job.id
        except IntegrityError:
            log.debug("schedule %s at %s was fired by another process", row.name,
                      fire_time.isoformat())
            return 0
        return 1  # create_job wakes waiting leases when this transaction commits

    def _advance(self, name: str, watermark: dt.datetime) -> None:
        """Move the watermark forward only: a slower process never moves it back."""
        with self.sessions.begin() as session:
            session.execute(update(Schedule).where(Schedule.name == name).where(
                Schedule.last_fire.is_(None) | (Schedule.last_fire < watermark))
                .values(last_fire=watermark))

    def _loop(self) -> None:
        while not self._stop.is_set():
            wait = self.max_sleep_s
            try:
                self.tick()
                if self.next_due is not None:
                    until = (self.next_due - as_utc(self.clock())).total_seconds()
                    wait = min(self.max_sleep_s, max(0.0, until))
            except Exception as err:  # the service must outlive a database hiccup
                log_failure(log, "scheduler tick failed; trying again", err)
            self._stop.wait(wait)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
