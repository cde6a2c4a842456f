from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from libs.checker import check_file
from libs.errors import RobotFileError
from libs.plan import Action, ForEach, If, WaitUntil, walk

Write = Callable[[str, str], Path]


def problems(path: Path) -> list[str]:
    with pytest.raises(RobotFileError) as caught:
        check_file(path, shown_as="r.yaml")
    return [str(p) for p in caught.value.problems]


def test_a_good_robot_becomes_a_plan(robot_file: Write) -> None:
    plan = check_file(robot_file("""
        robot: good-one
        savings: {minutes_per_item: 10, review_minutes: 3}
        inputs:
          day: {type: date, default: today}
        steps:
          - log: {message: "day ${inputs.day}", label: 开始}
          - for_each: "${[1, 2]}"
            as: n
            work_item: "${n}"
            retry: {attempts: 3, delay: 2s, backoff: 2}
            steps:
              - if: "${n > 1}"
                then: [fail_item: too big]
        """, "r.yaml"))
    assert plan.robot == "good-one"
    assert plan.savings.minutes_per_item == 10
    first, loop = plan.steps
    assert isinstance(first, Action) and first.common.label == "开始"
    assert isinstance(loop, ForEach) and loop.common.retry is not None
    assert loop.common.retry.pause(2) == 4.0
    assert isinstance(loop.steps[0], If)


def test_every_problem_is_reported_at_once_with_positions(robot_file: Write) -> None:
    found = problems(robot_file("""
        robot: Bad_Name
        titel: x
        steps:
          - lgo: hi
          - wait: soon
          - log: {message: "${countr}", levle: info}
          - set: {count: 0}
          - log: "${inputs.missing}"
          - for_each: rows
            steps: []
          - log: "${error.message}"
        """, "r.yaml"))
    assert found == [
        "r.yaml:1:8: robot id 'Bad_Name' must be lower-case letters and digits joined by '-', "
        "at most 100 characters, e.g. account-annual-inspection",
        "r.yaml:2:1: unknown key 'titel'; did you mean 'title'? (a robot has: robot, title, "
        "description, savings, inputs, credentials, settings, steps, tags)",
        "r.yaml:4:5: unknown step 'lgo'; did you mean 'log'?",
        "r.yaml:5:11: argument 'duration' of 'wait': 'soon' is not a duration; write it like "
        "500ms, 2s, 5m or 1h",
        "r.yaml:6:20: unknown variable 'countr' in '${countr}'; did you mean 'count'? "
        "(variables come from inputs, 'into:', 'set:' and 'as:'; the names known here: count, "
        "credentials, env, inputs, item, now, run, today)",
        "r.yaml:6:33: 'log' has no argument 'levle'; did you mean 'level'? "
        "(arguments: message, level)",
        "r.yaml:8:10: unknown input 'missing' (inputs are declared under 'inputs:')",
        "r.yaml:9:15: for_each needs a list or an expression like ${rows}, not the text 'rows'",
        "r.yaml:11:10: 'error' is only known inside 'catch:' steps",
    ]


FUNCTION_LIST = ("abs, bool, date, days, dict, enumerate, float, int, len, list, max, min, "
                 "number, range, re_findall, re_replace, re_search, re_test, round, sorted, "
                 "str, sum, zip")


def test_a_name_called_as_a_function_is_checked_against_the_functions(robot_file: Write) -> None:
    found = problems(robot_file("""
        robot: calls
        steps:
          - log: "${rnage(3)}"
          - log: "${foo(1) + len([1])}"
          - log: "${range(3) | length} ${max(1, 2)} ${sorted([2, 1], reverse=true)}"
          - log: "${re_search('a1')}"
          - log: "${enumerate([1], begin=1)}"
        """, "r.yaml"))
    assert found == [
        f"r.yaml:3:10: 'rnage' in '${{rnage(3)}}' is not a function; did you mean 'range'? "
        f"(the functions are: {FUNCTION_LIST})",
        f"r.yaml:4:10: 'foo' in '${{foo(1) + len([1])}}' is not a function (the functions "
        f"are: {FUNCTION_LIST})",
        "r.yaml:6:10: in '${re_search('a1')}': re_search() missing a required argument: "
        "'pattern'; re_search(text, pattern): the first match of a regular expression, or none "
        "(the group if the pattern has one, a list of groups if several)",
        "r.yaml:7:10: in '${enumerate([1], begin=1)}': enumerate() got an unexpected keyword "
        "argument 'begin'; enumerate(xs, start=0): each item with its number: "
        "[[0, x0], [1, x1], ...]",
    ]


