"""`workhand worker`: lease jobs from the orchestrator, run each robot in a child process, report.

The robot runs in a child process with a session (process group) of its own, so a hung browser
and everything else the robot started can be killed on cancel or timeout
(orchestrator/robot_process.py). It sees none of the
worker's environment, and by default runs in an OS sandbox (orchestrator/sandbox.py) that shows
it only its bundle, its run folder and the folders the worker's settings allow
(orchestrator/worker_settings.py); a desktop robot also a display of its own
(orchestrator/worker_display.py). Without a sandbox, the child is forked from a zygote that
imported the step libraries once (see orchestrator/child.py), not started as a new interpreter
that spends ~0.5 s of CPU importing them; a sandboxed robot pays that start. The worker
itself only heartbeats, streams events.jsonl, watches the clock and reports. The server may go
away at any moment (a restart, the network): every call is retried with backoff while the robot
keeps running, and a 409 means the lease was lost (the job went to another worker), so the job
is dropped. A stopping worker (SIGTERM) leases nothing more, gives its robots a grace period, and
hands back the jobs still running then, which costs them no try (orchestrator/worker_stop.py).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from libs.policy import Policy
from libs.steps.ocr.choose import ocr_problems
from orchestrator.deploy import unpack
from orchestrator.robot_process import (
    KILL_GRACE,
    Child,
    Sandboxed,
    Zygote,
    kill_tree,
    signal_name,
)
from orchestrator.sandbox import Sandbox, choose, robot_os_env, start_command
from orchestrator.worker_api import (
    BACKOFF_MAX,
    LeaseLost,
    Server,
    ServerAway,
    Stopped,
    WorkerError,
    _detail,
)
from orchestrator.worker_display import (
    DESKTOP,
    DisplayClaim,
    DisplayError,
    Displays,
    RunDisplay,
    worker_labels,
)
from orchestrator.worker_files import EventTail, artifacts
from orchestrator.worker_lease import LeaseKeeper, last_finished_item
from orchestrator.worker_settings import NO_DISPLAY, WorkerSettings
from orchestrator.worker_slots import RunFolders, Slots
from orchestrator.worker_stop import Abandonable, Shutdown, wind_down

log = logging.getLogger("workhand.worker")

FAST_START_ENV = "WORKHAND_FAST_START"
TOKEN_ENV = "WORKHAND_TOKEN"  # the CLI reads the token from here; robots must not see it
# seconds between event uploads while the robot runs (all of them at its end), i.e. how far the
# console's view of a running job may lag. Each upload costs the orchestrator about a
# millisecond of CPU: at 0.5 s nearly every event was a request of its own, and at 2 s uploads
# were still over half of a 1,000-robot fleet's calls (bench/fleet.py, docs/benchmarks.md)
EVENTS_EVERY = 5.0
TICK = 0.1
RELEASED = "released"  # an Ending's status: the job is handed back unfinished
# the server's limit (WORKHAND_MAX_ARTIFACT_BYTES, orchestrator/settings.py): larger ones would
# be refused after the upload, so they are not sent
MAX_ARTIFACT = int(os.environ.get("WORKHAND_MAX_ARTIFACT_BYTES", str(100 * 1024 * 1024)))
# what of a result is reported when the whole of it is over the server's report limit (413)
RESULT_SUMMARY = ("run_id", "robot", "status", "error", "items", "minutes_saved", "duration_s",
                  "outputs")
KEEP_RUNS_ENV = "WORKHAND_KEEP_RUNS"  # run folders kept on the worker (default 100)


@dataclass
class Ending:
    status: str  # passed | failed | cancelled | timed_out, or RELEASED (handed back)
    error: dict[str, Any] | None = None
    result: dict[str, Any] | None = None


def _system(message: str) -> dict[str, Any]:
    return {"kind": "system", "message": message}


@dataclass(frozen=True)
class Confinement:
    """What the worker's robots may reach (its settings) and how they are held to it."""

    policy: Policy
    chromium: str
    sandbox: Sandbox | None  # None: no OS sandbox (sandbox: off, or auto where none works)
    displays: Displays = field(default_factory=lambda: Displays(NO_DISPLAY))

    @classmethod
    def prepare(cls, settings: WorkerSettings, work_dir: Path,
                protected: Sequence[Path] = ()) -> Confinement:
        """Check the settings against this worker and probe the sandbox (once)."""
        settings.check_work_dir(work_dir, protected)
        sandbox = choose(settings.sandbox, protected)
        displays = Displays.prepare(settings.display)
        log.info("robots run %s; hosts: %s; folders: %s; %s", "in a bubblewrap sandbox"
                 if sandbox else "without an OS sandbox",
                 "any" if settings.hosts is None else ", ".join(settings.hosts) or "none",
                 ", ".join(f"{f.path} ({'read/write' if f.writable else 'read'})"
                           for f in settings.folders) or "none", displays.describe())
        return cls(settings.policy(), settings.chromium, sandbox, displays)


