"""Shared FastAPI dependencies: the database session and the caller's permission."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from typing import Annotated, TypeVar

from anyio import CapacityLimiter, to_thread
from fastapi import Depends, HTTPException, Path, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Connection, Engine, select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Session, sessionmaker

from orchestrator import audit, db
from orchestrator.auth import JOB_TOKEN_PREFIX, find_job_token, find_token
from orchestrator.db import BEGAN
from orchestrator.models import Token
from orchestrator.roles import JOB_PERMISSIONS, PERMISSIONS, Permission, Role, refusal
from orchestrator.settings import Settings

bearer = HTTPBearer(auto_error=False, description="an API token: workhand token create")


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One transaction per request: committed when the route returns, rolled back on error.

    Used with scope="function" (SessionDep): the commit happens before the response is sent, so
    a client that got a job id can read that job at once (FastAPI's default scope would send the
    answer first and commit afterwards).

    Opened here on the event loop, which costs nothing (a session connects at its first
    statement, in the route's thread): a sync generator cost a thread-pool hop to enter and
    another to leave. Ending must not wait for a thread of the routes' pool: under load every
    one of those threads can be waiting for a connection (or SQLite's write lock) that only
    this session's end gives back. So a SQLite transaction that has begun, or a session with
    nothing to do, ends here on the event loop (a WAL commit without fsync is quicker than a
    hop, and the write lock is handed on sooner); a PostgreSQL one ends in threads of its own
    (ENDING_THREADS); a SQLite session with changes but no transaction yet ends in the routes'
    pool (its flush may wait for the write lock, which must never happen on the event loop).

    One hop remains that this cannot remove: FastAPI validates a sync route's answer (its
    response model or return annotation) in the thread pool *before* it ends the dependency,
    with the transaction still open. Routes called all the time therefore open their own
    transaction in their thread instead (api/queues.py, the lease in api/work.py)."""
    session: Session = request.app.state.sessions()
    session.begin()
    try:
        yield session
    except BaseException:
        await _end(request, session, commit=False)
        raise
    await _end(request, session, commit=True)


ENDING_THREADS = 40  # sessions committing at once in threads outside the routes' pool


def _finish(session: Session, commit: bool) -> None:
    try:
        if commit:
            session.commit()
        else:
            session.rollback()
    finally:
        session.close()


async def _end(request: Request, session: Session, *, commit: bool) -> None:
    began = session.info.get(BEGAN)  # the dialect, once the transaction has a connection
    pending = bool(session.new or session.dirty or session.deleted)
    if began == "sqlite" or (began is None and not pending):
        _finish(session, commit)  # SQLite's write lock handed on at once; or nothing to do
    elif began is None and session.get_bind().dialect.name == "sqlite":
        await run_in_threadpool(_finish, session, commit)
    else:
        await to_thread.run_sync(_finish, session, commit, limiter=_ending_limiter(request))


def _ending_limiter(request: Request) -> CapacityLimiter:
    state = request.app.state
    limiter: CapacityLimiter | None = getattr(state, "ending_limiter", None)
    if limiter is None:  # made on the event loop, as anyio wants
        limiter = state.ending_limiter = CapacityLimiter(ENDING_THREADS)
    return limiter


SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def transaction(request: Request) -> AbstractContextManager[Session]:
    """One transaction in the route's own thread, committed before the route returns. For the
    routes called all the time (workers, the console): FastAPI validates a sync route's answer
    in another thread-pool hop before it ends a dependency, so a SessionDep transaction (SQLite's
    write lock, a pooled connection) stays open while it waits for a thread — and when every
    thread waits for that lock or a connection, nothing moves (bench/fleet.py found this at 200
    robots)."""
    sessions: sessionmaker[Session] = request.app.state.sessions
    return sessions.begin()


T = TypeVar("T")


async def in_database(request: Request, work: Callable[[Connection], T], *,
                      single: bool = False, long: bool = False) -> T:
    """work(connection) in one transaction (single: each statement its own, db.single), for
    the calls robots make all the time. On PostgreSQL it runs on the event loop over an
    asyncio connection (SQLAlchemy runs the sync code in a greenlet; the waits are the loop's),
    with no thread hop; on SQLite, or before the app's lifespan has started (a TestClient
    outside `with`), in the thread pool — as is work that keeps the CPU long (`long`: a bulk
    add), so the loop goes on serving meanwhile."""
    engine: AsyncEngine | None = request.app.state.async_engine
    if engine is None or long:
        return await run_in_threadpool(_in_thread, request.app.state.engine, work, single)
    # as many at once as there are request threads: more, and each open transaction waits
    # longer for the loop between its statements, holding its row locks meanwhile
    async with request.app.state.database_slots:
        if single:
            async with engine.connect() as conn:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                return await conn.run_sync(work)
        async with engine.begin() as conn:
            return await conn.run_sync(work)


