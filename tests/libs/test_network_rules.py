"""The robot's network rules (libs/network_rules.py): what an entry matches, how addresses are
shown in logs, and which entries are refused."""

from __future__ import annotations

from urllib.parse import urlsplit

import jsonschema
import pytest
from pydantic import ValidationError

from libs.network_rules import NetworkRules, entry_problem, matches, shown_url
from libs.reference import robot_schema


@pytest.mark.parametrize(("url", "entry", "expected"), [
    ("https://ads.example.com/x.js", "ads.example.com", True),
    ("https://cdn.ads.example.com/x.js", "*.example.com", True),
    ("https://example.com/x.js", "*.example.com", True),  # the domain itself too
    ("https://example.org/x.js", "*.example.com", False),
    ("http://10.1.2.3/x", "10.0.0.0/8", True),
    ("http://127.0.0.1:8000/api/rates", "**/api/rates", True),
    ("http://127.0.0.1:8000/api/rates?day=1#top", "**/api/rates", True),  # query ignored
    ("http://127.0.0.1:8000/api/rates/old", "**/api/rates", False),
    ("http://h/track/a/b", "**/track/**", True),
    ("http://h/a/track", "http://h/*/track", True),
    ("http://h/a/b/track", "http://h/*/track", False),  # * stops at '/'
    ("http://h/x.js?v=1", "**/*.js?v=1", True),  # ? is a literal question mark
])
def test_what_an_entry_matches(url: str, entry: str, expected: bool) -> None:
    assert matches(url, urlsplit(url).hostname or "", entry) is expected


def test_addresses_in_logs_carry_no_passwords_query_values_or_fragments() -> None:
    assert shown_url("https://bob:pw@ebank.bank.cn:8443/a/b?token=abc&day=1&flag#top") == \
        "https://ebank.bank.cn:8443/a/b?token=***&day=***&flag"
    assert shown_url("http://[::1]:9000/x") == "http://[::1]:9000/x"


@pytest.mark.parametrize("entry", ["ebank.bank.cn", "*.bank.cn", "10.0.0.0/8", "::1",
                                   "**/api/**", "https://ads.example.com/**", "*://h/x"])
def test_good_entries(entry: str) -> None:
    assert entry_problem(entry) is None


def test_allow_takes_hosts_only_and_the_run_refuses_bad_entries_too() -> None:
    assert entry_problem("**/api/**", hosts_only=True) == (
        "'**/api/**' is an address pattern, but allow takes hosts only (e.g. ebank.bank.cn, "
        "*.bank.cn, 10.0.0.0/8); to refuse addresses use block")
    assert entry_problem("127.0.0.1:8000") == (
        "'127.0.0.1:8000' has a port, but hosts are matched without one; write 127.0.0.1, or "
        "an address pattern such as http://127.0.0.1:8000/**")
    assert entry_problem("::1") is None and entry_problem("[::1]") is None
    with pytest.raises(ValidationError, match="'ftp://x/\\*\\*' starts with 'ftp://'"):
        NetworkRules.model_validate({"block": ["ftp://x/**"]})
    assert not NetworkRules().routes and not NetworkRules(log_requests=True).routes
    assert NetworkRules(allow=[]).routes  # allow nothing: every request is refused


def test_the_schema_knows_the_network_settings() -> None:
    schema = robot_schema()
    good = {"robot": "x", "steps": [], "settings": {"browser": {
        "network": {"block": ["ads.example.com"], "log_requests": True,
                    "fulfil": [{"url": "**/api/rates", "file": "data/rates.json"}]},
        "permissions": ["geolocation"], "geolocation": {"latitude": 31.2, "longitude": 121.5}}}}
    jsonschema.validate(good, schema)
    for bad in ({"permissions": ["camera"]}, {"network": {"blok": []}},
                {"geolocation": {"latitude": 91, "longitude": 0}},
                {"network": {"fulfil": [{"url": "**/x"}]}}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({"robot": "x", "steps": [], "settings": {"browser": bad}},
                                schema)
