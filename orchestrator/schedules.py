"""Schedules as code: ``schedules/*.yaml`` loaded, checked with file:line:col errors, and synced.

A file holds one schedule (a map with ``name``, ``robot`` and ``cron``) or several, as a list under
``schedules:``. Every problem in every file is reported at once, like the robot checker does.

Two traps of APScheduler 3's ``CronTrigger.from_crontab`` are closed here, because a bank that
writes ``30 8 * * 1-5`` means Monday to Friday: APScheduler 3 counts weekdays from 0 = Monday, so
the weekday field is translated from crontab numbering (0 and 7 = Sunday) to names first; and
APScheduler requires day-of-month AND weekday to match where classic cron fires when EITHER does,
so a cron that restricts both is refused rather than silently read differently.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
import zoneinfo
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import select
from sqlalchemy.orm import Session

from libs.checker import MAX_ROBOT_ID, ROBOT_ID
from libs.checks.base import suggest
from libs.errors import Pos, Problem, RobotFileError
from libs.loader import YList, YMap, load_yaml, pos_of, read_text
from libs.types import parse_duration
from orchestrator.models import Fire, Robot, Schedule
from orchestrator.refusals import NotFound

# The banks these schedules are for keep China Standard Time; a schedule elsewhere says so.
DEFAULT_TIMEZONE = "Asia/Shanghai"
MISFIRE = ("skip", "run_once", "catch_up")
KEYS = ("name", "robot", "cron", "timezone", "inputs", "enabled", "retry", "timeout", "labels",
        "priority", "misfire")
RETRY_KEYS = ("attempts", "delay", "backoff")
FIELD_HELP = ("fields are: minute (0-59) hour (0-23) day (1-31) month (1-12) weekday (0-7, "
              "0 and 7 = Sunday, or sun-sat), e.g. '30 8 * * 1-5' = 08:30 Monday to Friday")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")  # crontab numbering: 0 = Sunday
_DAY_NAMES = {**{d: i for i, d in enumerate(_DAYS)},
              **{d: i for i, d in enumerate(("sunday", "monday", "tuesday", "wednesday",
                                             "thursday", "friday", "saturday"))}}
_CHINA = re.compile(r"^(asia/)?(beijing|peking|china|cst|北京|中国)$|^(utc|gmt)\s*\+\s*0?8(:?00)?$",
                    re.IGNORECASE)


@dataclass(frozen=True)
class ScheduleSpec:
    """One checked schedule. ``file`` is where it was defined (as shown in messages)."""

    name: str
    robot: str
    cron: str
    timezone: str = DEFAULT_TIMEZONE
    inputs: dict[str, Any] = field(default_factory=dict, hash=False)
    enabled: bool = True
    max_attempts: int = 1
    retry_delay_s: float = 10.0
    retry_backoff: float = 2.0
    timeout_s: float | None = None
    labels: tuple[str, ...] = ()
    priority: int = 0
    misfire: str = "run_once"
    file: str = ""


# -- cron ----------------------------------------------------------------------------------------

def _weekday(value: str) -> int:
    """0-7 as written (7 and 0 are both Sunday), or a day name."""
    value = value.strip().lower()
    if value.isdigit() and int(value) <= 7:
        return int(value)
    if value in _DAY_NAMES:
        return _DAY_NAMES[value]
    raise ValueError(f"'{value}' is not a weekday; use 0-7 (0 and 7 = Sunday) or sun-sat")


def crontab_weekdays(text: str) -> str:
    """A crontab weekday field (0/7 = Sunday) as APScheduler 3 weekday names ('1-5' → mon..fri)."""
    days: set[int] = set()
    for term in text.split(","):
        span, slash, step_text = term.partition("/")
        step = 1
        if slash:
            if not step_text.isdigit() or int(step_text) < 1:
                raise ValueError(f"'/{step_text}' must be a whole number, 1 or more")
            if span != "*" and "-" not in span:
                raise ValueError(f"'{term}': a step needs a range, e.g. 1-5/2 or */2")
            step = int(step_text)
        if span == "*":
            low, high = 0, 6
        elif "-" in span:
            first, _, last = span.partition("-")
            low, high = _weekday(first), _weekday(last)
            if high == 0 and low > 0:
                high = 7  # a range may end on Sunday: sat-sun, 5-0
            if low > high:
                raise ValueError(f"range '{span}' runs backwards; write it from the earlier "
                                 "day to the later one, e.g. 1-5")
        else:
            low = high = _weekday(span)
        days.update(d % 7 for d in range(low, high + 1, step))
    if len(days) == 7:
        return "*"
    # APScheduler 3 names: mon=0 … sun=6; order them Monday first for a readable trigger.
    return ",".join(_DAYS[d] for d in sorted(days, key=lambda d: (d + 6) % 7))


def make_trigger(cron: str, timezone: str, *, seconds: bool = True) -> CronTrigger:
    """A CronTrigger for a 5-field crontab line in the time zone; raises ValueError saying why.

    With ``seconds`` a 6-field line whose first field is the second is accepted too; schedule
    files never get it (the checker passes seconds=False), benchmarks and tests use it to fire
    every second."""
    return _trigger(cron, timezone, seconds)


@lru_cache(maxsize=4096)
def _trigger(cron: str, timezone: str, seconds: bool) -> CronTrigger:
    values = cron.split()
    second = "0"
    if seconds and len(values) == 6:
        second, values = values[0], values[1:]
    if len(values) != 5:
        extra = " (no seconds, no '?')" if len(values) == 6 else ""
        raise ValueError(f"has {len(values)} field{'s' if len(values) != 1 else ''} but a "
                         f"schedule's cron has 5{extra}; {FIELD_HELP}")
    minute, hour, day, month, weekday = values
    if day not in ("*", "?") and weekday not in ("*", "?"):
        raise ValueError(f"sets both the day of the month ('{day}') and the weekday "
                         f"('{weekday}'); classic cron fires when either matches, which is "
                         "easy to misread, so write two schedules, one for each")
    fields = {"second": second, "minute": minute, "hour": hour, "day": day, "month": month}
    try:
        fields["day_of_week"] = crontab_weekdays(weekday)
    except ValueError as err:
        raise ValueError(f"the weekday field '{weekday}' is wrong: {err}") from None
    for name, value in fields.items():
        if value == "?":
            raise ValueError(f"'?' (from Quartz) is not crontab; write '*' in the {name} field")
        try:
            CronTrigger(timezone=dt.UTC, **{name: value})
        except ValueError as err:
            why = re.sub(r"^Error validating expression '[^']*': ", "", str(err))
            if why.startswith("Unrecognized expression"):
                why = "it is not a number, a range (8-17), a list (9,12) or a step (*/15)"
            raise ValueError(f"the {name} field '{value}' is wrong: {why}; {FIELD_HELP}") from None
    return CronTrigger(timezone=zoneinfo.ZoneInfo(timezone), **fields)


def as_utc(value: dt.datetime) -> dt.datetime:
    """SQLite gives back naive datetimes; everything here is stored and compared in UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def next_fire(trigger: CronTrigger, after: dt.datetime) -> dt.datetime | None:
    """The first fire time strictly after ``after``, in UTC."""
    found = trigger.get_next_fire_time(None, after + dt.timedelta(microseconds=1))
    return None if found is None else as_utc(found)


