"""Every message the console shows has its Chinese (Chinese is the default language)."""

from __future__ import annotations

import re
from pathlib import Path

from orchestrator.console import i18n
from orchestrator.console.web import HERE
from orchestrator.roles import Role

# _("…") in templates; i18n.text("…" "…", …) in the console's code (strings may be split)
IN_TEMPLATES = re.compile(r"""_\(\s*(["'])(.+?)\1\s*[,)]""")
IN_CODE = re.compile(r"i18n\.text\(\s*((?:\"[^\"]*\"\s*)+)", re.S)


def messages() -> set[str]:
    found: set[str] = set()
    for path in (HERE / "templates").glob("*.html"):
        found |= {m.group(2) for m in IN_TEMPLATES.finditer(path.read_text(encoding="utf-8"))}
    for path in HERE.glob("*.py"):
        for m in IN_CODE.finditer(path.read_text(encoding="utf-8")):
            found.add("".join(re.findall(r'"([^"]*)"', m.group(1))))
    return found


def test_every_message_has_its_chinese() -> None:
    used = messages()
    assert len(used) > 100
    missing = sorted(m for m in used if m not in i18n.ZH and "{{" not in m)
    assert missing == []


def test_roles_and_states_have_chinese_names() -> None:
    from orchestrator.states import JobState

    for name in [*(r.value for r in Role), *(s.value for s in JobState)]:
        assert name in i18n.ZH, name


def test_values_fill_in_after_translation() -> None:
    assert i18n.text("Cancel {count} run(s)?", "zh", count=3) == "确定取消 3 个运行？"
    assert i18n.text("Cancel {count} run(s)?", "en", count=3) == "Cancel 3 run(s)?"
    assert Path(HERE / "templates" / "base.html").is_file()