def _in_thread(engine: Engine, work: Callable[[Connection], T], single: bool) -> T:
    with (db.single(engine) if single else engine.begin()) as conn:
        return work(conn)


async def get_settings(request: Request) -> Settings:  # async: no thread-pool hop
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


class Caller:
    """Who is calling: the token's role and name; for a worker token, the worker it is bound
    to and the labels it was granted; for a job token, the job and attempt it was made for.

    Every worker route asks the caller here whether it may act as the worker it names, so the
    binding is decided in one place."""

    def __init__(self, role: Role, name: str, *, token_id: int | None = None,
                 worker: str | None = None, labels: Sequence[str] = (),
                 job: tuple[int, int] | None = None) -> None:
        self.role, self.name, self.token_id = role, name, token_id
        self.worker, self.labels, self.job = worker, frozenset(labels), job

    @property
    def audit_name(self) -> str:
        return self.name if self.token_id is None else f"{self.name} (token {self.token_id})"

    @property
    def kind(self) -> str:
        return "job" if self.job is not None else self.role.value

    @property
    def permissions(self) -> frozenset[Permission]:
        return JOB_PERMISSIONS if self.job is not None else PERMISSIONS[self.role]

    def act_as(self, worker: str, labels: Iterable[str] = ()) -> None:
        """403 unless this token is bound to `worker` and grants every label in `labels`."""
        if worker != self.worker:
            raise HTTPException(status.HTTP_403_FORBIDDEN,
                                f"this token is for worker '{self.worker}', not '{worker}'; "
                                "each worker needs a token of its own: workhand token create "
                                "--role worker --worker NAME")
        extra = sorted(set(labels) - self.labels)
        if extra:
            raise HTTPException(status.HTTP_403_FORBIDDEN,
                                f"worker '{worker}' was not granted the label(s) "
                                f"{', '.join(extra)} (granted: "
                                f"{', '.join(sorted(self.labels)) or 'none'}); an admin grants "
                                "labels when creating the token (--labels)")

    def hold(self, job_id: int, attempt: int, worker: str) -> None:
        """403 unless the caller may act for this attempt: the worker it names is this token's,
        and a job token names its own job and attempt (jobs.holding() then checks the lease)."""
        if self.job is not None and self.job != (job_id, attempt):
            raise HTTPException(status.HTTP_403_FORBIDDEN,
                                f"this job token is for job {self.job[0]} attempt "
                                f"{self.job[1]} only, not job {job_id} attempt {attempt}")
        self.act_as(worker)


# Token lookups are cached per process. Each cached token stays usable until its id shows up
# among the revoked ones, which are read again at most every TOKEN_TTL_S by one query for the
# whole process (not one per token: with a thousand workers, per-token expiry meant a lookup
# for nearly every other request). A token revoked through this process's API is refused at
# once (forget_token); one revoked elsewhere (the CLI, another orchestrator) within TOKEN_TTL_S.
TOKEN_TTL_S = 5.0
CACHE_S = 600.0  # a looked-up token is looked up again after this long all the same
# A job token is cached for less: it names no token row, so no revocation reaches it; every
# route it can call checks that its attempt still holds the job (jobs.holding: 409 otherwise),
# and after CACHE_JOB_S the lookup refuses it (401) once the attempt has ended.
CACHE_JOB_S = 60.0
MAX_KNOWN = 20_000
_known: dict[str, tuple[float, Caller]] = {}  # token → (until, caller): valid tokens only


class Revoked:
    """The ids of revoked tokens in one app's database, read again when TOKEN_TTL_S old."""

    def __init__(self) -> None:
        self.ids: frozenset[int] = frozenset()
        self.until = 0.0

    async def ids_now(self, request: Request) -> frozenset[int]:
        if time.monotonic() >= self.until:
            self.until = time.monotonic() + TOKEN_TTL_S  # one reader; others use the last set
            try:
                self.ids = await run_in_threadpool(_revoked_ids, request)
            except BaseException:
                self.until = 0.0  # the next request reads again
                raise
        return self.ids


def _revoked_ids(request: Request) -> frozenset[int]:
    with request.app.state.sessions() as session:
        return frozenset(session.scalars(select(Token.id).where(Token.revoked)))


