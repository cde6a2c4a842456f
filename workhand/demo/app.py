"""One FastAPI app holding every demo system, each under its own prefix, plus test endpoints."""

from __future__ import annotations

from html import escape
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from workhand.demo import accounts, imaging, ledgers, oa, registry
from workhand.demo.seed import OA_TOKEN, USERS
from workhand.demo.state import DemoState
from workhand.demo.web import LoginRequired, login_redirect, page

SYSTEMS = [
    ("registry", registry.TITLE, "公开查询，无需登录"),
    ("accounts", accounts.TITLE, "S1 年检、S2 变动清单"),
    ("imaging", imaging.TITLE, "S2 影像上报核验"),
    ("core", ledgers.CORE_TITLE, "S3 对账单"),
    ("clearing", ledgers.CLEARING_TITLE, "S3 清算报表"),
    ("oa", oa.TITLE, "S3 异常工单（API 令牌见 robots/credentials/demo.yaml）"),
]

_LOCAL = {"127.0.0.1", "::1"}


def _local_only(request: Request) -> Response | None:
    if request.client is None or request.client.host not in _LOCAL:
        return JSONResponse({"error": "test endpoints answer only on 127.0.0.1"}, status_code=403)
    return None


def create_app(state: DemoState) -> FastAPI:
    app = FastAPI(title="Workhand demo systems", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.demo = state
    app.include_router(registry.build(state))
    app.include_router(accounts.build(state))
    app.include_router(imaging.build(state))
    app.include_router(ledgers.build_core(state))
    app.include_router(ledgers.build_clearing(state))
    app.include_router(oa.build(state))

    @app.exception_handler(LoginRequired)
    async def to_login(request: Request, err: LoginRequired) -> Response:
        return login_redirect(err)

    @app.get("/", response_class=HTMLResponse)
    def index() -> HTMLResponse:
        rows = "".join(
            f'<tr><td><a href="/{key}/">{escape(title)}</a></td><td>/{key}</td>'
            f"<td>{escape(USERS[key][0]) if key in USERS else '—'}</td>"
            f"<td>{escape(USERS[key][1]) if key in USERS else '—'}</td>"
            f"<td>{escape(note)}</td></tr>" for key, title, note in SYSTEMS)
        body = ("<h2>演示系统</h2><p>这些系统模拟银行内外部系统，"
                "供示例机器人（robots/）演示与测试。"
                "数据每次启动时按固定种子生成。</p><table><thead><tr><th>系统</th><th>地址</th>"
                f"<th>用户名</th><th>密码</th><th>用途</th></tr></thead><tbody>{rows}</tbody>"
                f"</table><p class=\"muted\">OA 接口令牌：{OA_TOKEN}</p>"
                '<p><a href="/mail">演示收件箱</a>（机器人发出的邮件都在这里）</p>')
        return page("Workhand 演示系统", body)

    @app.get("/mail", response_class=HTMLResponse)
    def mailbox() -> HTMLResponse:
        mails = state.snapshot()["mails"]
        items = "".join(
            f'<div class="mail"><h3>{escape(m["subject"])}</h3><p class="muted">'
            f'{escape(m["received"])}　发件人：{escape(m["from"])}　收件人：'
            f'{escape(", ".join(m["to"]))}'
            + (f'　附件：{escape(", ".join(m["attachments"]))}' if m["attachments"] else "")
            + f'</p><pre>{escape(m["body"] or m["html"])}</pre></div>'
            for m in reversed(mails))
        body = (f"<h2>收件箱（演示邮件服务器，共 {len(mails)} 封）</h2>"
                + (items or '<p class="muted">还没有邮件。</p>'))
        return page("演示收件箱", body)

    @app.get("/_state", response_model=None)
    def get_state(request: Request) -> Response | dict[str, Any]:
        return _local_only(request) or state.snapshot()

    @app.post("/_outage", response_model=None)
    async def outage(request: Request) -> Response | dict[str, Any]:
        """{"accounts": [...]}: the account system answers 503 for these until cleared ([])
        or reset; tests use it to make some work items fail."""
        refused = _local_only(request)
        if refused:
            return refused
        accounts = (await request.json()).get("accounts") or []
        state.set_outage([str(a) for a in accounts])
        return {"outage": sorted(state.outage)}

    @app.post("/_reset", response_model=None)
    def reset(request: Request) -> Response | dict[str, Any]:
        refused = _local_only(request)
        if refused:
            return refused
        state.reset()
        return {"ok": True}

    return app
