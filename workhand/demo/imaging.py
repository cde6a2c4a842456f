"""/imaging — 人行影像核验系统: a branch operator queries whether an account's images are filed."""

from __future__ import annotations

import asyncio
import datetime as dt
from html import escape

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from workhand.demo.state import DemoState
from workhand.demo.web import add_login, cookie_name, page, require_user

TITLE = "人民银行账户影像核验系统（演示）"
DELAY = 0.4  # seconds per query: the real system is slow

_NOTICE = (
    '<div class="modal-backdrop" id="notice"><div class="modal" role="dialog" '
    'aria-label="系统公告"><h3>系统公告</h3><p>本系统将于今晚 22:00 至 23:30 进行例行维护，'
    '届时暂停影像上报与查询服务，请合理安排业务。</p>'
    '<button type="button" onclick="document.getElementById(\'notice\').remove()">我知道了'
    "</button></div></div>")


def build(state: DemoState) -> APIRouter:
    router = APIRouter(prefix="/imaging")
    add_login(router, state, "imaging", TITLE, user_label="柜员号")

    def form(account: str = "") -> str:
        return ('<h2>账户影像上报查询</h2><form method="get" action="/imaging/query">'
                '<label for="account">账号</label>'
                f'<input id="account" name="account" size="30" value="{escape(account)}"> '
                '<button type="submit">查询</button></form>')

    @router.get("", response_class=HTMLResponse)
    @router.get("/", response_class=HTMLResponse)
    def home(request: Request) -> HTMLResponse:
        user = require_user(request, state, "imaging")
        token = request.cookies.get(cookie_name("imaging"), "")
        notice = _NOTICE if state.first_visit(token) else ""
        return page(TITLE, form() + notice, system="imaging", user=user)

    @router.get("/query", response_class=HTMLResponse)
    async def query(request: Request, account: str = "") -> HTMLResponse:
        user = require_user(request, state, "imaging")
        account = account.strip()
        await asyncio.sleep(DELAY)
        state.note("imaging", account)
        change = next((c for c in state.changes if c.number == account), None)
        if change is None:
            result = (f'<div class="error">未找到账号 {escape(account)} 的账户信息，'
                      "请核对账号后重新查询。</div>")
        else:
            filed_on = state.today - dt.timedelta(days=change.days_ago)
            status = "已上报" if change.filed else "未上报"
            when = f"{filed_on.isoformat()} 16:{10 + int(account[-2:]) % 40:02d}" \
                if change.filed else "—"
            result = ('<table class="result"><tr><th>账号</th><th>户名</th><th>业务类型</th>'
                      "<th>影像上报状态</th><th>上报时间</th></tr>"
                      f"<tr><td>{change.number}</td><td>{escape(change.holder)}</td>"
                      f'<td>{change.kind}</td><td class="filing-status">{status}</td>'
                      f"<td>{when}</td></tr></table>")
        return page(f"{account} - {TITLE}", form(account) + result, system="imaging",
                    heading=TITLE, user=user)

    return router
