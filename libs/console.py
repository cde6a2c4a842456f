"""Live progress in the terminal (current step, a bar over work items) and the final summary."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from libs.events import OPTIONAL_FAILED, RunEvent
from libs.run_result import ItemRecord, RunResult

OUTCOME_STYLE = {"done": "green", "business_exception": "yellow", "system_error": "red",
                 "skipped": "dim", "passed": "green", "failed": "red", "in_review": "cyan"}


class ConsoleReporter:
    """An event sink that draws progress with rich; safe when output is not a terminal."""

    def __init__(self, console: Console | None = None, verbose: bool = False) -> None:
        self.console = console or Console()
        self.verbose = verbose
        self.progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                                 MofNCompleteColumn(), TimeElapsedColumn(), console=self.console,
                                 transient=True)
        self.step_task: TaskID | None = None
        self.items_task: TaskID | None = None
        self.failed_at: str | None = None  # the last failed step, as file:line:col

    def __enter__(self) -> ConsoleReporter:
        self.progress.start()
        self.step_task = self.progress.add_task("starting", total=None)
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def __call__(self, event: RunEvent) -> None:
        out = self.progress.console
        if event["type"] == "step.start":
            if self.step_task is not None:
                shown = event["label"] or event["name"]
                self.progress.update(self.step_task, description=f"[bold]{shown}[/] "
                                     f"[dim]{event['step']}[/]")
        elif event["type"] == "step.end":
            error = event.get("error")
            if event["outcome"] != "passed":
                if error is not None and error["kind"] == "business":
                    return  # the work item's own line says it
                message = "" if error is None else error["message"]
                # a step's own errors begin with its name: say it once
                message = message.removeprefix(f"{event['name']}: ")
                out.print(f"[red]✗[/] {event['step']} {event['label'] or event['name']}: "
                          f"{escape(message)}", highlight=False)
                self.failed_at = event["step"]
            elif self.verbose:
                out.print(f"[green]✓[/] {event['label'] or event['name']} "
                          f"[dim]{event['duration_ms']:.0f} ms[/]", highlight=False)
        elif event["type"] == "loop.start" and event["work_items"]:
            if self.items_task is None:
                self.items_task = self.progress.add_task("work items", total=event["total"])
            else:
                self.progress.update(self.items_task, total=event["total"], completed=0)
        elif event["type"] == "item.end":
            style = OUTCOME_STYLE.get(event["outcome"], "white")
            if self.items_task is not None:
                self.progress.advance(self.items_task)
            if event["outcome"] != "done" or self.verbose:
                note = f": {escape(event['message'])}" if event["message"] else ""
                out.print(f"[{style}]●[/] item {escape(event['item'])} "
                          f"[{style}]{event['outcome']}[/]{note}", highlight=False)
        elif event["type"] == "item.skipped":  # done in an earlier run (a retry of failed items)
            if self.items_task is not None:
                self.progress.advance(self.items_task)
            if self.verbose:
                out.print(f"[dim]○ item {escape(event['item'])} skipped: "
                          f"{escape(event['message'])}[/]", highlight=False)
        elif event["type"] == "log":
            if event.get("step") == self.failed_at and \
                    str(event["message"]).startswith(OPTIONAL_FAILED):
                # the ✗ line just said why: only say the robot goes on
                out.print("[yellow]›[/] optional step: the robot goes on", highlight=False)
                return
            style = {"warning": "yellow", "error": "red"}.get(event["level"], "cyan")
            out.print(f"[{style}]›[/] {escape(str(event['message']))}", highlight=False)
        elif event["type"] == "wait.end" and event["met"] and self.verbose:  # a give-up is
            # printed as its step's error
            out.print(f"[green]✓[/] {escape(event['condition'])} [dim]after "
                      f"{event['waited_s']:.1f} s, {event['checks']} check(s)[/]", highlight=False)
        elif event["type"] == "retry":
            out.print(f"[yellow]↻ retry {event['attempt'] + 1} in {event['next_in_s']:.1f}s:"
                      f"[/] {escape(event['message'])}", highlight=False)

def summary(result: RunResult, output_dir: Path | None = None) -> Table:
    """The table printed at the end of `workhand run` (files shown in output_dir)."""
    counts = result.counts
    style = OUTCOME_STYLE.get(result.status, "white")
    table = Table(title=f"{result.robot} — {result.title}" if result.title else result.robot,
                  show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    table.add_row("status", f"[{style}]{result.status}[/]")
    table.add_row("duration", f"{result.duration_s:.1f} s")
    if counts["total"]:
        table.add_row("work items", f"{counts['total']} total · [green]{counts['done']} done[/] · "
                      f"[yellow]{counts['business_exceptions']} business exceptions[/] · "
                      f"[red]{counts['system_errors']} system errors[/]"
                      + (f" · {counts['skipped']} skipped (done in an earlier run)"
                         if counts.get("skipped") else ""))
    table.add_row("minutes saved", f"{result.minutes_saved:g}")
    if result.error:
        table.add_row("error", f"[red]{escape(result.error.get('message', ''))}[/]")
        if result.error.get("screenshot"):  # named relative to the run's output folder
            shot = Path(str(result.error["screenshot"]))
            table.add_row("screenshot", escape(str(shot if output_dir is None
                                                   else output_dir / shot)))
    problems = [i for i in result.work_items if i.outcome not in ("done", "skipped")]
    for item in problems[:SHOWN_ITEMS]:
        table.add_row(f"  {escape(item.id)}", f"[{OUTCOME_STYLE[item.outcome]}]{item.outcome}[/] "
                      f"{escape(item.message)}")
    if len(problems) > SHOWN_ITEMS:
        where = escape(str(output_dir)) if output_dir is not None else "RUN_FOLDER"
        table.add_row("", f"… and {len(problems) - SHOWN_ITEMS} more: "
                          f"[bold]workhand items {where}[/] lists them all")
    return table


SHOWN_ITEMS = 20
"""Work items with a problem shown in the summary; `workhand items` shows every one."""


def item_lines(items: list[ItemRecord], outcome: str | None = None) -> list[str]:
    """Every work item of a run, one line each with its whole message (`workhand items`): a
    line, not a table cell, so a long message is neither cut nor wrapped into borders."""
    lines = []
    for item in items:
        if outcome is None or item.outcome == outcome:
            style = OUTCOME_STYLE.get(item.outcome, "white")
            tries = f" [dim]({item.attempts} attempts)[/]" if item.attempts > 1 else ""
            lines.append(f"{escape(item.id)}  [{style}]{item.outcome}[/]{tries}  "
                         f"{escape(item.message)}")
    return lines
