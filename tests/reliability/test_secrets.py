"""No secret anywhere: a robot signs in with a password from the vault, copies it into a
variable and sends it as a header of a request that fails; afterwards the password's text is
searched for in every row of every table, the raw SQLite file and its WAL, every API answer,
the processes' output and every file the orchestrator and the worker wrote. Only the vault's
ciphertext holds it (encrypted)."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from sqlalchemy import inspect, select
from sqlalchemy import text as sql

from orchestrator.db import make_engine
from orchestrator.models import Credential

ROBOT = """robot: payer
credentials: [bank]
steps:
  - log: "signing in as ${credentials.bank.user}"
  - set: {copy: "${credentials.bank.password}"}
  - for_each: [P-1]
    as: row
    work_item: "${row}"
    steps:
      - try:
          - http.get: {url: "http://127.0.0.1:9/pay", headers: {X-Password: "${copy}"}}
        catch:
          - fail_item: "the bank refused ${row}: ${error.message}"
  - wait: 1s
"""


def database_text(database: str) -> list[str]:
    """str() of every row of every table (every TEXT, JSON, VARCHAR and binary column)."""
    engine = make_engine(database)
    try:
        with engine.connect() as conn:
            names = inspect(conn).get_table_names()
            assert "jobs" in names and "credentials" in names, names
            return [f"{name}: {row}" for name in names
                    for row in conn.execute(sql(f'SELECT * FROM "{name}"'))]
    finally:
        engine.dispose()


def test_a_vault_password_appears_nowhere(cluster: Any, tmp_path: Path) -> None:
    password = f"Pw-{secrets.token_hex(12)}"
    server = cluster.serve()
    worker = cluster.worker(server, "w1")
    with cluster.client(server, cluster.admin) as http:  # credentials are an admin's
        cluster.deploy(http, ROBOT)
        stored = http.put("/api/v1/credentials/bank",
                          json={"fields": {"user": "ops01", "password": password}})
        assert stored.status_code == 204, stored.text
        job_id = cluster.start_job(http, "payer")
        job = cluster.ended(http, job_id)
        assert job["state"] == "succeeded", job
        events = cluster.events(http, job_id)
        # the robot did use it (sent whole as a header; the request failed)
        messages = [e.get("message") for e in events]
        assert "signing in as ops01" in messages, messages
        assert [(i["reference"], i["outcome"]) for i in job["items"]] == [
            ("P-1", "business_exception")], job["items"]
        for path in ("/api/v1/jobs", "/api/v1/credentials", "/api/v1/kpi",
                     f"/api/v1/jobs/{job_id}/artifacts"):
            assert http.get(path).status_code == 200
        for artifact in http.get(f"/api/v1/jobs/{job_id}/artifacts").json():
            assert http.get(f"/api/v1/jobs/{job_id}/artifacts/{artifact['id']}"
                            ).status_code == 200
    worker.kill_group()
    server.proc.kill_group()  # logs complete, the SQLite WAL as a crash would leave it
    worker.popen.wait(10)
    server.proc.popen.wait(10)

    leaks = [f"API answer: {body[:200]}" for body in cluster.responses if password in body]
    leaks += [f"row {row[:200]}" for row in database_text(cluster.database)
              if password in row]
    leaks += [f"file {p}" for p in tmp_path.rglob("*")
              if p.is_file() and password.encode() in p.read_bytes()]
    assert leaks == []
    # the search itself can find it: the vault holds the password, encrypted
    engine = make_engine(cluster.database)
    with engine.connect() as conn:
        ciphertext = conn.execute(select(Credential.ciphertext)).scalar_one()
    engine.dispose()
    assert password.encode() not in ciphertext and len(ciphertext) > len(password)
    files = {p.name for p in tmp_path.rglob("*") if p.is_file()}
    assert {"result.json", "events.jsonl", "child.log"} <= files, files  # searched above
    if cluster.database.startswith("sqlite"):
        assert "workhand.db" in files  # and its -wal, when the kill left one
