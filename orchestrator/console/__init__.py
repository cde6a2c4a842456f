"""The console: pages served by the orchestrator's own app under /console/.

Its front-end packages (htmx, ECharts) come from npm (package.json + package-lock.json at the
repository's root, installed by scripts/install.sh) and are served from node_modules by the app
itself: bank networks are closed, so never from a CDN.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from orchestrator.console.web import (
    HERE,
    ConsoleError,
    NotSignedIn,
    error_page,
    not_signed_in,
)

PAGES = ("account", "run_pages", "robot_pages", "ops_pages", "admin_pages", "kpi_board",
         "report_pages", "review_pages")
# the files of npm packages the pages load, by the name they are served under
VENDOR = {"htmx.min.js": "htmx.org/dist/htmx.min.js",
          "echarts.min.js": "echarts/dist/echarts.min.js"}


def node_modules() -> Path:
    return Path(os.environ.get("WORKHAND_NODE_MODULES")
                or HERE.parents[1] / "node_modules")


def install(app: FastAPI) -> None:
    for name in PAGES:
        app.include_router(importlib.import_module(f"orchestrator.console.{name}").router)
    app.mount("/console/static", StaticFiles(directory=HERE / "static"), name="console-static")
    app.add_exception_handler(ConsoleError, error_page)  # type: ignore[arg-type]
    app.add_exception_handler(NotSignedIn, not_signed_in)  # type: ignore[arg-type]

    @app.get("/console/vendor/{name}", include_in_schema=False)
    def vendor(name: str) -> Response:
        if name not in VENDOR:
            raise ConsoleError(404, f"no front-end file '{name}'")
        path = node_modules() / VENDOR[name]
        if not path.is_file():
            raise ConsoleError(404, f"{path} is missing: the console's front-end packages are "
                                    "not installed; run scripts/install.sh (npm ci)")
        return FileResponse(path, media_type="text/javascript",
                            headers={"Cache-Control": "public, max-age=86400"})

    @app.get("/", include_in_schema=False)
    @app.get("/console", include_in_schema=False)
    def home(request: Request) -> Response:
        return RedirectResponse("/console/", status_code=307)
