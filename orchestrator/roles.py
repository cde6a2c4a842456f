"""Who may do what: the one table, for people in the console and tokens on the API alike.

A person (a console user) and an API token each have one role. A route names the permission it
needs (api/deps.py for tokens, console/auth.py for people); whether a role has it is decided
here and nowhere else, and tests/orchestrator/test_roles.py walks every route with every role.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"        # people, credentials, settings, tokens; and everything below
    OPERATOR = "operator"  # runs, schedules, queues
    AUTHOR = "author"      # deploys robots, starts (test) runs
    REVIEWER = "reviewer"  # handles what robots hand back
    VIEWER = "viewer"      # managers: read-only, the KPI board
    WORKER = "worker"      # machines only: leases jobs, reports on them


class Permission(StrEnum):
    READ = "read"          # every page and GET route but the credentials'
    START = "start"        # start a run of a robot
    OPERATE = "operate"    # cancel and retry runs; schedules; work queues
    DEPLOY = "deploy"      # deploy a robot version
    REVIEW = "review"      # accept, correct or reject what robots hand back
    ADMIN = "admin"        # people, credentials, tokens, settings, the audit log
    WORK = "work"          # a worker's routes (lease, heartbeat, complete)
    QUEUE = "queue"        # the work-queue routes of a job the caller holds


P = Permission
PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset({P.READ, P.START, P.OPERATE, P.DEPLOY, P.REVIEW, P.ADMIN}),
    Role.OPERATOR: frozenset({P.READ, P.START, P.OPERATE}),
    Role.AUTHOR: frozenset({P.READ, P.START, P.DEPLOY}),
    Role.REVIEWER: frozenset({P.READ, P.REVIEW}),
    Role.VIEWER: frozenset({P.READ}),
    Role.WORKER: frozenset({P.WORK, P.QUEUE}),
}
# A job token (the robot's own, for one attempt): that job's work-queue routes only.
JOB_PERMISSIONS = frozenset({P.QUEUE})
PEOPLE_ROLES = tuple(role for role in Role if role is not Role.WORKER)


def may(role: Role, permission: Permission) -> bool:
    return permission in PERMISSIONS[role]


def roles_with(permission: Permission) -> list[Role]:
    """The roles that have a permission, for messages ("needs operator or admin")."""
    return [role for role in Role if permission in PERMISSIONS[role]]


def refusal(kind: str, permission: Permission) -> str:
    """The sentence a refused caller reads."""
    allowed = " or ".join(role.value for role in roles_with(permission)) or "no role"
    return f"a {kind} cannot do this: it needs the '{permission.value}' permission ({allowed})"
