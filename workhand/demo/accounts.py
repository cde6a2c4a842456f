"""/accounts — 人民银行账户管理系统: due accounts, inspection actions, the daily change list."""

from __future__ import annotations

import csv
import datetime as dt
import io
from html import escape
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from workhand.demo.seed import BRANCHES
from workhand.demo.state import AccountRecord, DemoState
from workhand.demo.web import add_login, download, page, pager, require_user

TITLE = "人民币银行结算账户管理系统（演示）"
PAGE_SIZE = 10
STATUSES = ["待年检", "已年检", "已止付", "已转交网点", "全部"]
DONE_TEXT = {"inspect": "年检通过：账户已标记为已年检。", "stop": "止付成功：账户已止付。",
             "handback": "已转交开户网点复核。"}


def _date(text: str, default: dt.date) -> dt.date:
    try:
        return dt.date.fromisoformat(text) if text else default
    except ValueError:
        return default


def build(state: DemoState) -> APIRouter:
    router = APIRouter(prefix="/accounts")
    add_login(router, state, "accounts", TITLE)

    def frame(title: str, body: str, user: str, status: int = 200) -> HTMLResponse:
        nav = ('<nav><a href="/accounts/list">年检账户列表</a> | '
               '<a href="/accounts/changes">账户变动清单</a></nav>')
        return page(f"{title} - {TITLE}", nav + body, system="accounts", heading=TITLE,
                    user=user, status=status)

    def missing(number: str, user: str) -> HTMLResponse:
        return frame("账户不存在", f'<div class="error">账户 {escape(number)} 不存在，请核对账号。'
                     '</div>', user, status=404)

    def unavailable(number: str, user: str) -> HTMLResponse | None:
        """An outage of this account's records (tests: POST /_outage): nothing can be done."""
        if not state.down(number):
            return None
        return frame("系统繁忙", '<div class="error">账户管理系统繁忙，请稍后再试。</div>', user,
                     status=503)

    @router.get("")
    @router.get("/")
    def home(request: Request) -> RedirectResponse:
        require_user(request, state, "accounts")
        return RedirectResponse("/accounts/list", status_code=303)

    @router.get("/list", response_class=HTMLResponse)
    def account_list(request: Request, status: str = "待年检", q: str = "",
                     page: int = 1) -> HTMLResponse:
        user = require_user(request, state, "accounts")
        rows = [a for a in state.accounts.values()
                if (status == "全部" or a.status == status) and (not q or q in a.number
                                                                 or q in a.company)]
        pages = max(1, -(-len(rows) // PAGE_SIZE))
        page = min(max(page, 1), pages)
        options = "".join(f'<option{" selected" if s == status else ""}>{s}</option>'
                          for s in STATUSES)
        body = ('<h2>年检账户列表</h2><form method="get" action="/accounts/list" class="filter">'
                f'<label for="status">年检状态</label><select id="status" name="status">{options}'
                '</select> <label for="q">账号/户名</label>'
                f'<input id="q" name="q" value="{escape(q)}"> <button type="submit">查询</button>'
                f'</form><p class="muted">共 {len(rows)} 户</p><table class="accounts"><thead><tr>'
                "<th>账号</th><th>户名</th><th>开户网点</th><th>账户性质</th><th>年检状态</th>"
                "<th>操作</th></tr></thead><tbody>")
        for a in rows[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]:
            body += (f"<tr><td>{a.number}</td><td>{escape(a.company)}</td>"
                     f"<td>{escape(a.branch_name)}</td><td>{a.kind}</td><td>{a.status}</td>"
                     f'<td><a href="/accounts/account/{a.number}">详情</a></td></tr>')
        body += "</tbody></table>"
        body += pager(f"/accounts/list?status={quote(status)}&q={quote(q)}", page, pages)
        return frame("年检账户列表", body, user)

    def detail(a: AccountRecord, user: str, done: str = "") -> HTMLResponse:
        flash = f'<div class="flash" role="status">{DONE_TEXT[done]}</div>' if done else ""
        info = [("账号", f'<span class="account-number">{a.number}</span>'),
                ("户名", escape(a.company)), ("开户网点", f"{a.branch} {escape(a.branch_name)}"),
                ("账户性质", a.kind), ("开户日期", a.opened),
                ("年检状态", f'<span class="inspection-status">{a.status}</span>')]
        if a.stopped:
            info.append(("止付原因", escape(a.stop_reason)))
        if a.handed_back:
            info.append(("转交原因", escape(a.handback_reason)))
        table = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in info)
        base = f"/accounts/account/{a.number}"
        confirm = f"确认对账户 {a.number} 止付？"
        actions = (
            f'<div class="actions"><form method="post" action="{base}/inspect">'
            '<button type="submit">年检通过</button></form>'
            f'<form method="post" action="{base}/stop" id="stop-form">'
            '<label for="stop-reason">止付原因</label>'
            '<input id="stop-reason" name="reason" size="40">'
            '<input type="hidden" name="confirmed" value="0"> '
            '<button type="submit" class="danger" onclick="if (confirm(\''
            f"{confirm}'))"
            " { this.form.confirmed.value = '1'; return true; } return false;\">止付</button>"
            f'</form><form method="post" action="{base}/handback">'
            '<label for="handback-reason">转交原因</label>'
            '<textarea id="handback-reason" name="reason" rows="2" cols="40" required></textarea> '
            '<button type="submit" class="secondary">转交网点复核</button></form></div>')
        return frame(f"账户 {a.number}", f"{flash}<h2>账户详情</h2><table>{table}</table>"
                     + actions, user)

    @router.get("/account/{number}", response_class=HTMLResponse)
    def account(request: Request, number: str, done: str = "") -> HTMLResponse:
        user = require_user(request, state, "accounts")
        rec = state.accounts.get(number)
        if rec is None:
            return missing(number, user)
        if busy := unavailable(number, user):
            return busy
        return detail(rec, user, done if done in DONE_TEXT else "")

    def back(number: str, done: str) -> RedirectResponse:
        return RedirectResponse(f"/accounts/account/{number}?done={done}", status_code=303)

    @router.post("/account/{number}/inspect", response_model=None)
    def inspect(request: Request, number: str) -> Response:
        user = require_user(request, state, "accounts")
        if number not in state.accounts:
            return missing(number, user)
        if busy := unavailable(number, user):
            return busy
        state.inspect(number, user)
        return back(number, "inspect")

    @router.post("/account/{number}/stop", response_model=None)
    def stop(request: Request, number: str, reason: Annotated[str, Form()] = "",
             confirmed: Annotated[str, Form()] = "0") -> Response:
        user = require_user(request, state, "accounts")
        if number not in state.accounts:
            return missing(number, user)
        if busy := unavailable(number, user):
            return busy
        if confirmed != "1":
            return frame("止付未确认",
                         '<div class="error">止付操作未经确认，账户状态未改变。</div>', user,
                         status=400)
        state.stop(number, reason.strip() or "企业登记状态异常", user)
        return back(number, "stop")

    @router.post("/account/{number}/handback", response_model=None)
    def handback(request: Request, number: str,
                 reason: Annotated[str, Form()] = "") -> Response:
        user = require_user(request, state, "accounts")
        if number not in state.accounts:
            return missing(number, user)
        if busy := unavailable(number, user):
            return busy
        if not reason.strip():
            return frame("缺少转交原因", '<div class="error">请填写转交原因。</div>', user,
                         status=400)
        state.hand_back(number, reason.strip(), user)
        return back(number, "handback")

    @router.get("/changes", response_class=HTMLResponse)
    def changes(request: Request, date: str = "") -> HTMLResponse:
        user = require_user(request, state, "accounts")
        day = _date(date, state.today - dt.timedelta(days=1))
        rows = _changes(state, day)
        body = ('<h2>账户变动清单</h2><form method="get" action="/accounts/changes">'
                '<label for="date">变动日期</label>'
                f'<input type="date" id="date" name="date" value="{day.isoformat()}"> '
                '<button type="submit">查询</button></form>'
                f'<p class="muted">{day.isoformat()} 开立、变更、撤销账户共 {len(rows)} 户</p>'
                "<table><thead><tr><th>账号</th><th>户名</th><th>变动类型</th><th>变动日期</th>"
                "<th>网点号</th><th>网点名称</th></tr></thead><tbody>"
                + "".join("<tr>" + "".join(f"<td>{escape(v)}</td>" for v in r) + "</tr>"
                          for r in rows)
                + f'</tbody></table><a class="button export" href="/accounts/changes/export?date='
                f'{day.isoformat()}">导出CSV</a>')
        return frame("账户变动清单", body, user)

    @router.get("/changes/export")
    def export(request: Request, date: str = "") -> Response:
        require_user(request, state, "accounts")
        day = _date(date, state.today - dt.timedelta(days=1))
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(["账号", "户名", "变动类型", "变动日期", "网点号", "网点名称"])
        writer.writerows(_changes(state, day))
        name = f"账户变动清单_{day:%Y%m%d}.csv"
        state.downloaded("accounts", name)
        return download(out.getvalue().encode("gbk"), name, "text/csv; charset=gbk",
                        f"account-changes_{day:%Y%m%d}.csv")

    return router


def _changes(state: DemoState, day: dt.date) -> list[list[str]]:
    return [[c.number, c.holder, c.kind, day.isoformat(), c.branch, BRANCHES[c.branch]]
            for c in state.changes if state.today - dt.timedelta(days=c.days_ago) == day]
