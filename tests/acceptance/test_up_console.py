"""`workhand up` on a fresh data folder ends with the console's URL and the first admin's one-time
password; signing in (in real Chromium) shows the three example runs with their step timelines
and screenshots, and the KPI board shows their savings equal to GET /api/v1/kpi."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect, sync_playwright

from tests.acceptance.test_up import wait_for, workhand_up

pytestmark = pytest.mark.acceptance
EXAMPLES = {"account-annual-inspection", "image-filing-check", "central-reconciliation"}


def test_up_prints_the_console_and_its_first_password(tmp_path: Path) -> None:
    with workhand_up(tmp_path, "--schedules", str(tmp_path / "none"),
                     env={"COLUMNS": "200"}) as up:
        proc, out, data, url = up.proc, up.log, up.data, up.url
        printed = wait_for("the console's address and password", lambda: re.search(
            r"one-time password (\S+)", out.read_text(encoding="utf-8")), 120, proc)
        text = out.read_text(encoding="utf-8")
        assert f"console        {url}/console/" in text
        password = printed.group(1)
        token = (data / "admin.token").read_text().strip()
        api = httpx.Client(base_url=f"{url}/api/v1", timeout=10,
                           headers={"Authorization": f"Bearer {token}"})

        def examples_done() -> list[dict[str, object]] | None:
            runs = [j for j in api.get("/jobs").json() if j["robot"] in EXAMPLES]
            finished = [j for j in runs if j["state"] in ("succeeded", "failed")]
            return finished if len(finished) == 3 else None

        runs = wait_for("the three example runs", examples_done, 300, proc)
        assert {j["state"] for j in runs} == {"succeeded"}, runs
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium")
            page = browser.new_page(locale="zh-CN")
            page.goto(f"{url}/")  # the root leads to the console, the console to signing in
            page.fill("input[name=name]", "admin")
            page.fill("input[name=password]", password)
            page.click("#sign-in button[type=submit]")
            expect(page.locator("#password")).to_be_visible()  # first: a password of one's own
            page.fill("input[name=current]", password)
            page.fill("input[name=new]", "the bank's own secret")
            page.fill("input[name=again]", "the bank's own secret")
            page.click("#password button")
            page.goto(f"{url}/console/runs")
            for run in runs:
                expect(page.locator(f"tr[data-run='{run['id']}']")).to_contain_text("成功")
            shots = 0
            for run in runs:
                page.goto(f"{url}/console/runs/{run['id']}")
                expect(page.locator("#timeline tbody tr").first).to_be_visible()
                assert page.locator("#timeline tbody tr").count() >= 3
                for shot in page.locator("img.shot").all():
                    shot.scroll_into_view_if_needed()  # loaded lazily
                    page.wait_for_function("img => img.complete && img.naturalWidth > 100",
                                           arg=shot.element_handle())
                    shots += 1
            assert shots >= 1  # the items handed back keep their screenshot
            kpi = api.get("/kpi").json()
            page.goto(f"{url}/console/kpi")
            page.wait_for_function("document.querySelector('#chart-hours canvas') !== null")
            expect(page.locator("#totals [data-figure=hours_saved]")).to_have_text(
                f"{kpi['totals']['hours_saved']:,.2f}")
            drawn = page.evaluate("""() => echarts.getInstanceByDom(
                document.getElementById('chart-hours')).getOption().series.map(
                s => [s.name, s.data.reduce((a, b) => a + b, 0)])""")
            assert {name: round(total, 2) for name, total in drawn} == {
                r["robot"]: r["hours_saved"] for r in kpi["robots"]}
            browser.close()
