"""The orchestrator's tables (SQLAlchemy 2). Change them only together with a migration."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from orchestrator.states import LEASABLE


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON,  # noqa: RUF012
                           dt.datetime: DateTime(timezone=True)}


class Token(Base):
    """An API token: only its SHA-256 is stored. Roles: admin, operator, viewer, worker.

    A worker token is bound to one worker name and the labels it was granted: it acts for that
    worker only and leases only jobs whose labels it was granted (a worker token from before
    0004 has no worker and is refused until replaced)."""

    __tablename__ = "tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    created: Mapped[dt.datetime] = mapped_column(default=utcnow)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    worker: Mapped[str | None] = mapped_column(String(200), nullable=True)
    labels: Mapped[list[Any]] = mapped_column(default=list)


class RobotVersion(Base):
    """An immutable robot bundle (the robot file, robots it calls, its data), by content hash."""

    __tablename__ = "robot_versions"
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    robot: Mapped[str] = mapped_column(String(200), index=True)
    title: Mapped[str] = mapped_column(String(500), default="")
    file: Mapped[str] = mapped_column(String(500))  # the robot file's path inside the bundle
    bundle: Mapped[bytes] = mapped_column(LargeBinary)
    savings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    credentials: Mapped[list[Any]] = mapped_column(default=list)
    deployed: Mapped[dt.datetime] = mapped_column(default=utcnow)
    description: Mapped[str] = mapped_column(Text, default="")
    # the robot's declared inputs, as the start form shows them: [{name, type, default,
    # required, description, choices}]
    inputs: Mapped[list[Any]] = mapped_column(default=list)
    deployed_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # the labels a worker must have to run it (["desktop"]: a display), from the step
    # libraries it uses (libs.plan.worker_needs); every job of it carries them as labels
    needs: Mapped[list[Any]] = mapped_column(default=list)


class Robot(Base):
    """A deployed robot: its id and the version that new jobs run."""

    __tablename__ = "robots"
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    current: Mapped[str] = mapped_column(ForeignKey("robot_versions.digest"))
    updated: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Schedule(Base):
    __tablename__ = "schedules"
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    robot: Mapped[str] = mapped_column(String(200))
    cron: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    inputs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    max_attempts: Mapped[int] = mapped_column(Integer, default=1)
    retry_delay_s: Mapped[float] = mapped_column(Float, default=10.0)
    retry_backoff: Mapped[float] = mapped_column(Float, default=2.0)
    timeout_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    labels: Mapped[list[Any]] = mapped_column(default=list)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    misfire: Mapped[str] = mapped_column(String(20), default="run_once")
    source: Mapped[str] = mapped_column(String(500), default="")
    last_fire: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    # paused by a person (the console, the API): kept when the schedule files are deployed
    # again, which set `enabled` from the file
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    paused_by: Mapped[str | None] = mapped_column(String(200), nullable=True)


class Fire(Base):
    """One fire of a schedule. The unique key makes firing exactly-once across processes."""

    __tablename__ = "fires"
    __table_args__ = (UniqueConstraint("schedule", "fire_time", name="uq_fire"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    schedule: Mapped[str] = mapped_column(String(200))
    fire_time: Mapped[dt.datetime] = mapped_column()
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id"), nullable=True)
    created: Mapped[dt.datetime] = mapped_column(default=utcnow)


# The jobs a lease may take, as SQL: the partial index ix_jobs_ready covers exactly these rows,
# and a query uses it only when its WHERE holds this very text (not bound parameters).
READY = "state IN (" + ", ".join(f"'{s.value}'" for s in sorted(LEASABLE)) + ")"


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_dispatch", "state", "priority", "id"),
                      Index("ix_jobs_lease", "state", "lease_expires"),
                      # the console's views of millions of runs: by day, by worker
                      Index("ix_jobs_created", "created"), Index("ix_jobs_finished", "finished"),
                      Index("ix_jobs_worker", "worker", "id"),
                      Index("ix_jobs_state", "state", "id"),
                      Index("ix_jobs_ready", text("priority DESC"), "id",
                            postgresql_where=text(READY), sqlite_where=text(READY)))
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True)
    robot: Mapped[str] = mapped_column(String(200), index=True)
    version: Mapped[str] = mapped_column(ForeignKey("robot_versions.digest"))
    inputs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[str] = mapped_column(String(20), default="queued")
    priority: Mapped[int] = mapped_column(Integer, default=0)
    not_before: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    labels: Mapped[list[Any]] = mapped_column(default=list)
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=1)
    retry_delay_s: Mapped[float] = mapped_column(Float, default=10.0)
    retry_backoff: Mapped[float] = mapped_column(Float, default=2.0)
    timeout_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    worker: Mapped[str | None] = mapped_column(String(200), nullable=True)
    lease_expires: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    schedule: Mapped[str | None] = mapped_column(String(200), nullable=True)
    source: Mapped[str] = mapped_column(String(20), default="api")  # api | schedule | cli
    created: Mapped[dt.datetime] = mapped_column(default=utcnow)
    started: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    finished: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # a retry of a finished job (POST /jobs/{id}/retry): the job it retries, and, when only its
    # failed items are retried, the work item ids done in any run of that chain (not run again)
    retry_of: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    skip_items: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)


class Attempt(Base):
    """Each try of a job: who ran it, how it ended (audit)."""

    __tablename__ = "attempts"
    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    worker: Mapped[str] = mapped_column(String(200))
    started: Mapped[dt.datetime] = mapped_column(default=utcnow)
    finished: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(20), nullable=True)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # The SHA-256 of the attempt's job token (what the robot uses for its work queues): valid
    # while the attempt has not finished, for that job's queue routes only.
    token_digest: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True)


class JobItem(Base):
    """A work item of a job: done, business_exception or system_error, with its message; one
    row per item across the job's attempts. `skipped`: done in an earlier run of the job's
    chain of retries and not run again (Job.skip_items): no work, no KPI. `worked_by`: the
    attempts that worked it (more than one: re-worked, after an attempt was interrupted). A
    work-queue item's row is written when the orchestrator takes its outcome (queue_item_id),
    never from the robot's word."""

    __tablename__ = "job_items"
    __table_args__ = (Index("ix_job_items_queue_item", "job_id", "queue_item_id"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id"), index=True)
    reference: Mapped[str] = mapped_column(String(500))
    outcome: Mapped[str] = mapped_column(String(30))
    message: Mapped[str] = mapped_column(Text, default="")
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    duration_ms: Mapped[float] = mapped_column(Float, default=0.0)
    worked_by: Mapped[list[int] | None] = mapped_column(JSON, nullable=True)
    queue_item_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class JobEvent(Base):
    """Every step event of every job, as the runner wrote it (masked): the audit trail."""

    __tablename__ = "job_events"
    __table_args__ = (UniqueConstraint("job_id", "attempt", "seq", name="uq_job_event"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(Integer)
    event: Mapped[dict[str, Any]] = mapped_column()


class Artifact(Base):
    __tablename__ = "artifacts"
    __table_args__ = (UniqueConstraint("job_id", "attempt", "name", name="uq_artifact"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(500))
    path: Mapped[str] = mapped_column(String(1000))
    size: Mapped[int] = mapped_column(BigInteger)


class Worker(Base):
    __tablename__ = "workers"
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    labels: Mapped[list[Any]] = mapped_column(default=list)
    last_seen: Mapped[dt.datetime] = mapped_column(default=utcnow)
    current_job: Mapped[int | None] = mapped_column(nullable=True)
    # robots it runs at once, as it said with its last lease request; None: it did not say
    slots: Mapped[int | None] = mapped_column(Integer, nullable=True)


class Queue(Base):
    __tablename__ = "queues"
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    max_retries: Mapped[int] = mapped_column(Integer, default=2)
    description: Mapped[str] = mapped_column(Text, default="")
    created: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # where items approved in human review go (a robot's review.request may name another)
    review_next: Mapped[str | None] = mapped_column(String(200), nullable=True)


class QueueItem(Base):
    """States: new, in_progress, done, business_exception, failed, abandoned, in_review,
    reviewed (orchestrator/queues.py: ITEM_TRANSITIONS)."""

    __tablename__ = "queue_items"
    __table_args__ = (UniqueConstraint("queue", "reference", name="uq_queue_reference"),
                      Index("ix_queue_items_dispatch", "queue", "state",
                            text("priority DESC"), "deadline", "id"),
                      Index("ix_queue_items_lease", "state", "lease_expires"),
                      Index("ix_queue_items_job", "job_id", "state"))
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True)
    queue: Mapped[str] = mapped_column(ForeignKey("queues.name"))
    reference: Mapped[str] = mapped_column(String(500))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    deadline: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    state: Mapped[str] = mapped_column(String(30), default="new")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    job_id: Mapped[int | None] = mapped_column(nullable=True)
    lease_expires: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    message: Mapped[str] = mapped_column(Text, default="")
    created: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # every try, for audit: [[job_id, attempt], ...] (two or more: the item was re-worked)
    worked_by: Mapped[list[list[int]] | None] = mapped_column(JSON, nullable=True)


class Credential(Base):
    """A vault entry: the fields' values encrypted together (Fernet); the key never lives here."""

    __tablename__ = "credentials"
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    field_names: Mapped[list[Any]] = mapped_column(default=list)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    updated: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # the hosts its secrets may be sent to (not secret, so not encrypted); None: any host the
    # worker allows
    hosts: Mapped[list[Any] | None] = mapped_column(nullable=True, default=None)


class KpiDaily(Base):
    """Savings figures per robot and day, kept up to date as jobs finish (the KPI board's data)."""

    __tablename__ = "kpi_daily"
    robot: Mapped[str] = mapped_column(String(200), primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    runs: Mapped[int] = mapped_column(Integer, default=0)
    successes: Mapped[int] = mapped_column(Integer, default=0)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    items_done: Mapped[int] = mapped_column(BigInteger, default=0)
    business_exceptions: Mapped[int] = mapped_column(BigInteger, default=0)
    system_errors: Mapped[int] = mapped_column(BigInteger, default=0)
    robot_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    minutes_saved: Mapped[float] = mapped_column(Float, default=0.0)
    # minutes people spent reviewing what the robot handed to review (already taken off
    # minutes_saved): the robot of the job that handed the item over, the day it was decided
    review_minutes: Mapped[float] = mapped_column(Float, default=0.0)


class User(Base):
    """A person who signs in to the console. Only an argon2 hash of the password is kept;
    `must_change`: the password was made for them (the first admin's, a reset) and has to be
    replaced at the next sign-in."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(10), default="zh")
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    must_change: Mapped[bool] = mapped_column(Boolean, default=False)
    created: Mapped[dt.datetime] = mapped_column(default=utcnow)
    password_changed: Mapped[dt.datetime] = mapped_column(default=utcnow)


class WebSession(Base):
    """A signed-in browser. The cookie carries a random id (signed); only its SHA-256 is kept
    here, so a copy of the database signs no one in. Ends at `expires` (absolute) or when idle
    longer than the setting, at sign-out, or when the user is disabled or changes password."""

    __tablename__ = "web_sessions"
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_seen: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires: Mapped[dt.datetime] = mapped_column()
    address: Mapped[str] = mapped_column(String(100), default="")


class SignInFailure(Base):
    """A failed sign-in, for throttling by name and by address (rows older than the window are
    deleted as new ones come)."""

    __tablename__ = "sign_in_failures"
    __table_args__ = (Index("ix_sign_in_failures_name", "name", "at"),
                      Index("ix_sign_in_failures_address", "address", "at"))
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    address: Mapped[str] = mapped_column(String(100))
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class AuditEntry(Base):
    """One mutating action, from the console or the API: who (a person or a token), what (the
    action), on which object, when, from where, and how it ended (the HTTP status). Written by
    orchestrator/audit.py only; the database refuses UPDATE and DELETE (migration 0009)."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_actor", "actor", "id"),
                      Index("ix_audit_action", "action", "id"))
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(200))
    actor_kind: Mapped[str] = mapped_column(String(20))  # user | token | system
    action: Mapped[str] = mapped_column(String(200))
    object: Mapped[str] = mapped_column(String(500), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    address: Mapped[str] = mapped_column(String(100), default="")
    status: Mapped[int] = mapped_column(Integer, default=0)


class ReportSetting(Base):
    """One setting of the daily report (enabled, send time, recipients, language, SMTP): a
    key and its JSON value, so a new setting needs no migration. The SMTP password is never
    here: it is in the vault (credential `smtp`, field `password`)."""

    __tablename__ = "report_settings"
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
    updated: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(200), default="")


class DailyReport(Base):
    """One day's daily report: the row is the claim. Whoever inserts it (unique day) sends it,
    so two orchestrator processes never both send a day; states sending, sent, failed."""

    __tablename__ = "daily_reports"
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    state: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    recipients: Mapped[list[Any]] = mapped_column(default=list)
    message_id: Mapped[str] = mapped_column(String(500), default="")
    error: Mapped[str] = mapped_column(Text, default="")
    by: Mapped[str] = mapped_column(String(200), default="")  # "service" or the admin's name
    claimed: Mapped[dt.datetime] = mapped_column(default=utcnow)
    finished: Mapped[dt.datetime | None] = mapped_column(nullable=True)


class Review(Base):
    """A work item a robot handed to people (orchestrator/review.py): its fields with the
    system's and the document's values, the decision and, for a change to an account number
    or an amount, the second reviewer who approved it (four-eyes). States: open,
    awaiting_second, approved, rejected."""

    __tablename__ = "reviews"
    __table_args__ = (Index("ix_reviews_state", "state", "queue", "id"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True)
    item_id: Mapped[int] = mapped_column(BigInteger, index=True)
    queue: Mapped[str] = mapped_column(String(200))
    reference: Mapped[str] = mapped_column(String(500))
    job_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    robot: Mapped[str] = mapped_column(String(200), default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    next_queue: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # [{name, label, kind, record, found, confidence, verdict, image: bool}]
    fields: Mapped[list[Any]] = mapped_column(default=list)
    state: Mapped[str] = mapped_column(String(20), default="open")
    requested: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # the first decision: {action, by, at, values, changes: [{name, before, after}], reason}
    decision: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    approved_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    finished: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    # when each reviewer opened it ({name: ISO time}): review minutes run from there
    opened: Mapped[dict[str, Any]] = mapped_column(default=dict)
    review_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    next_item_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class ReviewImage(Base):
    """A field's crop (PNG) the robot sent with its review request."""

    __tablename__ = "review_images"
    review_id: Mapped[int] = mapped_column(ForeignKey("reviews.id"), primary_key=True)
    field: Mapped[str] = mapped_column(String(200), primary_key=True)
    png: Mapped[bytes] = mapped_column(LargeBinary)
