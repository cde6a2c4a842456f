"""`workhand worker`: run jobs for an orchestrator (mounted into workhand/cli.py)."""

from __future__ import annotations

import logging
import signal
import threading
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
        help="robots this worker runs at once (browser and API robots; a desktop robot needs "
             "the screen to itself: give such workers 1)")] = 1,
    work_dir: Annotated[Path, typer.Option(
        help="where robot versions are cached and runs (events, screenshots, files) are kept")
    ] = Path(".workhand/worker"),
) -> None:
    """Lease jobs from the orchestrator and run them, each robot in a child process."""
    from orchestrator.worker import WorkerError, run_worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per request
    wanted = [part.strip() for label in labels or [] for part in label.split(",")
              if part.strip()]
    if name is None or labels is None:  # the token says which worker it is for
        me = _whoami(server, token)
        name = name or me.get("worker")
        wanted = wanted if labels is not None else list(me.get("labels") or [])
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():  # asked twice: stop now
            raise KeyboardInterrupt
        logging.getLogger("workhand.worker").warning(
            "stopping: the running robot (if any) is stopped and reported; press Ctrl+C "
            "again to quit at once")
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        run_worker(server, token, name=name, labels=wanted, work_dir=work_dir, stop=stop,
                   slots=slots)
    except WorkerError as err:
        logging.getLogger("workhand.worker").error("%s", err)
        raise typer.Exit(2) from None


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
