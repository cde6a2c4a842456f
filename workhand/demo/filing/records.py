"""The filing client's own records: one SQLite file in the data folder.

Every filing is committed (one transaction, synchronous) before its confirmation is shown, so a
confirmation number on the screen always has its row, and a crash never leaves half a row.
Values are stored exactly as the widgets held them: a robot that types a wrong character
leaves it here for the acceptance test to find. Login attempts (the password is never stored)
and refused submissions are recorded too.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

from workhand.demo.filing.rules import FIELDS, LABELS

DATABASE = "filings.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS filings (
    seq INTEGER PRIMARY KEY,
    confirmation TEXT NOT NULL UNIQUE,
    teller TEXT NOT NULL,
    filed_at TEXT NOT NULL,
    account_name TEXT NOT NULL,
    account_number TEXT NOT NULL,
    account_type TEXT NOT NULL,
    opened_on TEXT NOT NULL,
    legal_representative TEXT NOT NULL,
    id_number TEXT NOT NULL,
    remarks TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS logins (
    id INTEGER PRIMARY KEY,
    teller TEXT NOT NULL,
    at TEXT NOT NULL,
    succeeded INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS rejections (
    id INTEGER PRIMARY KEY,
    teller TEXT NOT NULL,
    at TEXT NOT NULL,
    errors TEXT NOT NULL,
    fields TEXT NOT NULL
);
"""

_FIELD_KEYS = tuple(f.key for f in FIELDS)


@dataclass(frozen=True)
class Filing:
    """One submitted filing, every field as typed, with what the client gave it."""

    confirmation: str  # e.g. BA20261204-000123: the date filed, then a sequence over all days
    teller: str
    filed_at: str  # local time, ISO 8601 to the second
    account_name: str
    account_number: str
    account_type: str
    opened_on: str
    legal_representative: str
    id_number: str
    remarks: str

    def as_row(self) -> dict[str, str]:
        """The fields keyed by their Chinese labels, as in the batch work file (plus 备注)."""
        return {LABELS[key]: getattr(self, key) for key in _FIELD_KEYS}


@dataclass(frozen=True)
class LoginAttempt:
    teller: str  # as typed
    at: str
    succeeded: bool


@dataclass(frozen=True)
class Rejection:
    """A submission the form refused, with the red messages it showed."""

    teller: str
    at: str
    errors: tuple[str, ...]
    fields: dict[str, str]


def _now() -> str:
    return dt.datetime.now().isoformat(timespec="seconds")


@contextmanager
def _connect(data_dir: Path) -> Iterator[sqlite3.Connection]:
    data_dir.mkdir(parents=True, exist_ok=True)
    # isolation_level=None: transactions are begun and committed explicitly below.
    with closing(sqlite3.connect(data_dir / DATABASE, timeout=10, isolation_level=None)) as db:
        db.execute("PRAGMA synchronous=FULL")
        db.executescript(_SCHEMA)
        yield db


class FilingStore:
    """The client's writer; readers use the module functions below."""

    def __init__(self, data_dir: Path | str) -> None:
        self.data_dir = Path(data_dir)
        with _connect(self.data_dir):
            pass  # create the file and tables now: a bad folder fails at start, not on submit

    def record_login(self, teller: str, succeeded: bool) -> None:
        with _connect(self.data_dir) as db:
            db.execute("INSERT INTO logins (teller, at, succeeded) VALUES (?, ?, ?)",
                       (teller, _now(), int(succeeded)))

    def record_rejection(self, teller: str, errors: list[str], fields: dict[str, str]) -> None:
        with _connect(self.data_dir) as db:
            db.execute("INSERT INTO rejections (teller, at, errors, fields) VALUES (?, ?, ?, ?)",
                       (teller, _now(), json.dumps(errors, ensure_ascii=False),
                        json.dumps(fields, ensure_ascii=False)))

    def add_filing(self, teller: str, fields: dict[str, str]) -> Filing:
        """Give the filing the next confirmation number and commit it; returns the stored row."""
        now = dt.datetime.now()
        with _connect(self.data_dir) as db:
            # IMMEDIATE takes the write lock first: two clients on one folder never share a number.
            db.execute("BEGIN IMMEDIATE")
            try:
                (last,) = db.execute("SELECT coalesce(max(seq), 0) FROM filings").fetchone()
                seq = int(last) + 1
                filing = Filing(f"BA{now:%Y%m%d}-{seq:06d}", teller,
                                now.isoformat(timespec="seconds"),
                                *(fields.get(key, "") for key in _FIELD_KEYS))
                db.execute(
                    f"INSERT INTO filings (seq, confirmation, teller, filed_at, "
                    f"{', '.join(_FIELD_KEYS)}) VALUES ({', '.join('?' * (4 + len(_FIELD_KEYS)))})",
                    (seq, filing.confirmation, teller, filing.filed_at,
                     *(getattr(filing, key) for key in _FIELD_KEYS)))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return filing


def read_filings(data_dir: Path | str) -> list[Filing]:
    """Every filing in the order filed (an empty list when the client never ran there)."""
    if not (Path(data_dir) / DATABASE).exists():
        return []
    with _connect(Path(data_dir)) as db:
        rows = db.execute(f"SELECT confirmation, teller, filed_at, {', '.join(_FIELD_KEYS)} "
                          "FROM filings ORDER BY seq").fetchall()
    return [Filing(*row) for row in rows]


def read_login_attempts(data_dir: Path | str) -> list[LoginAttempt]:
    """Every login attempt, successful or not, oldest first."""
    if not (Path(data_dir) / DATABASE).exists():
        return []
    with _connect(Path(data_dir)) as db:
        rows = db.execute("SELECT teller, at, succeeded FROM logins ORDER BY id").fetchall()
    return [LoginAttempt(t, at, bool(ok)) for t, at, ok in rows]


def read_rejections(data_dir: Path | str) -> list[Rejection]:
    """Every submission the form refused (validation errors), oldest first."""
    if not (Path(data_dir) / DATABASE).exists():
        return []
    with _connect(Path(data_dir)) as db:
        rows = db.execute("SELECT teller, at, errors, fields FROM rejections ORDER BY id")
        return [Rejection(t, at, tuple(json.loads(e)), json.loads(f)) for t, at, e, f in rows]
