"""create_app mounts every router it names: one that does not import is an error at start-up,
never a part of the API silently missing (tests would then meet 404s, not failures)."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path
from typing import Any

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


def _described(schema: dict[str, Any]) -> bool:
    """A schema that names what is in the answer: a model, a list of models, a file."""
    if "$ref" in schema or schema.get("format") == "binary":
        return True
    if schema.get("type") == "array":
        return _described(schema.get("items", {}))
    return schema.get("type") == "object" and bool(schema.get("properties"))


def test_every_operation_documents_its_answer(tmp_path: Path, sqlite_url: str) -> None:
    """OpenAPI shows the answer of every operation of the API: a response model (or, on the
    workers' hot paths, a documented one), never a bare object or 'any'."""
    app = create_app(Settings(data_dir=tmp_path, database_url=sqlite_url), services=False)
    vague = []
    for path, methods in app.openapi()["paths"].items():
        for method, operation in methods.items():
            for status, answer in operation["responses"].items():
                if not status.startswith("2") or status == "204":
                    continue
                content = answer.get("content", {})
                if not content or not all(_described(c.get("schema", {}))
                                          for c in content.values()):
                    vague.append(f"{method.upper()} {path} {status}")
    assert vague == []
