"""`workhand user create | passwd | disable | enable | list`: the console's people.

Works on the data folder's database directly, as `workhand token` does; each change is an
entry in the audit log (actor: the machine account that ran the command)."""

from __future__ import annotations

import getpass
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from orchestrator.models import User
from orchestrator.refusals import Refusal
from orchestrator.roles import PEOPLE_ROLES, Role
from orchestrator.settings import Settings

app = typer.Typer(add_completion=False)
console = Console()
ACTIONS = ("create", "passwd", "disable", "enable", "list")


def _operator() -> str:
    try:
        return f"{getpass.getuser()} (command line)"
    except (KeyError, OSError):  # no name for this uid (a container)
        return f"uid {os.getuid()} (command line)"


@app.command("user")
def user(action: Annotated[str, typer.Argument(help="create, passwd, disable, enable or list")],
         name: Annotated[str | None, typer.Argument(help="the user's name")] = None,
         role: Annotated[Role | None, typer.Option(
             help="create: admin, operator, author, reviewer or viewer")] = None,
         language: Annotated[str, typer.Option(help="create: zh or en")] = "zh",
         password_stdin: Annotated[bool, typer.Option(
             "--password-stdin", help="create/passwd: read the password from standard input "
                                      "instead of making a one-time password")] = False,
         data: Annotated[Path, typer.Option("--data", help="the orchestrator's data folder")]
         = Path(".workhand"),
         database: Annotated[str | None, typer.Option("--database", help="database URL")]
         = None) -> None:
    """Create a console user, set a new password (a one-time one, printed once, unless
    --password-stdin), disable or enable one, or list them."""
    from orchestrator import audit, people
    from orchestrator.db import make_engine, migrate, session_factory

    if action not in ACTIONS:
        raise typer.BadParameter(f"the actions are {', '.join(ACTIONS)}", param_hint="ACTION")
    if action != "list" and not name:
        raise typer.BadParameter("give the user's name", param_hint="NAME")
    if action == "create" and (role is None or role not in PEOPLE_ROLES):
        raise typer.BadParameter("give the user's role: " + ", ".join(PEOPLE_ROLES),
                                 param_hint="--role")
    password = typer.get_text_stream("stdin").readline().rstrip("\n") if password_stdin \
        else None
    engine = make_engine(Settings(data_dir=data, database_url=database or "").database_url)
    migrate(engine)
    try:
        with session_factory(engine).begin() as session:
            if action == "list":
                _show(people.list_users(session))
                return
            assert name is not None
            if action == "create" and role is not None:
                _, made = people.create_user(session, name, role, password, language=language)
                shown = f"user '{name}' ({role.value}) created"
            else:
                found = people.get_user(session, name)
                if action == "passwd":
                    made = people.set_password(session, found, password)
                    shown = f"user '{name}' has a new password; their sessions have ended"
                else:
                    people.set_disabled(session, found, action == "disable")
                    made, shown = "", f"user '{name}' is {action}d"
            audit.record(session, actor=_operator(), kind="cli", action=f"user {action}",
                         object=f"user {name}")
    except Refusal as err:
        console.print(f"[red]{escape(str(err))}[/]")
        raise typer.Exit(2) from None
    finally:
        engine.dispose()
    console.print(escape(shown))
    if password is None and action in ("create", "passwd"):
        console.print(f"one-time password (shown once; replaced at the first sign-in): "
                      f"[bold]{escape(made)}[/]")


def _show(users: list[User]) -> None:
    table = Table("name", "role", "language", "state", "created", title="console users")
    for row in users:
        table.add_row(escape(row.name), row.role, row.language,
                      "disabled" if row.disabled else "active", str(row.created)[:19])
    console.print(table)