def test_a_pattern_written_in_the_robot_is_checked_before_the_run(robot_file: Write) -> None:
    found = problems(robot_file("""
        robot: patterns
        steps:
          - set: {t: abc}
          - log: "${re_search(t, '([0-9]+')}"
          - log: "${re_replace(t, '[0-9]+', '#')}"
        """, "r.yaml"))
    assert found == [
        "r.yaml:4:10: in '${re_search(t, '([0-9]+')}': the pattern '([0-9]+' is not a valid "
        "regular expression: missing ) at position 7; put a backslash before a character "
        "meant literally, e.g. '\\(' or '\\.'",
    ]


def test_loop_names_are_known_inside_their_loops_only(robot_file: Write) -> None:
    found = problems(robot_file("""
        robot: loops
        steps:
          - for_each: "${range(3)}"
            work_item: "${loop.number}"
            steps:
              - log: "${loop.number} of ${loop.length}"
              - repeat: {times: 2, until: "${repeat_index == 1}"}
                steps:
                  - log: "${loop.index} ${repeat_index}"
              - log: "${repeat_index}"
          - log: "${loop.index}"
          - set: {loop: 1}
        """, "r.yaml"))
    assert found == [
        "r.yaml:10:14: 'repeat_index' is only known inside a repeat's steps and its 'until:' "
        "(0, 1, 2, ...)",
        "r.yaml:11:10: 'loop' is only known inside a for_each's steps and its 'work_item:' "
        "(loop.index, loop.number, loop.first, loop.last, loop.length)",
        "r.yaml:12:11: 'loop' is a built-in name; choose another variable name",
    ]


def test_step_options_and_wrong_types(robot_file: Write) -> None:
    found = problems(robot_file("""
        robot: opts
        steps:
          - log: hi
            retry: {attempts: 0, delai: 1s}
            optional: maybe
            timeout: forever
          - log: {message: x, into: y}
          - fail
          - try: [log: a]
          - call: nowhere
        """, "r.yaml"))
    text = "\n".join(found)
    assert "r.yaml:4:23: 'attempts' must be a whole number" in text
    assert "r.yaml:4:26: unknown retry option 'delai'; did you mean 'delay'?" in text
    assert "r.yaml:5:15: 'optional' must be true or false" in text
    assert "r.yaml:6:14: 'timeout': 'forever' is not a duration" in text
    assert "r.yaml:7:29: 'log' returns nothing, so 'into' has nothing to keep" in text
    assert "r.yaml:8:5: 'fail' needs 'message'" in text
    assert "r.yaml:9:5: 'try' needs 'catch:' or 'finally:'" in text
    assert "r.yaml:10:11: no robot 'nowhere' found" in text


def test_call_resolves_robots_by_id_and_checks_their_inputs(robot_file: Write) -> None:
    robot_file("""
        robot: helper-robot
        inputs:
          who: {type: text}
        steps:
          - log: "hi ${inputs.who}"
        """, "other.yaml")
    found = problems(robot_file("""
        robot: caller
        steps:
          - call: helper-robot
            with: {whom: x}
        """, "r.yaml"))
    assert "r.yaml:4:12: robot 'helper-robot' has no input 'whom'; did you mean 'who'?" in found
    assert "r.yaml:3:11: robot 'helper-robot' needs input 'who'; add it under 'with:'" in found


def test_a_robot_calling_itself_is_refused(robot_file: Write) -> None:
    found = problems(robot_file("robot: loop-me\nsteps:\n  - call: loop-me\n", "r.yaml"))
    assert any("call each other in a circle" in p for p in found)


