"""Start the demo systems (web app + SMTP sink) in the background, or serve them until Ctrl+C."""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import Any

import httpx
import uvicorn

from workhand.demo.app import create_app
from workhand.demo.mailsink import start_sink
from workhand.demo.state import DemoState

HOST = "127.0.0.1"  # the demo and its unauthenticated /_state never listen beyond this machine


class DemoSystems:
    """Running demo systems: URLs for robots, state for tests."""

    def __init__(self, port: int = 0, smtp_port: int = 0) -> None:
        self.data = DemoState()
        config = uvicorn.Config(create_app(self.data), host=HOST, port=port, log_level="warning",
                                access_log=False, lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="workhand-demo",
                                        daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self._server.should_exit = True
                raise RuntimeError(f"the demo systems could not start on {HOST}:{port}; "
                                   "is the port already in use? Try another --port.")
            time.sleep(0.02)
        self.port = int(self._server.servers[0].sockets[0].getsockname()[1])
        try:
            self._smtp = start_sink(self.data, smtp_port)
        except Exception as err:
            self._stop_web()
            raise RuntimeError(f"the demo mail server could not start on {HOST}:{smtp_port}: "
                               f"{err}; try another --smtp-port.") from err
        self.smtp_port = int(self._smtp.port)
        self.base_url = f"http://{HOST}:{self.port}"

    def env(self) -> dict[str, str]:
        """Environment variables the example robots read (${env.ACCOUNT_SYSTEM_URL}, ...)."""
        b = self.base_url
        return {"ACCOUNT_SYSTEM_URL": f"{b}/accounts", "REGISTRY_URL": f"{b}/registry",
                "IMAGING_URL": f"{b}/imaging", "CORE_URL": f"{b}/core",
                "CLEARING_URL": f"{b}/clearing", "OA_URL": f"{b}/oa",
                "SMTP_HOST": HOST, "SMTP_PORT": str(self.smtp_port)}

    def state(self) -> dict[str, Any]:
        """Everything tests check (accounts, tickets, mails, logins, expected answers)."""
        response = httpx.get(f"{self.base_url}/_state", timeout=10)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def outage(self, accounts: list[str]) -> None:
        """The account system fails for these accounts (503) until outage([]) or reset()."""
        httpx.post(f"{self.base_url}/_outage", json={"accounts": accounts},
                   timeout=10).raise_for_status()

    def reset(self) -> None:
        """Re-seed every system: accounts back to 待年检, no tickets, no mails, no sessions."""
        httpx.post(f"{self.base_url}/_reset", timeout=10).raise_for_status()

    def _stop_web(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def stop(self) -> None:
        self._smtp.stop()
        self._stop_web()

    def __enter__(self) -> DemoSystems:
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def start(port: int = 0, smtp_port: int = 0) -> DemoSystems:
    """Start the demo systems on 127.0.0.1 (free ports when 0) and wait until they answer."""
    return DemoSystems(port, smtp_port)


def serve(port: int = 8800, smtp_port: int = 8825) -> None:
    """Run the demo systems until Ctrl+C, printing where they are and how robots reach them."""
    demo = start(port, smtp_port)
    env = demo.env()
    print(f"Workhand 演示系统已启动: {demo.base_url}/")
    for name, url in env.items():
        if name.endswith("_URL"):
            print(f"  {name:<20} {url}")
    print(f"  {'SMTP':<20} {env['SMTP_HOST']}:{env['SMTP_PORT']}  "
          f"(收到的邮件：{demo.base_url}/mail)")
    print("\n在另一个终端运行示例机器人前，先设置环境变量：")
    for name, value in env.items():
        print(f"  export {name}={value}")
    print("  workhand run robots/s1-account-annual-inspection.yaml "
          "--credentials robots/credentials/demo.yaml\n按 Ctrl+C 停止。")
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        demo.stop()
