"""create_app mounts every router it names: one that does not import is an error at start-up,
never a part of the API silently missing (tests would then meet 404s, not failures)."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import pytest
from fastapi.routing import APIRoute

from orchestrator import api
from orchestrator import app as app_module
from orchestrator.app import ROUTERS, create_app
from orchestrator.settings import Settings


def test_every_router_is_mounted(tmp_path: Path, sqlite_url: str) -> None:
    """Every module of orchestrator/api that has a router is named in ROUTERS, and each of
    its routes is in the app."""
    with_router = {m.name for m in pkgutil.iter_modules(api.__path__)
                   if hasattr(importlib.import_module(f"orchestrator.api.{m.name}"), "router")}
    assert with_router == set(ROUTERS)
    app = create_app(Settings(data_dir=tmp_path, database_url=sqlite_url), services=False)
    mounted = {(path, method.upper()) for path, methods in app.openapi()["paths"].items()
               for method in methods}
    for name in ROUTERS:
        router = importlib.import_module(f"orchestrator.api.{name}").router
        wanted = {(re.sub(r":\w+}", "}", r.path), method) for r in router.routes
                  if isinstance(r, APIRoute) and r.include_in_schema for method in r.methods}
        assert wanted and wanted <= mounted, name


def test_a_router_that_does_not_import_stops_the_app(tmp_path: Path, sqlite_url: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app_module, "ROUTERS", (*ROUTERS, "not_built_yet"))
    with pytest.raises(ModuleNotFoundError, match="not_built_yet"):
        create_app(Settings(data_dir=tmp_path, database_url=sqlite_url), services=False)
