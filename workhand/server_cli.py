"""`workhand up | serve | token | status`: the orchestrator from the command line."""

from __future__ import annotations

import logging
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from orchestrator.auth import create_token
from orchestrator.roles import Role
from orchestrator.settings import Settings, write_private
from orchestrator.worker_settings import WorkerSettings

app = typer.Typer(add_completion=False)
console = Console()
ADMIN_TOKEN_FILE = "admin.token"
DEMO_VOUCHERS = 10  # S4's batch under `workhand up` (30 % of them planted with a mismatch)

DataOption = Annotated[Path, typer.Option("--data", help="the orchestrator's data folder")]
DatabaseOption = Annotated[str | None, typer.Option(
    "--database", help="database URL (default: SQLite in the data folder), e.g. "
                       "postgresql://user@host/db")]


def _logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for noisy in ("mail.log", "alembic", "httpx", "httpcore", "uvicorn.error"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _settings(data: Path, database: str | None) -> Settings:
    return Settings(data_dir=data, database_url=database or "")


def _uvicorn(fastapi_app: Any, host: str, port: int) -> Any:
    import gc

    import uvicorn

    # What is loaded by now (the app, SQLAlchemy's and pydantic's machinery: a few hundred
    # thousand objects) lives as long as the process: frozen, the collector stops walking it
    # in every full collection; young collections every 10,000 allocations, not 700, since a
    # request makes thousands of short-lived objects (bench/fleet.py: CPU per request)
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 20)

    # Workers call every few seconds; uvicorn's default keep-alive (5 s) would have most of
    # their calls open a new TCP connection (bench/fleet.py: 1,600 a minute at 200 robots).
    config = uvicorn.Config(fastapi_app, host=host, port=port, log_level="warning",
                            access_log=False, timeout_keep_alive=75)
    return uvicorn.Server(config)


def _inherited_socket(fd: int) -> socket.socket:
    """The socket a parent process bound for us and handed down as file descriptor fd
    (subprocess pass_fds, systemd): its address is taken as it is, so nothing else can have
    been given that port between its choice and our start."""
    try:
        sock = socket.socket(fileno=fd)  # family and type read from the descriptor
    except OSError as err:
        raise typer.BadParameter(f"file descriptor {fd} is not an open socket ({err.strerror})",
                                 param_hint="--fd") from None
    if sock.type != socket.SOCK_STREAM or sock.family not in (socket.AF_INET, socket.AF_INET6):
        sock.detach()
        raise typer.BadParameter(f"file descriptor {fd} is not a TCP socket", param_hint="--fd")
    return sock


@app.command()
def serve(port: Annotated[int, typer.Option(help="HTTP port")] = 8700,
          host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
          fd: Annotated[int | None, typer.Option(
              help="serve on this inherited TCP socket, bound by the parent process (--host "
                   "and --port are then not used)")] = None,
          data: DataOption = Path(".workhand"), database: DatabaseOption = None,
          robots: Annotated[Path | None, typer.Option(
              help="deploy the robots in this folder at start (new versions of changed ones)")
          ] = None,
          schedules: Annotated[Path | None, typer.Option(
              help="load the schedules in this folder at start (replacing those loaded from it "
                   "before; several orchestrators may do it at once)")] = None) -> None:
    """Run the orchestrator alone (API, scheduler, lease reaper); workers connect to it."""
    from orchestrator import people
    from orchestrator.app import create_app

    _logging()
    inherited = None if fd is None else _inherited_socket(fd)
    fastapi_app = create_app(_settings(data, database))
    deployed, schedule_count = _deploy_all(fastapi_app, robots, schedules)
    with fastapi_app.state.sessions.begin() as session:
        first_password = people.first_admin(session)
    if robots is not None or schedules is not None:
        console.print(f"deployed {len(deployed)} robot(s) from {robots or '-'}, "
                      f"{schedule_count} schedule(s) from {schedules or '-'}")
    server = _uvicorn(fastapi_app, host, port)
    if inherited is not None:
        host, port = inherited.getsockname()[:2]
    console.print(f"orchestrator on http://{host}:{port}/api/v1 (docs: /docs), console on "
                  f"http://{host}:{port}/console/")
    _show_first_admin(first_password)
    # uvicorn's own fd= option would take any socket as a Unix one (no TCP_NODELAY)
    server.run(sockets=None if inherited is None else [inherited])


