"""Shared by the orchestrator benchmarks: waiting for a server process to listen."""

from __future__ import annotations

import os
import socket
import time
from multiprocessing.process import BaseProcess
from pathlib import Path


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


TICK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def proc_cpu(pid: int) -> float:
    """User + system CPU seconds of one process (all its threads), from /proc; 0 once gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK
