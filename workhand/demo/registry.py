"""/registry — 企业信用信息公示系统: a public search whose results arrive late (by fetch)."""

from __future__ import annotations

import asyncio
from html import escape
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from workhand.demo.state import DemoState
from workhand.demo.web import js_string, page

TITLE = "国家企业信用信息公示系统（演示）"
PAGE_SIZE = 5
DELAY = 0.6  # seconds before results arrive, like the real site under load

_SCRIPT = """
<script>
(function () {
  const q = %s, page = %d, box = document.getElementById('results');
  if (!q) return;
  box.innerHTML = '<p class="loading">正在查询，请稍候…</p>';
  fetch('/registry/api/search?q=' + encodeURIComponent(q) + '&page=' + page)
    .then(function (r) { return r.json(); })
    .then(function (data) {
      box.innerHTML = '';
      const info = document.createElement('p');
      info.className = 'total';
      info.textContent = '共查询到 ' + data.total + ' 条企业信息';
      box.appendChild(info);
      if (!data.total) {
        const empty = document.createElement('p');
        empty.className = 'empty';
        empty.textContent = '未查询到相关企业信息，请检查企业名称后重试。';
        box.appendChild(empty);
        return;
      }
      const list = document.createElement('ul');
      list.className = 'results';
      data.results.forEach(function (c) {
        const li = document.createElement('li');
        li.className = 'result';
        li.dataset.name = c.name;
        li.innerHTML = '<a class="name"></a><div class="muted">统一社会信用代码：' +
          '<span class="code"></span>　法定代表人：<span class="rep"></span></div>' +
          '<div>登记状态：<span class="status"></span>　年报：<span class="annual-report">' +
          '</span></div>';
        li.querySelector('.name').textContent = c.name;
        li.querySelector('.name').href = c.url;
        li.querySelector('.code').textContent = c.code;
        li.querySelector('.rep').textContent = c.legal_rep;
        li.querySelector('.status').textContent = c.status;
        li.querySelector('.annual-report').textContent = c.annual_report;
        list.appendChild(li);
      });
      box.appendChild(list);
      const nav = document.createElement('div');
      nav.className = 'pager';
      const link = function (cls, text, p) {
        const a = document.createElement('a');
        a.className = cls; a.textContent = text;
        a.href = '/registry/search?q=' + encodeURIComponent(q) + '&page=' + p;
        nav.appendChild(a);
      };
      if (data.page > 1) link('prev', '上一页', data.page - 1);
      const where = document.createElement('span');
      where.textContent = '第 ' + data.page + '/' + data.pages + ' 页';
      nav.appendChild(where);
      if (data.page < data.pages) link('next', '下一页', data.page + 1);
      box.appendChild(nav);
    })
    .catch(function () { box.textContent = '查询失败，请稍后重试。'; });
})();
</script>
"""


def build(state: DemoState) -> APIRouter:
    router = APIRouter(prefix="/registry")

    def search_page(q: str, page_no: int) -> HTMLResponse:
        body = ('<h2>企业信息查询</h2><form method="get" action="/registry/search" class="search">'
                '<label for="q">企业名称</label>'
                f'<input id="q" name="q" size="40" value="{escape(q)}" '
                'placeholder="请输入企业名称或统一社会信用代码"> '
                '<button type="submit">查询</button>'
                '</form><div id="results" aria-live="polite"></div>'
                + _SCRIPT % (js_string(q), page_no))
        return page(TITLE, body, system="registry")

    @router.get("", response_class=HTMLResponse)
    @router.get("/", response_class=HTMLResponse)
    def home() -> HTMLResponse:
        return search_page("", 1)

    @router.get("/search", response_class=HTMLResponse)
    def search(q: str = "", page: int = 1) -> HTMLResponse:
        return search_page(q.strip(), max(page, 1))

    @router.get("/api/search")
    async def api_search(q: str = "", page: int = 1) -> dict[str, Any]:
        await asyncio.sleep(DELAY)
        q = q.strip()
        state.note("registry", q)
        found = [c for c in state.companies.values() if q and (q in c.name or q == c.code)]
        # exact name first, as the real site ranks it
        found.sort(key=lambda c: (c.name != q, len(c.name), c.name))
        pages = max(1, -(-len(found) // PAGE_SIZE))
        page = min(max(page, 1), pages)
        chunk = found[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
        return {"q": q, "total": len(found), "page": page, "pages": pages,
                "results": [{"name": c.name, "code": c.code, "status": c.status,
                             "annual_report": c.annual_report, "legal_rep": c.legal_rep,
                             "url": f"/registry/company/{c.code}"} for c in chunk]}

    @router.get("/company/{code}", response_class=HTMLResponse)
    def company(code: str) -> HTMLResponse:
        found = next((c for c in state.companies.values() if c.code == code), None)
        if found is None:
            return page(TITLE, '<div class="error">未找到统一社会信用代码为 '
                        f'{escape(code)} 的企业。</div><a href="/registry/">返回查询</a>',
                        system="registry", status=404)
        rows = [("企业名称", f'<span class="company-name">{escape(found.name)}</span>'),
                ("统一社会信用代码", escape(found.code)),
                ("法定代表人", escape(found.legal_rep)),
                ("登记状态", f'<span class="status">{escape(found.status)}</span>'),
                ("成立日期", escape(found.founded)),
                ("登记机关", escape(found.authority)),
                (f"{state.today.year - 1}年度报告",
                 f'<span class="annual-report">{escape(found.annual_report)}</span>')]
        if found.note:
            rows.append(("异常原因", f'<span class="abnormal-reason">{escape(found.note)}</span>'))
        table = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
        body = (f'<h2>{escape(found.name)}</h2><table class="company">{table}</table>'
                '<a href="/registry/">返回查询</a>')
        return page(f"{found.name} - {TITLE}", body, system="registry", heading=TITLE)

    return router