@app.command("token")
def token(action: Annotated[str, typer.Argument(help="create, list or revoke")],
          token_id: Annotated[int | None, typer.Argument(
              metavar="[ID]", help="revoke: the token's id (from `workhand token list`)")] = None,
          role: Annotated[Role | None, typer.Option(
              help="create: admin, operator, author, reviewer, viewer or worker")] = None,
          name: Annotated[str, typer.Option(help="create: who or what will use it")] = "",
          worker: Annotated[str | None, typer.Option(
              help="create --role worker: the one worker name this token acts as")] = None,
          labels: Annotated[str, typer.Option(
              help="create --role worker: the labels it is granted, e.g. desktop,restricted "
                   "(jobs needing others never reach it)")] = "",
          data: DataOption = Path(".workhand"), database: DatabaseOption = None) -> None:
    """Create an API token (printed once; only its hash is stored), list tokens, or revoke one.

    Works on the data folder's database directly; a running orchestrator refuses a token
    revoked here within 5 s (POST /api/v1/tokens/ID/revoke refuses it at once)."""
    from orchestrator.auth import list_tokens, new_token, revoke_token
    from orchestrator.db import make_engine, migrate, session_factory
    from orchestrator.refusals import Refusal

    if action not in ("create", "list", "revoke"):
        raise typer.BadParameter("the actions are create, list and revoke", param_hint="ACTION")
    if action == "create" and role is None:
        raise typer.BadParameter("give the token's role, e.g. --role worker --worker NAME",
                                 param_hint="--role")
    if action == "revoke" and token_id is None:
        raise typer.BadParameter("give the id of the token to revoke (workhand token list)",
                                 param_hint="ID")
    engine = make_engine(_settings(data, database).database_url)
    migrate(engine)
    try:
        with session_factory(engine).begin() as session:
            if action == "create" and role is not None:
                granted = [part.strip() for part in labels.split(",") if part.strip()]
                typer.echo(new_token(session, role, name, worker=worker, labels=granted)[1])
            elif action == "revoke" and token_id is not None:
                row = revoke_token(session, token_id)
                typer.echo(f"token {row.id} ({row.role} '{row.name}') is revoked")
            else:
                _show_tokens(list_tokens(session))
    except Refusal as err:
        console.print(f"[red]{escape(str(err))}[/]")
        raise typer.Exit(2) from None
    finally:
        engine.dispose()


def _show_tokens(rows: list[Any]) -> None:
    table = Table("id", "name", "role", "worker", "labels", "created", "revoked",
                  title="API tokens")
    for row in rows:
        table.add_row(str(row.id), escape(row.name), row.role, escape(row.worker or ""),
                      escape(", ".join(row.labels or [])), str(row.created)[:19],
                      "revoked" if row.revoked else "")
    console.print(table)


def _deploy_all(fastapi_app: Any, robots: Path | None, schedules: Path | None
                ) -> tuple[list[str], int]:
    """Deploy a robots folder and load a schedules folder (either may be None). A robot or
    schedule with problems stops the command with every problem listed, before anything runs."""
    from libs.errors import RobotFileError
    from orchestrator import deploy
    from orchestrator import schedules as schedule_files

    try:
        deployed: list[str] = []
        if robots is not None:
            with fastapi_app.state.sessions.begin() as session:
                deployed = [v.robot for v in deploy.deploy_folder(session, robots)]
        if schedules is None:
            return deployed, 0
        with fastapi_app.state.sessions() as session:
            known = schedule_files.deployed_robots(session)  # earlier API deployments count too
        specs = schedule_files.load_schedules(schedules, known_robots=known)
    except RobotFileError as err:
        for problem in err.problems:
            console.print(escape(str(problem)), style="red", soft_wrap=True)
        raise typer.Exit(2) from None
    with fastapi_app.state.sessions.begin() as session:
        schedule_files.sync(session, specs, str(schedules))
    return deployed, len(specs)


