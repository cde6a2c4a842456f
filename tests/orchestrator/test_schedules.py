"""schedules/*.yaml: parsing, every kind of mistake at file:line:col, sync, and GET /schedules."""

from __future__ import annotations

import datetime as dt
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from libs.errors import RobotFileError
from libs.loader import load_file
from orchestrator import schedules
from orchestrator.api.schedules import router
from orchestrator.auth import create_token
from orchestrator.models import Fire, Schedule
from orchestrator.roles import Role
from orchestrator.schedules import ScheduleSpec, load_schedules, make_trigger, next_fire, sync

ROOT = Path(__file__).resolve().parents[2]
CST = dt.timezone(dt.timedelta(hours=8))
ROBOTS = {"image-filing-check", "account-annual-inspection", "central-reconciliation"}
Write = Callable[..., Path]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "schedules").mkdir()
    return tmp_path / "schedules"


@pytest.fixture
def write(folder: Path) -> Write:
    def write_file(text: str, name: str = "a.yaml") -> Path:
        path = folder / name
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
        return path

    return write_file


def problems(folder: Path, known: set[str] | None = ROBOTS) -> list[str]:
    with pytest.raises(RobotFileError) as caught:
        load_schedules(folder, known)
    return [str(p).replace(str(folder.parent) + "/", "") for p in caught.value.problems]


def fires(spec: ScheduleSpec, after: dt.datetime, count: int) -> list[dt.datetime]:
    trigger, found = make_trigger(spec.cron, spec.timezone), []
    for _ in range(count):
        after = next_fire(trigger, after)  # type: ignore[assignment]
        found.append(after.astimezone(CST))
    return found


def test_the_example_schedules_load_and_fire_when_the_scenarios_say() -> None:
    robots = {load_file(path)["robot"] for path in (ROOT / "robots").glob("*.yaml")}
    specs = {s.name: s for s in load_schedules(ROOT / "schedules", robots)}
    assert {s.robot for s in specs.values()} == ROBOTS
    sunday = dt.datetime(2026, 11, 22, tzinfo=CST)
    s1 = fires(specs["s1-annual-inspection-weekdays"], sunday, 6)
    # crontab 1-5 is Monday to Friday (APScheduler 3 alone would read it as Tuesday to Saturday)
    assert [(f.strftime("%a"), f.hour, f.minute) for f in s1] == [
        ("Mon", 8, 30), ("Tue", 8, 30), ("Wed", 8, 30), ("Thu", 8, 30), ("Fri", 8, 30),
        ("Mon", 8, 30)]
    s2 = specs["s2-filing-check-daily"]
    assert s2.timezone == "Asia/Shanghai" and s2.priority == 10 and s2.max_attempts == 3
    assert [(f.day, f.hour) for f in fires(s2, sunday, 2)] == [(22, 8), (23, 8)]
    s3 = sorted(fires(specs["s3-reconciliation-open-close"], sunday, 2)
                + fires(specs["s3-reconciliation-midday"], sunday, 1))
    assert [(f.hour, f.minute) for f in s3] == [(9, 0), (12, 30), (16, 0)]


def test_one_schedule_or_a_list_with_defaults(folder: Path, write: Write) -> None:
    write("""
        name: s2-daily
        robot: image-filing-check
        cron: "0 8 * * *"
        """, "a.yaml")
    write("""
        schedules:
          - name: s3-batches
            robot: central-reconciliation
            cron: 0 9,16 * * mon-fri
            timezone: UTC
            inputs: {day: today, depts: [a, b]}
            enabled: false
            retry: {attempts: 3, delay: 2m, backoff: 1.5}
            timeout: 20m
            labels: [desktop, browser, desktop]
            priority: -5
            misfire: catch_up
          - name: s3-retry-shorthand
            robot: central-reconciliation
            cron: "30  12 * * *"
            retry: 4
        """, "b.yaml")
    first, batches, shorthand = load_schedules(folder, ROBOTS)
    assert first == ScheduleSpec(name="s2-daily", robot="image-filing-check", cron="0 8 * * *",
                                 timezone="Asia/Shanghai", inputs={}, enabled=True,
                                 max_attempts=1, retry_delay_s=10.0, retry_backoff=2.0,
                                 timeout_s=None, labels=(), priority=0, misfire="run_once",
                                 file=str(folder / "a.yaml"))
    assert batches.inputs == {"day": "today", "depts": ["a", "b"]}
    assert type(batches.inputs) is dict and type(batches.inputs["depts"]) is list
    assert (batches.enabled, batches.max_attempts, batches.retry_delay_s, batches.retry_backoff,
            batches.timeout_s, batches.labels, batches.priority, batches.misfire) == (
        False, 3, 120.0, 1.5, 1200.0, ("browser", "desktop"), -5, "catch_up")
    assert shorthand.max_attempts == 4 and shorthand.cron == "30 12 * * *"
    assert load_schedules(folder / "missing") == []


