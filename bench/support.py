"""Shared by the orchestrator benchmarks: waiting for a server process to listen."""

from __future__ import annotations

import socket
import time
from multiprocessing.process import BaseProcess


def wait_until_listening(port: int, process: BaseProcess, timeout_s: float = 60) -> str:
    """The server's base URL once 127.0.0.1:port accepts connections; fails if it died."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return f"http://127.0.0.1:{port}"
        except OSError:
            if time.monotonic() > deadline or not process.is_alive():
                raise RuntimeError("the orchestrator did not start") from None
            time.sleep(0.05)
