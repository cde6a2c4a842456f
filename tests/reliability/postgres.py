"""A PostgreSQL server of a test's own, to stop and start at will: the machine's shared server
at 127.0.0.1:5432 serves other test runs at the same time and must never be restarted by one.

initdb makes a cluster in a fresh folder under /tmp (trust authentication, user postgres), and
`pg_ctl` starts it on 127.0.0.1 at a port of its own, its socket in the same folder. PostgreSQL
refuses to run as root, so as root every command runs as the `postgres` OS user, which then owns
the folder. Without the programs the tests skip, except under CI=true, where they fail: a
missing PostgreSQL must not turn the outage tests green by skipping them."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import create_engine

from orchestrator.db import normalise_url
from tests.pg import unavailable
from tests.servers import Port

OS_USER = "postgres"


def bin_dir() -> Path | None:
    """The newest installed PostgreSQL's programs (Debian keeps them out of PATH)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                   key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0)
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class PrivatePostgres:
    """One PostgreSQL server in `folder`; `url` reaches its `postgres` database."""

    def __init__(self, programs: Path) -> None:
        self.programs = programs
        self.as_user: list[str] = []
        self.folder = Path(tempfile.mkdtemp(prefix="wh-pg-", dir="/tmp"))
        if os.geteuid() == 0:  # initdb and postgres refuse root
            user = pwd.getpwnam(OS_USER)
            os.chown(self.folder, user.pw_uid, user.pw_gid)
            self.as_user = ["runuser", "-u", OS_USER, "--"]
        self.data = self.folder / "data"
        self.log = self.folder / "server.log"
        self.port = 0
        self.held: Port | None = None  # the port, held from the first start to close()

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust",
                  "--no-sync", "-E", "UTF8", "--locale", "C")

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, program: str, *args: str, check: bool = True,
             timeout: float = 120) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([*self.as_user, str(self.programs / program), *args],
                              capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
        if check and done.returncode != 0:
            raise RuntimeError(f"{program} {' '.join(args)} failed ({done.returncode}):\n"
                               f"{done.stdout}{done.stderr}\n{self.server_log()[-3000:]}")
        return done

    def server_log(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def start(self) -> None:
        """Start the server (at a new free port the first time, the same one after)."""
        for _ in range(5):
            if not self.port:  # held here, so a restart finds it free (postgres binds it
                self.held = Port()  # beside the holder, with SO_REUSEADDR)
                self.port = self.held.number
            # small, and no fsync: a test server on two shared cores (a clean stop, or a crash
            # of the server alone, loses nothing with fsync off: only an OS crash would)
            options = (f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 "
                       "-c shared_buffers=32MB -c fsync=off -c max_connections=200")
            done = self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options,
                             "-w", "-t", "60", "start", check=False)
            if done.returncode == 0:
                return
            if "could not bind" not in self.server_log()[-2000:]:
                raise RuntimeError(f"PostgreSQL did not start:\n{done.stdout}{done.stderr}\n"
                                   f"{self.server_log()[-3000:]}")
            self.port = 0  # taken after all: another
            if self.held is not None:
                self.held.close()
        raise RuntimeError("PostgreSQL found no free port in five tries")

    def stop(self, mode: str = "fast") -> None:
        """fast: sessions are ended and the server shuts down cleanly; immediate: it stops
        at once, as in a crash (crash recovery runs at the next start)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def running(self) -> bool:
        return self._run("pg_ctl", "-D", str(self.data), "status", check=False).returncode == 0

    @contextlib.contextmanager
    def down(self, mode: str = "fast") -> Iterator[None]:
        """The server stopped inside the block, started again after it."""
        self.stop(mode)
        try:
            yield
        finally:
            self.start()

    def restart(self, seconds: float = 1.0, mode: str = "fast") -> tuple[float, float]:
        """Stop, stay down `seconds`, start; (stopped at, accepting again at), monotonic."""
        self.stop(mode)
        stopped = time.monotonic()
        time.sleep(seconds)
        self.start()
        return stopped, time.monotonic()

    def database(self, name: str) -> str:
        """A new, empty database's URL."""
        admin = create_engine(normalise_url(self.url), isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        finally:
            admin.dispose()
        return self.url.rsplit("/", 1)[0] + f"/{name}"

    def close(self) -> None:
        if self.running():
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop",
                      check=False)
        shutil.rmtree(self.folder, ignore_errors=True)
        if self.held is not None:
            self.held.close()


def private_postgres() -> Iterator[PrivatePostgres]:
    """For a fixture: `yield from private_postgres()`; a running server, removed afterwards."""
    programs = bin_dir()
    if programs is None or (os.geteuid() == 0 and not shutil.which("runuser")):
        message = "PostgreSQL's programs (initdb, pg_ctl) are not installed"
        unavailable(message, "install them (apt-get install postgresql)")
    server = PrivatePostgres(programs)
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.close()