@app.command()
def up(port: Annotated[int, typer.Option(help="orchestrator HTTP port")] = 8700,
       data: DataOption = Path(".workhand"),
       robots: Annotated[Path, typer.Option(help="robots to deploy")] = Path("robots"),
       schedules: Annotated[Path, typer.Option(help="schedules to load")] = Path("schedules"),
       examples: Annotated[bool, typer.Option(help="start one run of each example robot")] = True,
       demo_port: Annotated[int, typer.Option(help="demo bank systems' port")] = 8800) -> None:
    """Everything on one machine: orchestrator, scheduler, a local worker, demo systems.

    SQLite in the data folder; robots/ and schedules/ are deployed; Ctrl+C stops it all."""
    from libs.credentials import load_credentials
    from orchestrator import people, vault
    from orchestrator.app import create_app
    from orchestrator.worker import run_worker
    from orchestrator.worker_display import DESKTOP
    from workhand.demo.server import start

    _logging()
    settings = _settings(data, None)
    demo = start(port=demo_port, smtp_port=demo_port + 25)
    robots_may = local_worker_settings(demo.env(), settings.data_dir)
    fastapi_app = create_app(settings)
    deployed, schedule_count = _deploy_all(fastapi_app, robots, schedules)
    with fastapi_app.state.sessions.begin() as session:
        demo_credentials = robots / "credentials" / "demo.yaml"
        if demo_credentials.is_file():
            demo_file = load_credentials(demo_credentials)
            for cred, fields in demo_file.fields.items():
                vault.put(session, settings, cred, {k: str(v) for k, v in fields.items()},
                          hosts=demo_file.hosts.get(cred))
        admin = create_token(session, Role.ADMIN, "workhand up")
        first_password = people.first_admin(session)
        # granted desktop: the local worker runs desktop robots when it has a display (a
        # virtual screen each where Xvfb is installed: orchestrator/worker_display.py)
        worker_token = create_token(session, Role.WORKER, "local worker", worker="local",
                                    labels=[DESKTOP])
    write_private(settings.data_dir / ADMIN_TOKEN_FILE, admin + "\n")  # 0600 from the start
    server = _uvicorn(fastapi_app, "127.0.0.1", port)
    threading.Thread(target=server.run, name="orchestrator", daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    url = f"http://127.0.0.1:{port}"
    stop = threading.Event()
    threading.Thread(target=run_worker, name="local-worker", daemon=True,
                     kwargs={"server": url, "token": worker_token, "name": "local",
                             "labels": [], "work_dir": runs_folder(settings.data_dir),
                             "stop": stop, "settings": robots_may,
                             "protected": [settings.data_dir]}).start()
    if examples:
        headers = {"Authorization": f"Bearer {admin}"}
        started = [httpx.post(f"{url}/api/v1/jobs", json={"robot": robot}, headers=headers,
                              timeout=10).json()["id"] for robot in deployed]
        threading.Thread(target=_show_when_done, args=(url, headers, started, stop),
                         name="example-results", daemon=True).start()
    console.rule("Workhand is up")
    console.print(f"  console        {url}/console/")
    _show_first_admin(first_password)
    console.print(f"  orchestrator   {url}/api/v1   (API docs {url}/docs)")
    console.print(f"  demo systems   {demo.base_url}/")
    console.print(f"  robots         {', '.join(deployed)}")
    console.print(f"  schedules      {schedule_count} from {schedules}/")
    console.print(f"  admin token    in {settings.data_dir / ADMIN_TOKEN_FILE}")
    console.print("  status         workhand status   ·   stop: Ctrl+C")
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        console.print("stopping…")
    finally:
        stop.set()
        server.should_exit = True
        demo.stop()


def _show_first_admin(password: str | None) -> None:
    if password is None:
        console.print("  sign in        as a console user (workhand user list; a forgotten "
                      "password: workhand user passwd NAME)")
    else:
        console.print(f"  sign in        as [bold]admin[/], one-time password [bold]{password}[/] "
                      "(shown once; choose your own at the first sign-in)")


def local_worker_settings(demo_env: dict[str, str], data_dir: Path) -> WorkerSettings:
    """What `workhand up`'s local worker lets robots reach: the demo systems
    (${env.ACCOUNT_SYSTEM_URL}, ...) and no other variable of this process's environment; for
    S4 a batch of scanned vouchers (generated once, read only, ${env.VOUCHER_FOLDER}); for S5
    the desktop filing client (apps: filing), whose own records are kept beside the data
    folder."""
    from libs.policy import AllowedFolder
    from workhand.demo.vouchers import generate

    data_dir = data_dir.resolve()
    vouchers = data_dir.with_name(f"{data_dir.name}-vouchers")
    if not (vouchers / "truth.json").is_file():
        generate(vouchers, DEMO_VOUCHERS, seed=1)
    filing = data_dir.with_name(f"{data_dir.name}-filing")
    filing.mkdir(exist_ok=True)
    return WorkerSettings(
        env={**demo_env, "VOUCHER_FOLDER": str(vouchers)},
        folders=(AllowedFolder(vouchers, False), AllowedFolder(filing, True)),
        apps={"filing": (sys.executable, "-m", "workhand.demo.filing", "--data", str(filing))})


def runs_folder(data_dir: Path) -> Path:
    """Where the local worker keeps bundles and runs: beside the data folder, never inside it
    (a robot's run folder is uploaded as artifacts; the data folder holds the vault key, the
    database and the admin token)."""
    data_dir = data_dir.resolve()
    return data_dir.with_name(f"{data_dir.name}-runs")


def _show_when_done(url: str, headers: dict[str, str], job_ids: list[int],
                    stop: threading.Event) -> None:
    """Print the example runs' results once they have all ended (what `workhand demo` shows)."""
    final = ("succeeded", "failed", "cancelled", "timed_out")
    views: list[dict[str, Any]] = []
    while not stop.wait(2):
        try:
            views = [httpx.get(f"{url}/api/v1/jobs/{i}", headers=headers, timeout=10).json()
                     for i in job_ids]
        except httpx.HTTPError:
            continue
        if all(v.get("state") in final for v in views):
            break
    else:
        return
    table = Table("job", "robot", "state", "items", "done", "business exc.", "system err.",
                  "minutes saved", title="Example robots, run through the orchestrator")
    for v in views:
        result = v.get("result") or {}
        items = result.get("items") or {}
        table.add_row(str(v["id"]), v["robot"], v["state"], str(items.get("total", 0)),
                      str(items.get("done", 0)), str(items.get("business_exceptions", 0)),
                      str(items.get("system_errors", 0)), f"{result.get('minutes_saved', 0):g}")
    console.print(table)
    console.print("more: workhand status · stop: Ctrl+C")


@app.command()
def status(server: Annotated[str, typer.Option(help="orchestrator URL")] = "http://127.0.0.1:8700",
           token: Annotated[str | None, typer.Option(help="API token (default: the one "
                                                     "`workhand up` wrote)")] = None,
           data: DataOption = Path(".workhand")) -> None:
    """Workers, recent runs and the savings summary."""
    if token is None:
        path = data / ADMIN_TOKEN_FILE
        if not path.is_file():
            raise typer.BadParameter(f"give --token, or run `workhand up` first ({path})")
        token = path.read_text(encoding="utf-8").strip()
    client = httpx.Client(base_url=server, headers={"Authorization": f"Bearer {token}"},
                          timeout=10)
    try:
        workers = client.get("/api/v1/workers").raise_for_status().json()
        runs = client.get("/api/v1/jobs", params={"limit": 15}).raise_for_status().json()
        kpi = client.get("/api/v1/kpi", params={"by": "month"}).raise_for_status().json()
    except httpx.HTTPError as err:
        console.print(f"[red]cannot reach the orchestrator at {escape(server)}: "
                      f"{escape(str(err))}[/]")
        raise typer.Exit(1) from None
    table = Table("worker", "labels", "last seen", "slots", "jobs", title="Workers")
    for w in workers:
        table.add_row(w["name"], ", ".join(w["labels"]), str(w["last_seen"])[:19],
                      str(w["slots"] or "?"), ", ".join(map(str, w["running_jobs"])))
    console.print(table)
    table = Table("job", "robot", "state", "attempt", "items", "started", title="Recent runs")
    for j in runs:
        items = (j.get("result") or {}).get("items") or {}
        table.add_row(str(j["id"]), j["robot"], j["state"], str(j["attempt"]),
                      f"{items.get('done', 0)}/{items.get('total', 0)}" if items else "",
                      str(j["started"] or "")[:19])
    console.print(table)
    table = Table("robot", "runs", "success", "items done", "business exc.", "hours saved",
                  "FTE", "cost saved", title="Savings")
    for t in kpi.get("robots") or []:
        rate = t.get("success_rate")
        table.add_row(t["robot"], str(t.get("runs", 0)), "" if rate is None else f"{rate:.0%}",
                      str(t.get("items_done", 0)), str(t.get("business_exceptions", 0)),
                      f"{t.get('hours_saved', 0):.1f}", f"{t.get('fte', 0):.3f}",
                      f"{t.get('cost_saved', 0):,.0f}")
    console.print(table)
