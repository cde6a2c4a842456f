"""Schedules (read-only here: they are defined in schedules/*.yaml and synced at start-up)."""

from __future__ import annotations

from fastapi import APIRouter

from orchestrator import schedules
from orchestrator.api.deps import Reader, SessionDep

router = APIRouter(prefix="/api/v1", tags=["schedules"])


@router.get("/schedules")
def list_schedules(caller: Reader, session: SessionDep) -> list[schedules.ScheduleStatus]:
    """Every schedule with its next fire time (null when disabled) and its latest fire."""
    return schedules.status(session)