def test_wait_until_is_checked_like_every_control_step(robot_file: Write) -> None:
    found = problems(robot_file("""
        robot: waits
        steps:
          - wait_until: done
            read: {browser.read_text: "#status"}
          - wait_until: "${status == '完成'}"
            read:
              - browser.read_txt: {target: '#status', into: status}
            evry: 1s
            every: 10ms
          - wait_until: "${status == '完成'}"
            every: 1m
            timeout: 30s
          - wait_until: {status: 完成}
            every: "${pause}"
          - wait_until: "${status.__class__}"
            every: soon
          - {wait_until: "${status == '完成'}", every: 0}
        """, "r.yaml"))
    assert found == [
        "r.yaml:3:17: 'wait_until' needs a condition to wait for, like ${status == '完成'}, "
        "not the text 'done'",
        "r.yaml:4:11: 'read' must be a list of steps, each starting with '- '",
        "r.yaml:7:9: unknown step 'browser.read_txt'; did you mean 'browser.read_text'?",
        "r.yaml:8:5: 'wait_until' does not take 'evry'; did you mean 'every'? (it takes: label, "
        "timeout, retry, optional, read, every)",
        "r.yaml:9:12: 'every' of 10ms is too often: a wait_until checks at most every 50ms; "
        "write every: 50ms or more",
        "r.yaml:11:12: 'every' of 1m is longer than the wait's timeout of 30s; check more often "
        "or raise the timeout",
        "r.yaml:13:17: 'wait_until' needs a condition to wait for, like ${status == '完成'}, "
        "not a map",
        "r.yaml:14:12: 'every' must be a fixed duration like 30s, not an expression",
        "r.yaml:15:17: '__class__' in '${status.__class__}' is not allowed: expressions cannot "
        "reach names starting with '_'; use the value's plain fields",
        "r.yaml:16:12: 'every': 'soon' is not a duration; write it like 500ms, 2s, 5m or 1h",
        "r.yaml:17:46: 'every' of 0 is too often: a wait_until checks at most every 50ms; "
        "write every: 50ms or more",
    ]


def test_a_wait_until_plan_keeps_its_read_steps_and_interval(robot_file: Write) -> None:
    plan = check_file(robot_file("""
        robot: waits
        steps:
          - wait_until: "${status == '完成'}"
            read: [browser.read_text: {target: '#status', into: status}]
            every: 100ms
            timeout: 5s
          - wait_until: "${status == '完成'}"
        """, "r.yaml"))
    first, second = plan.steps
    assert isinstance(first, WaitUntil) and isinstance(second, WaitUntil)
    assert (first.every, first.common.timeout, second.every, second.common.timeout) == (
        0.1, 5.0, 0.25, None)
    assert [n.name for n in walk(plan.steps) if isinstance(n, Action)] == ["browser.read_text"]


SECRET = "the secret 'credentials.bank.password' can only be passed whole"


def test_a_secret_is_only_passed_whole_to_an_argument_that_accepts_it(robot_file: Write) -> None:
    ok = robot_file("""
        robot: ok
        credentials: [bank]
        settings:
          mail: {username: "${credentials.bank.username}", password: "${credentials.bank.password}"}
        steps:
          - browser.fill: {target: "#pw", text: "${credentials.bank.password}"}
          - set: {pw: "${credentials.bank.password}"}
          - browser.type: {target: "#pw", text: "${pw}"}
          - http.get: {url: "http://x", auth: {username: "${credentials.bank.username}",
                                                password: "${pw}"}}
          - http.get: {url: "http://x", headers: {X-Key: "${credentials.bank.password}"}}
          - log: "user ${credentials.bank.username | upper}"
        """)
    check_file(ok)
    bad = robot_file("""
        robot: bad
        credentials: [bank]
        settings:
          browser: {locale: "${credentials.bank.password}"}
        steps:
          - log: "${credentials.bank.password | upper}"
          - browser.fill: {target: "#pw", text: "pw=${credentials.bank.password}"}
          - set: {pw: "${credentials.bank.password}"}
          - log: "${pw}"
          - {log: x, label: "login as ${credentials.bank.password}"}
          - files.write_text: {path: "${credentials.bank.password}.txt", text: x}
          - http.get: {url: "http://x", auth: {username: "${pw}", password: x}}
          - log: "${credentials.bank}"
          - for_each: [1]
            work_item: "${credentials['bank'].password}"
            steps: [log: x]
        """)
    found = problems(bad)
    assert [p.split(": ", 1)[0] for p in found] == [
        "r.yaml:4:21", "r.yaml:6:10", "r.yaml:7:41", "r.yaml:9:10", "r.yaml:10:21",
        "r.yaml:11:30", "r.yaml:12:50", "r.yaml:13:10", "r.yaml:15:16"], found
    assert "'credentials.bank' holds secrets" in found[7]
    assert all(SECRET in p for p in found[:7] + found[8:]), found


