"""Workhand orchestrator (see issue 3): server, scheduler and workers."""
