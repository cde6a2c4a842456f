from __future__ import annotations

import base64
import copy
import urllib.parse

import pytest

from libs.policy import Refused
from libs.secrets import (
    MASK,
    Masker,
    Secret,
    SecretMisuse,
    find_secret,
    is_secret_field,
    protect,
    reveal,
    secret_values,
)

PASSWORD = "ops01-Secret-99"


def test_a_secret_never_shows_its_value_and_refuses_every_use() -> None:
    secret = Secret(PASSWORD, "credentials.bank.password")
    assert PASSWORD not in repr(secret) and "credentials.bank.password" in repr(secret)
    assert reveal(secret, "bank.example") == PASSWORD and reveal("plain", "x") == "plain"
    uses = [str, len, bool, list, reversed, bytes, copy.copy, copy.deepcopy,
            lambda s: f"{s}", lambda s: "%s" % (s,),  # noqa: UP031
            lambda s: s + "x", lambda s: "x" + s,
            lambda s: s * 2, lambda s: s[::-1], lambda s: s == PASSWORD, lambda s: s < "a",
            lambda s: "a" in s, lambda s: s.upper()]
    for use in uses:
        with pytest.raises((SecretMisuse, AttributeError)):
            use(secret)


def test_a_bound_secret_goes_only_to_its_hosts() -> None:
    fields = protect("bank", {"username": "ops01", "password": PASSWORD},
                     ["ebank.bank.cn", "*.core.bank.cn", "10.0.0.0/8"])
    password = fields["password"]
    for allowed in ("https://ebank.bank.cn/login", "ebank.bank.cn", "https://EBANK.bank.cn.:8443/",
                    "http://a.core.bank.cn/x", "http://core.bank.cn/", "http://10.1.2.3:9/"):
        assert reveal(password, allowed) == PASSWORD, allowed
    for foreign in ("https://evil.example/ebank.bank.cn", "https://ebank.bank.cn.evil.example/",
                    "http://ebank.bank.cn@evil.example/", "http://11.0.0.1/", "about:blank",
                    "evil.example", ""):
        with pytest.raises(Refused) as refused:
            reveal(password, foreign)
        assert str(refused.value).startswith(
            "the secret 'credentials.bank.password' may only be sent to ebank.bank.cn, "
            "*.core.bank.cn, 10.0.0.0/8; this step would send it to "), foreign
    with pytest.raises(Refused, match=r"would send it to evil\.example — ask an admin to add "
                                      "the host to the credential in the vault"):
        reveal(password, "https://evil.example/steal")
    assert fields["username"] == "ops01"  # a plain field is not bound: it is plain text


def test_an_unbound_secret_goes_to_any_host() -> None:
    password = protect("bank", {"password": PASSWORD})["password"]
    assert password.hosts is None
    assert reveal(password, "https://anywhere.example/") == PASSWORD


def test_secret_fields_by_name_and_what_the_masker_is_given() -> None:
    assert not is_secret_field("username") and not is_secret_field("Host")
    assert is_secret_field("password") and is_secret_field("token") and is_secret_field("pin")
    fields = protect("bank", {"username": "ops01", "password": PASSWORD, "port": 443})
    assert fields["username"] == "ops01" and fields["port"] == 443
    assert isinstance(fields["password"], Secret)
    assert find_secret({"a": [1, {"b": fields["password"]}]}) is fields["password"]
    assert secret_values({"bank": {"username": "ops01", "password": PASSWORD}}) == [PASSWORD]


def test_the_masker_takes_the_longest_secret_first() -> None:
    """A user name or PIN that starts the password must not leave '***-Secret-99'."""
    masker = Masker(["ops01", PASSWORD])
    assert masker.text(f"login {PASSWORD} as ops01") == f"login {MASK} as {MASK}"


def test_the_masker_catches_case_variants_and_common_encodings() -> None:
    masker = Masker([PASSWORD])
    raw = PASSWORD.encode()
    disguises = [PASSWORD.upper(), PASSWORD.lower(), PASSWORD.swapcase(), PASSWORD[::-1],
                 PASSWORD[::-1].upper(), raw.hex(), raw.hex().upper(),
                 base64.b64encode(raw).decode(), base64.b64encode(raw).decode().rstrip("="),
                 base64.urlsafe_b64encode(raw).decode(),
                 urllib.parse.quote(PASSWORD, safe=""), urllib.parse.quote_plus(PASSWORD)]
    for text in disguises:
        assert masker.text(f"[{text}]") == f"[{MASK}]", text
    assert Masker(["ab"]).text("AB ab") == f"AB {MASK}"  # short secrets: exact only
