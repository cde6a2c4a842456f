"""/core — 核心业务系统 and /clearing — 清算系统: the two sides of S3's reconciliation."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font

from workhand.demo.seed import Transaction
from workhand.demo.state import DemoState
from workhand.demo.web import add_login, download, page, require_user

CORE_TITLE = "核心业务系统（演示）"
CLEARING_TITLE = "资金清算系统（演示）"
GENERATE_DELAY = 0.8  # seconds the clearing system "builds" a report
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _date(text: str, default: dt.date) -> dt.date:
    try:
        return dt.date.fromisoformat(text) if text else default
    except ValueError:
        return default


def _thousands(amount: str) -> str:
    whole, cents = amount.split(".")
    return f"{int(whole):,}.{cents}"


def statement_csv(rows: list[Transaction], day: dt.date) -> bytes:
    """The core statement: two title lines, then a header, amounts with thousands separators."""
    out = io.StringIO()
    out.write("赣江银行核心业务系统 对公账户交易对账单\r\n")
    out.write(f"账务日期：{day.isoformat()}  机构：0001 资金清算中心  笔数：{len(rows)}\r\n")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["流水号", "交易日期", "交易时间", "账号", "户名", "借贷标志", "金额", "摘要"])
    for t in rows:
        writer.writerow([t.serial, day.isoformat(), t.time, t.account, t.holder, t.side,
                         _thousands(t.amount), t.memo])
    return out.getvalue().encode("gbk")


def clearing_xlsx(rows: list[Transaction], day: dt.date, kind: str) -> bytes:
    """The clearing report: a title row, then the header; amounts are real numbers."""
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    if kind == "detail":
        ws.title = "清算明细"
        ws.append([f"资金清算系统 清算明细表  清算日期：{day.isoformat()}"])
        ws.merge_cells("A1:F1")
        ws.append(["流水号", "清算日期", "账号", "户名", "金额", "清算状态"])
        for t in rows:
            ws.append([t.serial, day.isoformat(), t.account, t.holder, float(t.amount), "已清算"])
            ws.cell(ws.max_row, 5).number_format = "#,##0.00"
        for col, width in zip("ABCDEF", (18, 12, 22, 34, 16, 10), strict=True):
            ws.column_dimensions[col].width = width
    else:
        ws.title = "清算汇总"
        ws.append([f"资金清算系统 清算汇总表  清算日期：{day.isoformat()}"])
        ws.merge_cells("A1:C1")
        ws.append(["借贷标志", "笔数", "金额合计"])
        for side in "借贷":
            picked = [t for t in rows if t.side == side]
            ws.append([side, len(picked), round(sum(float(t.amount) for t in picked), 2)])
    ws["A1"].font = Font(bold=True, size=13)
    ws["A1"].alignment = Alignment(horizontal="center")
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


_GENERATE_JS = """
<script>
document.getElementById('generate').addEventListener('click', function () {
  const box = document.getElementById('report');
  const form = new FormData(document.getElementById('report-form'));
  box.innerHTML = '<p class="loading">报表生成中，请稍候…</p>';
  fetch('/clearing/api/generate', {method: 'POST', body: form})
    .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
    .then(function (data) {
      box.innerHTML = '<p>报表已生成：<span class="file-name"></span></p>';
      box.querySelector('.file-name').textContent = data.filename;
      const a = document.createElement('a');
      a.className = 'button download'; a.href = data.url; a.textContent = '下载报表';
      box.appendChild(a);
    })
    .catch(function () { box.textContent = '报表生成失败，请重新登录后再试。'; });
});
</script>
"""


def build_core(state: DemoState) -> APIRouter:
    router = APIRouter(prefix="/core")
    add_login(router, state, "core", CORE_TITLE)

    @router.get("", response_class=HTMLResponse)
    @router.get("/", response_class=HTMLResponse)
    def home(request: Request, date: str = "") -> HTMLResponse:
        user = require_user(request, state, "core")
        day = _date(date, state.today)
        link = f"/core/statement.csv?date={day.isoformat()}"
        body = ('<h2>对账单下载</h2><form method="get" action="/core/">'
                '<label for="date">账务日期</label>'
                f'<input type="date" id="date" name="date" value="{day.isoformat()}"> '
                '<button type="submit">查询</button></form>'
                f"<p>{day.isoformat()} 对公账户交易共 "
                f"{len(state.core) if day == state.today else 0} 笔。</p>"
                f'<a class="button" id="download" href="{link}">下载对账单</a>')
        return page(CORE_TITLE, body, system="core", user=user)

    @router.get("/statement.csv")
    def statement(request: Request, date: str = "") -> Response:
        require_user(request, state, "core")
        day = _date(date, state.today)
        rows = state.core if day == state.today else []
        name = f"对账单_{day:%Y%m%d}.csv"
        state.downloaded("core", name)
        return download(statement_csv(rows, day), name, "text/csv; charset=gbk",
                        f"statement_{day:%Y%m%d}.csv")

    return router


def build_clearing(state: DemoState) -> APIRouter:
    router = APIRouter(prefix="/clearing")
    add_login(router, state, "clearing", CLEARING_TITLE)

    @router.get("", response_class=HTMLResponse)
    @router.get("/", response_class=HTMLResponse)
    def home(request: Request) -> HTMLResponse:
        user = require_user(request, state, "clearing")
        body = ('<h2>报表中心</h2><form id="report-form" onsubmit="return false">'
                '<label for="kind">报表类型</label><select id="kind" name="kind">'
                '<option value="summary">清算汇总表</option>'
                '<option value="detail">清算明细表</option></select> '
                '<label for="date">清算日期</label>'
                f'<input type="date" id="date" name="date" value="{state.today.isoformat()}"> '
                '<button type="button" id="generate">生成报表</button></form>'
                '<div id="report"></div>' + _GENERATE_JS)
        return page(CLEARING_TITLE, body, system="clearing", user=user)

    @router.post("/api/generate")
    async def generate(request: Request, kind: Annotated[str, Form()] = "summary",
                       date: Annotated[str, Form()] = "") -> dict[str, Any]:
        require_user(request, state, "clearing")
        await asyncio.sleep(GENERATE_DELAY)
        day = _date(date, state.today)
        kind = "detail" if kind == "detail" else "summary"
        label = "清算明细" if kind == "detail" else "清算汇总"
        return {"url": f"/clearing/report.xlsx?kind={kind}&date={day.isoformat()}",
                "filename": f"{label}_{day:%Y%m%d}.xlsx"}

    @router.get("/report.xlsx")
    def report(request: Request, kind: str = "summary", date: str = "") -> Response:
        require_user(request, state, "clearing")
        day = _date(date, state.today)
        rows = state.clearing if day == state.today else []
        kind = "detail" if kind == "detail" else "summary"
        name = f"{'清算明细' if kind == 'detail' else '清算汇总'}_{day:%Y%m%d}.xlsx"
        state.downloaded("clearing", name)
        return download(clearing_xlsx(rows, day, kind), name, XLSX,
                        f"clearing-{kind}_{day:%Y%m%d}.xlsx")

    return router