def _revoked(request: Request) -> Revoked:
    state = request.app.state
    found: Revoked | None = getattr(state, "revoked_tokens", None)
    if found is None:
        found = state.revoked_tokens = Revoked()
    return found


def forget_token(token_id: int) -> None:
    """Drop a revoked token from this process's cache: it is refused from the next request."""
    for token, (_, caller) in list(_known.items()):
        if caller.token_id == token_id:
            _known.pop(token, None)


def _job_caller(conn: Connection, token: str) -> Caller | None:
    attempt = find_job_token(conn, token)
    return None if attempt is None else Caller(
        Role.WORKER, f"job {attempt.job_id}", worker=attempt.worker,
        job=(attempt.job_id, attempt.number))


def _lookup(request: Request, token: str) -> Caller | None:
    with request.app.state.sessions() as session:
        found = find_token(session, token)
        return None if found is None else Caller(
            Role(found.role), found.name, token_id=found.id, worker=found.worker,
            labels=found.labels or ())


def _remember(token: str, caller: Caller) -> None:
    now = time.monotonic()
    if len(_known) >= MAX_KNOWN:  # drop what has lapsed; everything if that is not enough
        for key, (until, _) in list(_known.items()):
            if until <= now:
                _known.pop(key, None)
        if len(_known) >= MAX_KNOWN:
            _known.clear()
    _known[token] = (now + (CACHE_S if caller.job is None else CACHE_JOB_S), caller)


async def _caller(request: Request,
                  credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> Caller:
    if credentials is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED,
                            "an API token is required: Authorization: Bearer <token>",
                            headers={"WWW-Authenticate": "Bearer"})
    token = credentials.credentials
    known = _known.get(token)
    caller = known[1] if known is not None and known[0] > time.monotonic() else None
    if caller is not None and caller.token_id is not None and \
            caller.token_id in await _revoked(request).ids_now(request):
        _known.pop(token, None)
        caller = None
    elif caller is None:
        if token.startswith(JOB_TOKEN_PREFIX):  # each new attempt's robot: a hot path
            caller = await in_database(request, lambda conn: _job_caller(conn, token),
                                       single=True)
        else:
            caller = await run_in_threadpool(_lookup, request, token)
        if caller is not None:
            _remember(token, caller)
    if caller is None:
        _known.pop(token, None)
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "unknown or revoked API token",
                            headers={"WWW-Authenticate": "Bearer"})
    audit.identify(request.state, caller.audit_name, "token", machine=caller.role is Role.WORKER)
    return caller


def _need(permission: Permission) -> Callable[[Caller], Awaitable[Caller]]:
    async def check(caller: Caller = Depends(_caller)) -> Caller:
        if permission not in caller.permissions:
            raise HTTPException(status.HTTP_403_FORBIDDEN,
                                refusal(f"{caller.kind} token", permission))
        if caller.role is Role.WORKER and caller.worker is None:
            raise HTTPException(status.HTTP_403_FORBIDDEN,
                                "this worker token is not bound to a worker (it was made "
                                "before tokens named their worker); an admin creates one with "
                                "workhand token create --role worker --worker NAME --labels "
                                "a,b and revokes this one (workhand token revoke ID)")
        return caller

    check.permission = permission  # type: ignore[attr-defined]  # read by the route x role test
    return check


# Route parameters: `caller: Reader` etc. Each needs a token whose role has that permission
# (orchestrator/roles.py decides which roles do).
Reader = Annotated[Caller, Depends(_need(Permission.READ))]
Starter = Annotated[Caller, Depends(_need(Permission.START))]
Operator = Annotated[Caller, Depends(_need(Permission.OPERATE))]
Deployer = Annotated[Caller, Depends(_need(Permission.DEPLOY))]
Reviewer = Annotated[Caller, Depends(_need(Permission.REVIEW))]
Admin = Annotated[Caller, Depends(_need(Permission.ADMIN))]
WorkerCaller = Annotated[Caller, Depends(_need(Permission.WORK))]  # a bound worker (act_as, hold)
QueueCaller = Annotated[Caller, Depends(_need(Permission.QUEUE))]  # a worker or a job token
AnyCaller = Annotated[Caller, Depends(_caller)]


MAX_ID = 2**63 - 1  # BIGINT: larger numbers cannot name a row, and SQLite would overflow
Id = Annotated[int, Path(ge=1, le=MAX_ID, description="a row id")]
