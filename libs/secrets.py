"""Secrets as values that cannot be transformed, and the Masker that is the last net behind them.

A credential's secret fields reach a robot as ``Secret`` values. Passed whole to an argument that
accepts secrets (``SecretText`` in libs/types.py) they work: the step reveals the text at the
moment of use. Anything else — an operator, a filter, a method, formatting into text, comparing,
``len``, ``bool`` — raises ``SecretMisuse`` naming the credential field, so no robot can turn a
password into something the masker would not recognise.

Which fields are secret: every field except the plain ones in ``PLAIN_FIELDS`` (a user name, a
host), so a work item named after an account stays readable. The rule is the same for the
checker (by field name, statically) and the runner (by the credential's fields, at run time).
"""

from __future__ import annotations

import base64
import re
import urllib.parse
from collections.abc import Iterable, Mapping
from typing import Any, NoReturn

from pydantic_core import core_schema

from libs.errors import StepArgumentError
from libs.policy import Refused, host_matches

MASK = "***"
SECRET_SETTINGS = (("mail", "password"),)
"""The robot settings that may hold a secret, passed whole (the SMTP password): the checker and
the runner hold settings to the same list."""

PLAIN_FIELDS = frozenset({
    "username", "user", "user_name", "login", "account", "name", "email", "url", "host",
    "port", "server", "domain",
})
"""Credential fields that are not secret (compared case-insensitively); every other is."""

SECRET_USES = "browser.fill/browser.type text, http auth and header values, settings mail.password"
"""Where a secret may go, for messages; the registry knows the exact list (``SecretText``)."""

MIN_VARIANT_LENGTH = 4
"""Shorter secrets are masked exactly as given: their encodings would hide unrelated text."""


def is_secret_field(name: str) -> bool:
    return name.strip().lower() not in PLAIN_FIELDS


def misuse_message(name: str) -> str:
    return (f"the secret '{name}' can only be passed whole to an argument that accepts secrets "
            f"({SECRET_USES}); it cannot be changed, logged or written")


class SecretMisuse(StepArgumentError):
    """A secret was used other than passed whole to an argument that accepts it."""

    def __init__(self, name: str, message: str | None = None) -> None:
        self.secret_name = name
        super().__init__(message or misuse_message(name))


class Secret:
    """An opaque secret value: its text is only read by ``reveal()`` inside a step.

    ``hosts`` are the hosts its credential is bound to (None: any host the worker allows): a
    step that sends it elsewhere is refused, so a robot cannot point a password at a server
    of its author's choosing."""

    __slots__ = ("__value", "hosts", "name")

    def __init__(self, value: str, name: str, hosts: Iterable[str] | None = None) -> None:
        self.__value = value
        self.name = name
        self.hosts = None if hosts is None else tuple(hosts)

    def reveal(self) -> str:
        """The text, for masking and for reveal(); a step sending it uses reveal(value, to)."""
        return self.__value

    def __repr__(self) -> str:
        return f"Secret({self.name!r})"

    def _refuse(self, *_: Any, **__: Any) -> NoReturn:
        raise SecretMisuse(self.name)

    # Every way Python could read, format, measure or compare the value is refused.
    __str__ = __format__ = __bytes__ = __len__ = __iter__ = __reversed__ = _refuse
    __getitem__ = __contains__ = __bool__ = __int__ = __float__ = __index__ = _refuse
    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = _refuse
    __add__ = __radd__ = __mul__ = __rmul__ = __mod__ = __rmod__ = _refuse
    __sub__ = __rsub__ = __truediv__ = __rtruediv__ = __floordiv__ = __rfloordiv__ = _refuse
    __pow__ = __rpow__ = __neg__ = __pos__ = __invert__ = __and__ = __or__ = _refuse
    __getstate__ = __reduce__ = __reduce_ex__ = __copy__ = __deepcopy__ = _refuse

    def __hash__(self) -> int:
        return id(self)

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        # a step argument typed SecretText takes a Secret as it is: nothing to convert
        return core_schema.is_instance_schema(cls)


def reveal(value: str | Secret, to: str) -> str:
    """The text of a secret-accepting argument, at the moment a step sends it ``to`` a URL or a
    host; Refused if the secret's credential is bound to other hosts."""
    if not isinstance(value, Secret):
        return value
    check_destination(value, to)
    return value.reveal()


def check_destination(secret: Secret, to: str) -> None:
    """Refuse to send a secret to a URL or host its credential is not bound to."""
    if secret.hosts is None:
        return
    host = (urllib.parse.urlsplit(to).hostname or "") if "://" in to else to
    if not host or not host_matches(host, secret.hosts):
        raise Refused(f"the secret '{secret.name}' may only be sent to "
                      f"{', '.join(secret.hosts) or 'no host'}; this step would send it to "
                      f"{host or to or 'no host'} — ask an admin to add the host to the "
                      "credential in the vault (with workhand run: hosts: in the credentials "
                      "file)")


def find_secret(value: Any, budget: int = 1_000_000) -> Secret | None:
    """The first Secret inside a value (itself, or nested in lists and maps).

    At most ``budget`` values are looked at, so a guard over a large table stays cheap; a Secret
    hidden deeper still refuses every use by itself (its methods raise)."""
    stack, seen = [value], 0
    while stack and seen < budget:
        item = stack.pop()
        seen += 1
        if isinstance(item, Secret):
            return item
        if isinstance(item, Mapping):
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            stack.extend(item)
    return None


def protect(credential: str, fields: Mapping[str, Any],
            hosts: Iterable[str] | None = None) -> dict[str, Any]:
    """A credential's fields as a robot sees them: secret fields become Secret values, bound
    to the credential's hosts (None: any host)."""
    return {field: Secret(str(value), f"credentials.{credential}.{field}", hosts)
            if is_secret_field(field) and value is not None else value
            for field, value in fields.items()}


def secret_values(credentials: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The texts to mask: every secret field of the given credentials."""
    return [str(value) for fields in credentials.values() for field, value in fields.items()
            if is_secret_field(field) and value not in (None, "")]


def variants(secret: str) -> tuple[set[str], set[str]]:
    """(matched ignoring case, matched exactly): the value and the disguises a leak could take."""
    if len(secret) < MIN_VARIANT_LENGTH:
        return set(), {secret}
    raw = secret.encode()
    any_case = {secret, secret[::-1], raw.hex(), urllib.parse.quote(secret, safe=""),
                urllib.parse.quote_plus(secret)}
    exact = set()
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        text = encode(raw).decode()
        exact |= {text, text.rstrip("=")}
    return any_case, exact


class Masker:
    """Replaces every known secret value, its case variants and encodings with ``***``."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        for value in secrets:
            if isinstance(value, str) and value:
                self._values.add(value)
        any_case: set[str] = set()
        exact: set[str] = set()
        for value in self._values:
            folded, kept = variants(value)
            any_case |= folded
            exact |= kept
        alternatives = [(v, f"(?i:{re.escape(v)})") for v in any_case]
        alternatives += [(v, re.escape(v)) for v in exact - any_case]
        # Longest first: with 'ops01' and 'ops01-Secret-99', the password must win, or
        # '***-Secret-99' would print.
        alternatives.sort(key=lambda pair: len(pair[0]), reverse=True)
        self._pattern = (re.compile("|".join(p for _, p in alternatives))
                         if alternatives else None)

    def text(self, value: str) -> str:
        return self._pattern.sub(MASK, value) if self._pattern else value

    def data(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.data(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.data(v) for v in value]
        return value
