"""The credentials vault: each credential's fields encrypted together with Fernet (AES + HMAC).

The key lives outside the database — in WORKHAND_VAULT_KEY or in the key file
(Settings.vault_key_file, created with mode 0600 on first write) — so a copy of the database alone
reveals nothing. The key file may hold several keys, one a line: the first encrypts, any decrypts,
which lets an operator rotate keys (put a new key first, call rotate(), drop the old one).
Only names and field names are ever listed; values leave here only through reveal(), which the
lead calls when it hands a leased job the credentials its robot declares.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import select
from sqlalchemy.orm import Session

from orchestrator.db import upsert
from orchestrator.models import Credential, utcnow
from orchestrator.settings import Settings

KEY_ENV = "WORKHAND_VAULT_KEY"
# The robot language's identifier (libs.checks.base.IDENTIFIER): names are used as
# ${credentials.NAME.FIELD} in robots, so they must be single words there too.
IDENTIFIER = re.compile(r"^[^\W\d]\w*$")
MAX_NAME = 200  # characters of a credential's name and of each field's name
MAX_FIELDS = 50
MAX_VALUE = 65_536  # characters of one field's value (a key or a certificate chain fits)
MAX_HOSTS = 50  # hosts a credential may be bound to
MAX_HOST = 253  # characters of one host pattern (the longest DNS name)


class VaultError(Exception):
    """A vault problem explained in one sentence (bad name, missing or wrong key)."""


class BadCredential(VaultError):
    """The caller's mistake: a name, field or value that cannot be stored."""


class VaultKeyError(VaultError):
    """The server's: the key is missing, unreadable, malformed or not the one used to encrypt."""


class MissingCredentials(VaultError):
    def __init__(self, names: list[str]) -> None:
        listed = ", ".join(f"'{n}'" for n in names)
        which = f"credential {listed} is" if len(names) == 1 else f"credentials {listed} are"
        super().__init__(f"{which} not in the vault; add it with PUT /api/v1/credentials/NAME")
        self.names = names


def check_name(name: str, what: str = "credential name") -> None:
    if not isinstance(name, str) or not IDENTIFIER.match(name) or len(name) > MAX_NAME:
        raise BadCredential(f"{what} '{str(name)[:MAX_NAME]}' must be a single word of "
                            "letters, digits and _ (not starting with a digit, at most "
                            f"{MAX_NAME} characters)")


def _key_file(settings: Settings) -> Path:
    assert settings.vault_key_file is not None  # Settings.__post_init__ always fills it
    return Path(settings.vault_key_file)


def _where(settings: Settings) -> str:
    return KEY_ENV if os.environ.get(KEY_ENV) else f"the key file {_key_file(settings)}"


