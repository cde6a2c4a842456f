"""The robots' side-effect ledger for the chaos test: a small HTTP server in the test process
that records every POST a robot makes — {reference, run, attempt} and when it arrived. It is
what the robots actually did, whatever the orchestrator believes: an item posted twice was
worked twice.

The socket is bound (port 0) before its address is handed out, so no other process can take
the port in between."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Entry:
    reference: str
    run: str  # the robot's run id: "JOB-ATTEMPT"
    at: float  # time.time() when the ledger took it

    @property
    def job(self) -> int:
        return int(self.run.split("-")[0])


class _Handler(BaseHTTPRequestHandler):
    server: Ledger

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body: Any = json.loads(self.rfile.read(length) or b"null")
            entry = Entry(str(body["reference"]), str(body["run"]), time.time())
        except (ValueError, KeyError, TypeError):
            self.send_response(400)
            self.end_headers()
            return
        self.server.record(entry)
        answer = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # a line per item on the test's stderr is noise


class Ledger(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)  # bound here: the port is ours
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        self.entries: list[Entry] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="ledger", daemon=True)

    def record(self, entry: Entry) -> None:
        with self._lock:
            self.entries.append(entry)

    def __len__(self) -> int:
        with self._lock:
            return len(self.entries)

    def snapshot(self) -> list[Entry]:
        with self._lock:
            return list(self.entries)

    def twice(self) -> dict[str, list[Entry]]:
        """References posted more than once, each with all its entries."""
        entries = self.snapshot()
        counts = Counter(e.reference for e in entries)
        return {ref: [e for e in entries if e.reference == ref]
                for ref, n in sorted(counts.items()) if n > 1}

    def start(self) -> Ledger:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join(5)