def run_worker(server: str, token: str, *, name: str | None = None, labels: Sequence[str] = (),
               work_dir: Path, stop: threading.Event | Shutdown | None = None,
               once: bool = False, wait_s: float = 20.0, slots: int = 1,
               settings: WorkerSettings | None = None, protected: Sequence[Path] = ()) -> None:
    """Lease and run jobs, up to `slots` robots at once, until stop is set (or after one job
    with once=True). ``protected``: folders no robot may see (the orchestrator's data folder
    when it runs on this machine).

    When stop is set the worker leases nothing more; robots still running then are stopped
    and their jobs handed back — at once for an Event, after its grace period for a Shutdown
    (see worker_stop.py; `workhand worker` makes one from its `grace` setting).

    Raises WorkerError when the server refuses the token; SandboxError when the settings ask
    for a sandbox this machine cannot make; WorkerSettingsError for settings that do not fit."""
    shutdown = stop if isinstance(stop, Shutdown) else Shutdown(0.0, stop)
    work_dir = Path(work_dir).resolve()  # the child runs in its run folder
    name = name or f"{socket.gethostname()}-{os.getpid()}"
    confinement = Confinement.prepare(settings or WorkerSettings(), work_dir, protected)
    api = Server(server, token, shutdown)
    displays = confinement.displays
    offered = worker_labels(api, labels, displays)  # desktop when it has a display (and may)
    if offered is None:  # stopped before the server answered: nothing was leased
        return
    labels = offered
    log.info("worker '%s' asks %s for jobs (labels: %s; %d robot slot%s)", name, api.url,
             ", ".join(labels) or "none", slots, "" if slots == 1 else "s")
    for problem in ocr_problems(None):  # the model files by their hashes: nothing is loaded
        log.warning("OCR steps will fail on this worker: %s", problem)
    # The zygote forks each robot from a process that imported the libraries already (~15 ms
    # instead of ~600 ms a start); WORKHAND_FAST_START=0 starts each robot as a new process.
    # It cannot give each fork mounts of its own, so sandboxed robots start as new processes.
    fast = os.environ.get(FAST_START_ENV, "1") != "0" and confinement.sandbox is None
    zygote = Zygote(robot_os_env(work_dir, confinement.chromium)) if fast else None
    room = Slots[JobRun](1 if once else slots, shutdown.asked)
    folders = RunFolders(int(os.environ.get(KEEP_RUNS_ENV, "100")))

    def job_of(spec: dict[str, Any]) -> JobRun:
        return JobRun(api, name, work_dir, spec, token, zygote, folders, confinement)

    def hand_back_late(response: httpx.Response) -> None:
        for spec in response.json().get("jobs", []) if response.status_code == 200 else []:
            job_of(spec).hand_back("it was leased as the worker was stopping; not started")

    try:
        while not shutdown.asked.is_set():
            ended = room.wait_for_room(shutdown.asked)
            if shutdown.asked.is_set():  # no new jobs now; the finally block reports these
                room.give_back(ended)
                break
            ask = {"worker": name, "labels": displays.asking(labels), "wait_s": wait_s,
                   "max_jobs": room.free(), "slots": room.size,
                   "finished": [job.report() for job in ended]}
            lease = Abandonable(functools.partial(
                api.call, "POST", "/api/v1/lease", timeout=wait_s + 15, json=ask,
                patient=bool(ended)), hand_back_late)
            try:
                response = lease.wait(shutdown)  # None: abandoned, the worker is stopping
            except Stopped:
                response = None
            finally:
                room.polling(False)
            if response is None:  # its reports are sent again below (they count once)
                room.give_back(ended)
                break
            if response.status_code == 413 and ended:  # the reports together are too large:
                for job in ended:  # each goes alone (and shortened if need be), none is lost
                    job.complete()
                continue
            if response.status_code not in (200, 204):
                log.error("the server refused the lease request: %s", _detail(response))
                room.give_back(ended)
                shutdown.asked.wait(BACKOFF_MAX)
                continue
            answer = response.json() if response.status_code == 200 else {"jobs": []}
            for job, said in zip(ended, answer.get("finished", []), strict=False):
                job.reported(said)
            for spec in answer["jobs"]:
                job = job_of(spec)
                if shutdown.asked.is_set():  # it came with the end of the long poll
                    job.hand_back("it arrived as the worker was stopping; not started")
                    continue
                job.claim = displays.claim() if job.needs_display else None
                if job.needs_display and job.claim is None:  # a real screen: one at a time
                    job.hand_back(f"the worker's screen {displays.setting} is in use by "
                                  "another desktop robot; not started")
                else:
                    room.start(job)
            if once and answer["jobs"]:
                break
    except BaseException:
        shutdown.hurry()  # the robots still running stop and hand their jobs back
        raise
    finally:
        wind_down(room, shutdown)
        if zygote is not None:
            zygote.close()
        api.close()
    log.info("worker '%s' stopped", name)


