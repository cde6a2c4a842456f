"""Every YAML example in README.md and docs/**/*.md passes `workhand check` (the checker API).

The convention (also in docs/guide/language.md, "For contributors"), by the fence's words:

- ```` ```yaml ````: a whole robot (it has ``robot:``) is checked as it is. A fragment — a list of
  steps, or a single step — is put under ``steps:`` of a minimal robot that declares the
  credentials (``${credentials.NAME...}``) and inputs (``${inputs.NAME}``, as text) it uses. A
  fragment must define the other variables it reads itself (``set:``, ``into:``, ``as:``).
  A fragment made of a robot's top-level keys only (``settings:``, ``inputs:``, ``savings:``...)
  gets ``robot:`` (and a ``steps:`` with one ``log``) added.
- ```` ```yaml wrong ````: a whole robot with a deliberate mistake. The next fenced block must be
  ```` ```text ```` holding exactly what the checker reports, one problem a line. The file is
  shown as ``robot.yaml``, or as the name given with ``file=NAME``.
- ```` ```yaml credentials ````, ```` ```yaml worker-settings ````, ```` ```yaml schedule ````: a
  credentials file (``--credentials``), a worker's settings (``--settings``), a schedule file;
  each is read by the code that reads such a file and must be accepted.
- A block after ``<!-- tutorial: ... -->`` is a piece of the tutorial's robot; it is checked as
  part of the assembled robot by tests/docs/test_tutorial.py.

Files the examples name (a workbook, a called robot) need not exist for a check, except robots
named by ``call:`` and files the checker opens: the test's bundle holds those (BUNDLE).
"""

from __future__ import annotations

import re
import textwrap
import unicodedata
from pathlib import Path
from typing import Any

import pytest
import yaml

from libs.checker import TOP_KEYS, check_file
from libs.credentials import load_credentials
from libs.errors import RobotFileError
from orchestrator import worker_settings
from orchestrator.schedules import check_files
from tests.docs.blocks import ROOT, Block, blocks, guide_files

KINDS = ("wrong", "credentials", "worker-settings", "schedule")

# files beside the example in its bundle: robots the guide's examples call by id (call: ...),
# and files the checker opens (settings.browser.network's fulfil answers)
BUNDLE = {
    "data/rates.json": "{}\n",
    "download-statements.yaml": """\
        robot: download-statements
        inputs:
          system: {type: text, default: ACS}
          day: {type: date, default: today}
        steps:
          - log: "下载 ${inputs.system} ${inputs.day} 的对账单"
          - output: {name: file, value: "statement-${inputs.system}.csv"}
        """,
}


def _yaml_blocks() -> list[Block]:
    found = []
    for path in guide_files():
        found += [b for b in blocks(path) if b.lang == "yaml" and b.marker is None]
    return found


def _following(block: Block) -> Block:
    """The block right after a ```yaml wrong: the checker's exact report."""
    all_blocks = blocks(block.file)
    index = next(i for i, b in enumerate(all_blocks) if b.line == block.line)
    assert index + 1 < len(all_blocks), f"{block.where}: a 'yaml wrong' block needs a text " \
                                        "block after it with the checker's report"
    report = all_blocks[index + 1]
    assert report.lang == "text", f"{block.where}: the block after 'yaml wrong' must be " \
                                  f"```text (the checker's report), not ```{report.lang}"
    return report


def _bundle(tmp_path: Path) -> Path:
    for name, text in BUNDLE.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(textwrap.dedent(text), encoding="utf-8")
    return tmp_path


def wrap(text: str) -> str:
    """A fragment (a list of steps, one step, or a robot's top-level keys) as a minimal robot."""
    data: Any = yaml.safe_load(text)
    if isinstance(data, dict) and set(data) <= set(TOP_KEYS) - {"robot"}:
        tail = "" if "steps" in data else "steps:\n  - log: 示例\n"
        return "robot: doc-example\n" + text + tail
    body = text.rstrip("\n").split("\n")
    if isinstance(data, dict):  # one step: make it the list's only item
        body = ["- " + body[0], *("  " + line for line in body[1:])]
    credentials = sorted(set(re.findall(r"credentials\.(\w+)", text)))
    inputs = sorted(set(re.findall(r"inputs\.(\w+)", text)))
    head = ["robot: doc-example"]
    if credentials:
        head.append(f"credentials: [{', '.join(credentials)}]")
    if inputs:
        head += ["inputs:", *(f"  {name}: {{type: text, default: x}}" for name in inputs)]
    return "\n".join([*head, "steps:", *("  " + line for line in body)]) + "\n"


