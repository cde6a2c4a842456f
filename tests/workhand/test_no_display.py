"""Loading the step libraries never opens a display or loads a model (issue 10): `workhand
check`, `workhand serve` (which checks every robot it deploys) and the worker's pre-forked robot
process import every library, desktop and OCR included, on machines that have no screen.

Each runs with DISPLAY pointing at a listening socket of this test — a would-be X server that
counts connections — and reports the modules it imported when it exits: none of the screen,
image or OCR packages may be among them, and nothing may have connected."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.servers import Port

# what a display, a screen grab, image matching or an OCR model would bring in
HEAVY = ("Xlib", "mss", "cv2", "rapidocr", "onnxruntime", "pyautogui", "paddleocr", "tkinter")

DESKTOP_ROBOT = """\
robot: desktop-filing
title: 账户备案
steps:
  - desktop.launch: {app: filing, window: 账户备案系统}
  - desktop.type: {target: {right_of: 柜员号, window: 账户备案系统}, text: "0101"}
  - desktop.click: {target: {image: 登录.png}}
  - desktop.wait_for: {target: {text: 备案成功}}
  - desktop.screenshot: 完成.png
"""

# run a command of the workhand CLI, writing the names of the modules it imported on exit, or
# when asked (a file OUT.now appears: uvicorn re-raises SIGTERM, so a server never exits itself)
RUNNER = textwrap.dedent("""\
    import atexit, json, os, runpy, sys, threading, time
    out, args = sys.argv[1], sys.argv[2:]
    def dump():
        open(out, "w").write(json.dumps(sorted(sys.modules)))
    def when_asked():
        while not os.path.exists(out + ".now"):
            time.sleep(0.1)
        dump()
    atexit.register(dump)
    threading.Thread(target=when_asked, daemon=True).start()
    if args == ["preload"]:
        from orchestrator.child import preload
        preload()
    else:
        sys.argv = ["workhand", *args]
        runpy.run_module("workhand", run_name="__main__")
    """)


@dataclass
class FakeXServer:
    """A TCP port where display 127.0.0.1:N would be (6000 + N): it accepts and counts."""

    display: str
    connections: list[str] = field(default_factory=list)


@pytest.fixture
def x_server() -> Iterator[FakeXServer]:
    listener = socket.socket()
    for number in range(64, 0, -1):  # high numbers: no real X server takes them here
        try:
            listener.bind(("127.0.0.1", 6000 + number))
            break
        except OSError:
            continue
    else:
        pytest.fail("no free X display port 6001-6064")
    listener.listen()
    listener.settimeout(0.2)
    server = FakeXServer(f"127.0.0.1:{number}")
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                peer, address = listener.accept()
            except TimeoutError:
                continue
            server.connections.append(str(address))
            peer.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server
    stop.set()
    thread.join()
    listener.close()


def robots_folder(root: Path) -> Path:
    folder = root / "robots"
    folder.mkdir()
    (folder / "desktop-filing.yaml").write_text(DESKTOP_ROBOT, encoding="utf-8")
    (folder / "登录.png").write_bytes(b"\x89PNG\r\n\x1a\n")  # only its existence is checked
    return folder


def workhand(root: Path, x_server: FakeXServer, *args: str) -> subprocess.Popen[str]:
    (root / "runner.py").write_text(RUNNER, encoding="utf-8")
    env = {"DISPLAY": x_server.display, "XAUTHORITY": str(root / "Xauthority"),
           "PATH": "/usr/bin:/bin", "HOME": str(root)}
    (root / "Xauthority").write_bytes(b"")
    return subprocess.Popen([sys.executable, str(root / "runner.py"), str(root / "modules.json"),
                             *args], env=env, cwd=Path(__file__).resolve().parents[2],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def imported(root: Path) -> list[str]:
    modules = json.loads((root / "modules.json").read_text(encoding="utf-8"))
    return sorted({name.split(".")[0] for name in modules} & set(HEAVY))


def test_check_opens_no_display_and_loads_no_model(tmp_path: Path, x_server: FakeXServer
                                                   ) -> None:
    folder = robots_folder(tmp_path)
    process = workhand(tmp_path, x_server, "check", str(folder / "desktop-filing.yaml"))
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 0, output
    assert imported(tmp_path) == []
    assert x_server.connections == []


def test_serve_deploys_a_desktop_robot_with_no_display(tmp_path: Path, x_server: FakeXServer
                                                       ) -> None:
    folder = robots_folder(tmp_path)
    with Port() as port:
        server = workhand(tmp_path, x_server, "serve", "--port", str(port.number), "--data",
                          str(tmp_path / "data"), "--robots", str(folder))
        try:
            deadline = time.monotonic() + 90
            while True:
                try:
                    httpx.get(f"{port.url}/api/v1/health", timeout=2)
                    break
                except httpx.TransportError:
                    assert server.poll() is None and time.monotonic() < deadline, \
                        server.communicate()[0]
                    time.sleep(0.2)
            (tmp_path / "modules.json.now").touch()
            while not (tmp_path / "modules.json").exists():
                assert server.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)
        finally:
            server.terminate()
            output, _ = server.communicate(timeout=60)
    assert "deployed 1 robot(s)" in output, output
    assert imported(tmp_path) == []
    assert x_server.connections == []


def test_the_worker_s_preforked_robot_process_loads_nothing_heavy(
        tmp_path: Path, x_server: FakeXServer) -> None:
    process = workhand(tmp_path, x_server, "preload")
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 0, output
    assert imported(tmp_path) == []
    assert x_server.connections == []
