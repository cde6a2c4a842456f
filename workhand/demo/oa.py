"""/oa — OA 办公系统: robots open exception tickets through its API; people read them in a list."""

from __future__ import annotations

import json
from html import escape
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse

from workhand.demo.seed import OA_TOKEN
from workhand.demo.state import DemoState
from workhand.demo.web import add_login, page, require_user

TITLE = "OA 协同办公系统（演示）"


def _authorised(request: Request) -> bool:
    return request.headers.get("authorization", "") == f"Bearer {OA_TOKEN}"


def _unauthorised() -> JSONResponse:
    return JSONResponse({"error": "缺少或错误的访问令牌（Authorization: Bearer <token>）"},
                        status_code=401, headers={"WWW-Authenticate": "Bearer"})


def build(state: DemoState) -> APIRouter:
    router = APIRouter(prefix="/oa")
    add_login(router, state, "oa", TITLE)

    @router.post("/api/tickets", response_model=None)
    async def create(request: Request) -> JSONResponse:
        if not _authorised(request):
            return _unauthorised()
        try:
            payload: Any = await request.json()
        except ValueError:
            return JSONResponse({"error": "请求体不是合法的 JSON"}, status_code=400)
        if not isinstance(payload, dict) or not str(payload.get("title", "")).strip():
            return JSONResponse({"error": "工单必须有标题（title）"}, status_code=422)
        ticket = state.add_ticket({"status": "待处理", **payload})
        return JSONResponse({"id": ticket["id"], "status": ticket["status"],
                             "url": f"/oa/tickets/{ticket['id']}"}, status_code=201)

    @router.get("/api/tickets", response_model=None)
    def list_api(request: Request) -> JSONResponse:
        if not _authorised(request):
            return _unauthorised()
        return JSONResponse(state.snapshot()["tickets"])

    @router.get("", response_class=HTMLResponse)
    @router.get("/", response_class=HTMLResponse)
    @router.get("/tickets", response_class=HTMLResponse)
    def tickets(request: Request) -> HTMLResponse:
        user = require_user(request, state, "oa")
        rows = "".join(
            f'<tr><td><a href="/oa/tickets/{escape(t["id"])}">{escape(t["id"])}</a></td>'
            f'<td>{escape(str(t.get("title", "")))}</td>'
            f'<td>{escape(str(t.get("department", "")))}</td>'
            f'<td>{escape(str(t["status"]))}</td><td>{escape(t["created"])}</td></tr>'
            for t in reversed(state.snapshot()["tickets"]))
        body = ("<h2>异常工单</h2><table class=\"tickets\"><thead><tr><th>工单号</th><th>标题</th>"
                "<th>责任部门</th><th>状态</th><th>创建时间</th></tr></thead>"
                f"<tbody>{rows or '<tr><td colspan=5>暂无工单</td></tr>'}</tbody></table>")
        return page(TITLE, body, system="oa", user=user)

    @router.get("/tickets/{ticket_id}", response_class=HTMLResponse)
    def ticket(request: Request, ticket_id: str) -> HTMLResponse:
        user = require_user(request, state, "oa")
        found = next((t for t in state.snapshot()["tickets"] if t["id"] == ticket_id), None)
        if found is None:
            return page(TITLE, f'<div class="error">工单 {escape(ticket_id)} 不存在。</div>',
                        system="oa", user=user, status=404)
        text = json.dumps(found, ensure_ascii=False, indent=2)
        body = (f"<h2>{escape(str(found.get('title', '')))}</h2>"
                f'<pre class="ticket">{escape(text)}</pre><a href="/oa/tickets">返回列表</a>')
        return page(TITLE, body, system="oa", user=user)

    return router
