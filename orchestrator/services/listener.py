"""The job listener (PostgreSQL): LISTENs for the jobs other orchestrator processes commit and
wakes this process's waiting leases (orchestrator/arrivals.py), so a job made in one process is
leased through another at once — no polling.

One connection of its own, outside the pool, in autocommit. When it is lost (a database
restart), it reconnects with backoff and then wakes every waiting lease once: notifications
sent while it was away are gone, so each lease looks for itself.
"""

from __future__ import annotations

import logging
import threading

import psycopg
from sqlalchemy import Engine

from orchestrator import arrivals

log = logging.getLogger("workhand.listener")
BACKOFF_FIRST, BACKOFF_MAX = 0.2, 5.0


class Listener:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="workhand-listener",
                                        daemon=True)
        self.ready = threading.Event()  # set while listening (tests wait for it)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _connect(self) -> psycopg.Connection[tuple[object, ...]]:
        url = self.engine.url.set(drivername="postgresql")
        conn = psycopg.connect(url.render_as_string(hide_password=False), autocommit=True,
                               connect_timeout=5)
        schema = conn.execute("SELECT current_schema()").fetchone()
        channel = arrivals.channel_for(str(schema[0]) if schema else "")
        conn.execute(f'LISTEN "{channel}"')
        return conn

    def _loop(self) -> None:
        delay = 0.0
        while not self._stop.is_set():
            try:
                with self._connect() as conn:
                    if delay:
                        log.info("listening for jobs again")
                        arrivals.arrivals.notify()  # what was sent meanwhile is lost: look
                    delay = 0.0
                    self.ready.set()
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=1.0):
                            arrivals.received(note.payload)
                        conn.execute("SELECT 1")  # notice a dead connection within a second
            except psycopg.Error as err:
                self.ready.clear()
                delay = min(BACKOFF_MAX, delay * 2 if delay else BACKOFF_FIRST)
                log.warning("the job listener lost the database (%s); reconnecting in %.1f s",
                            str(err).strip().splitlines()[0] if str(err) else type(err).__name__,
                            delay)
                self._stop.wait(delay)
