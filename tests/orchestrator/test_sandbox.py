"""The robot's bubblewrap command line (orchestrator/sandbox.py), its environment and the
worker's settings (orchestrator/worker_settings.py); and, where bwrap runs, what a robot in it
can see."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from libs.policy import AllowedFolder, Policy
from orchestrator.sandbox import Sandbox, SandboxError, exit_code, probe, robot_os_env
from orchestrator.worker_settings import WorkerSettingsError, parse

WORKER_ENV = {"PATH": "/usr/bin:/bin", "LANG": "zh_CN.UTF-8", "LC_ALL": "zh_CN.UTF-8",
              "TZ": "Asia/Shanghai", "PYTHONPATH": "/srv/workhand", "WORKHAND_TOKEN": "wh_t",
              "WORKHAND_VAULT_KEY": "k", "WORKHAND_DATABASE_URL": "postgresql://u:p@h/db",
              "AWS_SECRET_ACCESS_KEY": "aws", "HOME": "/root", "SSH_AUTH_SOCK": "/tmp/ssh"}


def mounts(cmd: list[str], how: str) -> list[str]:
    """The destinations of every `how SRC DEST` in the command."""
    return [cmd[i + 2] for i, arg in enumerate(cmd) if arg == how]


def command(tmp_path: Path, policy: Policy | None = None,
            protected: tuple[Path, ...] = ()) -> list[str]:
    run, home, bundle = (tmp_path / "work" / "runs" / "7-1", tmp_path / "work" / "runs" /
                         ".home-7-1", tmp_path / "work" / "bundles" / "abc")
    for folder in (run, home, bundle):
        folder.mkdir(parents=True)
    return Sandbox(protected=protected).command(
        ["python", "-m", "orchestrator.child", "r.yaml", str(run)], run_dir=run, home=home,
        bundle=bundle, policy=policy or Policy(), env=robot_os_env(home, "/usr/bin/chromium",
                                                                   WORKER_ENV))


def test_the_robot_environment_is_minimal() -> None:
    env = robot_os_env(Path("/w/runs/.home-1-1"), "/usr/bin/chromium", WORKER_ENV)
    assert env == {"PATH": "/usr/bin:/bin", "LANG": "zh_CN.UTF-8", "LC_ALL": "zh_CN.UTF-8",
                   "TZ": "Asia/Shanghai", "PYTHONPATH": "/srv/workhand",
                   "HOME": "/w/runs/.home-1-1", "WORKHAND_CHROMIUM": "/usr/bin/chromium"}


def test_the_command_mounts_only_what_the_robot_needs(tmp_path: Path) -> None:
    outside = tmp_path / "shared"
    (outside / "in").mkdir(parents=True)
    (outside / "out").mkdir()
    policy = Policy((AllowedFolder(outside / "in"), AllowedFolder(outside / "out", True)))
    cmd = command(tmp_path, policy)
    work = tmp_path / "work"
    for flag in ("--die-with-parent", "--unshare-pid", "--unshare-ipc", "--clearenv"):
        assert flag in cmd
    assert "--unshare-net" not in cmd  # any host allowed: the network is shared
    assert cmd[cmd.index("--proc") + 1] == "/proc" and cmd[cmd.index("--tmpfs") + 1] == "/tmp"
    writable = mounts(cmd, "--bind")
    assert sorted(writable) == sorted([str(work / "runs" / "7-1"),
                                       str(work / "runs" / ".home-7-1"), str(outside / "out")])
    readable = mounts(cmd, "--ro-bind") + mounts(cmd, "--ro-bind-try")
    assert str(work / "bundles" / "abc") in readable and str(outside / "in") in readable
    assert not [m for m in readable + writable if m in (str(work), str(work / "runs"), "/",
                                                        "/etc", "/root", "/home")]
    assert not [m for m in readable if m in ("/etc/shadow", "/etc/passwd", "/etc/sudoers")]
    assert all(m.startswith("/etc/") for m in mounts(cmd, "--ro-bind-try"))
    # the environment is set inside, the worker's secrets are not among it
    text = " ".join(cmd)
    assert "WORKHAND_TOKEN" not in text and "postgresql://" not in text and "aws" not in text
    assert cmd[cmd.index("--") + 1:][:3] == ["python", "-m", "orchestrator.child"]


def test_no_host_allowed_means_no_network(tmp_path: Path) -> None:
    assert "--unshare-net" in command(tmp_path, Policy(hosts=()))
    assert "--unshare-net" not in command(tmp_path / "b", Policy(hosts=("core.bank",)))


def test_a_protected_folder_is_never_mounted(tmp_path: Path) -> None:
    data = tmp_path / "work" / "bundles"  # a data folder that holds the bundle: refused
    with pytest.raises(SandboxError, match="protected folder"):
        command(tmp_path, protected=(data,))


def test_exit_codes_of_signals_read_as_popen_s() -> None:
    assert exit_code(137) == -9 and exit_code(143) == -15 and exit_code(1) == 1


def test_worker_settings_are_validated(tmp_path: Path) -> None:
    settings = parse({"folders": [{"path": str(tmp_path), "access": "read_write"}],
                      "hosts": ["core.bank.local"], "env": {"CORE_URL": "http://core"},
                      "pass_env": ["SMTP_HOST"], "sandbox": "off"})
    policy = settings.policy({"SMTP_HOST": "mail.bank", "WORKHAND_TOKEN": "t"})
    assert policy.env == {"SMTP_HOST": "mail.bank", "CORE_URL": "http://core"}
    assert policy.hosts == ("core.bank.local",) and policy.folders[0].writable
    assert parse({}).policy({}).hosts is None  # hosts omitted: any host
    for bad, said in [({"pass_env": ["WORKHAND_TOKEN"]}, "platform's own"),
                      ({"env": {"WORKHAND_VAULT_KEY": "x"}}, "platform's own"),
                      ({"sandbox": "docker"}, "auto, bubblewrap, off"),
                      ({"folders": [{"path": "relative"}]}, "absolute"),
                      ({"folders": [{"path": str(tmp_path), "access": "write"}]}, "read_write"),
                      ({"chromium": "chromium"}, "absolute path"),
                      ({"hosts": "core"}, "list"), ({"colour": 1}, "unknown key")]:
        with pytest.raises(WorkerSettingsError, match=said):
            parse(bad)


def test_an_allowed_folder_may_not_show_the_work_dir(tmp_path: Path) -> None:
    settings = parse({"folders": [{"path": str(tmp_path)}]})
    with pytest.raises(WorkerSettingsError, match="would let robots reach"):
        settings.check_work_dir(tmp_path / "work")


needs_bwrap = pytest.mark.skipif(probe() is not None, reason=f"no sandbox here: {probe()}")

PROBE = """
import json, os, sys
from pathlib import Path
seen = {"env": dict(os.environ), "pids": sorted(p for p in os.listdir("/proc") if p.isdigit()),
        "root": sorted(os.listdir("/root")) if os.path.isdir("/root") else []}
