"""The `workhand` command line: run, check, steps, schema, new, demo."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from libs.checker import check_file
from libs.console import ConsoleReporter, item_lines, summary
from libs.credentials import CredentialsFile, load_credentials, looks_like_credentials
from libs.errors import RobotFileError
from libs.plan import Plan, worker_needs
from libs.policy import AllowedFolder, Policy
from libs.reference import robot_schema, steps_markdown
from libs.registry import LIBRARY_NEEDS, load_libraries
from libs.run_result import ItemRecord, RunResult
from libs.runner import Runner

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Workhand: YAML robots for bank operations.")
console = Console()
err_console = Console(stderr=True)


def _problems(err: RobotFileError) -> None:
    for problem in err.problems:
        err_console.print(escape(str(problem)), highlight=False, soft_wrap=True)


def parse_inputs(pairs: list[str]) -> dict[str, str]:
    inputs: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise typer.BadParameter(f"'{pair}' is not NAME=VALUE", param_hint="--input")
        inputs[name.strip()] = value
    return inputs


@app.command()
def run(
    robot: Annotated[Path, typer.Argument(help="the robot file")],
    input: Annotated[list[str] | None, typer.Option("--input", "-i",
                                                    help="an input, NAME=VALUE")] = None,
    credentials: Annotated[Path | None, typer.Option(
        help="YAML/JSON map of credential name → fields (when run without the orchestrator)",
    )] = None,
    output: Annotated[Path | None, typer.Option(
        help="where events.jsonl, result.json, screenshots and files go "
             "(default: output/ROBOT-TIMESTAMP)")] = None,
    headed: Annotated[bool, typer.Option(help="show the browser window")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="print every step")] = False,
    allow_read: Annotated[list[Path] | None, typer.Option(
        "--allow-read", help="a folder the robot may also read (repeatable)")] = None,
    allow_write: Annotated[list[Path] | None, typer.Option(
        "--allow-write", help="a folder the robot may also read and write (repeatable)")] = None,
    allow_host: Annotated[list[str] | None, typer.Option(
        "--allow-host", help="a host the robot may reach: a name, *.suffix, an address or a "
                             "network such as 10.0.0.0/8 (repeatable; none given: any host)"
    )] = None,
    skip_item: Annotated[list[str] | None, typer.Option(
        "--skip-item", help="a work item id done in an earlier run: its steps are not run, "
                            "it is listed as skipped (repeatable)")] = None,
    display: Annotated[str | None, typer.Option(
        help="the screen of a desktop robot: xvfb (a virtual screen for this run) or a "
             "display such as :0 (default: $DISPLAY, else a virtual screen)")] = None,
    allow_app: Annotated[list[str] | None, typer.Option(
        "--allow-app", help="NAME=COMMAND: an application desktop.launch may start, e.g. "
                            "'calc=/usr/bin/xcalc -rpn' (repeatable; the program an absolute "
                            "path), as a worker's settings (apps:) do")] = None,
) -> None:
    """Run a robot; exit 0 only when it passed.

    The robot reads its own folder and its output folder and writes only its output folder;
    --allow-read and --allow-write add folders, as a worker's settings (folders:) do.
    --skip-item ID (repeated) retries only the failed items of an earlier run: a for_each
    with work_item: passes over the items with those ids (a work queue's items are not
    affected). A robot with desktop steps runs on $DISPLAY, or on a virtual screen of its own
    when none is set (--display chooses); --allow-app lets desktop.launch start a program."""
    try:
        plan = check_file(robot)
        creds = load_credentials(credentials)
    except RobotFileError as err:
        _problems(err)
        raise typer.Exit(2) from None
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = output or Path("output") / f"{plan.robot}-{stamp}"
    policy = run_policy(allow_read or [], allow_write or [], allow_host or [],
                        parse_apps(allow_app or []))
    with run_display(plan, display):
        result = _run_and_show(plan, out, parse_inputs(input or []), creds, headed, verbose,
                               policy=policy, skip_items=frozenset(skip_item or ()))
    raise typer.Exit(0 if result.status == "passed" else 1)


def run_policy(read: list[Path], write: list[Path], hosts: list[str],
               apps: dict[str, tuple[str, ...]] | None = None) -> Policy:
    """What `workhand run` lets a robot reach: its bundle and output folder, plus the folders,
    hosts and applications given on the command line (no --allow-host: any host)."""
    for folder in [*read, *write]:
        if not folder.is_dir():
            raise typer.BadParameter(f"{folder} is not a folder",
                                     param_hint="--allow-read/--allow-write")
    folders = tuple(AllowedFolder(f.resolve(), False) for f in read)
    folders += tuple(AllowedFolder(f.resolve(), True) for f in write)
    return Policy(folders=folders, hosts=tuple(hosts) if hosts else None, apps=apps or {})


def parse_apps(pairs: list[str]) -> dict[str, tuple[str, ...]]:
    """--allow-app NAME=COMMAND: the command split as a shell would (shlex), its program an
    absolute path (so PATH cannot change what runs), as a worker's `apps:`."""
    apps: dict[str, tuple[str, ...]] = {}
    for pair in pairs:
        name, sep, command = pair.partition("=")
        try:
            parts = tuple(shlex.split(command))
        except ValueError as err:
            raise typer.BadParameter(f"'{pair}': {err}", param_hint="--allow-app") from None
        if not sep or not name.strip() or not parts:
            raise typer.BadParameter(f"'{pair}' is not NAME=COMMAND, e.g. "
                                     "calc=/usr/bin/xcalc", param_hint="--allow-app")
        if not parts[0].startswith("/"):
            raise typer.BadParameter(f"'{pair}': the program must be an absolute path, not "
                                     f"'{parts[0]}'", param_hint="--allow-app")
        apps[name.strip()] = parts
    return apps


