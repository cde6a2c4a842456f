"""A credentials file for workhand run: fields per credential, and hosts: as the binding."""

from __future__ import annotations

from pathlib import Path

import pytest

from libs.credentials import load_credentials
from libs.errors import RobotFileError


def test_hosts_bind_a_credential_and_are_not_a_field(tmp_path: Path) -> None:
    path = tmp_path / "credentials.yaml"
    path.write_text("bank: {username: ops01, password: p-1, hosts: [ebank.bank.cn, 10.0.0.0/8]}\n"
                    "oa: {token: t-1}\n", encoding="utf-8")
    loaded = load_credentials(path)
    assert loaded.fields == {"bank": {"username": "ops01", "password": "p-1"},
                             "oa": {"token": "t-1"}}
    assert loaded.hosts == {"bank": ["ebank.bank.cn", "10.0.0.0/8"]}  # oa: any host


def test_hosts_that_are_not_a_list_of_names_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "credentials.yaml"
    path.write_text("bank:\n  password: p-1\n  hosts: ebank.bank.cn\n", encoding="utf-8")
    with pytest.raises(RobotFileError) as caught:
        load_credentials(path)
    assert str(caught.value.problems[0]).startswith(f"{path}:3:10: credential 'bank': hosts is "
                                                    "a list of host names")
