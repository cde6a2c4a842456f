"""What every demo system shares: the page frame, the login form and session checks."""

from __future__ import annotations

import json
from html import escape
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from workhand.demo.state import DemoState

STYLE = """
body{margin:0;font-family:"Noto Sans CJK SC","Microsoft YaHei",sans-serif;background:#f4f5f7;
color:#222;font-size:14px}
header{color:#fff;padding:10px 24px;display:flex;justify-content:space-between;align-items:center}
header h1{font-size:18px;margin:0}header a{color:#fff;margin-left:12px}
main{max-width:1080px;margin:20px auto;background:#fff;padding:20px 28px;border-radius:4px;
box-shadow:0 1px 3px rgba(0,0,0,.12)}
table{border-collapse:collapse;width:100%;margin:12px 0}
th,td{border:1px solid #d9dce1;padding:6px 8px;text-align:left}th{background:#eef1f5}
label{display:inline-block;min-width:72px;margin-right:6px}
input,select,textarea{padding:5px 8px;border:1px solid #b8bec7;border-radius:3px;font-size:14px}
button,.button{padding:6px 16px;border:0;border-radius:3px;background:#1f5fa8;color:#fff;
cursor:pointer;font-size:14px;text-decoration:none;display:inline-block}
button.danger{background:#b3261e}button.secondary{background:#6b7280}
form.row>div{margin:10px 0}.flash{padding:8px 12px;background:#e7f5ea;border:1px solid #9bd1a7;
margin-bottom:12px}.error{padding:8px 12px;background:#fdecea;border:1px solid #f3a9a3;
margin-bottom:12px}.pager a{margin:0 6px}.muted{color:#6b7280}
.modal-backdrop{position:fixed;inset:0;background:rgba(0,0,0,.45);display:flex;
align-items:center;justify-content:center}.modal{background:#fff;padding:20px 28px;width:420px;
border-radius:4px}.actions form{margin:14px 0;padding:12px;border:1px solid #e3e6ea}
"""

COLOURS = {"registry": "#a61b1b", "accounts": "#1f4e8c", "imaging": "#0f766e",
           "core": "#1e3a5f", "clearing": "#2f6b2f", "oa": "#4b5563", "": "#374151"}


def page(title: str, body: str, *, system: str = "", heading: str = "", user: str | None = None,
         status: int = 200) -> HTMLResponse:
    """A full HTML page in the demo's frame; body is already-escaped HTML."""
    who = ""
    if user:
        who = f'<span>当前用户：{escape(user)}<a href="/{system}/logout">退出</a></span>'
    html = (f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
            f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>"
            f'<header style="background:{COLOURS.get(system, "#374151")}">'
            f"<h1>{escape(heading or title)}</h1>{who}</header><main>{body}</main></body></html>")
    return HTMLResponse(html, status_code=status)


def js_string(value: str) -> str:
    """A value safe to put inside an inline <script> as a JS string literal."""
    return json.dumps(value, ensure_ascii=False).replace("<", "\\u003c")


def download(content: bytes, filename: str, media_type: str, ascii_name: str) -> Response:
    """A file download whose Chinese name survives (RFC 5987), with an ASCII name for old tools."""
    disposition = f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"
    return Response(content, media_type=media_type,
                    headers={"Content-Disposition": disposition})


class LoginRequired(Exception):
    """Raised by a page that needs a session; the app turns it into a redirect to the login."""

    def __init__(self, system: str, next_url: str) -> None:
        super().__init__(system)
        self.system, self.next_url = system, next_url


def cookie_name(system: str) -> str:
    return f"demo_{system}_session"


def require_user(request: Request, state: DemoState, system: str) -> str:
    user = state.user(system, request.cookies.get(cookie_name(system)))
    if user is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(system, target)
    return user


def login_redirect(err: LoginRequired) -> RedirectResponse:
    return RedirectResponse(f"/{err.system}/login?next={quote(err.next_url)}", status_code=303)


def add_login(router: APIRouter, state: DemoState, system: str, title: str,
              user_label: str = "用户名") -> None:
    """GET/POST {prefix}/login and GET {prefix}/logout for one system."""
    home = f"/{system}/"

    def form(next_url: str, error: str = "", status: int = 200) -> HTMLResponse:
        err = f'<div class="error" role="alert">{escape(error)}</div>' if error else ""
        body = (f"<h2>用户登录</h2>{err}"
                f'<form method="post" action="/{system}/login" class="row login">'
                f'<input type="hidden" name="next" value="{escape(next_url)}">'
                f'<div><label for="username">{escape(user_label)}</label>'
                f'<input id="username" name="username" autocomplete="off"></div>'
                f'<div><label for="password">密码</label>'
                f'<input id="password" name="password" type="password"></div>'
                f'<div><button type="submit">登录</button></div></form>')
        return page(f"{title} - 登录", body, system=system, heading=title, status=status)

    @router.get("/login", response_class=HTMLResponse)
    def login_page(next: str = home) -> HTMLResponse:
        return form(next)

    @router.post("/login", response_model=None)
    def login(username: Annotated[str, Form()] = "", password: Annotated[str, Form()] = "",
              next: Annotated[str, Form()] = home) -> Response:
        token = state.login(system, username.strip(), password)
        if token is None:
            return form(next, f"{user_label}或密码错误，请重新输入。", status=401)
        target = next if next.startswith(f"/{system}") else home
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(cookie_name(system), token, httponly=True, path=f"/{system}",
                            samesite="lax")
        return response

    @router.get("/logout")
    def logout(request: Request) -> RedirectResponse:
        state.logout(request.cookies.get(cookie_name(system)))
        response = RedirectResponse(f"/{system}/login", status_code=303)
        response.delete_cookie(cookie_name(system), path=f"/{system}")
        return response


def pager(base: str, page_no: int, pages: int) -> str:
    """上一页 / 第 x/y 页 / 下一页 links; base already carries the other query parameters."""
    sep = "&" if "?" in base else "?"
    parts = []
    if page_no > 1:
        parts.append(f'<a class="prev" href="{escape(base)}{sep}page={page_no - 1}">上一页</a>')
    parts.append(f"<span>第 {page_no}/{max(pages, 1)} 页</span>")
    if page_no < pages:
        parts.append(f'<a class="next" href="{escape(base)}{sep}page={page_no + 1}">下一页</a>')
    return f'<div class="pager">{"".join(parts)}</div>'
