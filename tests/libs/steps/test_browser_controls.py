"""Browser controls against real Chromium: drag and drop, modifier clicks, history, the robot's
network rules (with what they blocked recorded), and permissions."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import socketserver
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from libs.context import StepContext
from libs.errors import StepArgumentError, SystemFailure
from libs.events import RunEvent
from libs.policy import Policy, Refused
from libs.steps.browser.session import BrowserSession
from tests.libs.steps.test_browser import Handler, run
from tests.servers import static_site

RATES = '{"USD": 7.12, "币种": "美元"}'


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    with static_site(handler=Handler) as url:
        yield url


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StepContext]:
    """One browser for the page-control tests; every test gets a fresh step budget."""
    ctx = StepContext.for_tests(tmp_path_factory.mktemp("controls"),
                                settings={"browser": {"local_only": True}})
    yield ctx
    ctx.resources.close()


@pytest.fixture
def ctx(base: StepContext) -> StepContext:
    return dataclasses.replace(base, timeout=10.0, started=time.monotonic())


Events = list[RunEvent]


@pytest.fixture
def own_browser(tmp_path: Path, base: StepContext
                ) -> Iterator[Callable[..., tuple[StepContext, Events]]]:
    """A run of its own (its own browser, settings and policy), with the events it emits.
    One Playwright per thread: the shared browser is closed first (its next use restarts it)."""
    base.resources.close()
    made: list[StepContext] = []

    def make(browser: dict[str, Any], policy: Policy | None = None
             ) -> tuple[StepContext, Events]:
        robot = tmp_path / "robot"
        (robot / "data").mkdir(parents=True, exist_ok=True)
        (robot / "data" / "rates.json").write_text(RATES, encoding="utf-8")
        ctx = StepContext.for_tests(robot, settings={"browser": browser}, policy=policy)
        events: Events = []
        ctx.state.emit = events.append
        made.append(ctx)
        return ctx, events

    yield make
    for ctx in made:
        ctx.resources.close()


def logs(events: Events) -> list[str]:
    return [str(e["message"]) for e in events if e["type"] == "log"]


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


# -- drag and drop ----------------------------------------------------------------------------

def test_drag_a_card_into_a_drop_zone_with_html5_events_and_with_mouse_events(
        ctx: StepContext, site: str) -> None:
    run(ctx, "browser.open", {"url": f"{site}/controls.html"})
    run(ctx, "browser.drag", {"target": {"text": "凭证 001"}, "to": "#approved-html5"})
    assert run(ctx, "browser.read_text", {"target": "#html5-result"}) == "凭证 001 → 已审批"
    assert run(ctx, "browser.read_text", {"target": "#approved-html5 .card"}) == "凭证 001"

    run(ctx, "browser.drag", {"target": "#card-mouse", "to": {"css": "#approved-mouse"}})
    assert run(ctx, "browser.read_text", {"target": "#mouse-result"}) == "凭证 002 → 已审批"
    assert run(ctx, "browser.read_text", {"target": "#approved-mouse .card"}) == "凭证 002"
    assert run(ctx, "browser.read_text", {"target": ".zone .card", "all": True}) == \
        ["凭证 001", "凭证 002"]  # both moved: nothing is left in the to-do zones


def test_drag_names_the_target_that_is_missing(ctx: StepContext, site: str) -> None:
    run(ctx, "browser.open", {"url": f"{site}/controls.html"})
    short = dataclasses.replace(ctx, timeout=1.0)
    with pytest.raises(SystemFailure) as caught:
        run(short, "browser.drag", {"target": "#card-html5", "to": "#nowhere"})
    assert str(caught.value) == (
        f"browser.drag: no element matches '#nowhere' (where to drop) on {site}/controls.html "
        "after 1s; check the target (the page may show it under another name)")


# -- clicks with modifiers --------------------------------------------------------------------

def test_clicks_carry_their_modifiers_and_button(ctx: StepContext, site: str) -> None:
    run(ctx, "browser.open", {"url": f"{site}/controls.html"})
    run(ctx, "browser.click", {"target": "#clicker", "modifiers": ["control"]})
    run(ctx, "browser.click", {"target": "#clicker", "modifiers": ["Shift", "ALT"]})
    run(ctx, "browser.click", {"target": "#clicker", "button": "right"})
    run(ctx, "browser.click", {"target": "#clicker", "button": "middle", "modifiers": ["Meta"]})
    assert run(ctx, "browser.read_text", {"target": "#clicks"}) == (
        "click:0:ctrl;click:0:shift+alt;contextmenu:2:none;auxclick:2:none;auxclick:1:meta;")


def test_ctrl_click_selects_several_rows_and_shift_click_a_range(ctx: StepContext,
                                                                  site: str) -> None:
    run(ctx, "browser.open", {"url": f"{site}/controls.html"})
    run(ctx, "browser.click", {"target": {"text": "张三"}})
    run(ctx, "browser.click", {"target": {"text": "王五"}, "modifiers": ["Control"]})
    run(ctx, "browser.click", {"target": {"text": "赵六"}, "modifiers": ["ctrl"]})
    assert run(ctx, "browser.read_text", {"target": "#selected"}) == "A1,A3,A4"
    run(ctx, "browser.click", {"target": {"text": "王五"}, "modifiers": ["Control"]})
    assert run(ctx, "browser.read_text", {"target": "#selected"}) == "A1,A4"

    run(ctx, "browser.click", {"target": {"text": "李四"}})
    run(ctx, "browser.click", {"target": {"text": "赵六"}, "modifiers": ["Shift"]})
    assert run(ctx, "browser.read_text", {"target": "#selected"}) == "A2,A3,A4"


# -- history ----------------------------------------------------------------------------------

def test_reload_back_and_forward(ctx: StepContext, site: str) -> None:
    run(ctx, "browser.open", {"url": f"{site}/controls.html", "new_tab": True})
    assert run(ctx, "browser.read_text", {"target": "#loads"}) == "载入 1"
    run(ctx, "browser.reload", {})
    assert run(ctx, "browser.read_text", {"target": "#loads"}) == "载入 2"

    run(ctx, "browser.open", {"url": f"{site}/detail.html"})
    run(ctx, "browser.back", {"wait_until": "domcontentloaded"})
    assert run(ctx, "browser.evaluate", {"script": "location.pathname"}) == "/controls.html"
    assert run(ctx, "browser.read_text", {"target": "#loads"}) == "载入 3"
    run(ctx, "browser.forward", {})
    assert run(ctx, "browser.evaluate", {"script": "location.pathname"}) == "/detail.html"

    with pytest.raises(SystemFailure) as caught:
        run(ctx, "browser.forward", {})
    assert str(caught.value) == (
        f"browser.forward: the current tab has no later page to go forward to (it shows "
        f"{site}/detail.html); browser.forward only follows a browser.back")
    run(ctx, "browser.close_tab", {})


def test_back_in_a_fresh_tab_is_a_clear_failure(ctx: StepContext, site: str) -> None:
    run(ctx, "browser.open", {"url": f"{site}/detail.html", "new_tab": True})
    with pytest.raises(SystemFailure) as caught:
        run(ctx, "browser.back", {})
    assert str(caught.value) == (
        f"browser.back: the current tab has no earlier page to go back to (it shows "
        f"{site}/detail.html); open the page you want with browser.open")
    assert run(ctx, "browser.evaluate", {"script": "location.pathname"}) == "/detail.html"
    run(ctx, "browser.close_tab", {})


# -- the robot's network rules ----------------------------------------------------------------

def load_network_page(ctx: StepContext, site: str) -> dict[str, str]:
    run(ctx, "browser.open", {"url": f"{site}/network.html"})
    run(ctx, "browser.wait_for", {"target": "#done", "text": "完成"})
    return {key: run(ctx, "browser.read_text", {"target": f"#{key}"})
            for key in ("rates", "track", "ads", "other")}


def test_robot_rules_block_allow_and_answer_from_a_file_and_record_what_was_blocked(
        own_browser: Callable[..., tuple[StepContext, Events]], site: str) -> None:
    ctx, events = own_browser({"network": {
        "block": ["**/track/**"], "allow": ["127.0.0.1"], "log_requests": True,
        "fulfil": [{"url": "**/api/rates", "file": "data/rates.json"}]}})
    assert load_network_page(ctx, site) == {
        "rates": f"200:{RATES}",  # answered from the robot's file: the server has no such page
        "track": "blocked", "ads": "blocked", "other": "blocked"}

    blocked = lines(ctx.output_dir / "network-blocked.jsonl")
    assert sorted((b["url"], b["by"], b["reason"]) for b in blocked) == [
        (f"{site}/track/visit?token=***", "block",
         "settings.browser.network.block has the address pattern '**/track/**'"),
        ("http://ads.example.com/pixel?uid=***", "allow",
         "it is not in settings.browser.network.allow"),
        ("http://other.example.org/b", "allow", "it is not in settings.browser.network.allow"),
    ]
    assert {b["method"] for b in blocked} == {"GET"} and blocked[0]["step"] == "test.yaml:1:1"
    assert f"browser: blocked GET {site}/track/visit?token=*** (settings.browser.network.block " \
           "has the address pattern '**/track/**'); further requests to '127.0.0.1' refused " \
           "for this reason are recorded in network-blocked.jsonl only" in logs(events)
    assert "abc123" not in json.dumps(events) + json.dumps(blocked)  # the token never shows

    requests = {r["url"]: r for r in lines(ctx.output_dir / "network-requests.jsonl")}
    assert requests[f"{site}/network.html"]["status"] == 200
    assert requests[f"{site}/api/rates?day=***"] | {"ts": 0} == {
        "ts": 0, "step": "test.yaml:1:1", "method": "GET", "url": f"{site}/api/rates?day=***",
        "status": 200, "resource": "fetch", "answered_from": "data/rates.json"}
    assert requests["http://ads.example.com/pixel?uid=***"]["error"] == "blocked"

    # opening a blocked address is a failure that says why
    with pytest.raises(SystemFailure) as caught:
        run(ctx, "browser.open", {"url": f"{site}/track/page.html"})
    assert str(caught.value) == (
        f"browser.open: cannot open {site}/track/page.html: the address is blocked (by the "
        "worker's hosts, settings.browser.local_only or settings.browser.network; the run's "
        "network-blocked.jsonl names the rule); check the address and that the system is "
        "running")
    assert lines(ctx.output_dir / "network-blocked.jsonl")[-1]["url"] == \
        f"{site}/track/page.html"


def test_local_only_and_the_workers_hosts_are_recorded_too(
        own_browser: Callable[..., tuple[StepContext, Events]], site: str) -> None:
    ctx, events = own_browser({"local_only": True},
                              Policy(hosts=("127.0.0.1", "ads.example.com")))
    page = load_network_page(ctx, site)
    assert page["rates"].startswith("404:") and page["ads"] == page["other"] == "blocked"
    blocked = lines(ctx.output_dir / "network-blocked.jsonl")
    assert [(b["host"], b["by"], b["reason"]) for b in sorted(blocked, key=lambda b: b["host"])
            ] == [("ads.example.com", "local_only",
                   "settings.browser.local_only allows only this machine"),
                  ("other.example.org", "worker",
                   "it is not among the hosts this worker allows robots to reach")]
    assert not (ctx.output_dir / "network-requests.jsonl").exists()  # not asked for
    assert [m for m in logs(events) if "other.example.org" in m] == [
        "browser: blocked GET http://other.example.org/b (it is not among the hosts this "
        "worker allows robots to reach); further requests to 'other.example.org' refused for "
        "this reason are recorded in network-blocked.jsonl only"]


def test_a_robot_cannot_widen_the_workers_hosts_with_allow(
        own_browser: Callable[..., tuple[StepContext, Events]], site: str) -> None:
    ctx, events = own_browser({"network": {"allow": ["127.0.0.1", "other.example.org"]}},
                              Policy(hosts=("127.0.0.1",)))
    page = load_network_page(ctx, site)
    assert page["other"] == "blocked"
    assert {b["host"]: b["by"] for b in lines(ctx.output_dir / "network-blocked.jsonl")} == {
        "ads.example.com": "worker", "other.example.org": "worker"}  # the worker's word first
    assert logs(events)[0] == (
        "settings.browser.network.allow: 'other.example.org' is not among the hosts this "
        "worker allows robots to reach, so requests to it stay blocked; ask an admin to add it "
        "to the worker's settings")


def test_without_rules_no_route_is_installed(
        own_browser: Callable[..., tuple[StepContext, Events]], site: str) -> None:
    ctx, _ = own_browser({"network": {"log_requests": True}})
    run(ctx, "browser.open", {"url": f"{site}/detail.html"})
    session = ctx.resources.peek("browser")
    assert isinstance(session, BrowserSession)
    assert session._network is not None and not session._network.routes
    assert [r["url"] for r in lines(ctx.output_dir / "network-requests.jsonl")] == \
        [f"{site}/detail.html"]


def test_a_fulfil_file_outside_the_robots_folder_or_missing_is_refused_at_run_time(
        own_browser: Callable[..., tuple[StepContext, Events]], site: str,
        tmp_path: Path) -> None:
    outside = tmp_path / "secret.json"
    outside.write_text("{}", encoding="utf-8")
    ctx, _ = own_browser({"network": {"fulfil": [{"url": "**/api/rates", "file": str(outside)}]}})
    with pytest.raises(Refused) as caught:
        run(ctx, "browser.open", {"url": f"{site}/detail.html"})
    assert str(caught.value).startswith(
        f"settings.browser.network.fulfil: '{outside}' is outside the folders this robot may "
        f"read (the robot's folder {tmp_path / 'robot'}, ")
    assert ctx.resources.peek("browser")._context is None  # Chromium was not started

    ctx, _ = own_browser({"network": {"fulfil": [{"url": "**/api/rates",
                                                  "file": "data/missing.json"}]}})
    with pytest.raises(StepArgumentError) as missing:
        run(ctx, "browser.open", {"url": f"{site}/detail.html"})
    assert str(missing.value) == (
        "settings.browser.network.fulfil: the file 'data/missing.json' (for **/api/rates) was "
        "not found in the robot's folder; put it there or correct the path")


class Echo(socketserver.StreamRequestHandler):
    """Just enough of a WebSocket server: the handshake, one short text frame echoed back,
    then the closing handshake."""

    def handle(self) -> None:
        headers = {}
        self.rfile.readline()
        while (line := self.rfile.readline().decode()).strip():
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        accept = base64.b64encode(hashlib.sha1(
            (headers["sec-websocket-key"] + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()
        ).digest()).decode()
        self.wfile.write(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                          f"Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
                          ).encode())
        text = self._frame()
        reply = b"echo:" + text
        self.wfile.write(bytes([0x81, len(reply)]) + reply)
        self._frame()  # the page's close frame: answer it, or the page waits for the answer
        self.wfile.write(bytes([0x88, 0]))

    def _frame(self) -> bytes:
        _, size = self.rfile.read(2)
        mask = self.rfile.read(4)
        return bytes(b ^ mask[i % 4] for i, b in enumerate(self.rfile.read(size & 0x7F)))


def test_websockets_to_refused_hosts_are_closed_and_recorded(
        own_browser: Callable[..., tuple[StepContext, Events]], site: str) -> None:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Echo)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        ctx, _ = own_browser({"network": {"allow": ["127.0.0.1"]}})
        run(ctx, "browser.open", {"url": f"{site}/socket.html?port={server.server_address[1]}"})
        run(ctx, "browser.wait_for", {"target": "#done", "text": "完成"})
        assert run(ctx, "browser.read_text", {"target": "#allowed"}) == "echo:你好"
        assert run(ctx, "browser.read_text", {"target": "#refused"}) == "closed 1008"
    finally:
        server.shutdown()
        server.server_close()
    assert [(b["method"], b["url"], b["by"]) for b in lines(
        ctx.output_dir / "network-blocked.jsonl")] == [
        ("WEBSOCKET", "ws://other.example.org/feed", "allow")]


# -- permissions ------------------------------------------------------------------------------

def test_pages_read_the_granted_position_and_clipboard(
        own_browser: Callable[..., tuple[StepContext, Events]], site: str) -> None:
    ctx, _ = own_browser({"local_only": True,
                          "permissions": ["clipboard-read", "clipboard-write"],
                          "geolocation": {"latitude": 31.23, "longitude": 121.47}})
    run(ctx, "browser.open", {"url": f"{site}/permissions.html"})
    run(ctx, "browser.click", {"target": {"role": "button", "name": "定位"}})
    run(ctx, "browser.wait_for", {"target": "#position", "text": ","})
    assert run(ctx, "browser.read_text", {"target": "#position"}) == "31.23,121.47"
    run(ctx, "browser.click", {"target": {"role": "button", "name": "复制账号"}})
    run(ctx, "browser.wait_for", {"target": "#clipboard", "text": "账号"})
    assert run(ctx, "browser.read_text", {"target": "#clipboard"}) == "账号 6217000012345678"


def test_a_wrong_permission_is_refused_when_the_browser_starts(
        own_browser: Callable[..., tuple[StepContext, Events]], site: str) -> None:
    ctx, _ = own_browser({"permissions": ["camera"]})
    with pytest.raises(StepArgumentError) as caught:
        run(ctx, "browser.open", {"url": f"{site}/detail.html"})
    assert str(caught.value).startswith("settings.browser is not valid: 'permissions.0': ")


# -- a robot using them -----------------------------------------------------------------------

def test_a_robot_drags_selects_and_answers_from_its_file(
        base: StepContext, site: str, tmp_path: Path,
        run_robot: Callable[..., tuple[Any, Any]]) -> None:
    base.resources.close()  # one Playwright per thread: the robot starts its own
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "rates.json").write_text(RATES, encoding="utf-8")
    result, events = run_robot(f"""
        robot: approve-vouchers
        settings:
          browser:
            local_only: true
            network:
              block: ["**/track/**"]
              fulfil: [{{url: "**/api/rates", file: data/rates.json}}]
        steps:
          - browser.open: {site}/controls.html
          - browser.drag: {{target: {{text: 凭证 001}}, to: "#approved-html5"}}
          - browser.click: {{target: {{text: 张三}}}}
          - browser.click: {{target: {{text: 赵六}}, modifiers: [ctrl]}}
          - browser.read_text: {{target: "#selected", into: selected}}
          - output: {{name: selected, value: "${{selected}}"}}
          - browser.read_text: {{target: "#html5-result", into: moved}}
          - output: {{name: moved, value: "${{moved}}"}}
          - browser.open: {site}/network.html
          - browser.wait_for: {{target: "#done", text: 完成}}
          - browser.read_text: {{target: "#rates", into: rates}}
          - output: {{name: rates, value: "${{rates}}"}}
          - browser.back: domcontentloaded
          - browser.read_text: {{target: "#loads", into: loads}}
          - output: {{name: loads, value: "${{loads}}"}}
        """)
    assert result.status == "passed", result.error
    assert result.outputs == {"selected": "A1,A4", "moved": "凭证 001 → 已审批",
                              "rates": f"200:{RATES}", "loads": "载入 2"}
    blocked = lines(tmp_path / "out" / "network-blocked.jsonl")
    assert sorted((b["url"], b["by"]) for b in blocked) == [
        (f"{site}/track/visit?token=***", "block"),
        ("http://ads.example.com/pixel?uid=***", "local_only"),
        ("http://other.example.org/b", "local_only")]
    # the step during which the page asked: its open, or the wait right after it
    assert {b["step"].rsplit(":", 2)[-2] for b in blocked} <= {"17", "18"}
    warned = [e["message"] for e in events.of_type("log") if e.get("level") == "warning"]
    assert sum(m.startswith("browser: blocked GET ") for m in warned) == 3