BAD = [
    ("""
     name: Daily_Check
     robot: image-filing-chek
     cron: "0 8 * * *"
     timezone: Asia/Beijing
     misfire: run-once
     colour: red
     """, [
        "a.yaml:1:7: name 'Daily_Check' must be lower-case letters and digits joined by '-' "
        "(at most 200 characters), e.g. s2-filing-daily",
        "a.yaml:2:8: unknown robot 'image-filing-chek'; did you mean 'image-filing-check'? "
        "(known robots: account-annual-inspection, central-reconciliation, image-filing-check)",
        "a.yaml:4:11: unknown time zone 'Asia/Beijing'; China Standard Time is 'Asia/Shanghai' "
        "(IANA names like Asia/Shanghai or UTC)",
        "a.yaml:5:10: misfire 'run-once' is not one of skip, run_once, catch_up; did you mean "
        "'run_once'? (what to do with fires missed while no scheduler ran)",
        "a.yaml:6:1: unknown key 'colour' (a schedule has: name, robot, cron, timezone, inputs, "
        "enabled, retry, timeout, labels, priority, misfire)",
    ]),
    ("""
     name: s2
     robot: image-filing-check
     cron: "0 8 * * *"
     retry: {attempts: 0, dealy: 1m, backoff: 0.5}
     timeout: soon
     labels: desktop
     priority: high
     enabled: yes
     inputs: [1, 2]
     tiemzone: UTC
     """, [
        "a.yaml:4:19: 'attempts' must be a whole number from 1 to 100 (the total number of "
        "tries)",
        "a.yaml:4:22: unknown retry option 'dealy'; did you mean 'delay'? (retry has: attempts, "
        "delay, backoff)",
        "a.yaml:4:42: 'backoff' must be a number, 1 or more (the factor the delay grows by after "
        "each failed try)",
        "a.yaml:5:10: 'timeout': 'soon' is not a duration; write it like 500ms, 2s, 5m or 1h",
        "a.yaml:6:9: 'labels' must be a list of worker labels, e.g. labels: [desktop]",
        "a.yaml:7:11: 'priority' must be a whole number (higher runs first), e.g. priority: 10",
        "a.yaml:8:10: 'enabled' must be true or false",
        "a.yaml:9:9: 'inputs' must be a map of the robot's inputs, e.g. inputs: {day: yesterday}",
        "a.yaml:10:1: unknown key 'tiemzone'; did you mean 'timezone'? (a schedule has: name, "
        "robot, cron, timezone, inputs, enabled, retry, timeout, labels, priority, misfire)",
    ]),
    ("""
     schedules:
       - name: s2
         robot: image-filing-check
         cron: "61 8 * * *"
       - name: s2
         robot: image-filing-check
         cron: "0 8 1 * 1"
       - robot: image-filing-check
         cron: 8
       - just text
     extra: 1
     """, [
        "a.yaml:4:11: cron '61 8 * * *': the minute field '61' is wrong: the last value (61) is "
        "higher than the maximum value (59); " + schedules.FIELD_HELP,
        "a.yaml:5:11: schedule name 's2' is already used at schedules/a.yaml:2:11; schedule "
        "names must be unique across files",
        "a.yaml:7:11: cron '0 8 1 * 1' sets both the day of the month ('1') and the weekday "
        "('1'); classic cron fires when either matches, which is easy to misread, so write two "
        "schedules, one for each",
        "a.yaml:8:5: missing 'name:' (the schedule's id, e.g. name: s2-filing-daily)",
        "a.yaml:9:11: 'cron' must be a crontab line in quotes, e.g. cron: \"0 8 * * *\"; "
        + schedules.FIELD_HELP,
        "a.yaml:10:5: each schedule is a map with name, robot and cron",
        "a.yaml:11:1: unknown key 'extra' next to 'schedules:'; move it into one of the "
        "schedules in the list",
    ]),
    ("""
     name: s2
     robot: image-filing-check
     cron: */5 * * * *
     """, [
        "a.yaml:3:7: a cron that starts with '*' must be quoted, e.g. cron: \"*/15 8-17 * * 1-5\""
        " (YAML reads a leading * as an alias)",
    ]),
    ("# nothing yet\n", ["a.yaml:1:1: the file is empty; a schedule needs at least name, robot "
                         "and cron"]),
    ("[1, 2]\n", ["a.yaml:1:1: a schedule file is a map with name, robot and cron (or a list "
                  "of them under 'schedules:')"]),
    ("""
     schedules:
       - {name: a, robot: image-filing-check, cron: "0 8 31 2 *"}
       - {name: b, robot: image-filing-check, cron: "0 8 ? * *", timezone: asia/shanghai}
       - {name: c, robot: image-filing-check, cron: "* * * * * *"}
       - {name: d, robot: image-filing-check, cron: "0 8 * * 8"}
       - {name: e, robot: image-filing-check, cron: "0 8 * * 5-1"}
       - {name: f, robot: image-filing-check, cron: "0 25 * * *"}
       - {name: g, robot: image-filing-check, cron: "0 8 * * *", timeout: 0}
       - {robot: image-filing-check, name: h}
     """, [
        "a.yaml:2:48: cron '0 8 31 2 *' never fires (no such date, e.g. 31 February); check the "
        "day and month fields",
        "a.yaml:3:48: cron '0 8 ? * *': '?' (from Quartz) is not crontab; write '*' in the day "
        "field",
        "a.yaml:3:71: unknown time zone 'asia/shanghai'; time zone names are case-sensitive: "
        "'Asia/Shanghai' (IANA names like Asia/Shanghai or UTC)",
        "a.yaml:4:48: cron '* * * * * *' has 6 fields but a schedule's cron has 5 (no seconds, "
        "no '?'); " + schedules.FIELD_HELP,
        "a.yaml:5:48: cron '0 8 * * 8': the weekday field '8' is wrong: '8' is not a weekday; "
        "use 0-7 (0 and 7 = Sunday) or sun-sat",
        "a.yaml:6:48: cron '0 8 * * 5-1': the weekday field '5-1' is wrong: range '5-1' runs "
        "backwards; write it from the earlier day to the later one, e.g. 1-5",
        "a.yaml:7:48: cron '0 25 * * *': the hour field '25' is wrong: the last value (25) is "
        "higher than the maximum value (23); " + schedules.FIELD_HELP,
        "a.yaml:8:70: 'timeout' must be longer than 0, e.g. 30m",
        "a.yaml:9:5: missing 'cron:' (when it runs, as a 5-field crontab line, e.g. cron: "
        "\"0 8 * * *\" for 08:00 every day)",
    ]),
]