def _check(text: str, folder: Path, shown: str) -> list[str]:
    path = folder / shown
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    try:
        check_file(path, shown_as=shown)
    except RobotFileError as err:
        return [str(p) for p in err.problems]
    return []


def _kind(block: Block) -> str:
    kinds = [w for w in block.words if w in KINDS]
    unknown = [w for w in block.words if w not in KINDS and not w.startswith("file=")]
    assert not unknown, f"{block.where}: unknown word(s) {unknown} after ```yaml " \
                        f"(known: {', '.join(KINDS)}, file=NAME)"
    return kinds[0] if kinds else "robot"


EXAMPLES = _yaml_blocks()


def test_the_guide_has_examples() -> None:
    files = {b.file.name for b in EXAMPLES}
    assert {"language.md", "language.zh.md", "cookbook.md", "cookbook.zh.md",
            "README.md"} <= files
    assert len(EXAMPLES) > 60


@pytest.mark.parametrize("block", EXAMPLES, ids=[b.where for b in EXAMPLES])
def test_example(block: Block, tmp_path: Path) -> None:
    kind = _kind(block)
    if kind == "credentials":
        path = tmp_path / "credentials.yaml"
        path.write_text(block.text, encoding="utf-8")
        assert load_credentials(path).fields, block.where
        return
    if kind == "worker-settings":
        settings = yaml.safe_load(block.text)
        for folder in settings.get("folders") or []:  # the folders it names, made in tmp
            folder["path"] = str(tmp_path / folder["path"].lstrip("/"))
            Path(folder["path"]).mkdir(parents=True)
        worker_settings.parse(settings, block.where)
        return
    if kind == "schedule":
        path = tmp_path / "schedules" / "example.yaml"
        path.parent.mkdir()
        path.write_text(block.text, encoding="utf-8")
        assert check_files([path]), block.where
        return
    tmp_path.mkdir(parents=True, exist_ok=True)
    bundle = _bundle(tmp_path)
    try:
        data = yaml.safe_load(block.text)
    except yaml.YAMLError:  # a 'yaml wrong' example may be wrong YAML itself (a backslash)
        assert kind == "wrong", f"{block.where}: the example is not YAML"
        data = {"robot": None} if block.text.startswith("robot:") else None
    whole = isinstance(data, dict) and "robot" in data
    if kind == "wrong":
        assert whole, f"{block.where}: a 'yaml wrong' example is a whole robot (its line and " \
                      "column are then the reader's)"
        shown = next((w[5:] for w in block.words if w.startswith("file=")), "robot.yaml")
        expected = _following(block).text.strip().split("\n")
        assert _check(block.text, bundle, shown) == expected, block.where
        return
    text = block.text if whole else wrap(block.text)
    found = _check(text, bundle, "robot.yaml")
    assert found == [], f"{block.where}: the example does not pass workhand check:\n" + \
        "\n".join(found) + ("" if whole else "\n(checked as this robot:)\n" + text)


def test_a_fragment_is_wrapped_into_a_robot() -> None:
    assert wrap("- log: ${inputs.day}\n- log: ${credentials.bank.username}\n") == (
        "robot: doc-example\ncredentials: [bank]\ninputs:\n  day: {type: text, default: x}\n"
        "steps:\n  - log: ${inputs.day}\n  - log: ${credentials.bank.username}\n")
    assert wrap("wait: 2s\nlabel: 稍等\n") == (
        "robot: doc-example\nsteps:\n  - wait: 2s\n    label: 稍等\n")
    assert wrap("settings:\n  timeout: 5s\n") == (
        "robot: doc-example\nsettings:\n  timeout: 5s\nsteps:\n  - log: 示例\n")