# -- the checker -----------------------------------------------------------------------------

def timezone_hint(name: str) -> str:
    if _CHINA.match(name.strip()):
        return "; China Standard Time is 'Asia/Shanghai'"
    zones = {z.lower(): z for z in _zones()}
    if name.lower() in zones:
        return f"; time zone names are case-sensitive: '{zones[name.lower()]}'"
    close = difflib.get_close_matches(name.lower(), list(zones), n=1, cutoff=0.7)
    return f"; did you mean '{zones[close[0]]}'?" if close else ""


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


class _Checker:
    def __init__(self, known_robots: set[str] | None) -> None:
        self.known_robots = known_robots
        self.problems: list[Problem] = []
        self.names: dict[str, Pos] = {}

    def problem(self, pos: Pos, message: str) -> None:
        self.problems.append(Problem(pos, message))

    def file(self, data: Any, file: str) -> list[ScheduleSpec]:
        top = Pos(file, 1, 1)
        if isinstance(data, YMap) and "schedules" in data:
            for key in data:
                if key != "schedules":
                    self.problem(data.key_pos[key], f"unknown key '{key}' next to 'schedules:'; "
                                 "move it into one of the schedules in the list")
            raw = data["schedules"]
            if not isinstance(raw, YList):
                self.problem(data.where("schedules"), "'schedules' must be a list of schedules, "
                             "each starting with '- name: ...'")
                return []
            found = [self.schedule(item, pos, file) for item, pos in zip(raw, raw.item_pos,
                                                                          strict=True)]
            return [spec for spec in found if spec is not None]
        if not isinstance(data, YMap):
            self.problem(pos_of(data, top), "a schedule file is a map with name, robot and "
                         "cron (or a list of them under 'schedules:')")
            return []
        spec = self.schedule(data, data.pos, file)
        return [spec] if spec is not None else []

    def schedule(self, raw: Any, pos: Pos, file: str) -> ScheduleSpec | None:
        if not isinstance(raw, YMap):
            self.problem(pos, "each schedule is a map with name, robot and cron")
            return None
        before = len(self.problems)
        for key in raw:
            if key not in KEYS:
                self.problem(raw.key_pos[key], f"unknown key '{key}'{suggest(key, KEYS)} "
                             f"(a schedule has: {', '.join(KEYS)})")
        name = self.identifier(raw, "name", "the schedule's id, e.g. name: s2-filing-daily")
        if name is not None:
            if name in self.names:
                self.problem(raw.where("name"), f"schedule name '{name}' is already used at "
                             f"{self.names[name]}; schedule names must be unique across files")
            else:
                self.names[name] = raw.where("name")
        robot = self.identifier(raw, "robot", "the robot's id, e.g. robot: image-filing-check")
        if robot is not None and self.known_robots is not None and robot not in self.known_robots:
            known = sorted(self.known_robots)
            listed = ", ".join(known[:10]) + (", ..." if len(known) > 10 else "")
            self.problem(raw.where("robot"), f"unknown robot '{robot}'{suggest(robot, known)} "
                         f"(known robots: {listed or 'none'})")
        timezone = self.timezone(raw)
        cron = self.cron(raw, timezone)
        retry = self.retry(raw)
        spec_fields: dict[str, Any] = {
            "inputs": self.inputs(raw),
            "enabled": self.boolean(raw, "enabled", True),
            "timeout_s": self.timeout(raw),
            "labels": self.labels(raw),
            "priority": self.priority(raw),
            "misfire": self.misfire(raw),
        }
        if len(self.problems) > before or name is None or robot is None or cron is None:
            return None
        return ScheduleSpec(name=name, robot=robot, cron=cron, timezone=timezone, file=file,
                            max_attempts=retry[0], retry_delay_s=retry[1], retry_backoff=retry[2],
                            **spec_fields)

    def identifier(self, raw: YMap, key: str, example: str) -> str | None:
        value = raw.get(key)
        if value is None:
            self.problem(raw.where(key) if key in raw else raw.pos, f"missing '{key}:' ({example})")
            return None
        longest = MAX_ROBOT_ID if key == "robot" else 200  # the columns hold no more
        if not isinstance(value, str) or not ROBOT_ID.match(value) or len(value) > longest:
            self.problem(raw.where(key), f"{key} '{str(value)[:longest]}' must be lower-case "
                         f"letters and digits joined by '-' (at most {longest} characters), "
                         "e.g. s2-filing-daily")
            return None
        return value

    def timezone(self, raw: YMap) -> str:
        value = raw.get("timezone", DEFAULT_TIMEZONE)
        if not isinstance(value, str) or not value.strip():
            self.problem(raw.where("timezone"), "'timezone' must be a time zone name like "
                         "Asia/Shanghai")
            return DEFAULT_TIMEZONE
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            self.problem(raw.where("timezone"), f"unknown time zone '{value}'"
                         f"{timezone_hint(value)} (IANA names like Asia/Shanghai or UTC)")
            return DEFAULT_TIMEZONE
        return value

    def cron(self, raw: YMap, timezone: str) -> str | None:
        value = raw.get("cron")
        if value is None:
            self.problem(raw.where("cron") if "cron" in raw else raw.pos, "missing 'cron:' (when "
                         "it runs, as a 5-field crontab line, e.g. cron: \"0 8 * * *\" for 08:00 "
                         "every day)")
            return None
        if not isinstance(value, str):
            self.problem(raw.where("cron"), f"'cron' must be a crontab line in quotes, e.g. "
                         f"cron: \"0 8 * * *\"; {FIELD_HELP}")
            return None
        try:
            trigger = make_trigger(value, timezone, seconds=False)
        except ValueError as err:
            self.problem(raw.where("cron"), f"cron '{value}' {err}" if str(err).startswith(
                ("has ", "sets ")) else f"cron '{value}': {err}")
            return None
        if trigger.get_next_fire_time(None, dt.datetime.now(dt.UTC)) is None:
            self.problem(raw.where("cron"), f"cron '{value}' never fires (no such date, e.g. "
                         "31 February); check the day and month fields")
            return None
        return " ".join(value.split())

    def retry(self, raw: YMap) -> tuple[int, float, float]:
        attempts, delay, backoff = 1, 10.0, 2.0
        if "retry" not in raw:
            return attempts, delay, backoff
        value, pos = raw["retry"], raw.where("retry")
        if isinstance(value, int) and not isinstance(value, bool):
            value = {"attempts": value}  # retry: 3 is shorthand for retry: {attempts: 3}
        if not isinstance(value, dict):
            self.problem(pos, "'retry' must be a map like {attempts: 3, delay: 1m, backoff: 2}")
            return attempts, delay, backoff
        where = value.where if isinstance(value, YMap) else (lambda key: pos)
        for key in value:
            if key not in RETRY_KEYS:
                key_pos = value.key_pos[key] if isinstance(value, YMap) else pos
                self.problem(key_pos, f"unknown retry option '{key}'{suggest(key, RETRY_KEYS)} "
                             f"(retry has: {', '.join(RETRY_KEYS)})")
        attempts = value.get("attempts", attempts)
        if isinstance(attempts, bool) or not isinstance(attempts, int) or not 1 <= attempts <= 100:
            self.problem(where("attempts"), "'attempts' must be a whole number from 1 to 100 (the "
                         "total number of tries)")
            attempts = 1
        if "delay" in value:
            delay = self.duration(value["delay"], where("delay"), "delay") or 0.0
        backoff = value.get("backoff", backoff)
        if isinstance(backoff, bool) or not isinstance(backoff, int | float) or backoff < 1:
            self.problem(where("backoff"), "'backoff' must be a number, 1 or more (the factor "
                         "the delay grows by after each failed try)")
            backoff = 1.0
        return attempts, delay, float(backoff)

    def duration(self, value: Any, pos: Pos, what: str) -> float | None:
        try:
            return parse_duration(value)
        except ValueError as err:
            self.problem(pos, f"'{what}': {err}")
            return None

    def timeout(self, raw: YMap) -> float | None:
        if raw.get("timeout") is None:
            return None
        seconds = self.duration(raw["timeout"], raw.where("timeout"), "timeout")
        if seconds == 0:
            self.problem(raw.where("timeout"), "'timeout' must be longer than 0, e.g. 30m")
        return seconds or None

    def inputs(self, raw: YMap) -> dict[str, Any]:
        value = raw.get("inputs")
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.problem(raw.where("inputs"), "'inputs' must be a map of the robot's inputs, "
                         "e.g. inputs: {day: yesterday}")
            return {}
        return _plain(value)

    def boolean(self, raw: YMap, key: str, default: bool) -> bool:
        value = raw.get(key, default)
        if not isinstance(value, bool):
            self.problem(raw.where(key), f"'{key}' must be true or false")
            return default
        return value

    def labels(self, raw: YMap) -> tuple[str, ...]:
        value = raw.get("labels")
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            self.problem(raw.where("labels"), "'labels' must be a list of worker labels, e.g. "
                         "labels: [desktop]")
            return ()
        return tuple(sorted(set(value)))

    def priority(self, raw: YMap) -> int:
        value = raw.get("priority", 0)
        if isinstance(value, bool) or not isinstance(value, int) or abs(value) > 1_000_000:
            self.problem(raw.where("priority"), "'priority' must be a whole number (higher runs "
                         "first), e.g. priority: 10")
            return 0
        return value

    def misfire(self, raw: YMap) -> str:
        value = raw.get("misfire", "run_once")
        if value not in MISFIRE:
            self.problem(raw.where("misfire"), f"misfire '{value}' is not one of "
                         f"{', '.join(MISFIRE)}{suggest(str(value), MISFIRE)} (what to do with "
                         "fires missed while no scheduler ran)")
            return "run_once"
        return str(value)