@contextlib.contextmanager
def run_display(plan: Plan, choice: str | None) -> Iterator[None]:
    """The screen a desktop robot runs on: --display (xvfb or :N), else $DISPLAY, else a
    virtual screen of its own (said on the console), stopped when the run ends. A robot with
    no desktop steps gets one only when --display asks."""
    if choice is None and LIBRARY_NEEDS["desktop"] not in worker_needs(plan):
        yield
        return
    if choice is None:
        choice = "" if os.environ.get("DISPLAY") else "xvfb"
    if choice not in ("", "xvfb") and not re.fullmatch(r"[\w.-]*:\d+(\.\d+)?", choice):
        raise typer.BadParameter(f"'{choice}' must be xvfb or a display such as :0",
                                 param_hint="--display")
    saved = {name: os.environ.get(name) for name in ("DISPLAY", "XAUTHORITY")}
    screen = None
    try:
        if choice == "xvfb":
            from libs import xvfb

            try:
                screen = xvfb.start()
            except xvfb.NoXvfb as err:
                err_console.print(f"{err}; or give --display :N for a screen of this machine")
                raise typer.Exit(2) from None
            if os.environ.get("DISPLAY") is None:
                console.print(f"no DISPLAY: running on a virtual screen {screen.display}")
            else:
                console.print(f"running on a virtual screen {screen.display}")
            os.environ.update(screen.env())
        elif choice:
            os.environ["DISPLAY"] = choice
        yield
    finally:
        if screen is not None:
            screen.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _run_and_show(plan: Plan, out: Path, inputs: dict[str, str],
                  creds: CredentialsFile, headed: bool, verbose: bool,
                  env: dict[str, str] | None = None, policy: Policy | None = None,
                  skip_items: frozenset[str] = frozenset()) -> RunResult:
    with ConsoleReporter(console, verbose) as reporter:
        result = Runner(plan, output_dir=out, inputs=inputs, credentials=creds.fields,
                        credential_hosts=creds.hosts, sinks=[reporter], headed=headed,
                        env=env, policy=policy, skip_items=skip_items).run()
    if result.error and result.error.get("problems"):
        for line in result.error["problems"]:
            err_console.print(escape(line), highlight=False, soft_wrap=True)
    console.print(summary(result, out))
    console.print(f"[dim]result: {escape(str(out / 'result.json'))}[/]", highlight=False)
    return result