def test_loops_waits_and_timeouts_have_limits(robot_file: Write) -> None:
    path = robot_file("""
        robot: limits
        settings: {timeout: 48h}
        steps:
          - repeat: {times: 1000000000000}
            steps: [log: x]
          - repeat: {max: 3, until: "${false}", delay: 2h}
            steps: [log: x]
          - wait: 100000h
          - {wait: 10s, timeout: 5s}
          - {log: x, timeout: 25h, retry: {attempts: 1000}}
        """)
    found = problems(path)
    assert any(p.startswith("r.yaml:2:21: 'timeout' of 48h is over the limit of 24h")
               for p in found), found
    assert any(p.startswith("r.yaml:4:21: 1,000,000,000,000 repeats is over the limit")
               for p in found), found
    assert any(p.startswith("r.yaml:6:48: 'delay' of 2h is over the limit of 1h") for p in found)
    assert any(p.startswith("r.yaml:8:11: wait of 100000h is over the limit of 1h")
               for p in found), found
    assert any(p.startswith("r.yaml:9:12: wait of 10s is longer than the step's timeout of 5s")
               for p in found), found
    assert any(p.startswith("r.yaml:10:23: 'timeout' of 25h") for p in found), found
    assert any(p.startswith("r.yaml:10:46: 'attempts' of 1000 is over the limit of 100")
               for p in found), found


def test_a_map_of_options_only_is_not_taken_for_the_main_argument(robot_file: Write) -> None:
    plan = check_file(robot_file("""
        robot: options-only
        steps:
          - browser.read_table: {into: found}
          - browser.check: {label: 同意}
        """, "r.yaml"))
    first, second = plan.steps
    assert isinstance(first, Action) and first.into == "found" and "target" not in first.args
    assert isinstance(second, Action) and second.args["target"] == {"label": "同意"}


