from __future__ import annotations

import datetime as dt

import pytest

from libs.expressions import ExpressionError, evaluate, find, references, render, to_number


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