def _plain(value: Any) -> Any:
    """YMap/YList → dict/list, so the spec holds plain JSON values."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _load(path: Path, shown: str) -> Any:
    text = read_text(path)
    try:
        return load_yaml(text, shown)
    except RobotFileError as err:
        raise RobotFileError([_schedule_wording(p, text) for p in err.problems]) from None


def _schedule_wording(problem: Problem, text: str) -> Problem:
    """The YAML loader speaks of robots; a few of its messages need a schedule's words."""
    if problem.message.startswith("the file is empty"):
        return Problem(problem.pos, "the file is empty; a schedule needs at least name, robot "
                       "and cron")
    if "alias" in problem.message:  # refused by our loader, or failed in YAML's scanner
        lines = text.split("\n")
        line = lines[problem.pos.line - 1] if problem.pos.line <= len(lines) else ""
        cron = re.match(r"^\s*(- )?cron:\s*\*", line)
        if cron:
            return Problem(Pos(problem.pos.file, problem.pos.line, cron.end()),
                           "a cron that starts with '*' must be quoted, e.g. cron: "
                           "\"*/15 8-17 * * 1-5\" (YAML reads a leading * as an alias)")
    return problem


def load_schedules(folder: Path, known_robots: set[str] | None = None) -> list[ScheduleSpec]:
    """Every ``folder/*.yaml`` checked, in file name order; RobotFileError lists every problem.

    A missing folder holds no schedules. Messages name files as ``folder/name.yaml``."""
    paths = sorted(folder.glob("*.yaml")) if folder.is_dir() else []
    return check_files(paths, known_robots)