def test_no_page_points_outside_the_repository() -> None:
    for path in guide_files():
        text = path.read_text(encoding="utf-8")
        assert "../shared" not in text and "ROBOT-LANGUAGE" not in text, path


LINK = re.compile(r"\]\(([^)\s]+)\)")


def slug(heading: str) -> str:
    """A heading's anchor as GitHub makes it: lower case, punctuation dropped, spaces → '-'."""
    text = heading.strip().lower()
    text = "".join(c for c in text if c.isalnum() or c in "_- " or
                   unicodedata.category(c).startswith("M"))
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.S)
    return {slug(m) for m in re.findall(r"^#{1,6}\s+(.+)$", text, flags=re.M)}


GUIDE_PAGES = [*sorted((ROOT / "docs" / "guide").glob("*.md")), ROOT / "docs" / "robots.md",
               ROOT / "README.md"]


@pytest.mark.parametrize("page", GUIDE_PAGES, ids=[p.name for p in GUIDE_PAGES])
def test_every_link_of_the_guide_leads_somewhere(page: Path) -> None:
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    for target in LINK.findall(text):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        file, _, anchor = target.partition("#")
        linked = (page.parent / file).resolve() if file else page
        assert linked.exists(), f"{page.name}: the link ({target}) leads to no file"
        assert linked.is_relative_to(ROOT), f"{page.name}: ({target}) leads outside the clone"
        if anchor and linked.suffix == ".md":
            assert anchor in _anchors(linked), f"{page.name}: no heading '#{anchor}' in " \
                                               f"{linked.name}"


def test_a_wrong_example_must_give_exactly_its_report(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "```yaml wrong file=my-robots/x.yaml\nrobot: x\nsteps:\n  - lgo: hi\n```\n\n"
        "```text\nmy-robots/x.yaml:3:5: unknown step 'lgo'; did you mean 'log'?\n```\n"
        "```yaml wrong\nrobot: x\nsteps:\n  - lgo: hi\n```\n\n```text\nsomething else\n```\n",
        encoding="utf-8")
    right, _, wrong, _ = blocks(page)
    test_example(right, tmp_path / "a")
    with pytest.raises(AssertionError):
        test_example(wrong, tmp_path / "b")


def _section(text: str, heading: str) -> str:
    """The text under a heading, up to the next heading of the same or a higher level."""
    level = heading.split(" ", 1)[0]
    start = text.index(heading + "\n")
    following = re.compile(rf"^#{{1,{len(level)}}} ", re.M)
    found = following.search(text, start + len(heading) + 1)
    return text[start:found.start() if found else len(text)]


LANGUAGE_PAGES = {"language.md": ("### Functions", "## Control steps"),
                  "language.zh.md": ("### 函数", "## 流程控制")}


@pytest.mark.parametrize("page", sorted(LANGUAGE_PAGES))
def test_the_language_page_lists_every_function_and_control_step(page: str) -> None:
    from libs.checks.steps import CONTROL_KEYS
    from libs.expressions import FUNCTIONS

    text = (ROOT / "docs" / "guide" / page).read_text(encoding="utf-8")
    functions, control = LANGUAGE_PAGES[page]
    rows = [line for line in _section(text, functions).splitlines() if line.startswith("| `")]
    listed = {name for row in rows for name in re.findall(r"`(\w+)\(", row.split("|")[1])}
    assert sorted(set(FUNCTIONS) - listed) == [], f"{page}: functions missing from the table"
    assert sorted(listed - set(FUNCTIONS)) == [], f"{page}: the table lists no such function"
    steps = _section(text, control)
    headings = {word for line in steps.splitlines() if line.startswith("### ")
                for word in re.findall(r"\w+", line)}
    for key, sub_keys in CONTROL_KEYS.items():
        assert key in headings, f"{page}: no heading for the control step '{key}'"
        for sub in sub_keys:
            assert re.search(rf"(?<![\w.]){sub}:", steps), \
                f"{page}: '{sub}:' of '{key}' is not shown under {control}"