@pytest.mark.parametrize(("text", "expected"), BAD)
def test_every_mistake_is_reported_where_it_is(folder: Path, write: Write, text: str,
                                               expected: list[str]) -> None:
    write(text)
    assert problems(folder) == [f"schedules/{line}" for line in expected]


def test_problems_in_several_files_come_together(folder: Path, write: Write) -> None:
    write('name: s2\nrobot: image-filing-check\ncron: "0 8 * * *"\n', "a.yaml")
    write('name: s2\nrobot: image-filing-check\ncron: "0 9 * * *"\n', "b.yaml")
    write('name: "unclosed\nrobot: x\n', "c.yaml")
    found = problems(folder)
    assert found[0] == ("schedules/b.yaml:1:7: schedule name 's2' is already used at "
                        "schedules/a.yaml:1:7; schedule names must be unique across files")
    assert found[1].startswith("schedules/c.yaml:1:7: malformed YAML")
    assert len(found) == 2


def test_without_known_robots_any_robot_id_is_accepted(folder: Path, write: Write) -> None:
    write('name: s2\nrobot: not-deployed-yet\ncron: "0 8 * * *"\n')
    assert load_schedules(folder)[0].robot == "not-deployed-yet"
    assert problems(folder, set()) == [
        "schedules/a.yaml:2:8: unknown robot 'not-deployed-yet' (known robots: none)"]


@pytest.mark.parametrize(("field", "names"), [
    ("1-5", "mon,tue,wed,thu,fri"), ("0", "sun"), ("7", "sun"), ("0-7", "*"), ("*", "*"),
    ("sat-sun", "sat,sun"), ("5-7", "fri,sat,sun"), ("*/2", "tue,thu,sat,sun"),
    ("1-5/2", "mon,wed,fri"), ("MON,Wed", "mon,wed"), ("6,0", "sat,sun")])
def test_crontab_weekdays_count_from_sunday(field: str, names: str) -> None:
    assert schedules.crontab_weekdays(field) == names


def test_six_fields_mean_seconds_outside_schedule_files() -> None:
    trigger = make_trigger("*/10 * * * * *", "UTC")
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    assert next_fire(trigger, start) == start + dt.timedelta(seconds=10)
    with pytest.raises(ValueError, match="6 fields"):
        make_trigger("*/10 * * * * *", "UTC", seconds=False)


