from __future__ import annotations

import datetime as dt

import pytest

from libs.expressions import (
    ExpressionError,
    SecretUseError,
    evaluate,
    find,
    references,
    render,
    render_text,
    to_number,
)
from libs.secrets import Secret


def test_a_whole_expression_keeps_its_type_and_text_is_formatted() -> None:
    scope = {"row": {"账号": "0012", "金额": 12.0}, "n": 3}
    assert render("${n}", scope) == 3
    assert render("${row.账号}", scope) == "0012"
    assert render("账号 ${row.账号} 金额 ${row.金额}", scope) == "账号 0012 金额 12"
    assert render({"list": ["${n * 2}"]}, scope) == {"list": [6]}


def test_dates_numbers_and_safe_functions() -> None:
    today = dt.date(2026, 11, 23)
    assert evaluate("today - days(1)", {"today": today}) == dt.date(2026, 11, 22)
    assert evaluate("number('￥1,234.50') + 1", {}) == 1235.5
    assert evaluate("len(rows) ~ '条'", {"rows": [1, 2]}) == "2条"
    assert to_number("0012") == 12


def test_braces_and_quotes_inside_expressions() -> None:
    assert [e for _, _, e in find("a ${ {'k': '}'}['k'] } b")] == ["{'k': '}'}['k']"]
    with pytest.raises(ExpressionError, match="never closed"):
        list(find("${oops"))


@pytest.mark.parametrize("expr", [
    "x.__class__.__mro__[1].__subclasses__()",
    "().__class__.__base__",
    "cycler.__init__.__globals__.os",
    "'a' * 10**9",
    "10 ** 100000",
    "lipsum.__globals__",
])
def test_the_sandbox_refuses_escapes_and_bombs(expr: str) -> None:
    with pytest.raises(ExpressionError):
        evaluate(expr, {"x": 1})


def test_references_name_roots_and_first_keys() -> None:
    assert set(references("inputs.day ~ credentials['bank'].user ~ total + len(rows)")) == {
        ("inputs", "day"), ("credentials", "bank"), ("total", None), ("rows", None)}


@pytest.mark.parametrize("expr", [
    "'a'.center(10**9)", "'a'.ljust(10**7)", "'a'.zfill(10**7)", "'a' | center(10**9)",
    "'%9999999s' % 1", "'{:>999999999}'.format(1)", "'{:{}}'.format(1, 10**9)",
    "('a' * 1000000).replace('a', 'aa')", "'abc' | replace('', 'x' * 1000000)",
    "sum([[1] * 1000000] * 1000, [])", "'x'.join(['a' * 600000] * 2)",
    "((['a' * 600000] * 2) | join)", "int('9' * 5000)", "((10**1000)**1000)**1000",
    "(10**1000) * (10**1000) * (10**1000) * (10**1000) * (10**1000)",
    "'a' * 600000 ~ 'b' * 600000",
])
def test_every_produced_value_is_capped_before_the_work(expr: str) -> None:
    with pytest.raises(ExpressionError, match=r"refused by the sandbox: .*limit"):
        evaluate(expr, {})


def test_an_expression_has_a_time_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("libs.expression_sandbox.MAX_SECONDS", -1.0)
    with pytest.raises(ExpressionError, match="time limit"):
        evaluate("[1, 2] | length", {})


@pytest.mark.parametrize("expr", [
    "pw | upper", "pw | reverse", "pw[::-1]", "pw[0]", "pw ~ 'x'", "pw + 'x'", "'x' + pw",
    "pw | urlencode", "pw | string", "pw | list", "pw | tojson", "len(pw)", "str(pw)",
    "pw == 'a'", "pw != 'a'", "pw < 'a'", "'a' in pw", "pw in 'abc'", "pw in ['a']",
    "'{}'.format(pw)", "'%s' % pw", "pw.upper()", "not pw", "pw if pw else 1", "-pw",
    "pw * 2", "[pw] | join(',')", "bank | tojson",
    "bank.password | default('x')",
])
def test_any_operation_on_a_secret_is_refused_and_names_it(expr: str) -> None:
    secret = Secret("ops01-Secret-99", "credentials.bank.password")
    scope = {"pw": secret, "bank": {"username": "ops01", "password": secret}}
    with pytest.raises(SecretUseError) as caught:
        evaluate(expr, scope)
    assert "the secret 'credentials.bank.password' can only be passed whole" in str(caught.value)
    assert "ops01-Secret-99" not in str(caught.value)


def test_a_secret_passed_whole_is_returned_as_it_is_but_never_formatted() -> None:
    secret = Secret("ops01-Secret-99", "credentials.bank.password")
    assert render("${pw}", {"pw": secret}) is secret
    with pytest.raises(SecretUseError, match="passed whole"):
        render("pw=${pw}", {"pw": secret})
    assert render("${user | upper}", {"user": "ops01"}) == "OPS01"


# A list repeating one large text is small in memory but huge as text: measured before str().
_SHARED = {"c": [["x" * 200_000] * 10] * 10}  # 20 M characters once written out


@pytest.mark.parametrize("expr", ["c | string", "c | tojson", "'%s' % c", "'{}'.format(c)",
                                  "c | join(',')", "c ~ ''", "'rows: ' ~ c"])
def test_a_repeated_value_is_refused_before_it_becomes_text(expr: str) -> None:
    with pytest.raises(ExpressionError, match="over 1,000,000 characters as text"):
        evaluate(expr, _SHARED)


def test_a_repeated_value_inside_text_is_refused() -> None:
    with pytest.raises(ExpressionError, match="over 1,000,000 characters as text"):
        render_text("rows: ${c}", _SHARED)


def test_a_table_is_not_text_and_stays_whole() -> None:
    rows = [{"id": str(i), "name": "x" * 50} for i in range(30_000)]  # 1.5 M characters
    assert evaluate("rows | selectattr('id') | list | length", {"rows": rows}) == 30_000
    assert len(render_text("${rows}", {"rows": rows})) == 30_000
