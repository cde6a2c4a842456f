from __future__ import annotations

import pytest

from libs.errors import RobotFileError
from libs.loader import YList, YMap, load_yaml


def test_positions_are_kept_for_keys_values_and_items() -> None:
    data = load_yaml("robot: x\nsteps:\n  - log: 你好\n  - wait: 1s\n", "r.yaml")
    assert isinstance(data, YMap)
    assert str(data.key_pos["steps"]) == "r.yaml:2:1"
    steps = data["steps"]
    assert isinstance(steps, YList)
    assert [str(p) for p in steps.item_pos] == ["r.yaml:3:5", "r.yaml:4:5"]
    assert steps[0]["log"] == "你好"


def test_scalars_are_typed_strictly() -> None:
    data = load_yaml("a: [yes, no, on, 0012345, 12, 1.5, true, null, 2024-01-01, '7']", "r")
    assert data["a"] == ["yes", "no", "on", "0012345", 12, 1.5, True, None, "2024-01-01", "7"]


@pytest.mark.parametrize(("text", "where", "words"), [
    ("a: !!python/object/apply:os.system [id]", "r:1:4", "tag '!!python/object/apply:os.system'"),
    ("a: &x [1, 2]\nb: *x\n", "r:2:4", "aliases"),
    ("a: {<<: {b: 1}}", "r:1:5", "merge keys"),
    ("a: [1, 2", "r:1:4", "bracket is never closed"),
    ("a: 1\na: 2\n", "r:2:1", "duplicate key 'a'"),
    ("", "r:1:1", "empty"),
])
def test_unsafe_or_malformed_yaml_is_refused_with_a_position(text: str, where: str,
                                                             words: str) -> None:
    with pytest.raises(RobotFileError) as caught:
        load_yaml(text, "r")
    assert str(caught.value).startswith(where)
    assert words in str(caught.value)


def test_a_billion_laughs_never_expands() -> None:
    bomb = 'a: &a ["x","x"]\nb: &b [*a,*a]\nc: &c [*b,*b]\nd: [*c,*c]\n'
    with pytest.raises(RobotFileError, match="aliases"):
        load_yaml(bomb, "r")


def test_a_closed_bracket_with_syntax_in_a_value_asks_for_quotes() -> None:
    with pytest.raises(RobotFileError) as caught:
        load_yaml("steps:\n  - browser.fill: {target: {placeholder: What needs to be done?}, "
                  "text: x}\n", "e1.yaml")
    assert str(caught.value) == (
        "e1.yaml:2:42: 'What needs to be done?' has '?', which YAML reads as syntax inside "
        "{...} and [...]; put the value in quotes: \"What needs to be done?\"")
    with pytest.raises(RobotFileError) as caught:
        load_yaml("steps:\n  - log: {message: a: b}\n", "e2.yaml")
    assert str(caught.value) == ("e2.yaml:2:20: 'a: b' has ':', which YAML reads as syntax "
                                 "inside {...} and [...]; put the value in quotes: \"a: b\"")
