"""Schemathesis against the orchestrator's own OpenAPI spec: malformed input never gets a 500.

Every operation is called with generated (often nonsensical) bodies, paths and queries, with an
admin token, on a real SQLite file with a deployed robot and a few jobs in it."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from orchestrator import deploy, jobs
from orchestrator.app import create_app
from orchestrator.auth import create_token
from orchestrator.roles import Role
from orchestrator.settings import Settings

ROBOT = "robot: fuzz-me\ncredentials: [bank]\nsteps:\n  - log: hi\n"


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory: pytest.TempPathFactory) -> schemathesis.schemas.BaseSchema:
    folder = tmp_path_factory.mktemp("fuzz")
    app = create_app(Settings(data_dir=folder / "data"), services=False)
    (folder / "fuzz-me.yaml").write_text(ROBOT, encoding="utf-8")
    with app.state.sessions.begin() as session:
        deploy.deploy_robot(session, folder / "fuzz-me.yaml")
        for _ in range(3):
            jobs.create_job(session, robot="fuzz-me")
        app.state.fuzz_headers = {"Authorization": f"Bearer {create_token(session, Role.ADMIN)}"}
        app.state.worker_headers = {
            "Authorization": f"Bearer {create_token(session, Role.WORKER, worker='w1')}"}
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    schema.app_state = app.state  # type: ignore[attr-defined]
    return schema


def test_no_operation_answers_500(fuzz_app: schemathesis.schemas.BaseSchema) -> None:
    # schemathesis' pytest plugin does not run under pytest 9, so each operation's case
    # strategy is driven by hypothesis directly.
    state = fuzz_app.app_state  # type: ignore[attr-defined]
    operations = [result.ok() for result in fuzz_app.get_all_operations()]
    assert len(operations) >= 15
    for operation in operations:
        is_worker = "workers" in (operation.tags or [])
        fuzz(operation, state.worker_headers if is_worker else state.fuzz_headers)


def fuzz(operation: Any, headers: dict[str, str]) -> None:
    @given(operation.as_strategy())
    @settings(max_examples=25, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def call(case: schemathesis.Case) -> None:
        if case.path == "/api/v1/lease" and isinstance(case.body, dict):
            case.body["wait_s"] = 0  # no long-polling in a fuzz test
        if isinstance(case.body, dict) and "worker" in case.body:
            case.body["worker"] = "w1"  # the worker token's own name: past the 403, deeper
        if (case.path_parameters or {}).get("token_id") in (1, 2):
            case.path_parameters["token_id"] = 3  # not the fuzzing tokens themselves
        case.call_and_validate(headers=headers, checks=[not_a_server_error])

    call()


def test_the_spec_lists_every_part(fuzz_app: schemathesis.schemas.BaseSchema) -> None:
    paths = set(fuzz_app.raw_schema["paths"])
    assert {"/api/v1/jobs", "/api/v1/jobs/{job_id}", "/api/v1/lease", "/api/v1/robots"} <= paths