def check_files(paths: Sequence[Path], known_robots: set[str] | None = None
                ) -> list[ScheduleSpec]:
    checker = _Checker(known_robots)
    specs: list[ScheduleSpec] = []
    for path in paths:
        try:
            data = _load(path, str(path))
        except RobotFileError as err:
            checker.problems.extend(err.problems)
            continue
        specs.extend(checker.file(data, str(path)))
    if checker.problems:
        raise RobotFileError(checker.problems)
    return specs


# -- the database ------------------------------------------------------------------------------

def deployed_robots(session: Session) -> set[str]:
    """The robot ids a schedule may name (for ``known_robots``)."""
    return set(session.scalars(select(Robot.name)))


def _owned(row_source: str, source: str) -> bool:
    folder = source.replace("\\", "/").rstrip("/")
    row = row_source.replace("\\", "/")
    return row == folder or row.startswith(folder + "/")


def sync(session: Session, specs: Iterable[ScheduleSpec], source: str,
         now: dt.datetime | None = None) -> dict[str, list[str]]:
    """Upsert the specs; disable schedules defined under ``source`` (a folder) that are gone.

    ``last_fire`` is the scheduler's watermark: fire times after it are due. A new schedule, a
    changed cron or time zone, or a re-enabled schedule starts from now, so it never fires for
    the past. Returns the names {"added", "changed", "disabled"}."""
    now = as_utc(now or dt.datetime.now(dt.UTC))  # SQLite keeps no offset: store UTC
    report: dict[str, list[str]] = {"added": [], "changed": [], "disabled": []}
    seen: set[str] = set()
    for spec in specs:
        seen.add(spec.name)
        row = session.get(Schedule, spec.name)
        values = {"robot": spec.robot, "cron": spec.cron, "timezone": spec.timezone,
                  "inputs": dict(spec.inputs), "enabled": spec.enabled,
                  "max_attempts": spec.max_attempts, "retry_delay_s": spec.retry_delay_s,
                  "retry_backoff": spec.retry_backoff, "timeout_s": spec.timeout_s,
                  "labels": list(spec.labels), "priority": spec.priority,
                  "misfire": spec.misfire, "source": spec.file}
        if row is None:
            session.add(Schedule(name=spec.name, last_fire=now, **values))
            report["added"].append(spec.name)
            continue
        restart = (row.cron != spec.cron or row.timezone != spec.timezone
                   or (spec.enabled and not row.enabled))
        changed = any(getattr(row, key) != value for key, value in values.items())
        for key, value in values.items():
            setattr(row, key, value)
        if restart:
            row.last_fire = now
        if changed:
            report["changed"].append(spec.name)
    for row in session.scalars(select(Schedule).where(Schedule.enabled.is_(True))):
        if row.name not in seen and _owned(row.source, source):
            row.enabled = False
            report["disabled"].append(row.name)
    session.flush()
    return report