def test_browser_network_permissions_and_position_are_checked(robot_file: Write) -> None:
    good = robot_file("""
        robot: good-network
        settings:
          browser:
            network:
              block: [ads.example.com, "*.tracker.cn", "**/track/**", "10.0.0.0/8"]
              allow: [127.0.0.1, "*.bank.local"]
              fulfil: [{url: "**/api/rates", file: rates.json, status: 200,
                        content_type: application/json}]
              log_requests: true
            permissions: [geolocation, clipboard-read]
            geolocation: {latitude: 31.23, longitude: 121.47}
        steps:
          - browser.click: {target: "#row", modifiers: [control, Shift]}
        """, "r.yaml")
    (good.parent / "rates.json").write_text("{}", encoding="utf-8")
    check_file(good)
    bad = robot_file("""
        robot: bad-network
        settings:
          browser:
            network:
              blok: [x]
              block: ["ads example.com", "ftp://files.bank.cn/**", "api/rates", "**/a/***"]
              allow: ["**/api/**", "银行"]
              fulfil:
                - {url: "**/api/rates", file: data/missing.json}
                - {url: "**/api/x", file: ../../etc/passwd, status: 900}
                - {file: /etc/hosts, type: json}
              log_requests: yes
            permissions: [geolocaton, camera]
            geolocation: {latitude: 200, longitud: 1}
        steps:
          - browser.click: {target: "#row", modifiers: [Strg]}
        """, "r.yaml")
    assert problems(bad) == [
        "r.yaml:5:7: unknown network setting 'blok'; did you mean 'block'? (network settings: "
        'block, allow, fulfil, log_requests)',
        "r.yaml:6:15: network block: 'ads example.com' contains a space; write a host such as "
        'ads.example.com, *.example.com or 10.0.0.0/8, or an address pattern such as '
        '**/api/rates or https://ads.example.com/**',
        "r.yaml:6:34: network block: 'ftp://files.bank.cn/**' starts with 'ftp://'; address "
        'patterns match http, https, ws or wss addresses (or * for any of them)',
        "r.yaml:6:60: network block: 'api/rates' is neither a host nor a whole address; start "
        'the pattern with ** (e.g. **/api/rates) or with http:// or https://',
        "r.yaml:6:73: network block: '**/a/***' has '***'; write ** for any characters, * for "
        "any but '/'",
        "r.yaml:7:15: network allow: '**/api/**' is an address pattern, but allow takes hosts "
        'only (e.g. ebank.bank.cn, *.bank.cn, 10.0.0.0/8); to refuse addresses use block',
        "r.yaml:7:28: network allow: '银行' is not a host name; write a host such as "
        'ads.example.com, *.example.com or 10.0.0.0/8, or an address pattern such as '
        '**/api/rates or https://ads.example.com/**',
        "r.yaml:9:39: fulfil file 'data/missing.json' was not found in the robot's folder; "
        'put it there or correct the path',
        "r.yaml:10:35: fulfil file: '../../etc/passwd' climbs out of the robot's folder with "
        "'../'; robots read files from their own folder, their output folder or a folder the "
        'worker allows',
        'r.yaml:10:61: fulfil status must be an HTTP status from 100 to 599, e.g. 200, not '
        '900',
        "r.yaml:11:11: a fulfil answer needs url, e.g. {url: '**/api/rates', file: "
        'data/rates.json}',
        "r.yaml:11:18: fulfil file: '/etc/hosts' is in the system folder /etc, outside the "
        "robot's folder; robots read files from their own folder, their output folder or a "
        'folder the worker allows',
        "r.yaml:11:30: a fulfil answer has no 'type' (it has: url, file, status, "
        'content_type)',
        "r.yaml:12:21: 'log_requests' must be true or false, not text",
        "r.yaml:13:19: unknown browser permission 'geolocaton'; did you mean 'geolocation'? "
        '(permissions: geolocation, clipboard-read, clipboard-write, notifications)',
        "r.yaml:13:31: unknown browser permission 'camera' (permissions: geolocation, "
        'clipboard-read, clipboard-write, notifications)',
        'r.yaml:14:18: geolocation needs longitude, e.g. {latitude: 31.23, longitude: 121.47}',
        'r.yaml:14:29: geolocation latitude must be a number from -90 to 90, not 200',
        "r.yaml:14:34: geolocation has no 'longitud'; did you mean 'longitude'? (it has: "
        'latitude, longitude, accuracy)',
        "r.yaml:16:48: argument 'modifiers' of 'browser.click': 'Strg' is not a modifier key; "
        'use Control, Shift, Alt or Meta (e.g. modifiers: [Control])',
    ]


def test_an_option_a_control_step_would_ignore_is_refused(robot_file: Write) -> None:
    assert problems(robot_file("""
        robot: ignored-options
        steps:
          - if: "${true}"
            optional: true
            then: [log: a]
          - repeat: {max: 2}
            timeout: 5s
            steps: [log: b]
          - wait_until: "${true}"
            optional: true
            timeout: 5s
        """, "r.yaml")) == [
        "r.yaml:4:5: 'optional' does nothing on 'if'; put it on the steps inside, e.g. "
        "- browser.click: {target: ..., optional: true}",
        "r.yaml:7:5: 'timeout' does nothing on 'repeat'; put it on the steps inside, e.g. "
        "- browser.click: {target: ..., timeout: 30s}",
    ]


def test_a_single_value_for_a_step_without_a_main_argument_shows_the_map(
        robot_file: Write) -> None:
    assert problems(robot_file("""
        robot: single
        steps:
          - browser.wait_for: "#result"
        """, "r.yaml")) == [
        "r.yaml:3:23: 'browser.wait_for' takes a map of arguments (target, state, text, url, "
        "any), not a single value; e.g. browser.wait_for: {target: \"#result\"}"]


def test_the_ocr_setting_takes_a_profile_only(robot_file: Write) -> None:
    assert check_file(robot_file("robot: r\nsettings:\n  ocr: {profile: accurate}\n"
                                 "steps:\n  - log: x\n")).settings["ocr"] == {
        "profile": "accurate"}
    found = problems(robot_file("robot: r\nsettings:\n  ocr: {profile: best, threads: 4}\n"
                                "steps:\n  - log: x\n"))
    assert found == ["r.yaml:3:8: 'ocr' settings are {profile: fast} or {profile: accurate} "
                     "(the models OCR reads with; the engine is the worker's)"]
