"""Ports held from before a server binds them until the test ends, and uvicorn on them.

Picking a port by binding 0 and closing the socket races: between the close and the server's
own bind any process may be given the same port (outgoing connections take ephemeral ports
too). A Port stays bound for the test's whole life instead: SO_REUSEADDR and never listening,
so connecting to it is refused while no server runs on it, and no one else is given it (bind(0)
and outgoing connections pass over a bound port). A server then binds it beside the holder:
one we start gets a socket bound here and listens on it (uvicorn's `sockets=`, `workhand serve
--fd`); a server that binds by itself (aiosmtpd, http.server, `--port`) may take the number, as
each sets SO_REUSEADDR too.
"""

from __future__ import annotations

import functools
import http.server
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

import uvicorn

HOST = "127.0.0.1"


def _bound(number: int) -> socket.socket:
    # proto named, as asyncio sets TCP_NODELAY on accepted connections only for IPPROTO_TCP
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, number))
    return sock


class Port:
    """A loopback port held by this test until close()."""

    def __init__(self, number: int = 0) -> None:
        self._holder = _bound(number)
        self.number = int(self._holder.getsockname()[1])
        self.url = f"http://{HOST}:{self.number}"

    def socket(self) -> socket.socket:
        """A socket of its own for one server, bound to this port, listening once the server
        starts (uvicorn listens on the sockets it is given)."""
        return _bound(self.number)

    def close(self) -> None:
        self._holder.close()

    def __enter__(self) -> Port:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()


class ThreadServer:
    """An ASGI app under uvicorn in a thread of this process, on a Port: connections are refused
    until start(); stop() then start() serves again on the same port (a restart)."""

    def __init__(self, port: Port | None = None, **config: Any) -> None:
        self.port = port or Port()
        self.url = self.port.url
        self.config = {"log_level": "warning", **config}
        self.server: uvicorn.Server | None = None
        self.thread: threading.Thread | None = None

    def start(self, app: Any, timeout: float = 30.0) -> None:
        assert self.thread is None, "already serving"
        self.server = uvicorn.Server(uvicorn.Config(app, **self.config))
        self.thread = threading.Thread(target=self.server.run,
                                       kwargs={"sockets": [self.port.socket()]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            assert self.thread.is_alive(), "the server ended before it started (see its log)"
            assert time.monotonic() < deadline, f"the server did not start within {timeout:g} s"
            time.sleep(0.02)

    def stop(self, timeout: float = 30.0) -> None:
        if self.server is None or self.thread is None:
            return
        self.server.should_exit = True
        self.thread.join(timeout)
        assert not self.thread.is_alive(), f"the server did not stop within {timeout:g} s"
        self.server = self.thread = None

    def close(self) -> None:
        self.stop()
        self.port.close()


class QuietPages(http.server.SimpleHTTPRequestHandler):
    """Static files, without a log line per request."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def static_site(directory: Path | None = None,
                handler: type[http.server.BaseHTTPRequestHandler] | None = None) -> Iterator[str]:
    """An http.server in a thread serving `directory` (or answering with `handler`); its URL."""
    made = handler or functools.partial(QuietPages, directory=str(directory))
    server = http.server.ThreadingHTTPServer((HOST, 0), made)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://{HOST}:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