@app.command()
def check(
    robots: Annotated[list[Path], typer.Argument(help="robot (or schedule) files to check")],
    plan: Annotated[bool, typer.Option(help="print the plan of each valid robot")] = False,
) -> None:
    """Check robot files (and schedules/*.yaml); every problem as file:line:col; exit 1 if any."""
    bad = skipped = 0
    for path in robots:
        if looks_like_credentials(path):
            console.print(f"{path}: skipped, a credentials file, not a robot (give it to "
                          f"workhand run --credentials {path})", soft_wrap=True)
            skipped += 1
            continue
        try:
            if path.parent.name == "schedules":
                from orchestrator.schedules import check_files

                check_files([path], _robot_ids(path.parent.parent / "robots"))
                continue
            checked = check_file(path)
        except RobotFileError as err:
            _problems(err)
            bad += 1
            continue
        if plan:
            console.print(checked)
    checked_count = len(robots) - skipped
    if bad:
        err_console.print(f"{bad} of {checked_count} robot file(s) have problems")
        raise typer.Exit(1)
    console.print(f"[green]{checked_count} robot file(s) OK[/]")


@app.command()
def items(
    run_folder: Annotated[Path, typer.Argument(help="a run's output folder (or its result.json)")],
    outcome: Annotated[str | None, typer.Option(
        help="only items with this outcome: done, business_exception, system_error, skipped")]
    = None,
) -> None:
    """Every work item of a run with its whole message (the summary shows the first 20)."""
    path = run_folder / "result.json" if run_folder.is_dir() else run_folder
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        records = [ItemRecord(**item) for item in data.get("work_items", [])]
    except (OSError, ValueError, TypeError) as err:
        err_console.print(f"{escape(str(path))}: cannot read the run's result ({err}); give the "
                          "folder `workhand run` printed, e.g. output/my-robot-20261203-101500",
                          highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    for line in item_lines(records, outcome):
        console.print(line, highlight=False, soft_wrap=True)


def _robot_ids(folder: Path) -> set[str] | None:
    """The ids of the robots beside schedules/ (None when there is no robots/ to check against)."""
    if not folder.is_dir():
        return None
    ids = set()
    for path in folder.glob("*.yaml"):
        try:
            ids.add(check_file(path).robot)
        except RobotFileError:
            continue
    return ids


@app.command()
def steps(
    markdown: Annotated[bool, typer.Option(help="print the reference as Markdown")] = False,
    library: Annotated[str | None, typer.Option(help="only this library")] = None,
) -> None:
    """The step reference (generated from the step declarations)."""
    if markdown:
        sys.stdout.write(steps_markdown())
        return
    table = Table("step", "arguments", "what it does")
    for name, spec in sorted(load_libraries().items()):
        if library and spec.library != library:
            continue
        params = ", ".join(f"{p}{'*' if f.is_required() else ''}" for p, f in spec.params.items())
        table.add_row(name, params + (" → into" if spec.returns else ""), spec.summary)
    console.print(table)
    console.print("[dim]* required · details: workhand steps --markdown (docs/steps.md)[/]")


@app.command()
def schema(output: Annotated[Path | None, typer.Option(help="write to this file")] = None) -> None:
    """The JSON Schema of robot files (for VS Code: see docs/editor.md)."""
    text = json.dumps(robot_schema(), ensure_ascii=False, indent=2) + "\n"
    if output:
        output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


SKELETON = """\
robot: {name}
title: {title}
description: What this robot does, in one sentence.
savings:
  minutes_per_item: 5       # a person's minutes per item the robot completes
  minutes_per_run: 0
  review_minutes: 2         # a person's minutes per item handed back
inputs:
  rows: {{type: path, default: data/{name}.csv, description: the items to process}}
settings:
  timeout: 30s
  browser: {{headless: true}}
steps:
  - csv.read_rows: {{path: "${{inputs.rows}}", into: rows}}
  - for_each: "${{rows}}"
    as: row
    work_item: "${{row.id}}"
    retry: {{attempts: 2, delay: 2s}}
    steps:
      - log: "processing ${{row.id}}"
      - if: "${{row.amount == ''}}"
        then:
          - fail_item: "no amount for ${{row.id}}"
"""


@app.command()
def new(
    name: Annotated[str, typer.Argument(help="robot id: lower-case words joined by '-'")],
    folder: Annotated[Path, typer.Option(help="where to create it")] = Path("robots"),
) -> None:
    """Create a working robot skeleton (and a sample data file) to start from."""
    from libs.checker import ROBOT_ID

    if not ROBOT_ID.match(name):
        err_console.print(f"'{escape(name)}' is not a robot id: use lower-case letters and "
                          "digits joined by '-', e.g. daily-check")
        raise typer.Exit(2)
    path = folder / f"{name}.yaml"
    if path.exists():
        err_console.print(f"{escape(str(path))} already exists; choose another name")
        raise typer.Exit(2)
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(SKELETON.format(name=name, title=name.replace("-", " ")), encoding="utf-8")
    data = folder / "data" / f"{name}.csv"
    if not data.exists():
        data.parent.mkdir(parents=True, exist_ok=True)
        data.write_text("id,amount\nA-001,100.00\nA-002,\n", encoding="utf-8")
    console.print(f"created {escape(str(path))} and {escape(str(data))}; "
                  f"try: workhand run {escape(str(path))}")


@app.command()
def demo(
    serve: Annotated[bool, typer.Option(help="keep the demo systems running afterwards")] = False,
    port: Annotated[int, typer.Option(help="web port of the demo systems (0: any free)")] = 0,
    robots: Annotated[Path, typer.Option(help="folder of the example robots")] = Path("robots"),
    output: Annotated[Path, typer.Option(help="where the runs' results go")] = Path("output/demo"),
    headed: Annotated[bool, typer.Option(help="show the browser window")] = False,
) -> None:
    """Start the demo bank systems and run the example robots (S1–S3) against them."""
    import os

    from workhand.demo.server import start

    examples = sorted(robots.glob("s[0-9]*.yaml"))
    creds = load_credentials(robots / "credentials" / "demo.yaml")
    rows: list[RunResult] = []
    with start(port=port, smtp_port=0 if port == 0 else port + 25) as systems:
        env = {**os.environ, **systems.env()}
        console.rule("demo bank systems")
        for name, url in sorted(systems.env().items()):
            console.print(f"  {name:<20} {url}", highlight=False)
        for path in examples:
            console.rule(escape(path.name))
            try:
                plan = check_file(path)
            except RobotFileError as err:
                _problems(err)
                raise typer.Exit(2) from None
            rows.append(_run_and_show(plan, output / plan.robot, {}, creds, headed, False, env))
        table = Table("robot", "status", "items", "done", "business exc.", "system err.",
                      "minutes saved", title="Example robots against the demo bank systems")
        for result in rows:
            c = result.counts
            table.add_row(result.robot, result.status, str(c["total"]), str(c["done"]),
                          str(c["business_exceptions"]), str(c["system_errors"]),
                          f"{result.minutes_saved:g}")
        console.print(table)
        if serve:
            console.print(f"demo systems running at {systems.base_url}; Ctrl+C to stop")
            import time

            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
    if any(result.status != "passed" for result in rows):
        raise typer.Exit(1)


def main() -> None:  # pragma: no cover - console entry point
    app()


def _mount_server_commands() -> None:
    """up, serve, token, user, status (orchestrator) and worker: their own modules, one
    command line."""
    from workhand import server_cli, user_cli

    app.registered_commands += server_cli.app.registered_commands
    app.registered_commands += user_cli.app.registered_commands
    try:
        from workhand import worker_cli
    except ImportError:  # pragma: no cover - the worker is being built
        return
    app.registered_commands += worker_cli.app.registered_commands


_mount_server_commands()
