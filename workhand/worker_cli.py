"""`workhand worker`: run jobs for an orchestrator (mounted into workhand/cli.py)."""

from __future__ import annotations

import logging
import signal
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer

app = typer.Typer(add_completion=False)


@app.command()
def worker(
    server: Annotated[str, typer.Option(help="the orchestrator's URL, e.g. http://127.0.0.1:8000")],
    token: Annotated[str, typer.Option(
        envvar="WORKHAND_TOKEN",
        help="a worker token (workhand token create --role worker); prefer the WORKHAND_TOKEN "
             "environment variable, which other users of the machine cannot see in ps")],
    labels: Annotated[list[str] | None, typer.Option(
        "--labels", "--label",
        help="what this worker offers, e.g. desktop (repeat, or separate with commas); "
             "it only takes jobs whose labels it has (default: all its token grants)")] = None,
    name: Annotated[str | None, typer.Option(
        help="the worker's name (default: the one its token was created for)")] = None,
    slots: Annotated[int, typer.Option(
        min=1, max=100,
        help="robots this worker runs at once (desktop robots each on a virtual screen of "
             "their own; on a real screen, --display :0, one at a time)")] = 1,
    work_dir: Annotated[Path, typer.Option(
        help="where robot versions are cached and runs (events, screenshots, files) are kept")
    ] = Path(".workhand/worker"),
    settings_file: Annotated[Path | None, typer.Option(
        "--settings", help="a YAML file of what robots may reach: folders, hosts, env, "
                           "pass_env, chromium, sandbox, apps, display "
                           "(docs/orchestrator.md)")] = None,
    allow_folder: Annotated[list[str] | None, typer.Option(
        help="a folder robots may read (repeat); add :rw to let them write, e.g. "
             "/mnt/reports:rw")] = None,
    allow_host: Annotated[list[str] | None, typer.Option(
        help="a host robots may reach: a name, *.suffix or a network such as 10.0.0.0/8 "
             "(repeat; without any, every host)")] = None,
    env: Annotated[list[str] | None, typer.Option(
        help="NAME=value: a variable robots see as ${env.NAME} (repeat)")] = None,
    pass_env: Annotated[list[str] | None, typer.Option(
        help="a variable of this worker's environment robots may see as ${env.NAME} "
             "(repeat; the worker's other variables are never shown to robots)")] = None,
    chromium: Annotated[str | None, typer.Option(
        help="the Chromium program robots use (default /usr/bin/chromium or "
             "WORKHAND_CHROMIUM)")] = None,
    sandbox: Annotated[str | None, typer.Option(
        help="auto (bubblewrap when it works here, default), bubblewrap (required: the "
             "worker does not start without it) or off")] = None,
    display: Annotated[str | None, typer.Option(
        help="what desktop robots run on: xvfb (a virtual screen each; the default when Xvfb "
             "is installed), a screen of this machine such as :0 (one robot at a time), or "
             "none; with a display the worker also asks for desktop jobs, if its token grants "
             "the label")] = None,
    grace: Annotated[float | None, typer.Option(
        help="seconds running robots get to end after SIGTERM or Ctrl+C; then their jobs are "
             "handed back to run elsewhere, costing them no try (default 25, or the "
             "settings' grace)")] = None,
) -> None:
    """Lease jobs from the orchestrator and run them, each robot in a child process."""
    from orchestrator.sandbox import SandboxError
    from orchestrator.worker import WorkerError, run_worker
    from orchestrator.worker_settings import WorkerSettingsError, load, parse
    from orchestrator.worker_stop import Shutdown

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per request
    try:
        raw: dict[str, Any] = load(settings_file) if settings_file is not None else {}
        merged = _with_flags(raw, allow_folder, allow_host, env, pass_env, chromium, sandbox)
        if grace is not None:
            merged["grace"] = grace
        if display is not None:
            merged["display"] = display
        settings = parse(merged, str(settings_file) if settings_file else "the worker's "
                         "settings")
    except WorkerSettingsError as err:
        logging.getLogger("workhand.worker").error("%s", err)
        raise typer.Exit(2) from None
    wanted = [part.strip() for label in labels or [] for part in label.split(",")
              if part.strip()]
    if name is None or labels is None:  # the token says which worker it is for
        me = _whoami(server, token)
        name = name or me.get("worker")
        wanted = wanted if labels is not None else list(me.get("labels") or [])
    stop = Shutdown(settings.grace_s)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        how = signal.Signals(signum).name
        if stop.ask():
            logging.getLogger("workhand.worker").warning(
                "stopping (%s): leasing nothing more; running robots have %g s to end, then "
                "their jobs are handed back to run elsewhere (send it again, or press Ctrl+C, "
                "to hand them back now)", how, stop.grace_s)
        else:
            logging.getLogger("workhand.worker").warning(
                "stopping now (%s): running robots are stopped and their jobs handed back", how)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        run_worker(server, token, name=name, labels=wanted, work_dir=work_dir, stop=stop,
                   slots=slots, settings=settings)
    except (WorkerError, WorkerSettingsError, SandboxError) as err:
        logging.getLogger("workhand.worker").error("%s", err)
        raise typer.Exit(2) from None


def _with_flags(raw: dict[str, Any], folders: list[str] | None, hosts: list[str] | None,
                env: list[str] | None, pass_env: list[str] | None, chromium: str | None,
                sandbox: str | None) -> dict[str, Any]:
    """The settings file's map with the flags added: lists and maps extended, values
    replaced."""
    from orchestrator.worker_settings import WorkerSettingsError

    merged = dict(raw)
    if folders:
        extra = []
        for text in folders:
            path, writable = (text[:-3], True) if text.endswith(":rw") else (
                text.removesuffix(":ro"), False)
            extra.append({"path": path, "access": "read_write" if writable else "read"})
        merged["folders"] = [*(merged.get("folders") or []), *extra]
    if hosts:
        merged["hosts"] = [*(merged.get("hosts") or []), *hosts]
    if env:
        pairs = {}
        for text in env:
            key, sep, value = text.partition("=")
            if not sep:
                raise WorkerSettingsError(f"--env '{text}' must be NAME=value")
            pairs[key] = value
        merged["env"] = {**(merged.get("env") or {}), **pairs}
    if pass_env:
        merged["pass_env"] = [*(merged.get("pass_env") or []), *pass_env]
    if chromium is not None:
        merged["chromium"] = chromium
    if sandbox is not None:
        merged["sandbox"] = sandbox
    return merged


def _whoami(server: str, token: str) -> dict[str, Any]:
    """The worker name and labels the token was created for ({} when the server cannot say:
    the worker then starts with its defaults and the server's answers tell what is wrong)."""
    import httpx

    try:
        answer = httpx.get(f"{server.rstrip('/')}/api/v1/whoami", timeout=15,
                           headers={"Authorization": f"Bearer {token}"})
        found: dict[str, Any] = answer.json() if answer.status_code == 200 else {}
        return found
    except (httpx.HTTPError, ValueError) as err:
        logging.getLogger("workhand.worker").warning(
            "cannot ask %s which worker this token is for (%s)", server, err)
        return {}