for path in sys.argv[1:]:
    seen[path] = Path(path).exists()
print(json.dumps(seen))
"""


@needs_bwrap
def test_inside_the_sandbox_the_worker_s_world_is_gone(tmp_path: Path) -> None:
    cmd = command(tmp_path)
    script = tmp_path / "work" / "bundles" / "abc" / "probe.py"
    script.write_text(PROBE, encoding="utf-8")
    other_run = tmp_path / "work" / "runs" / "6-1"
    other_run.mkdir()
    data = tmp_path / "data"
    data.mkdir()
    (data / "vault.key").write_text("key", encoding="utf-8")
    checked = ["/etc/shadow", "/etc/passwd", str(data / "vault.key"), str(other_run),
               str(tmp_path / "work" / "runs" / "7-1")]
    cmd = [*cmd[:cmd.index("--") + 1], sys.executable, str(script), *checked]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60,
                          env=robot_os_env(tmp_path, "/usr/bin/chromium", WORKER_ENV))
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert "WORKHAND_TOKEN" not in seen["env"] and "AWS_SECRET_ACCESS_KEY" not in seen["env"]
    # of /root, at most the way to a Python installed there (pyenv), nothing else
    assert set(seen["root"]) <= {".pyenv"}, seen["root"]
    assert len(seen["pids"]) <= 2  # its own PID namespace: no worker, no other job
    assert {p: seen[p] for p in checked} == {"/etc/shadow": False, "/etc/passwd": False,
                                            str(data / "vault.key"): False,
                                            str(other_run): False,
                                            str(tmp_path / "work" / "runs" / "7-1"): True}
