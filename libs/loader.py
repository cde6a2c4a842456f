"""Load a robot file safely, keeping file:line:col for every key, value and list item.

Safety: only plain YAML scalars, lists and maps are built (no tags, so no ``!!python/...``);
aliases are refused (no "billion laughs"); booleans are only ``true``/``false`` and
``yes``/``no``/``on``/``off`` stay text; numbers with a leading zero (account numbers) stay text.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from libs.errors import Pos, Problem, RobotFileError

MAX_FILE_BYTES = 2_000_000
MAX_DEPTH = 60

_STD = "tag:yaml.org,2002:"
_INT = re.compile(r"^[-+]?(0|[1-9][0-9_]*)$")
_FLOAT = re.compile(
    r"^[-+]?(\.[0-9]+|[0-9][0-9_]*\.[0-9]*([eE][-+]?[0-9]+)?|[0-9]+[eE][-+]?[0-9]+)$"
)


class YMap(dict[str, Any]):
    """A YAML mapping that remembers where it, its keys and its values are."""

    pos: Pos
    key_pos: dict[str, Pos]
    value_pos: dict[str, Pos]

    def where(self, key: str) -> Pos:
        return self.value_pos.get(key, self.pos)


class YList(list[Any]):
    """A YAML sequence that remembers where it and its items are."""

    pos: Pos
    item_pos: list[Pos]


def pos_of(value: Any, default: Pos) -> Pos:
    return getattr(value, "pos", default)


class _Loader(yaml.SafeLoader):
    """Composes nodes only; refuses aliases before they can be expanded."""

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            raise _Refused(mark, "aliases (*name) are not allowed in robot files; "
                                 "write the value out again, or move shared steps into a robot "
                                 "and use 'call'")
        return super().compose_node(parent, index)


# Every plain scalar composes as a string; _scalar() applies our own, stricter typing.
_Loader.yaml_implicit_resolvers = {}


class _Refused(Exception):
    def __init__(self, mark: Any, message: str) -> None:
        self.mark, self.message = mark, message


def _scalar(node: ScalarNode) -> Any:
    text: str = node.value
    if node.style is None:  # plain (unquoted) scalar
        if text in ("", "~", "null", "Null", "NULL"):
            return None
        if text in ("true", "True", "TRUE"):
            return True
        if text in ("false", "False", "FALSE"):
            return False
        if _INT.match(text):
            return int(text.replace("_", ""))
        if _FLOAT.match(text):
            return float(text.replace("_", ""))
    return text


_STEP_LINE = re.compile(r"^\s*- [\w.]+:")


class _Builder:
    def __init__(self, file: str, text: str = "") -> None:
        self.file = file
        self.lines = text.split("\n")
        self.problems: list[Problem] = []

    def swallowed_steps(self, node: ScalarNode) -> bool:
        """A quoted value running over lines that look like steps: a quote left open."""
        start, end = node.start_mark.line, node.end_mark.line
        return node.style in ('"', "'") and end > start and any(
            _STEP_LINE.match(line) for line in self.lines[start + 1 : end + 1])

    def pos(self, node: Node) -> Pos:
        return Pos(self.file, node.start_mark.line + 1, node.start_mark.column + 1)

    def build(self, node: Node, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            self.problems.append(Problem(self.pos(node), f"nesting deeper than {MAX_DEPTH} "
                                         "levels; split the robot into smaller robots"))
            return None
        tag = node.tag or ""
        explicit = tag.startswith("!") or (
            tag.startswith(_STD)
            and tag[len(_STD):] not in ("str", "int", "float", "bool", "null", "map", "seq")
        )
        if explicit:
            shown = "!!" + tag[len(_STD):] if tag.startswith(_STD) else tag
            self.problems.append(Problem(self.pos(node), f"YAML tag '{shown}' is not allowed in "
                                         "robot files; remove the tag and write a plain value"))
            return None
        if isinstance(node, ScalarNode):
            if self.swallowed_steps(node):
                self.problems.append(Problem(self.pos(node), "this quote is never closed on its "
                                             "line, so the steps below became part of the text; "
                                             "add the closing quote"))
            return _scalar(node)
        if isinstance(node, SequenceNode):
            seq = YList(self.build(item, depth + 1) for item in node.value)
            seq.pos = self.pos(node)
            seq.item_pos = [self.pos(item) for item in node.value]
            return seq
        assert isinstance(node, MappingNode)
        mapping = YMap()
        mapping.pos, mapping.key_pos, mapping.value_pos = self.pos(node), {}, {}
        for key_node, value_node in node.value:
            key = self.build(key_node, depth + 1)
            if key == "<<" and key_node.style is None:
                self.problems.append(Problem(self.pos(key_node), "merge keys ('<<') are not "
                                             "allowed in robot files; write the keys out"))
                continue
            if not isinstance(key, str):
                key = str(key)
            if key in mapping:
                first = mapping.key_pos[key]
                self.problems.append(Problem(self.pos(key_node), f"duplicate key '{key}' (first "
                                             f"at line {first.line}); remove one of them"))
                continue
            mapping[key] = self.build(value_node, depth + 1)
            mapping.key_pos[key] = self.pos(key_node)
            mapping.value_pos[key] = self.pos(value_node)
        return mapping


def read_text(path: Path) -> str:
    """Robot files are UTF-8 (with or without BOM); GBK/GB18030 files from Windows also load."""
    data = path.read_bytes()
    if len(data) > MAX_FILE_BYTES:
        raise RobotFileError([Problem(Pos(str(path), 1, 1), f"file is {len(data)} bytes; robot "
                                      f"files are limited to {MAX_FILE_BYTES} bytes")])
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise RobotFileError([Problem(Pos(str(path), 1, 1), "the file is saved as UTF-16 "
                                      "(\"Unicode\" in Notepad); save it as UTF-8")])
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as utf8_error:
        try:
            return data.decode("gb18030")
        except UnicodeDecodeError:
            line = data[: utf8_error.start].count(b"\n") + 1
            raise RobotFileError([Problem(Pos(str(path), line, 1), "file is neither UTF-8 nor "
                                          "GBK text; save it as UTF-8")]) from None


INVISIBLE = {"\u200b": "zero-width space", "\u200c": "zero-width non-joiner",
             "\u200d": "zero-width joiner", "\u2060": "word joiner", "\ufeff": "BOM",
             "\u00a0": "no-break space", "\u3000": "full-width space"}


def _codepoint(char: str) -> str:
    name = INVISIBLE.get(char) or {"\x0c": "form feed", "\t": "tab"}.get(char, "")
    return f"U+{ord(char):04X}" + (f" ({name})" if name else "")


def _hint(err: yaml.MarkedYAMLError) -> str:
    context, problem = err.context or "", err.problem or ""
    if "unknown escape character" in problem:  # '\d' of a regular expression, mostly
        return ("inside double quotes a backslash starts an escape like \\n; write two "
                "(\\\\d), or put the value in single quotes with double quotes inside: "
                "'${re_search(x, \"\\d+\")}'")
    if "quoted scalar" in context:
        return "this quote is never closed; add the closing quote at the end of the value"
    if context.startswith("while parsing a flow"):
        return "this bracket is never closed; close it on the same line"
    if "simple key" in context:
        return "a key needs ':' and a space after it, e.g. title: 对账"
    if "'\\t'" in problem or "\\t" in problem:
        return "indent with spaces, not tabs"
    return "check the indentation, colons and quotes here"


def _unquoted_in_brackets(err: yaml.MarkedYAMLError, lines: list[str],
                          file: str) -> Problem | None:
    """`{placeholder: What needs to be done?}`: the bracket is closed, but a character of the
    value ('?', ':', '#', ...) is YAML syntax inside brackets; the fix is quoting the value."""
    mark, problem = err.problem_mark, err.problem or ""
    opened = err.context_mark
    if mark is None or not problem.startswith("expected ','") or mark.line >= len(lines) \
            or opened is None or opened.line != mark.line:
        return None
    line = lines[mark.line]
    closer = "}" if "'}'" in problem else "]"
    if closer not in line[mark.column:]:
        return None  # the bracket really is never closed
    start = max(line.rfind(c, 0, mark.column) for c in ":,{[") + 1
    ends = [at for at in (line.find(c, mark.column + 1) for c in (",", closer)) if at >= 0]
    value = line[start:min(ends)].strip()
    if not value:
        return None
    column = line.index(value, start) + 1
    char = line[mark.column]
    return Problem(Pos(file, mark.line + 1, column),
                   f"'{value}' has '{char}', which YAML reads as syntax inside {{...}} and "
                   f"[...]; put the value in quotes: \"{value}\"")


def _layout_problems(text: str, file: str) -> list[Problem]:
    """Mistakes Chinese input methods and pasted text make, which YAML misreads silently."""
    problems = []
    for number, line in enumerate(text.split("\n"), 1):
        indent = line[: len(line) - len(line.lstrip(" \t\u3000"))]
        if "\u3000" in indent:
            problems.append(Problem(Pos(file, number, indent.index("\u3000") + 1),
                                    "this line is indented with full-width spaces (U+3000) from "
                                    "the Chinese input method; indent with ordinary spaces"))
    return problems


def load_yaml(text: str, file: str) -> Any:
    """Parse YAML text into YMap/YList/scalars, raising RobotFileError with every problem."""
    layout = _layout_problems(text, file)
    if layout:
        raise RobotFileError(layout)
    builder = _Builder(file, text)
    try:
        node = yaml.compose(text, Loader=_Loader)
    except _Refused as refused:
        mark = refused.mark
        raise RobotFileError([Problem(Pos(file, mark.line + 1, mark.column + 1),
                                      refused.message)]) from None
    except yaml.reader.ReaderError as err:
        line = text.count("\n", 0, err.position) + 1
        col = err.position - (text.rfind("\n", 0, err.position) + 1) + 1
        char = chr(err.character) if isinstance(err.character, int) else str(err.character)
        raise RobotFileError([Problem(Pos(file, line, col), f"character {_codepoint(char)} is not "
                                      "allowed in a robot file (it often comes from copying out "
                                      "of a PDF or a chat); delete it")]) from None
    except yaml.MarkedYAMLError as err:
        unquoted = _unquoted_in_brackets(err, text.split("\n"), file)
        if unquoted is not None:
            raise RobotFileError([unquoted]) from None
        # Where an unclosed quote, bracket or key began is where the user must look.
        starts = ("while scanning a quoted scalar", "while parsing a flow",
                  "while scanning a simple key")
        use_context = err.context_mark is not None and (err.context or "").startswith(starts)
        mark = err.context_mark if use_context else (err.problem_mark or err.context_mark)
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        what = err.problem or "malformed YAML"
        context = f" {err.context}" if err.context else ""
        hint = _hint(err)
        raise RobotFileError([Problem(Pos(file, line, col), f"malformed YAML: {what}{context}; "
                                      f"{hint}")]) from None
    except yaml.YAMLError as err:
        raise RobotFileError([Problem(Pos(file, 1, 1), f"malformed YAML: {err}")]) from None
    except RecursionError:
        raise RobotFileError([Problem(Pos(file, 1, 1), "nesting too deep; split the robot "
                                      "into smaller robots")]) from None
    if node is None:
        raise RobotFileError([Problem(Pos(file, 1, 1), "the file is empty; a robot needs at "
                                      "least 'robot:' and 'steps:' (try 'workhand new NAME')")])
    value = builder.build(node)
    if builder.problems:
        raise RobotFileError(builder.problems)
    return value


def load_file(path: Path, shown_as: str | None = None) -> Any:
    return load_yaml(read_text(path), shown_as or str(path))
