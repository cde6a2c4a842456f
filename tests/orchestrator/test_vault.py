"""The vault on a real SQLite file and a real PostgreSQL: values encrypted, key kept outside."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from orchestrator import vault
from orchestrator.settings import Settings

SECRET = "Pa55-wörd-7f3c9e"  # distinctive, so a byte search cannot match by chance


@pytest.fixture(autouse=True)
def _no_env_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(vault.KEY_ENV, raising=False)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data")


def test_round_trip_and_listing(sessions: sessionmaker[Session], settings: Settings) -> None:
    with sessions.begin() as s:
        vault.put(s, settings, "core_banking", {"user": "ops01", "password": SECRET})
        vault.put(s, settings, "oa", {"token": "t-1"})
    with sessions.begin() as s:
        vault.put(s, settings, "oa", {"user": "bot", "token": "t-2"})  # replaces every field
    with sessions() as s:
        listed = vault.names(s)
        assert [(c["name"], c["fields"]) for c in listed] == [
            ("core_banking", ["password", "user"]), ("oa", ["token", "user"])]
        assert SECRET not in repr(listed)
        assert vault.reveal(s, settings, ["oa", "core_banking"]) == {
            "core_banking": {"user": "ops01", "password": SECRET},
            "oa": {"user": "bot", "token": "t-2"}}
        assert vault.reveal(s, settings, []) == {}
    with sessions.begin() as s:
        assert vault.delete(s, "oa") is True
        assert vault.delete(s, "oa") is False
    with sessions() as s, pytest.raises(vault.MissingCredentials, match="'oa'") as err:
        vault.reveal(s, settings, ["core_banking", "oa"])
    assert err.value.names == ["oa"]


def test_key_file_is_private_and_outside_the_database(
        engine: Engine, sessions: sessionmaker[Session], settings: Settings) -> None:
    with sessions.begin() as s:
        vault.put(s, settings, "registry", {"password": SECRET})
    key_file = Path(str(settings.vault_key_file))
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_text().strip()
    with engine.connect() as conn:
        blob = conn.execute(text("SELECT ciphertext FROM credentials")).scalar_one()
        dumped = repr(conn.execute(text("SELECT * FROM credentials")).all())
    assert SECRET.encode() not in bytes(blob) and key.encode() not in bytes(blob)
    assert SECRET not in dumped and key not in dumped
    if engine.dialect.name == "sqlite":
        engine.dispose()  # close connections; the WAL may still hold the pages: read it too
        db_file = Path(str(engine.url.database))
        raw = b"".join(p.read_bytes() for p in db_file.parent.glob(db_file.name + "*"))
        assert b"registry" in raw  # the search does see the file's contents
        for needle in (SECRET, key):
            assert needle.encode() not in raw and needle.encode("utf-16-le") not in raw


def test_wrong_key_names_the_key_file(sessions: sessionmaker[Session],
                                      settings: Settings) -> None:
    with sessions.begin() as s:
        vault.put(s, settings, "registry", {"password": SECRET})
    key_file = Path(str(settings.vault_key_file))
    key_file.write_bytes(Fernet.generate_key())
    with sessions() as s, pytest.raises(vault.VaultKeyError) as err:
        vault.reveal(s, settings, ["registry"])
    assert str(key_file) in str(err.value) and "another key" in str(err.value)
    assert SECRET not in str(err.value)

    key_file.write_text("not a key\n")
    with sessions() as s, pytest.raises(vault.VaultKeyError, match="valid vault key"):
        vault.reveal(s, settings, ["registry"])
    key_file.unlink()  # never silently replaced by a new key when reading
    with sessions() as s, pytest.raises(vault.VaultKeyError, match="does not exist"):
        vault.reveal(s, settings, ["registry"])
    assert not key_file.exists()


def test_key_file_that_cannot_be_made(tmp_path: Path) -> None:
    (tmp_path / "plain-file").write_text("")
    settings = Settings(data_dir=tmp_path, vault_key_file=tmp_path / "plain-file" / "vault.key")
    with Session() as s, pytest.raises(vault.VaultKeyError, match="cannot create the vault key"):
        vault.put(s, settings, "registry", {"password": SECRET})


def test_key_from_the_environment(sessions: sessionmaker[Session], settings: Settings,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(vault.KEY_ENV, Fernet.generate_key().decode())
    with sessions.begin() as s:
        vault.put(s, settings, "mail", {"password": SECRET})
    assert not Path(str(settings.vault_key_file)).exists()
    with sessions() as s:
        assert vault.reveal(s, settings, ["mail"]) == {"mail": {"password": SECRET}}
    monkeypatch.setenv(vault.KEY_ENV, Fernet.generate_key().decode())
    with sessions() as s, pytest.raises(vault.VaultKeyError, match=vault.KEY_ENV):
        vault.reveal(s, settings, ["mail"])


def test_rotation(sessions: sessionmaker[Session], settings: Settings) -> None:
    with sessions.begin() as s:
        vault.put(s, settings, "registry", {"password": SECRET})
    key_file = Path(str(settings.vault_key_file))
    old = key_file.read_text().strip()
    new = Fernet.generate_key().decode()
    key_file.write_text(f"{new}\n{old}\n")
    with sessions.begin() as s:
        assert vault.rotate(s, settings) == 1
    key_file.write_text(f"{new}\n")
    with sessions() as s:
        assert vault.reveal(s, settings, ["registry"]) == {"registry": {"password": SECRET}}


@pytest.mark.parametrize(("name", "fields", "message"), [
    ("two words", {"p": "x"}, "single word"),
    ("1st", {"p": "x"}, "single word"),
    ("x" * 201, {"p": "x"}, "at most 200"),
    ("ok", {}, "at least one field"),
    ("ok", {"pass word": "x"}, "field name 'pass word'"),
    ("ok", {"p": 5}, "must be a string"),
])
def test_bad_credentials_refused(settings: Settings, name: str, fields: dict[str, str],
                                 message: str) -> None:
    # Checked before the database or the key is touched: an unbound session is enough.
    with Session() as s, pytest.raises(vault.BadCredential, match=message):
        vault.put(s, settings, name, fields)


def test_first_writers_agree_on_one_key(sessions: sessionmaker[Session],
                                        settings: Settings) -> None:
    """Several first writers at once must not each make (and encrypt with) their own key."""
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            with sessions.begin() as s:
                vault.put(s, settings, f"c{n}", {"password": f"{SECRET}{n}"})
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with sessions() as s:
        revealed = vault.reveal(s, settings, [f"c{n}" for n in range(6)])
    assert {k: v["password"] for k, v in revealed.items()} == {
        f"c{n}": f"{SECRET}{n}" for n in range(6)}
