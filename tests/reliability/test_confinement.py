"""Issue 6's done-when, through a real `workhand serve` and a real `workhand worker --sandbox
bubblewrap` (its token in its environment, as the CLI advises): robots that try to read the
orchestrator's data folder, the worker's environment and command line, or another job's run
folder get nothing — each job fails or reads nothing of worth — and no vault key, token, database
page or other job's file shows up in any event, result, artifact or the database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from orchestrator.sandbox import probe

pytestmark = pytest.mark.skipif(probe() is not None, reason=f"no sandbox here: {probe()}")

THIEF = """robot: thief-{n}
inputs:
  other: {{type: text, default: ""}}
steps:
  - {step}
  - files.write_text: {{path: got.txt, text: "${{got}}"}}
  - log: "got ${{got}}"
"""
KEEPER = """robot: keeper
steps:
  - files.write_text: {path: marker.txt, text: MARKER-other-job-5521}
  - wait: 25s
"""


def read(path: str) -> str:
    return "files.read_text: {path: \"" + path + "\", into: got}"


def test_a_sandboxed_robot_reaches_nothing_of_the_platform(sqlite_cluster: Any) -> None:
    cluster = sqlite_cluster
    server = cluster.serve()
    data = cluster.data.resolve()
    with cluster.client(server, cluster.admin) as http:
        stored = http.put("/api/v1/credentials/core",
                          json={"fields": {"user": "ops01", "password": "Vault-Pw-8812"}})
        assert stored.status_code == 204, stored.text
        vault_key = (data / "vault.key").read_bytes().strip()
        assert vault_key
        attempts = [
            read("${run.output}/../../../../data/vault.key"),  # relative, to the data folder
            read(f"{data}/vault.key"),
            f"files.copy: {{source: \"{data}/workhand.db\", destination: db.bin}}",
            f"files.copy: {{source: \"{data}/vault.key\", destination: key.bin}}",
            # built at run time, so `workhand check` (which refuses a literal /proc) lets
            # them through to the run's policy and the sandbox
            read("${'/proc'}/1/environ"), read("${'/proc'}/1/cmdline"),
            read("${'/proc'}/self/environ"),
            "set: {got: \"${env.WORKHAND_TOKEN}\"}",
            read("${run.output}/../${inputs.other}-1/marker.txt"),  # another job's run
        ]
        for n, step in enumerate(attempts):
            text = THIEF.format(n=n, step=step)
            if "files.copy" in step:
                text = text.replace("  - files.write_text", "  - set: {got: copied}\n"
                                    "  - files.write_text")
            cluster.deploy(http, text)
        cluster.deploy(http, KEEPER)
        worker = cluster.worker(server, "w1", options=("--sandbox", "bubblewrap",
                                                       "--slots", "2"))
        keeper = cluster.start_job(http, "keeper")
        cluster.wait_for_event(http, keeper, "step.end", timeout=90)
        jobs = [cluster.start_job(http, f"thief-{n}", inputs={"other": str(keeper)})
                for n in range(len(attempts))]
        ended = {job_id: cluster.ended(http, job_id, timeout=120) for job_id in jobs}
        secrets = [vault_key, cluster.worker_tokens["w1"].encode(), b"Vault-Pw-8812",
                   b"MARKER-other-job-5521", b"SQLite format 3"]
        for job_id, job in ended.items():
            seen = [str(job).encode(), str(cluster.events(http, job_id)).encode()]
            for artifact in http.get(f"/api/v1/jobs/{job_id}/artifacts").json():
                got = http.get(f"/api/v1/jobs/{job_id}/artifacts/{artifact['id']}")
                assert got.status_code == 200
                seen.append(got.content)
            leaks = [s for s in secrets if any(s in blob for blob in seen)]
            assert not leaks, (job["robot"], leaks)
            if job["state"] == "succeeded":  # it read something: the sandbox's own, harmless
                assert job["robot"] in ("thief-4", "thief-5", "thief-6"), job
        # the reads of the data folder, the token and the other job all failed
        states = {j["robot"]: j["state"] for j in ended.values()}
        for robot in ("thief-0", "thief-1", "thief-2", "thief-3", "thief-7", "thief-8"):
            assert states[robot] == "failed", states
        assert "sandboxed" in worker.output()
    stored_files = [p for p in data.rglob("*") if p.is_file() and p.name != "vault.key"]
    for path in stored_files:  # the database (and its WAL), the artifacts
        content = path.read_bytes()
        token = cluster.worker_tokens["w1"].encode()
        assert vault_key not in content and token not in content, path
        if "artifacts" in path.parts and str(keeper) != path.relative_to(
                data / "artifacts").parts[0]:
            assert b"MARKER-other-job-5521" not in content, path


def test_workhand_up_keeps_runs_outside_its_data_folder(tmp_path: Path) -> None:
    from workhand.server_cli import runs_folder

    data = tmp_path / ".workhand"
    runs = runs_folder(data)
    assert runs == tmp_path / ".workhand-runs"
    assert data.resolve() not in runs.parents