def _create_key_file(path: Path) -> None:
    """Write a new key so that it appears complete or not at all, even with two processes:
    written to a private temporary file, then hard-linked into place (link never overwrites)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".vault-key-")  # mode 0600
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(Fernet.generate_key() + b"\n")
            out.flush()
            os.fsync(out.fileno())
        with contextlib.suppress(FileExistsError):  # another process made it first: use theirs
            os.link(tmp, path)
    finally:
        os.unlink(tmp)


def _fernet(settings: Settings, create: bool) -> MultiFernet:
    raw = os.environ.get(KEY_ENV, "")
    if raw:
        lines = raw.replace(",", "\n").split()
    else:
        path = _key_file(settings)
        if not path.exists():
            if not create:
                raise VaultKeyError(f"the vault key file {path} does not exist, so no "
                                    "credential can be decrypted; restore it or set "
                                    f"{KEY_ENV}")
            try:
                _create_key_file(path)
            except OSError as err:
                raise VaultKeyError(f"cannot create the vault key file {path}: {err}") from None
        try:
            lines = path.read_text(encoding="ascii").split()
        except (OSError, UnicodeDecodeError) as err:
            raise VaultKeyError(f"cannot read the vault key file {path}: {err}") from None
    try:
        return MultiFernet([Fernet(line) for line in lines])
    except ValueError:
        raise VaultKeyError(f"{_where(settings)} does not hold a valid vault key (44 characters "
                            "of url-safe base64 per line, as made by Fernet.generate_key())"
                            ) from None


def _decrypt(box: MultiFernet, settings: Settings, row: Credential) -> dict[str, str]:
    try:
        fields: dict[str, str] = json.loads(box.decrypt(row.ciphertext))
    except InvalidToken:
        raise VaultKeyError(f"credential '{row.name}' cannot be decrypted with the key in "
                            f"{_where(settings)}: it was encrypted with another key "
                            "(restore the original key)") from None
    return fields


def check_hosts(name: str, hosts: Any) -> None:
    """The hosts a credential is bound to: names, *.suffix, addresses or networks."""
    if hosts is None:
        return
    if not isinstance(hosts, list) or not all(isinstance(h, str) for h in hosts):
        raise BadCredential(f"hosts of credential '{name}' must be a list of host names, "
                            "*.suffix patterns, addresses or networks, e.g. "
                            "[\"ebank.bank.cn\", \"10.0.0.0/8\"], or null for any host")
    if len(hosts) > MAX_HOSTS:
        raise BadCredential(f"credential '{name}' is bound to {len(hosts)} hosts; at most "
                            f"{MAX_HOSTS} (use *.suffix patterns or networks)")
    for host in hosts:
        if not host or len(host) > MAX_HOST or not host.isprintable() or " " in host:
            shown = host[:MAX_HOST].encode("unicode_escape").decode()
            raise BadCredential(f"host '{shown}' of credential '{name}' must be a host name, "
                                f"*.suffix, address or network of 1 to {MAX_HOST} characters "
                                "without spaces or control characters")


def put(session: Session, settings: Settings, name: str, fields: dict[str, str],
        hosts: list[str] | None = None) -> None:
    """Store (or replace) a credential; the values are encrypted together as one JSON blob.
    ``hosts``: where its secrets may be sent (None: any host the worker allows)."""
    check_name(name)
    check_hosts(name, hosts)
    if not fields:
        raise BadCredential(f"credential '{name}' needs at least one field, e.g. user and password")
    if len(fields) > MAX_FIELDS:
        raise BadCredential(f"credential '{name}' has {len(fields)} fields; a credential holds "
                            f"at most {MAX_FIELDS}: split it into several")
    for field, value in fields.items():
        check_name(field, "field name")
        if not isinstance(value, str):
            raise BadCredential(f"field '{field}' of credential '{name}' must be a string")
        if len(value) > MAX_VALUE:  # the value itself is never echoed: it is a secret
            raise BadCredential(f"field '{field}' of credential '{name}' is {len(value)} "
                                f"characters long; a value holds at most {MAX_VALUE}")
    blob = _fernet(settings, create=True).encrypt(json.dumps(fields).encode())
    values = {"name": name, "field_names": sorted(fields), "ciphertext": blob,
              "updated": utcnow(), "hosts": hosts}
    # An upsert, so two operators writing the same new name at once both succeed (last wins).
    stmt = upsert(session)(Credential).values(values)
    session.execute(stmt.on_conflict_do_update(index_elements=["name"], set_=values))


def names(session: Session) -> list[dict[str, Any]]:
    """Every credential's name, field names, hosts and last update: never a value."""
    rows = session.execute(select(Credential.name, Credential.field_names, Credential.updated,
                                  Credential.hosts).order_by(Credential.name))
    return [{"name": n, "fields": list(f), "updated": u, "hosts": h} for n, f, u, h in rows]


def bindings(session: Session, names: Iterable[str]) -> dict[str, list[str] | None]:
    """The hosts each named credential is bound to (None: any host the worker allows)."""
    wanted = sorted(set(names))
    if not wanted:
        return {}
    return {n: None if h is None else list(h) for n, h in session.execute(
        select(Credential.name, Credential.hosts).where(Credential.name.in_(wanted)))}


def reveal(session: Session, settings: Settings, names: Iterable[str]) -> dict[str, dict[str, str]]:
    """The decrypted fields of the named credentials. Raises MissingCredentials if any is absent."""
    wanted = sorted(set(names))
    if not wanted:
        return {}
    rows = {r.name: r for r in session.scalars(select(Credential)
                                               .where(Credential.name.in_(wanted)))}
    missing = [n for n in wanted if n not in rows]
    if missing:
        raise MissingCredentials(missing)
    box = _fernet(settings, create=False)
    return {n: _decrypt(box, settings, rows[n]) for n in wanted}


def delete(session: Session, name: str) -> bool:
    """Remove a credential; False if there was none by that name."""
    row = session.get(Credential, name)
    if row is None:
        return False
    session.delete(row)
    session.flush()
    return True


def rotate(session: Session, settings: Settings) -> int:
    """Re-encrypt every credential with the first key (after a new key was put first)."""
    box = _fernet(settings, create=False)
    rows = list(session.scalars(select(Credential).with_for_update()))
    for row in rows:
        try:
            row.ciphertext = box.rotate(row.ciphertext)
        except InvalidToken:
            _decrypt(box, settings, row)  # raises the explanation
    session.flush()
    return len(rows)
