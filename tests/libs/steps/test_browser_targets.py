# ruff: noqa: F811 (the fixtures come from test_browser.py)
"""Targets a person can write (issue 9): fields by the label beside them, places seen from a
text, scoping, test ids, nested frames, and the words-as-selector mistake refused with the fix."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from libs.context import StepContext
from libs.errors import StepArgumentError
from libs.registry import describe_error
from libs.steps.browser.targets import locate
from libs.target_rules import ARIA_ROLES
from tests.libs.steps.test_browser import base, ctx, make_ctx, run, session, site  # noqa: F401
from tests.libs.test_checker import Write, problems

WORDS = ("'Username' is not a selector: a plain text target is read as CSS ('Username' is not "
         "an HTML element); for text on the page write {text: Username}, for the field it "
         "labels {label: Username}, for a button {role: button, name: Username}")


def value(ctx: StepContext, selector: str) -> str:
    return session(ctx).page.input_value(selector)


def test_a_field_is_found_by_the_label_beside_it(ctx: StepContext, site: str) -> None:
    run(ctx, "browser.open", {"url": f"{site}/targets.html"})
    run(ctx, "browser.fill", {"target": {"label": "Username"}, "text": "tomsmith"})
    run(ctx, "browser.fill", {"target": {"label": "密码"}, "text": "秘密"})
    run(ctx, "browser.fill", {"target": {"label": "Linked"}, "text": "linked"})
    run(ctx, "browser.fill", {"target": {"label": "Wrapped"}, "text": "wrapped"})
    assert [value(ctx, f"#{i}") for i in ("user", "pass", "linked", "wrapped")] == \
        ["tomsmith", "秘密", "linked", "wrapped"]


def test_places_seen_from_a_text(ctx: StepContext, site: str) -> None:
    run(ctx, "browser.open", {"url": f"{site}/targets.html"})
    run(ctx, "browser.fill", {"target": {"right_of": "户名"}, "text": "张三"})
    run(ctx, "browser.fill", {"target": {"right_of": "户名", "nth": 1}, "text": "李四"})
    run(ctx, "browser.fill", {"target": {"role": "textbox", "right_of": "账号"}, "text": "6217"})
    run(ctx, "browser.fill", {"target": {"below": "金额"}, "text": "100.00"})
    assert [value(ctx, f"#{i}") for i in ("name", "name2", "account", "amount")] == \
        ["张三", "李四", "6217", "100.00"]


def test_the_checkbox_in_the_row_that_has_a_text(ctx: StepContext, site: str) -> None:
    run(ctx, "browser.open", {"url": f"{site}/targets.html"})
    run(ctx, "browser.check",
        {"target": {"role": "checkbox", "inside": {"css": "li", "has_text": "Buy eggs"}}})
    page = session(ctx).page
    assert (page.is_checked("#milk"), page.is_checked("#eggs")) == (False, True)
    assert run(ctx, "browser.read_text",
               {"target": {"css": ".todo-list li", "has_text": "milk"}}) == "Buy milk"


def test_test_ids_and_nested_frames(ctx: StepContext, site: str) -> None:
    run(ctx, "browser.open", {"url": f"{site}/targets.html"})
    run(ctx, "browser.click", {"target": {"test_id": "save"}})
    assert session(ctx).page.text_content("#saved") == "已保存"
    nested = {"frame": ["#outer", "#inner"]}
    run(ctx, "browser.fill", {"target": {"label": "户名", **nested}, "text": "王五"})
    run(ctx, "browser.click", {"target": {"role": "button", "name": "提交", **nested}})
    inner = session(ctx).page.frame_locator("#outer").frame_locator("#inner")
    assert (inner.locator("#result").text_content() or "").startswith("户名=王五;")


def test_words_written_as_a_selector_are_refused_with_the_fix(ctx: StepContext, site: str) -> None:
    run(ctx, "browser.open", {"url": f"{site}/targets.html"})
    with pytest.raises(ValidationError) as caught:  # the runner says describe_error's words
        run(ctx, "browser.fill", {"target": "Username", "text": "x"})
    assert describe_error(caught.value) == WORDS
    with pytest.raises(ValidationError) as caught:
        run(ctx, "browser.read_text", {"target": "Accepted usernames are:"})
    assert describe_error(caught.value) == (
        "'Accepted usernames are:' is not a selector: "
        "a plain text target is read as CSS ('Accepted' is not an HTML element); for text on "
        "the page write {text: \"Accepted usernames are:\"}, for the field it labels "
        "{label: \"Accepted usernames are:\"}, for a button {role: button, name: "
        "\"Accepted usernames are:\"}")
    assert run(ctx, "browser.read_text", {"target": {"text": "Accepted usernames are:"}}) == \
        "Accepted usernames are:"
    with pytest.raises(StepArgumentError) as plain:  # a value an expression made: same words
        locate(session(ctx).page, "Username")
    assert str(plain.value) == WORDS


def test_malformed_and_contradictory_targets_are_check_errors(robot_file: Write) -> None:
    found = problems(robot_file("""
        robot: targets
        steps:
          - browser.fill: {target: Username, text: x}
          - browser.click: {target: 登录}
          - browser.click: {target: {css: .todo-list label, text: Buy milk}}
          - browser.click: {target: {role: buton, name: 提交}}
          - browser.click: {target: {label: 户名, css: "#name"}}
          - browser.click: {target: {name: 提交}}
          - browser.click: {target: {role: checkbox, inside: 买牛奶}}
          - browser.click: {target: {css: Username}}
          - browser.click: {target: {role: button, rigth_of: 户名}}
        """, "r.yaml"))
    assert found == [
        f"r.yaml:3:28: argument 'target' of 'browser.fill': {WORDS}",
        "r.yaml:4:29: argument 'target' of 'browser.click': '登录' is not a selector: a plain "
        "text target is read as CSS ('登录' is not an HTML element); for text on the page write "
        "{text: 登录}, for the field it labels {label: 登录}, for a button "
        "{role: button, name: 登录}",
        "r.yaml:5:29: argument 'target' of 'browser.click': a target names one way to find it, "
        "but this one has both 'css' and 'text'; to keep the css matches that contain a text "
        "write has_text: Buy milk instead of text",
        "r.yaml:6:29: argument 'target' of 'browser.click': 'buton' is not an ARIA role; did "
        "you mean 'button'?",
        "r.yaml:7:29: argument 'target' of 'browser.click': a target names one way to find it, "
        "but this one has label, css; keep one of them (use inside: to look within another "
        "element)",
        "r.yaml:8:29: argument 'target' of 'browser.click': a target map needs one of role, "
        "label, text, placeholder, test_id, alt, title, css, xpath (or a place such as "
        "right_of: 用户名); e.g. {role: button, name: 登录} or {label: 用户名}",
        "r.yaml:9:29: argument 'target' of 'browser.click': inside: '买牛奶' is not a selector: "
        "a plain text target is read as CSS ('买牛奶' is not an HTML element); for text on the "
        "page write {text: 买牛奶}, for the field it labels {label: 买牛奶}, for a button "
        "{role: button, name: 买牛奶}",
        "r.yaml:10:29: argument 'target' of 'browser.click': css: Username cannot match "
        "anything: 'Username' is not an HTML element; for text on the page write "
        "{text: Username}, for the field it labels {label: Username}, for a button "
        "{role: button, name: Username}",
        "r.yaml:11:29: argument 'target' of 'browser.click': a target map cannot have "
        "'rigth_of'; use one of role (with name), label, text, placeholder, test_id, alt, "
        "title, css or xpath (plus has_text, inside, right_of, left_of, above, below, near, "
        "exact, frame, nth)",
    ]


@pytest.mark.parametrize("selector", ["#login", ".todo-list li", "input[name='户 名']",
                                      "button.primary:has-text('登录')", "text=登录",
                                      "role=button[name=登录]", "//td[1]", "my-widget > span",
                                      "li:nth-child(2) a", "*", "#a, .b"])
def test_selectors_stay_selectors(selector: str) -> None:
    from libs.target_rules import selector_problem

    assert selector_problem(selector) is None


def test_the_roles_are_playwrights_own() -> None:
    from typing import get_args, get_type_hints

    from playwright.sync_api import Page

    assert set(get_args(get_type_hints(Page.get_by_role)["role"])) == ARIA_ROLES


def test_a_target_map_with_expressions_is_checked_for_its_keys(robot_file: Write) -> None:
    found = problems(robot_file("""
        robot: todos
        steps:
          - for_each: [Buy milk, Buy eggs]
            as: todo
            steps:
              - browser.click: {target: {css: .todo-list label, text: "${todo}"}}
              - browser.check: {target: {role: checkbox, inside: {css: li, has_tex: "${todo}"}}}
              - browser.check: {target: {role: checkbox, inside: {css: li, has_text: "${todo}"}}}
        """, "r.yaml"))
    assert found == [
        "r.yaml:6:33: argument 'target' of 'browser.click': a target names one way to find it, "
        "but this one has both 'css' and 'text'; to keep the css matches that contain a text "
        "write has_text: \"${todo}\" instead of text",
        "r.yaml:7:33: argument 'target' of 'browser.check': inside: a target map cannot have "
        "'has_tex'; use one of role (with name), label, text, placeholder, test_id, alt, title, "
        "css or xpath (plus has_text, inside, right_of, left_of, above, below, near, exact, "
        "frame, nth)",
    ]