def spec(name: str, cron: str = "0 8 * * *", **kwargs: object) -> ScheduleSpec:
    return ScheduleSpec(name=name, robot="image-filing-check", cron=cron,
                        file=f"schedules/{name}.yaml", **kwargs)  # type: ignore[arg-type]


def rows(sessions: sessionmaker[Session]) -> dict[str, Schedule]:
    with sessions() as session:
        return {r.name: r for r in session.scalars(select(Schedule))}


def test_sync_upserts_and_disables_what_the_files_no_longer_define(
        sessions: sessionmaker[Session]) -> None:
    t0 = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)
    later = t0 + dt.timedelta(hours=1)
    with sessions.begin() as session:
        session.add(Schedule(name="elsewhere", robot="r", cron="0 8 * * *", source="other/x.yaml"))
        report = sync(session, [spec("a", labels=("desktop",), inputs={"k": [1]}), spec("b")],
                      "schedules", now=t0)
    assert report == {"added": ["a", "b"], "changed": [], "disabled": []}
    found = rows(sessions)
    assert found["a"].labels == ["desktop"] and found["a"].inputs == {"k": [1]}
    assert found["a"].timezone == "Asia/Shanghai" and found["a"].source == "schedules/a.yaml"
    assert schedules.as_utc(found["a"].last_fire) == t0  # type: ignore[arg-type]

    with sessions.begin() as session:  # a new cron starts from now; a new priority does not
        report = sync(session, [spec("a", cron="0 9 * * *"), spec("b", priority=5)],
                      "schedules/", now=later)
    assert report == {"added": [], "changed": ["a", "b"], "disabled": []}
    found = rows(sessions)
    assert schedules.as_utc(found["a"].last_fire) == later  # type: ignore[arg-type]
    assert schedules.as_utc(found["b"].last_fire) == t0  # type: ignore[arg-type]
    assert found["a"].labels == [] and found["b"].priority == 5

    with sessions.begin() as session:
        assert sync(session, [spec("a", cron="0 9 * * *")], "schedules", now=later) == {
            "added": [], "changed": [], "disabled": ["b"]}
    found = rows(sessions)
    assert not found["b"].enabled and found["elsewhere"].enabled

    with sessions.begin() as session:  # enabled again: from now, not from when it was dropped
        sync(session, [spec("a", cron="0 9 * * *"), spec("b", priority=5)], "schedules",
             now=later + dt.timedelta(days=3))
    found = rows(sessions)
    assert found["b"].enabled
    assert schedules.as_utc(found["b"].last_fire) == later + dt.timedelta(days=3)  # type: ignore[arg-type]


@pytest.fixture
def client(sessions: sessionmaker[Session]) -> Iterator[TestClient]:
    app = FastAPI()
    app.include_router(router)
    app.state.sessions = sessions
    with TestClient(app) as test_client:
        yield test_client


def test_get_schedules_shows_next_and_last_fire(sessions: sessionmaker[Session],
                                               client: TestClient) -> None:
    with sessions.begin() as session:
        sync(session, [spec("s2", cron="0 8 * * *"), spec("off", enabled=False)], "schedules")
        session.add(Fire(schedule="s2", fire_time=dt.datetime(2026, 1, 1, tzinfo=dt.UTC)))
        session.add(Fire(schedule="s2", fire_time=dt.datetime(2026, 1, 2, tzinfo=dt.UTC)))
        session.add(Schedule(name="broken", robot="r", cron="not a cron", source="x"))
        tokens = {role: create_token(session, role, worker="w1" if role is Role.WORKER else None)
                  for role in Role}
    assert client.get("/api/v1/schedules").status_code == 401
    worker = {"Authorization": f"Bearer {tokens[Role.WORKER]}"}
    assert client.get("/api/v1/schedules", headers=worker).status_code == 403
    response = client.get("/api/v1/schedules",
                          headers={"Authorization": f"Bearer {tokens[Role.VIEWER]}"})
    assert response.status_code == 200
    body = {s["name"]: s for s in response.json()}
    assert list(body) == ["broken", "off", "s2"]
    s2 = body["s2"]
    assert (s2["robot"], s2["cron"], s2["timezone"], s2["enabled"]) == (
        "image-filing-check", "0 8 * * *", "Asia/Shanghai", True)
    upcoming = dt.datetime.fromisoformat(s2["next_fire"])
    assert upcoming > dt.datetime.now(dt.UTC) and upcoming.astimezone(CST).hour == 8
    assert dt.datetime.fromisoformat(s2["last_fire"]).replace(tzinfo=dt.UTC) == dt.datetime(
        2026, 1, 2, tzinfo=dt.UTC)
    assert body["off"]["next_fire"] is None and body["off"]["last_fire"] is None
    assert body["broken"]["next_fire"] is None
