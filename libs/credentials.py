"""Credentials for a robot run without the orchestrator: a YAML/JSON file of name → fields.

A credential's ``hosts:`` key is not a field: it binds the credential to the hosts its secrets
may be sent to, as the vault's ``hosts`` does (``bank: {username: u, password: p, hosts:
[ebank.bank.cn]}``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from libs.errors import Pos, Problem, RobotFileError
from libs.loader import YMap, load_file

HOSTS_KEY = "hosts"


@dataclass(frozen=True)
class CredentialsFile:
    """The fields of each credential, and the hosts each is bound to (absent: any host)."""

    fields: dict[str, dict[str, Any]] = field(default_factory=dict)
    hosts: dict[str, list[str] | None] = field(default_factory=dict)


ROBOT_KEYS = ("robot", "steps")


def looks_like_credentials(path: Path) -> bool:
    """A file of name → {username, password, ...} with no robot: or steps: (a user keeps the
    demo credentials beside their robots; `workhand check robots/*.yaml` skips it)."""
    try:
        data = load_file(path)
    except RobotFileError:
        return False
    return (isinstance(data, YMap) and bool(data) and not any(k in data for k in ROBOT_KEYS)
            and all(isinstance(v, dict) for v in data.values()))


def load_credentials(path: Path | None) -> CredentialsFile:
    """e.g. ``bank: {username: ops01, password: ...}``; every value is masked in every output."""
    if path is None:
        return CredentialsFile()
    data = load_file(path)
    if not isinstance(data, YMap) or not all(isinstance(v, dict) for v in data.values()):
        raise RobotFileError([Problem(Pos(str(path), 1, 1), "a credentials file is a map of "
                                      "name → {field: value}, e.g. bank: {username: u, "
                                      "password: p, hosts: [ebank.bank.cn]}")])
    loaded = CredentialsFile()
    for name, given in data.items():
        fields = dict(given)
        hosts = fields.pop(HOSTS_KEY, None)
        if hosts is not None:
            if not isinstance(hosts, list) or not all(isinstance(h, str) for h in hosts):
                pos = given.where(HOSTS_KEY) if isinstance(given, YMap) else data.where(name)
                raise RobotFileError([Problem(pos, f"credential '{name}': hosts is a list of "
                                              "host names, *.suffix patterns, addresses or "
                                              "networks, e.g. hosts: [ebank.bank.cn, 10.0.0.0/8]")])
            loaded.hosts[name] = list(hosts)
        loaded.fields[name] = fields
    return loaded
