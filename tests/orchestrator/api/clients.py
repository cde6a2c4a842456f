"""An app with one robot deployed and a token of every role, for the API tests."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from fastapi.testclient import TestClient

from orchestrator import deploy
from orchestrator.app import create_app
from orchestrator.auth import create_token
from orchestrator.roles import Role
from orchestrator.settings import Settings


@contextmanager
def robot_served(tmp_path: Path, db_url: str, name: str, text: str,
                 worker_labels: Sequence[str] = ()) -> Iterator[TestClient]:
    """The robot file `name`.yaml deployed; tokens in app.state.tokens (the worker's is bound
    to worker w1, with worker_labels); the robot's folder in app.state.robot_dir."""
    app = create_app(Settings(data_dir=tmp_path / "data", database_url=db_url), services=False)
    (tmp_path / f"{name}.yaml").write_text(text, encoding="utf-8")
    with app.state.sessions.begin() as session:
        deploy.deploy_robot(session, tmp_path / f"{name}.yaml")
        app.state.tokens = {role: create_token(session, role) for role in Role
                            if role is not Role.WORKER}
        app.state.tokens[Role.WORKER] = create_token(session, Role.WORKER, worker="w1",
                                                     labels=list(worker_labels))
    app.state.robot_dir = tmp_path
    with TestClient(app) as test_client:
        yield test_client


def auth(client: TestClient, role: Role) -> dict[str, str]:
    return {"Authorization": f"Bearer {client.app.state.tokens[role]}"}  # type: ignore[attr-defined]