@dataclass(frozen=True)
class ScheduleStatus:
    name: str
    robot: str
    cron: str
    timezone: str
    enabled: bool
    misfire: str
    labels: list[str]
    priority: int
    source: str
    next_fire: dt.datetime | None
    last_fire: dt.datetime | None  # the latest fire that happened (a row in `fires`)
    last_job: int | None
    paused: bool = False
    paused_by: str | None = None


def status(session: Session, now: dt.datetime | None = None) -> list[ScheduleStatus]:
    """Every schedule with its next fire time and its latest fire, by name."""
    now = now or dt.datetime.now(dt.UTC)
    # One index lookup per schedule on uq_fire (schedule, fire_time), however many fires exist.
    latest = (select(Fire.fire_time, Fire.job_id).where(Fire.schedule == Schedule.name)
              .order_by(Fire.fire_time.desc()).limit(1))
    rows = session.execute(select(Schedule, latest.with_only_columns(Fire.fire_time)
                                  .scalar_subquery(),
                                  latest.with_only_columns(Fire.job_id).scalar_subquery())
                           .order_by(Schedule.name))
    out = []
    for row, fired, job in rows:
        upcoming = None
        if row.enabled and not row.paused:
            try:
                upcoming = next_fire(make_trigger(row.cron, row.timezone), now)
            except (ValueError, KeyError):  # ZoneInfoNotFoundError is a KeyError
                upcoming = None  # a row written by hand with a bad cron: shown, never fired
        out.append(ScheduleStatus(name=row.name, robot=row.robot, cron=row.cron,
                                  timezone=row.timezone, enabled=row.enabled,
                                  misfire=row.misfire, labels=list(row.labels),
                                  priority=row.priority, source=row.source, next_fire=upcoming,
                                  last_fire=None if fired is None else as_utc(fired),
                                  last_job=job, paused=row.paused, paused_by=row.paused_by))
    return out


def set_paused(session: Session, name: str, paused: bool, by: str,
               now: dt.datetime | None = None) -> Schedule:
    """Pause or resume a schedule. It stays so when its file is deployed again (sync() leaves
    `paused` alone) and across restarts; resumed, it starts from now: no fires for the time it
    was paused."""
    row = session.get(Schedule, name)
    if row is None:
        raise NotFound(f"no schedule '{name}'")
    if paused != row.paused:
        row.paused, row.paused_by = paused, by if paused else None
        if not paused:
            row.last_fire = as_utc(now or dt.datetime.now(dt.UTC))
    return row


def fires_of(session: Session, name: str, limit: int = 10) -> list[Fire]:
    return list(session.scalars(select(Fire).where(Fire.schedule == name)
                                .order_by(Fire.fire_time.desc()).limit(limit)))


def upcoming(cron: str, timezone: str, count: int, now: dt.datetime | None = None
             ) -> list[dt.datetime]:
    """The next `count` fire times."""
    trigger = make_trigger(cron, timezone)
    found: list[dt.datetime] = []
    after = now or dt.datetime.now(dt.UTC)
    while len(found) < count:
        fire = next_fire(trigger, after)
        if fire is None:
            break
        found.append(fire)
        after = fire
    return found
