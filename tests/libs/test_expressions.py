from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from libs.expressions import (
    FUNCTION_DOCS,
    FUNCTIONS,
    DataError,
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
from tests.servers import static_site


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


# -- functions: lists built whole ------------------------------------------------------------


@pytest.mark.parametrize(("expr", "value"), [
    ("range(3)", [0, 1, 2]),
    ("range(1, 4)", [1, 2, 3]),
    ("range(10, 0, -3)", [10, 7, 4, 1]),
    ("range(number('3'))", [0, 1, 2]),
    ("zip(['a', 'b', 'c'], [1, 2])", [["a", 1], ["b", 2]]),
    ("zip(names, range(1, 3), 'xy')", [["张三", 1, "x"], ["李四", 2, "y"]]),
    ("enumerate(names)", [[0, "张三"], [1, "李四"]]),
    ("enumerate(names, start=1)", [[1, "张三"], [2, "李四"]]),
    ("dict(a=1, b='x')", {"a": 1, "b": "x"}),
    ("{'a': 1, '户名': names[0]}", {"a": 1, "户名": "张三"}),
    ("[1, 2] + [3]", [1, 2, 3]),
    ("dict(zip(['a', 'b'], [1, 2]))", {"a": 1, "b": 2}),
])
def test_lists_and_maps_are_built_whole(expr: str, value: Any) -> None:
    assert evaluate(expr, {"names": ["张三", "李四"]}) == value


def test_a_range_is_bounded_and_takes_whole_numbers() -> None:
    assert len(evaluate("range(1000000)", {})) == 1_000_000
    with pytest.raises(ExpressionError) as caught:
        evaluate("range(0, 2000000)", {})
    assert str(caught.value) == (
        "in '${range(0, 2000000)}': range(0, 2000000) would have 2,000,000 numbers, over the "
        "limit of 1,000,000; loop over fewer, or over a work queue")
    with pytest.raises(ExpressionError) as caught:
        evaluate("range(n)", {"n": "3"})
    assert str(caught.value) == (
        "in '${range(n)}': range() takes whole numbers, but n is '3'; write e.g. range(5) or "
        "range(1, int(count) + 1)")
    with pytest.raises(ExpressionError, match="range\\(\\)'s step cannot be 0"):
        evaluate("range(1, 5, 0)", {})


# -- functions: regular expressions ----------------------------------------------------------


@pytest.mark.parametrize(("expr", "value"), [
    (r"re_search(t, '\$[0-9.]+')", "$17.98"),
    (r"re_search(t, 'total: \$([0-9.]+)')", "17.98"),
    (r"re_search(t, '([a-z]+) ([a-z]+)')", ["for", "you"]),
    ("re_search(t, 'nothing')", None),
    ("re_search(none, 'x')", None),
    ("re_findall(t, '[0-9]+')", ["3", "17", "98"]),
    (r"re_findall('a=1, b=2', '(\w)=(\d)')", [["a", "1"], ["b", "2"]]),
    (r"re_findall('A1 b2', '(?i)[a-z](\d)')", ["1", "2"]),
    (r"re_replace(t, '\s+', ' ')", "3 items, total: $17.98 for you"),
    (r"re_replace('2026-12-03', '(\d+)-(\d+)-(\d+)', '\3/\2/\1')", "03/12/2026"),
    (r"re_replace('账号 6217 0000', '(?P<head>\d{4}) \d{4}', '\g<head> ****')", "账号 6217 ****"),
    (r"re_test(t, '\btotal\b')", True),
    (r"re_test(t, '\btot\b')", False),
    ("re_test(12.5, '^12')", True),
])
def test_regular_expressions(expr: str, value: Any) -> None:
    assert evaluate(expr, {"t": "3 items,  total: $17.98 for you"}) == value


def test_a_pattern_that_backtracks_is_stopped_in_time() -> None:
    # (a|aa)+$ on 'a'*30+'b' takes seconds without the regex timeout ('(a+)+$' does not:
    # the regex package short-cuts that one)
    started = time.monotonic()
    with pytest.raises(DataError) as caught:
        evaluate("re_test(x, '(a|aa)+$')", {"x": "a" * 30 + "b"})
    assert time.monotonic() - started < 1.5
    assert str(caught.value) == (
        "in '${re_test(x, '(a|aa)+$')}': the pattern '(a|aa)+$' took longer than 0.2s on a text "
        "of 31 characters; simplify it: avoid a repeat inside a repeat like (a+)+ or (a|aa)+, "
        "and prefer a precise class like [0-9] to .*")


@pytest.mark.parametrize(("expr", "message"), [
    ("re_test(x, '(')", "the pattern '(' is not a valid regular expression: missing ) at "
     "position 1; put a backslash before a character meant literally, e.g. '\\(' or '\\.'"),
    ("re_test(x, 'a' * 1001)", "the pattern is 1,001 characters long, over the limit of "
     "1,000; match a shorter piece of the text"),
    ("re_test(x, '((a{100}){100}){100}')", "the pattern '((a{100}){100}){100}' repeats too "
     "much: written out it would be about 1,000,000 characters, over the limit of 20,000; use "
     "smaller counts, or fewer counts inside one another"),
    ("re_search(x, 3)", "the pattern must be text, not int; write it in quotes, e.g. '[0-9]+'"),
    ("re_search([x], 'a')", "re_search() searches text, not list; pass one text, e.g. a field "
     "like row.备注"),
    (r"re_replace(x, '(a)', '\2')", "the replacement '\\2' cannot be used: no such group; "
     "name a group the pattern has, e.g. '\\1' for the first"),
    ("re_replace(x, '', 'y' * 1000)", "the replaced text would be over 1,000,000 characters; "
     "replace less, or a shorter text"),
])
def test_regular_expressions_used_wrongly(expr: str, message: str) -> None:
    started = time.monotonic()
    with pytest.raises(ExpressionError) as caught:
        evaluate(expr, {"x": "a" * 2000})
    assert time.monotonic() - started < 0.5  # refused before compiling ((a{100}){100}){100}
    assert not isinstance(caught.value, DataError)
    assert str(caught.value) == f"in '${{{expr}}}': {message}"


def test_a_secret_is_not_searched() -> None:
    secret = Secret("ops01-Secret-99", "credentials.bank.password")
    for expr in ("re_test(pw, 'Secret')", "re_search('x', pw)", "re_findall(pw, '.')"):
        with pytest.raises(SecretUseError, match="can only be passed whole"):
            evaluate(expr, {"pw": secret})


# -- functions: number() ---------------------------------------------------------------------


@pytest.mark.parametrize(("text", "value"), [
    ("Item total: $17.98", 17.98),
    ("¥1,234.50", 1234.5),
    ("￥1,234.50", 1234.5),
    ("RMB 1,234.50元", 1234.5),
    ("１２３４．５", 1234.5),
    ("-12.5", -12.5),
    ("(12.50)", -12.5),
    ("($1,200.00)", -1200.0),
    ("$-5", -5),
    ("1.5万元", 15000),
    ("壹万贰仟叁佰肆拾伍元陆角柒分", 12345.67),
    ("伍佰元整", 500),
    ("金额：壹佰元整（含税）", 100),
    ("一千元", 1000),
    ("陆角", 0.6),
    ("第一笔 100元", 100),
    ("请等一分钟，合计 100元", 100),
    ("五角星 3个", 3),
    ("三元五角", 3.5),
    ("17.98 and again 17.98", 17.98),
    ("0012", 12),
    ("1 234.50", 1234.5),
    (42, 42),
])
def test_number_reads_the_one_number_in_a_text(text: Any, value: float) -> None:
    found = evaluate("number(t)", {"t": text})
    assert found == value and type(found) is type(value)


@pytest.mark.parametrize(("text", "message"), [
    ("3 items for $17.98", "'3 items for $17.98' holds 2 numbers ('3' and '$17.98'), so "
     "number() cannot tell which one to read; pick it out first with re_search, e.g. "
     "number(re_search(text, 'total: (.+)'))"),
    ("2026-12-03", "'2026-12-03' holds 3 numbers ('2026', '12' and '03'), so number() cannot "
     "tell which one to read; pick it out first with re_search, e.g. "
     "number(re_search(text, 'total: (.+)'))"),
    ("待定", "there is no number in '待定'; number() reads text like '1,234.50', "
     "'Item total: $17.98' or '壹万元整'"),
    ("", "number() was given an empty value; check that the field or cell holds a number"),
])
def test_number_refuses_to_guess(text: str, message: str) -> None:
    with pytest.raises(DataError) as caught:
        evaluate("number(t)", {"t": text})
    assert str(caught.value) == f"in '${{number(t)}}': {message}"


def test_to_number_is_strict_for_inputs_and_cells() -> None:
    """Inputs (libs/checks/inputs.py) and compared cells (libs/steps/data/values.py) are one
    number or none: the words around a number make it not one."""
    assert to_number("￥1 234.5") == 1234.5
    assert to_number("伍佰元整") == 500
    assert to_number("(12.50)") == -12.5
    assert to_number("1,234.50-") == -1234.5  # a ledger's trailing minus
    assert to_number("一千元") == 1000  # an amount: it says 元
    for text in ("Item total: $17.98", "3 17.98", "很多", "Order 17", "三", "十"):
        with pytest.raises(ValueError, match="is not a number"):  # a form's 三 is a slip
            to_number(text)


# -- unknown names ---------------------------------------------------------------------------

FUNCTION_LIST = ("abs, bool, date, days, dict, enumerate, float, int, len, list, max, min, "
                 "number, range, re_findall, re_replace, re_search, re_test, round, sorted, "
                 "str, sum, zip")


def test_an_unknown_function_lists_the_functions() -> None:
    with pytest.raises(ExpressionError) as caught:
        evaluate("rnage(3)", {})
    assert str(caught.value) == (f"in '${{rnage(3)}}': 'rnage' is not a function; did you mean "
                                 f"'range'? (the functions are: {FUNCTION_LIST})")
    with pytest.raises(ExpressionError) as caught:
        evaluate("foo(1) + 1", {})
    assert str(caught.value) == ("in '${foo(1) + 1}': 'foo' is not a function (the functions "
                                 f"are: {FUNCTION_LIST})")


def test_an_unknown_variable_names_the_known_ones() -> None:
    with pytest.raises(ExpressionError) as caught:
        evaluate("totl > 0", {"total": 1, "inputs": {}})
    assert str(caught.value) == ("in '${totl > 0}': unknown variable 'totl'; did you mean "
                                 "'total'? (the names known here: inputs, total)")


def test_every_function_has_a_line_of_documentation() -> None:
    assert set(FUNCTION_DOCS) == set(FUNCTIONS)
    for name, line in FUNCTION_DOCS.items():
        assert line.startswith(f"{name}(") and "\n" not in line, name


# -- end to end ------------------------------------------------------------------------------

PAGES = Path(__file__).parent / "steps" / "pages"


@pytest.fixture
def site() -> Iterator[str]:
    with static_site(PAGES) as url:
        yield url


CART_ROBOT = r"""
robot: cart-check
inputs:
  site: {type: text}
settings:
  browser: {local_only: true}
steps:
  - browser.open: "${inputs.site}/cart.html"
  - browser.read_text: {target: "#cart .item", all: true, into: items}
  - browser.read_text: {target: "#total", into: total_text}
  - browser.read_text: {target: "#amount", into: amount_text}
  - set: {subtotal: 0}
  - for_each: ${enumerate(items, start=1)}
    as: line
    steps:
      - set:
          price: ${number(re_search(line[1], '[$￥]([0-9.,]+)$'))}
          name: ${re_search(line[1], '^(\w+)')}
      - set: {subtotal: "${subtotal + price}"}
      - files.write_text: {path: lines.txt, text: "${line[0]}. ${name} ${price}\n", append: true}
  - for_each: ${zip(range(1, 4), items)}
    as: pair
    steps:
      - if: ${re_test(pair[1], 'x\d')}
        then:
          - files.write_text: {path: counted.txt, text: "${pair[0]}"}
  - assert: {that: "${round(subtotal, 2) == number(total_text)}", message: 合计不符}
  - assert: {that: "${number(amount_text) == number(total_text)}", message: 大写不符}
  - files.write_text: {path: total.txt, text: "${number(total_text)}"}
"""


def test_a_robot_reads_numbers_from_a_page(run_robot: Any, site: str, tmp_path: Path) -> None:
    result, _ = run_robot(CART_ROBOT, inputs={"site": site})
    assert result.status == "passed", result.error
    out = tmp_path / "out"
    assert (out / "lines.txt").read_text(encoding="utf-8") == (
        "1. Pen 3\n2. Notebook 12.48\n3. Stamp 2.5\n")
    assert (out / "counted.txt").read_text(encoding="utf-8") == "1"
    assert (out / "total.txt").read_text(encoding="utf-8") == "17.98"