class JobRun:
    """One attempt of one job, from the bundle to the reported outcome."""

    def __init__(self, api: Server, worker: str, work_dir: Path, spec: dict[str, Any],
                 token: str, zygote: Zygote | None = None,
                 folders: RunFolders | None = None,
                 confinement: Confinement | None = None) -> None:
        self.api, self.worker, self.work_dir, self.spec, self.token = (
            api, worker, work_dir, spec, token)
        self.zygote, self.folders = zygote, folders
        self.confinement = confinement or Confinement(Policy(), WorkerSettings().chromium, None)
        self.bundle_dir = work_dir / "bundles" / str(spec["version"])
        self.id, self.attempt = int(spec["id"]), int(spec["attempt"])
        self.tag = f"job {self.id} attempt {self.attempt}"
        self.holder = {"worker": worker, "attempt": self.attempt}
        self.run_dir = work_dir / "runs" / f"{self.id}-{self.attempt}"
        # the robot's HOME (caches of fontconfig, Chromium): beside the run folder, so it is
        # not uploaded as artifacts, and deleted when the attempt ends
        self.home = work_dir / "runs" / f".home-{self.id}-{self.attempt}"
        self.events = EventTail(self.run_dir / "events.jsonl")
        self.lease = LeaseKeeper(float(spec.get("lease_seconds") or 30))
        self.every = max(0.5, self.lease.lease_s / 3)  # heartbeat interval
        self.last_beat = self.last_try = time.monotonic()  # the lease was just taken
        self.child: Child | None = None
        self.shutdown = api.shutdown
        self.ending = Ending("failed", _system("the attempt did not run"))
        self.took = 0.0  # seconds from the lease to the outcome being ready
        # a desktop robot's display of its own (orchestrator/worker_display.py), taken when
        # the job was leased; released when the run ends, whatever happened
        self.needs_display = DESKTOP in (spec.get("labels") or ())
        self.claim: DisplayClaim | None = None

    def run(self) -> bool:
        """Run the attempt and send its events and artifacts; True when its outcome is ready
        to report (with the next lease request, or by complete())."""
        started = time.monotonic()
        try:
            self.ending = self.execute()
            if self.ending.status == RELEASED:
                self.hand_back(str((self.ending.error or {}).get("message", "")))
                return False
            self.push_events(final=True)
            self.upload_artifacts(self.ending.result)
        except LeaseLost as err:
            log.warning("%s: dropped; this worker no longer holds the lease (%s)", self.tag, err)
            return False
        except Stopped:
            self.stopped()
            return False
        except WorkerError as err:  # the server refused this worker: it stops
            log.error("%s", err)
            self.shutdown.hurry()
            return False
        finally:
            if self.claim is not None:  # stopped already unless the run never started
                self.claim.release()
        self.took = time.monotonic() - started
        return True

    def stopped(self) -> None:
        log.warning("%s: the worker stopped before the server took the result; the lease will "
                    "expire and the job will be retried or failed by policy", self.tag)

    # -- running ---------------------------------------------------------------------------

    def execute(self) -> Ending:
        try:
            robot_file = self.bundle() / self.spec["file"]
        except ValueError as err:
            return Ending("failed", _system(str(err)))
        if self.shutdown.robots_must_stop():  # stopping, with no time left to run it
            return self.stopping()
        self.keep_lease()
        for folder in (self.run_dir, self.home):
            if folder.exists():  # a work dir reused with a fresh database
                shutil.rmtree(folder)
            folder.mkdir(parents=True)
        try:
            display = self.claim.open() if self.claim is not None else None
        except DisplayError as err:  # a system error: retried by the job's policy
            shutil.rmtree(self.home, ignore_errors=True)
            return Ending("failed", _system(str(err)))
        try:
            child = self.start(robot_file, display)
            log.info("%s: robot '%s' (version %s) started in process %d%s%s", self.tag,
                     self.spec["robot"], str(self.spec["version"])[:12], child.pid,
                     " (sandboxed)" if self.confinement.sandbox else "",
                     f" on the screen {display.name}" if display else "")
            ending: Ending | None = None
            try:
                ending = self.supervise(child)
            finally:  # whatever happened, nothing the robot started outlives it; a job handed
                # back is killed without a SIGTERM, so nothing the robot would still do on its
                # way out (report a queue item, write result.json) counts for it
                handed_back = ending is not None and ending.status == RELEASED
                kill_tree(child, 0.0 if handed_back or self.shutdown.robots_must_stop()
                          else KILL_GRACE)
        finally:  # the robot and what it started are gone: so goes its screen
            if self.claim is not None:
                self.claim.release()
            shutil.rmtree(self.home, ignore_errors=True)
        if ending.result is None:
            ending.result = self.read_result()
        return ending

    def bundle(self) -> Path:
        """The robot's unpacked bundle, fetched once per version and cached by its digest."""
        digest = str(self.spec["version"])
        folder = self.work_dir / "bundles" / digest
        if folder.is_dir():
            return folder
        response = self.api.call("GET", f"/api/v1/bundles/{digest}", patient=True, timeout=120)
        if response.status_code != 200:
            raise ValueError(f"the robot version {digest} could not be fetched: "
                             f"{_detail(response)}")
        if hashlib.sha256(response.content).hexdigest() != digest:
            raise ValueError(f"the robot version {digest} arrived damaged (its digest differs)")
        folder.parent.mkdir(parents=True, exist_ok=True)
        # unpacked beside, then renamed: a crash never leaves a half bundle in the cache
        temp = Path(tempfile.mkdtemp(prefix=f".{digest[:12]}-", dir=folder.parent))
        try:
            unpack(response.content, temp)
            temp.rename(folder)
        except OSError:
            if not folder.is_dir():  # not another worker sharing the work dir winning the race
                raise
        finally:
            shutil.rmtree(temp, ignore_errors=True)
        return folder

    def start(self, robot_file: Path, display: RunDisplay | None = None) -> Child:
        # Inputs, credentials and the token go through stdin: the command line and the
        # environment of a process can be read by any user of the machine (ps, /proc).
        args = [str(robot_file), str(self.run_dir)]
        conf = self.confinement
        env = {**robot_os_env(self.home, conf.chromium), **(display.env() if display else {})}
        with (self.run_dir / "child.log").open("wb") as output:
            child: Child | None = (self.zygote.spawn(args, output)
                                   if self.zygote is not None else None)
            if child is None:  # sandboxed, no zygote, or it failed: a new interpreter
                command = [sys.executable, "-m", "orchestrator.child", *args]
                if conf.sandbox is not None:
                    command = start_command(conf.sandbox.command(
                        command, run_dir=self.run_dir, home=self.home, bundle=self.bundle_dir,
                        policy=conf.policy, env=env,
                        display_files=display.files() if display else ()))
                popen = subprocess.Popen(
                    command, stdin=subprocess.PIPE, stdout=output, stderr=subprocess.STDOUT,
                    env=env, cwd=self.run_dir, start_new_session=True)
                child = Sandboxed(popen) if conf.sandbox is not None else popen
        spec = {"job_id": self.id, "attempt": self.attempt, "file": self.spec["file"],
                "inputs": self.spec["inputs"],
                "credentials": self.spec.get("credentials") or {},
                "credential_hosts": self.spec.get("credential_hosts") or {},
                "server": self.api.url,
                "worker": self.worker, "token": self.spec.get("job_token", ""),
                "home": str(self.home), "policy": conf.policy.to_spec(),
                "lease_seconds": self.lease.lease_s,
                "skip_items": list(self.spec.get("skip_items") or []),
                **(display.spec() if display else {})}  # a forked robot sets os.environ
        assert child.stdin is not None
        try:  # stdin stays open: the child stops itself when it closes (the worker died)
            child.stdin.write(json.dumps(spec).encode() + b"\n")
            child.stdin.flush()
        except BrokenPipeError:
            pass  # it died at once; reported as an unexpected end
        self.child = child
        self.tell_child()
        return child

    def tell_child(self) -> None:
        """The lease's end as the robot's queue client must respect it (worker_lease.py)."""
        if self.child is None or self.child.stdin is None:
            return
        try:
            self.child.stdin.write(json.dumps({"lease_until": self.lease.wall_until()})
                                   .encode() + b"\n")
            self.child.stdin.flush()
        except (BrokenPipeError, ValueError):  # it has ended (or its pipe was closed)
            pass

    def supervise(self, child: Child) -> Ending:
        """Heartbeat, stream events and watch the clock until the child ends or must be
        stopped. Network work is skipped while the server is away; the robot runs on."""
        now = time.monotonic()
        timeout = float(self.spec.get("timeout_s") or 0)
        deadline = now + timeout if timeout else None
        next_push, started = now, False
        while True:
            code = child.poll()
            if code is not None:
                return self.ended(code)
            now = time.monotonic()
            if self.shutdown.robots_must_stop():
                return self.stopping()
            if deadline is not None and now >= deadline:
                return Ending("timed_out", _system(f"the job ran longer than its timeout of "
                                                   f"{timeout:g} s and was stopped"))
            if self.lease.left(now) <= 0:  # fencing: stop before the lease can pass
                return Ending(RELEASED, _system(
                    f"the worker '{self.worker}' could not renew the job's lease (the "
                    "orchestrator did not answer), so it stopped the robot before the lease "
                    "ran out"))
            # the robot's first events (run.start) at the first tick that has them: the
            # console shows at once that it started; then every EVENTS_EVERY
            if (now >= next_push or not started) and self.api.ready():
                next_push = now + EVENTS_EVERY
                started = self.push_events(final=False) or started
            if now >= self.last_beat + self.every and (
                    self.api.ready() or (self.lease.left(now) < self.every
                                         and now >= self.last_try + 0.5)):
                # backing off stops at the lease's last third: each try may save the job
                self.last_try = now
                try:
                    cancel = self.heartbeat(self.api.once)
                except ServerAway:
                    cancel = False
                if cancel:
                    return Ending("cancelled", _system("cancelled while running"))
            time.sleep(TICK)

    def stopping(self) -> Ending:
        return Ending(RELEASED, _system(self.shutdown.reason()))

    def heartbeat(self, send: Callable[..., httpx.Response]) -> bool:
        """Renew the lease; True when an operator asked to cancel the job."""
        sent = time.monotonic()
        response = send("POST", f"/api/v1/jobs/{self.id}/heartbeat", json=self.holder)
        if response.status_code != 200:
            raise LeaseLost(_detail(response))
        self.last_beat = sent
        self.lease.renewed(sent)
        self.tell_child()
        return bool(response.json().get("cancel"))

    def keep_lease(self) -> None:
        """Between long uploads after the robot ended: the lease must outlast them."""
        if time.monotonic() >= self.last_beat + self.every:
            self.heartbeat(functools.partial(self.api.call, patient=True))

    def ended(self, code: int) -> Ending:
        result = self.read_result()
        if result is None or result.get("status") not in ("passed", "failed"):
            how = f", signal {signal_name(-code)}" if code < 0 else ""
            return Ending("failed", _system(f"the robot process ended unexpectedly (exit code "
                                            f"{code}{how})"), result)
        return Ending(str(result["status"]), result.get("error"), result)

    def read_result(self) -> dict[str, Any] | None:
        try:
            data = json.loads((self.run_dir / "result.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    # -- reporting -------------------------------------------------------------------------

    def push_events(self, *, final: bool) -> bool:
        """Send the events written so far; final: all of them, waiting out an outage. False
        when there were none."""
        sent = False
        while True:
            if final:
                self.keep_lease()
            events, offset, line = self.events.batch()
            if not events:
                self.events.ack(offset, line)  # skipped unreadable lines
                return sent
            sent = True
            path, body = f"/api/v1/jobs/{self.id}/events", {**self.holder, "events": events}
            try:
                response = (self.api.call("POST", path, json=body, patient=True) if final
                            else self.api.once("POST", path, json=body))
            except ServerAway:
                return sent
            if response.status_code != 200:
                log.warning("%s: events %d-%d refused: %s", self.tag, events[0]["seq"],
                            events[-1]["seq"], _detail(response))
            self.events.ack(offset, line)

    def upload_artifacts(self, result: dict[str, Any] | None) -> None:
        for name, path in artifacts(self.run_dir, result).items():
            if self.shutdown.robots_must_stop():  # the outcome goes first; the run folder
                log.warning("%s: the worker is stopping: artifacts from %s on are not "
                            "uploaded (they stay in %s)", self.tag, name, self.run_dir)
                return
            self.keep_lease()
            size = path.stat().st_size
            if size > MAX_ARTIFACT:
                log.warning("%s: artifact %s is %d bytes, over the %d limit; not uploaded",
                            self.tag, name, size, MAX_ARTIFACT)
                continue
            response = self.api.call(
                "PUT", f"/api/v1/jobs/{self.id}/artifacts/{quote(name, safe='/')}",
                params=self.holder, content=path.read_bytes(), patient=True, timeout=120)
            if response.status_code >= 300:
                log.warning("%s: artifact %s refused: %s", self.tag, name, _detail(response))

    def outcome(self) -> dict[str, Any]:
        return {"attempt": self.attempt, "status": self.ending.status,
                "error": self.ending.error, "result": self.ending.result}

    def report(self) -> dict[str, Any]:
        """The outcome as the next lease request carries it."""
        return {"job_id": self.id, **self.outcome()}

    def complete(self) -> None:
        """Report the outcome on its own (when no lease request follows)."""
        path = f"/api/v1/jobs/{self.id}/complete"
        try:
            response = self.api.call("POST", path, patient=True,
                                     json={"worker": self.worker, **self.outcome()})
            if response.status_code == 413 and self.ending.result:
                log.warning("%s: the result is over the server's report limit; reporting its "
                            "summary (the whole result.json is among the artifacts)", self.tag)
                self.ending.result = {k: v for k, v in self.ending.result.items()
                                      if k in RESULT_SUMMARY}
                response = self.api.call("POST", path, patient=True,
                                         json={"worker": self.worker, **self.outcome()})
        except LeaseLost as err:
            self.reported({"status": 409, "error": str(err)})
            return
        except Stopped:
            self.stopped()
            return
        self.reported(response.json() if response.status_code == 200 else
                      {"status": response.status_code, "error": _detail(response)})

    def hand_back(self, why: str) -> None:
        """Give the job back unfinished (POST /jobs/{id}/release): any worker may take it at
        once, and this attempt is no try of it. The events written so far go first (what the
        attempt did, for audit); artifacts do not (the next attempt makes its own)."""
        try:
            self.push_events(final=True)
            self.report_last_item()
            response = self.api.call("POST", f"/api/v1/jobs/{self.id}/release", patient=True,
                                     json={**self.holder, "reason": why[:500]})
        except LeaseLost as err:
            log.warning("%s: not handed back; this worker no longer holds it (%s)", self.tag,
                        err)
            return
        except Stopped:
            log.error("%s: could not be handed back before the worker had to exit; its lease "
                      "will expire and the job will be retried or failed by policy", self.tag)
            return
        if self.folders is not None and self.run_dir.exists():
            self.folders.reported(self.run_dir)
        if response.status_code != 200:
            log.error("%s: the server did not take the job back: %s", self.tag,
                      _detail(response))
            return
        log.warning("%s: handed back unfinished (%s); the job is now %s", self.tag, why,
                    response.json().get("state", "unknown"))

    def report_last_item(self) -> None:
        """The work-queue item the robot finished last, reported again: it may have been
        stopped before its report was taken, and the release would put the item back to be
        worked again. A report already taken is answered 200 again (or 409, when the item
        went on since); either way nothing changes."""
        event = last_finished_item(self.run_dir / "events.jsonl")
        if event is None:
            return
        response = self.api.call(
            "POST", f"/api/v1/queue-items/{int(event['queue_item'])}/report", patient=True,
            json={"job_id": self.id, **self.holder, "outcome": event.get("outcome", "done"),
                  "message": str(event.get("message", ""))})
        if response.status_code == 200:
            log.info("%s: work item %s reported by the worker (%s)", self.tag,
                     event.get("item"), event.get("outcome"))

    def reported(self, answer: dict[str, Any]) -> None:
        """Log what the server made of the outcome; the run folder may go now."""
        if self.folders is not None:
            self.folders.reported(self.run_dir)
        if "error" in answer:
            log.error("%s: the server refused the outcome: %s", self.tag, answer["error"])
            return
        log.info("%s: %s in %.1f s%s; the job is now %s", self.tag, self.ending.status,
                 self.took, _summary(self.ending), answer.get("state", "unknown"))


def _summary(ending: Ending) -> str:
    items = (ending.result or {}).get("items") or {}
    text = ""
    if items.get("total"):
        text = (f", {items['total']} item(s): {items.get('done', 0)} done, "
                f"{items.get('business_exceptions', 0)} business exception(s), "
                f"{items.get('system_errors', 0)} system error(s)")
    if ending.error and ending.status != "passed":
        text += f" — {str(ending.error.get('message', ''))[:300]}"
    return text
