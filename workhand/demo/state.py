"""The demo systems' in-memory state: seeded on start, changed by robots, read back by tests."""

from __future__ import annotations

import datetime as dt
import secrets
import threading
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from workhand.demo import seed


@dataclass
class AccountRecord:
    number: str
    company: str
    branch: str
    branch_name: str
    kind: str
    opened: str
    due: bool
    status: str = "待年检"  # 待年检 / 已年检 / 已止付 / 已转交网点
    inspected_on: str = ""
    stopped: bool = False
    stop_reason: str = ""
    handed_back: bool = False
    handback_reason: str = ""
    actions: list[str] = field(default_factory=list)


class DemoState:
    """Everything the demo systems know; every method is safe to call from any thread."""

    def __init__(self, today: dt.date | None = None) -> None:
        self._lock = threading.RLock()
        self._fixed_today = today
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.today = self._fixed_today or dt.date.today()
            self.companies = {c.name: c for c in seed.companies()}
            self.accounts: dict[str, AccountRecord] = {}
            for a in seed.accounts():
                rec = AccountRecord(a.number, a.company, a.branch, seed.BRANCHES[a.branch],
                                    a.kind, a.opened, a.due)
                if not a.due:
                    rec.status = "已年检"
                    rec.inspected_on = (self.today - dt.timedelta(days=40)).isoformat()
                self.accounts[a.number] = rec
            self.changes = seed.changes()
            self.core, self.clearing = seed.transactions(self.today)
            self.tickets: list[dict[str, Any]] = []
            self.mails: list[dict[str, Any]] = []
            self.logins: Counter[str] = Counter()
            self.login_failures: Counter[str] = Counter()
            self.sessions: dict[str, tuple[str, str]] = {}
            self.noticed: set[str] = set()
            self.imaging_queries: list[str] = []
            self.registry_searches: list[str] = []
            self.downloads: list[dict[str, str]] = []
            # accounts whose pages answer 503 (POST /_outage): a robot's work on them fails
            self.outage: set[str] = set()

    # sessions -----------------------------------------------------------------------------
    def login(self, system: str, username: str, password: str) -> str | None:
        """A new session token when the user and password are right, else None."""
        with self._lock:
            if seed.USERS[system] != (username, password):
                self.login_failures[system] += 1
                return None
            self.logins[system] += 1
            token = secrets.token_urlsafe(16)
            self.sessions[token] = (system, username)
            return token

    def user(self, system: str, token: str | None) -> str | None:
        with self._lock:
            found = self.sessions.get(token or "")
            return found[1] if found and found[0] == system else None

    def logout(self, token: str | None) -> None:
        with self._lock:
            self.sessions.pop(token or "", None)

    def first_visit(self, token: str) -> bool:
        """True the first time a session asks (the imaging system's notice shows once)."""
        with self._lock:
            if token in self.noticed:
                return False
            self.noticed.add(token)
            return True

    # accounts -----------------------------------------------------------------------------
    def inspect(self, number: str, user: str) -> None:
        with self._lock:
            rec = self.accounts[number]
            rec.status, rec.inspected_on = "已年检", self.today.isoformat()
            rec.actions.append(f"年检通过（{user}）")

    def stop(self, number: str, reason: str, user: str) -> None:
        with self._lock:
            rec = self.accounts[number]
            rec.status, rec.stopped, rec.stop_reason = "已止付", True, reason
            rec.actions.append(f"止付（{user}）：{reason}")

    def hand_back(self, number: str, reason: str, user: str) -> None:
        with self._lock:
            rec = self.accounts[number]
            rec.status, rec.handed_back, rec.handback_reason = "已转交网点", True, reason
            rec.actions.append(f"转交网点复核（{user}）：{reason}")

    def set_outage(self, numbers: list[str]) -> None:
        """The account system fails for these accounts (none: it works again)."""
        with self._lock:
            self.outage = set(numbers)

    def down(self, number: str) -> bool:
        with self._lock:
            return number in self.outage

    # records ------------------------------------------------------------------------------
    def add_ticket(self, ticket: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            ticket = {"id": f"OA-{self.today:%Y%m%d}-{len(self.tickets) + 1:04d}",
                      "created": dt.datetime.now().isoformat(timespec="seconds"), **ticket}
            self.tickets.append(ticket)
            return ticket

    def add_mail(self, mail: dict[str, Any]) -> None:
        with self._lock:
            self.mails.append(mail)

    def note(self, kind: str, value: str) -> None:
        with self._lock:
            if kind == "imaging":
                self.imaging_queries.append(value)
            elif kind == "registry":
                self.registry_searches.append(value)

    def downloaded(self, system: str, name: str) -> None:
        with self._lock:
            self.downloads.append({"system": system, "file": name})

    def snapshot(self) -> dict[str, Any]:
        """What tests check: effects of robots, plus the seed's expected answers."""
        with self._lock:
            return {
                "today": self.today.isoformat(),
                "accounts": [asdict(a) for a in self.accounts.values()],
                "tickets": [dict(t) for t in self.tickets],
                "mails": [dict(m) for m in self.mails],
                "logins": dict(self.logins),
                "login_failures": dict(self.login_failures),
                "imaging_queries": list(self.imaging_queries),
                "registry_searches": list(self.registry_searches),
                "downloads": list(self.downloads),
                "outage": sorted(self.outage),
                "expected": self._expected(),
            }

    def _registered(self, name: str) -> dict[str, str]:
        found = self.companies.get(name)
        if found is None:
            return {"status": "查无此企业", "annual_report": ""}
        return {"status": found.status, "annual_report": found.annual_report}

    def _expected(self) -> dict[str, Any]:
        yesterday = self.today - dt.timedelta(days=1)
        core = {t.serial: t for t in self.core}
        clearing = {t.serial: t for t in self.clearing}
        return {
            "registry": {a.company: self._registered(a.company)
                         for a in self.accounts.values() if a.due},
            "changes_yesterday": [
                {"account": c.number, "holder": c.holder, "kind": c.kind, "branch": c.branch,
                 "date": yesterday.isoformat(), "filed": c.filed,
                 "branch_mail": seed.branch_mail(c.branch)}
                for c in self.changes if c.days_ago == 1],
            "reconciliation": {
                "only_core": sorted(set(core) - set(clearing)),
                "only_clearing": sorted(set(clearing) - set(core)),
                "amount_differences": [
                    {"serial": s, "core": core[s].amount, "clearing": clearing[s].amount}
                    for s in sorted(set(core) & set(clearing))
                    if core[s].amount != clearing[s].amount],
                "core_rows": len(core), "clearing_rows": len(clearing),
            },
        }
