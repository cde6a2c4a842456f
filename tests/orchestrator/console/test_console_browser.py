"""The console in real Chromium, for every role: what each person sees and can do, signing in
(failures, throttling, one-time passwords), CSRF, sessions that end, markup shown as text, the
KPI board against the API, live state, and the audit log of it all.

The page screenshots in docs/console/ are made here (admin, Chinese and English)."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import func, select, update

from orchestrator import people, queues, schedules
from orchestrator.auth import create_token
from orchestrator.models import AuditEntry, Job, QueueItem, Schedule, WebSession
from orchestrator.roles import PEOPLE_ROLES, Permission, Role, may
from tests.orchestrator.console.conftest import (
    DOCS_SHOTS,
    PASSWORD,
    SENT,
    Site,
    sign_in,
    wait_for,
)

pytestmark = pytest.mark.acceptance
NAV = {"/console/": "今日", "/console/runs": "运行记录", "/console/robots": "机器人",
       "/console/schedules": "计划", "/console/queues": "工作队列", "/console/reviews": "复核",
       "/console/workers": "工作站",
       "/console/kpi": "效益看板",
       "/console/credentials": "凭据", "/console/users": "用户", "/console/audit": "审计",
       "/console/report": "日报"}
ADMIN_PAGES = ("/console/credentials", "/console/users", "/console/audit", "/console/report")


def csrf_post(page: Page, path: str, token: str | None = "page") -> int:
    """POST a form from inside the page, with the page's CSRF token, another, or none."""
    status: int = page.evaluate(
        """async ([path, token]) => {
             const body = new URLSearchParams();
             if (token === "page") token = document.querySelector("input[name=csrf]").value;
             if (token) body.set("csrf", token);
             const answer = await fetch(path, {method: "POST", body, redirect: "manual"});
             return answer.status;
           }""", [path, token])
    return status


@pytest.mark.parametrize("role", PEOPLE_ROLES)
def test_each_role_sees_its_pages_and_controls(site: Site, page: Page, role: Role) -> None:
    sign_in(page, site, role.value)
    expect(page.locator("header .user")).to_contain_text(role.value)
    links = page.locator("header nav a")
    shown = {link.get_attribute("href") for link in links.all()}
    admin = role is Role.ADMIN
    assert shown == {href for href in NAV if admin or href not in ADMIN_PAGES}
    for href in ADMIN_PAGES:  # typed in by hand: refused with a sentence
        answer = page.goto(site.url + href)
        assert answer is not None and answer.status == (200 if admin else 403)
        if not admin:
            expect(page.locator(".error")).to_contain_text("无权执行此操作")
    slow = site.jobs["slow"]
    page.goto(f"{site.url}/console/runs/{slow}")
    expect(page.locator("#run-state")).to_have_text("运行中")
    may_cancel = role in (Role.ADMIN, Role.OPERATOR)
    expect(page.locator("#cancel-run")).to_have_count(1 if may_cancel else 0)
    page.goto(f"{site.url}/console/runs")
    expect(page.locator("#cancel-selected")).to_have_count(1 if may_cancel else 0)
    if not may_cancel:  # and posting the form anyway is refused
        assert csrf_post(page, f"/console/runs/{slow}/cancel") == 403
        assert site.job(slow)["state"] == "running"


# What each page offers, and the permission it takes (orchestrator/roles.py decides who has it)
CONTROLS = (("/console/robots/greet", "#start-run", Permission.START),
            ("/console/runs", "#cancel-selected", Permission.OPERATE),
            ("/console/schedules", "button[data-action]", Permission.OPERATE),
            ("/console/queues/letters", "#upload", Permission.OPERATE),
            ("/console/queues/letters", "#items button[data-action]", Permission.OPERATE),
            ("/console/credentials", "#set-credential", Permission.ADMIN),
            ("/console/users", "#new-user", Permission.ADMIN),
            ("/console/report", "#send-report", Permission.ADMIN))
FORMS = (("/console/robots/greet/start", Permission.START),
         ("/console/runs/bulk", Permission.OPERATE),
         ("/console/schedules/greet-mornings/pause", Permission.OPERATE),
         ("/console/queues/letters/upload", Permission.OPERATE),
         ("/console/queue-items/1/abandon", Permission.OPERATE),
         ("/console/credentials", Permission.ADMIN),
         ("/console/users", Permission.ADMIN),
         ("/console/report/send", Permission.ADMIN))


@pytest.mark.parametrize("role", PEOPLE_ROLES)
def test_each_role_gets_the_controls_of_its_permissions_only(site: Site, page: Page,
                                                             role: Role) -> None:
    """Every page opens for every role (admin pages: 403 with a sentence); a control shows
    only to the roles that may use it, and its form posted anyway by another role is 403 and
    changes nothing."""
    sign_in(page, site, role.value)
    for path in (*NAV, "/console/robots/greet", "/console/queues/letters",
                 f"/console/runs/{site.jobs['markup']}"):
        answer = page.goto(site.url + path)
        wanted = 403 if path in ADMIN_PAGES and role is not Role.ADMIN else 200
        assert answer is not None and answer.status == wanted, path
    for path, control, permission in CONTROLS:
        page.goto(site.url + path)
        shown = page.locator(control).count()
        assert (shown > 0) == may(role, permission), (path, control)
    page.goto(site.url + "/console/runs")
    with site.sessions() as session:
        before = session.scalar(select(func.count()).select_from(Job))
    for path, permission in FORMS:
        if not may(role, permission):
            assert csrf_post(page, path) == 403, path
    with site.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Job)) == before


def test_wrong_passwords_are_refused_then_throttled(site: Site, page: Page) -> None:
    with site.sessions.begin() as session:
        people.create_user(session, "zhao", Role.VIEWER, PASSWORD)
    sign_in(page, site, "zhao", "not the password")
    expect(page.locator("#sign-in .error")).to_have_text("用户名或密码错误")
    for _ in range(people.FAILURES_PER_NAME - 1):
        sign_in(page, site, "zhao", "still not it")
    sign_in(page, site, "zhao")  # the right one, too late
    expect(page.locator("#sign-in .error")).to_contain_text("登录失败次数过多")
    expect(page.locator("header")).to_have_count(0)
    sign_in(page, site, "nobody-at-all", "whatever it is")  # unknown names: the same sentence
    expect(page.locator("#sign-in .error")).to_have_text("用户名或密码错误")


def test_a_one_time_password_must_be_replaced_first(site: Site, page: Page) -> None:
    with site.sessions.begin() as session:
        _, one_time = people.create_user(session, "qian", Role.OPERATOR)
    sign_in(page, site, "qian", one_time, then="/console/runs")
    expect(page).to_have_url(re.compile(r"/console/password$"))
    page.goto(f"{site.url}/console/runs")  # nothing else opens before
    expect(page).to_have_url(re.compile(r"/console/password$"))
    page.fill("input[name=current]", one_time)
    page.fill("input[name=new]", "short")
    page.fill("input[name=again]", "short")
    page.evaluate("document.querySelectorAll('input[minlength]').forEach(i => "
                  "i.removeAttribute('minlength'))")  # the server checks it too
    page.click("#password button")
    expect(page.locator("#password .error")).to_contain_text("至少需要 10")
    page.fill("input[name=current]", one_time)
    page.fill("input[name=new]", "a brand new secret 42")
    page.fill("input[name=again]", "a brand new secret 42")
    page.click("#password button")
    expect(page).to_have_url(re.compile(r"/console/$"))
    expect(page.locator("h1")).to_contain_text("今日")


def test_forms_without_the_sessions_csrf_token_are_refused(site: Site, page: Page) -> None:
    sign_in(page, site, "operator")
    page.goto(f"{site.url}/console/runs")
    slow = site.jobs["slow"]
    assert csrf_post(page, f"/console/runs/{slow}/cancel", token=None) == 403
    assert csrf_post(page, f"/console/runs/{slow}/cancel", token="forged") == 403
    assert site.job(slow)["state"] == "running" and not site.job(slow)["cancel_requested"]
    # signing in has no session yet: its form is matched against its own cookie
    page.context.clear_cookies()
    page.goto(f"{site.url}/console/sign-in")
    page.context.clear_cookies()
    page.fill("input[name=name]", "operator")
    page.fill("input[name=password]", PASSWORD)
    page.click("#sign-in button[type=submit]")
    expect(page.locator("#sign-in .error")).to_contain_text("CSRF")


def test_a_session_ends_when_idle(site: Site, page: Page) -> None:
    sign_in(page, site, "viewer", then="/console/runs")
    expect(page.locator("h1")).to_have_text("运行记录")
    idle = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=site.settings.session_idle_minutes + 1)
    with site.sessions.begin() as session:  # as if the browser had been left for that long
        session.execute(update(WebSession).values(last_seen=idle))
    page.goto(f"{site.url}/console/runs?state=failed")
    expect(page).to_have_url(re.compile(r"/console/sign-in\?next=%2Fconsole%2Fruns%3Fstate"))
    sign_in(page, site, "viewer", then="/console/runs?state=failed")
    expect(page).to_have_url(re.compile(r"/console/runs\?state=failed$"))


def test_markup_from_robots_is_shown_as_text(site: Site, page: Page,
                                             dialogs: list[str]) -> None:
    sign_in(page, site, "viewer")
    page.goto(f"{site.url}/console/runs/{site.jobs['markup']}")
    items = page.locator("#items")
    expect(items).to_contain_text("<b>A-1</b>")
    expect(items).to_contain_text("<script>window.pwned = 1</script>")
    expect(items).to_contain_text("账户 <i>C-3</i> 已冻结")
    assert items.locator("b, i, script").count() == 0
    expect(page.locator("#timeline")).to_contain_text("点击 <img src=x onerror=window.pwned=2>")
    assert page.locator("#timeline img:not(.shot)").count() == 0
    assert page.evaluate("window.pwned") is None and dialogs == []


def test_a_runs_detail_shows_its_timeline_and_failure_screenshot(site: Site, page: Page) -> None:
    job_id = site.jobs["markup"]
    sign_in(page, site, "viewer")
    page.goto(f"{site.url}/console/runs?robot=markup")
    page.click(f"a[href='/console/runs/{job_id}']")
    expect(page.locator("#run-state")).to_have_text("失败")
    rows = page.locator("#timeline tbody tr")
    expect(rows.first).to_contain_text("browser.open")
    failed = page.locator("#timeline tr.outcome-failed")
    expect(failed).to_contain_text("markup.yaml:13:5")
    shot = failed.locator("img.shot")
    expect(shot).to_be_visible()
    assert shot.evaluate("img => img.complete && img.naturalWidth") > 100
    # the step.end event names its screenshot as the run's artifact is named: no guessing
    with site.api(Role.VIEWER) as http:
        events = [row["event"] for row in http.get(f"/api/v1/jobs/{job_id}/events").json()]
        names = {a["id"]: a["name"] for a in http.get(f"/api/v1/jobs/{job_id}/artifacts").json()}
    [end] = [e for e in events if e["type"] == "step.end" and e["outcome"] == "failed"]
    src = str(shot.get_attribute("src"))
    assert src == f"/console/runs/{job_id}/artifacts/{src.rsplit('/', 1)[1]}"
    assert names[int(src.rsplit("/", 1)[1])] == end["screenshot"]
    assert site.job(job_id)["error"]["screenshot"] == end["screenshot"]
    expect(page.locator("#items tbody tr")).to_have_count(3)
    expect(page.locator("#artifacts")).to_contain_text("result.json")


def test_the_kpi_board_draws_what_the_api_answers(site: Site, page: Page) -> None:
    today = dt.datetime.now(dt.UTC).astimezone(dt.timezone(dt.timedelta(hours=8))).date()
    with site.api(Role.VIEWER) as http:
        api = http.get("/api/v1/kpi", params={"start": str(today - dt.timedelta(days=29)),
                                              "end": str(today)}).json()
    assert api["totals"]["runs"] >= 1
    sign_in(page, site, "viewer", then="/console/kpi")
    page.wait_for_function("document.querySelector('#chart-hours canvas') !== null")
    totals = page.locator("#totals")
    expect(totals.locator("[data-figure=runs]")).to_have_text(str(api["totals"]["runs"]))
    expect(totals.locator("[data-figure=hours_saved]")).to_have_text(
        f"{api['totals']['hours_saved']:,.2f}")
    drawn = page.evaluate("""() => {
        const option = echarts.getInstanceByDom(document.getElementById('chart-hours')).getOption();
        return {periods: option.xAxis[0].data,
                series: option.series.map(s => [s.name, s.data])};
      }""")
    expected: dict[str, dict[str, float]] = {}
    for row in api["rows"]:
        expected.setdefault(row["robot"], {})[row["day"]] = row["hours_saved"]
    assert drawn["periods"] == sorted({row["day"] for row in api["rows"]})
    for robot, values in drawn["series"]:
        assert dict(zip(drawn["periods"], values, strict=True)) == {
            day: expected[robot].get(day, 0) for day in drawn["periods"]}
    expect(page.locator("#formula")).to_contain_text("每人年")
    expect(page.locator("[data-payback=markup]")).to_have_text(str(today))  # 20 saved ≥ 10


def test_cancelling_shows_the_new_state_without_a_reload(site: Site, page: Page) -> None:
    sign_in(page, site, "operator")
    slow = site.jobs["slow"]
    page.goto(f"{site.url}/console/runs/{slow}")
    page.evaluate("window.notReloaded = true")
    page.click("#cancel-run")  # confirmed by the dialog handler
    wait_for("the worker to stop the robot", lambda: site.job(slow)["state"] == "cancelled")
    expect(page.locator("#run-state")).to_have_text("已取消", timeout=15_000)
    assert page.evaluate("window.notReloaded") is True or page.url.endswith(f"/runs/{slow}")


def test_a_run_started_from_its_robots_form_turns_succeeded_live(site: Site,
                                                                  page: Page) -> None:
    sign_in(page, site, "author", then="/console/robots")
    page.click("a[href='/console/robots/greet']")
    expect(page.locator("h1")).to_contain_text("问候")
    page.fill("#start input[name=count]", "三")
    page.fill("#start input[name=note]", "早上好")
    page.click("#start-run")
    expect(page.locator("[data-problem=count]")).to_have_text("“三”不是有效的整数")
    expect(page.locator("#start input[name=note]")).to_have_value("早上好")  # kept
    page.fill("#start input[name=count]", "")
    page.click("#start-run")
    expect(page.locator("[data-problem=count]")).to_have_text("请填写此项")
    page.fill("#start input[name=count]", "3")
    page.click("#start-run")
    expect(page).to_have_url(re.compile(r"/console/runs/\d+$"))
    job_id = int(page.url.rsplit("/", 1)[1])
    page.evaluate("window.notReloaded = true")
    expect(page.locator("#run-state")).to_have_text("成功", timeout=60_000)
    assert page.evaluate("window.notReloaded") is True  # htmx swapped it in
    job = site.job(job_id)
    assert job["state"] == "succeeded" and job["inputs"] == {"count": 3, "note": "早上好"}
    assert job["source"] == "console"
    with site.api() as http:
        logs = [row["event"] for row in http.get(f"/api/v1/jobs/{job_id}/events").json()
                if row["event"]["type"] == "log"]
    assert any(e["message"] == "早上好 × 3" for e in logs)
    page.goto(f"{site.url}/console/robots/greet")
    expect(page.locator("#recent")).to_contain_text(f"#{job_id}")


def test_a_paused_schedule_stays_paused_when_its_file_is_deployed_again(site: Site,
                                                                         page: Page) -> None:
    sign_in(page, site, "operator", then="/console/schedules")
    row = page.locator("tr[data-schedule=greet-mornings]")
    expect(row).to_contain_text("在 08:30, 周一 到 周五")
    expect(row).to_contain_text("Asia/Shanghai")
    row.locator("button[data-action=pause]").click()
    expect(row.locator(".schedule-state")).to_contain_text("已暂停")
    with site.sessions.begin() as session:  # `workhand up`/`serve --schedules` again
        schedules.sync(session, schedules.load_schedules(site.root / "schedules"),
                       str(site.root / "schedules"))
        assert session.get(Schedule, "greet-mornings").paused
    page.reload()
    expect(row.locator(".schedule-state")).to_contain_text("已暂停")
    row.locator("button[data-action=run]").click()  # run now, paused or not
    expect(page).to_have_url(re.compile(r"/console/runs/\d+$"))
    job = site.job(int(page.url.rsplit("/", 1)[1]))
    assert (job["robot"], job["schedule"], job["inputs"]) == ("greet", "greet-mornings",
                                                              {"count": 1})
    page.goto(f"{site.url}/console/schedules")
    row.locator("button[data-action=resume]").click()
    expect(row.locator(".schedule-state")).to_contain_text("启用")


def test_queue_items_are_added_from_excel_and_retried(site: Site, page: Page,
                                                      tmp_path: Path) -> None:
    from openpyxl import Workbook

    book = Workbook()
    book.active.append(["编号", "客户名称"])
    book.active.append(["L-3", "张三"])
    book.active.append(["L-1", "重复的"])  # already there: skipped
    upload = tmp_path / "来信.xlsx"
    book.save(upload)
    sign_in(page, site, "operator", then="/console/queues")
    page.click("a[href='/console/queues/letters']")
    page.set_input_files("#upload input[type=file]", str(upload))
    page.fill("#upload input[name=reference_column]", "编号")
    page.click("#upload button")
    expect(page.locator("#items")).to_contain_text("L-3")
    with site.sessions.begin() as session:
        references = [i.reference for i in queues.list_items(session, "letters")]
        assert references == ["L-1", "L-2", "L-3"]
        item = queues.list_items(session, "letters")[1]
        item.state, item.message = "failed", "核心系统无应答"
    page.goto(f"{site.url}/console/queues/letters?state=failed")
    failed = page.locator(f"tr[data-item='{item.id}']")
    expect(failed).to_contain_text("核心系统无应答")
    failed.locator("button[data-action=retry]").click()
    with site.sessions.begin() as session:
        again = session.get(QueueItem, item.id)
        assert again is not None and (again.state, again.attempts) == ("new", 0)
        assert again.message == "retried by operator"
    sign_in(page, site, "viewer", then="/console/queues/letters")
    expect(page.locator("#items button")).to_have_count(0)
    expect(page.locator("#upload")).to_have_count(0)


def test_the_workers_page_shows_the_fleet(site: Site, page: Page) -> None:
    """Each worker's slots and current runs, and the online fleet's free slots against the runs
    waiting: console-pc (1 slot, idle by now) and a mainframe worker with 3 slots, which leases
    one of two runs only it may take (console-pc has no mainframe label)."""
    with site.sessions.begin() as session:
        token = create_token(session, Role.WORKER, worker="mainframe-pc", labels=["mainframe"])
    with site.api() as http:
        wanted = [http.post("/api/v1/jobs", json={"robot": "slow", "labels": ["mainframe"]}
                            ).json()["id"] for _ in range(2)]  # not greet: retried below
    with httpx.Client(base_url=site.url, timeout=10,
                      headers={"Authorization": f"Bearer {token}"}) as worker:
        answer = worker.post("/api/v1/lease", json={
            "worker": "mainframe-pc", "labels": ["mainframe"], "wait_s": 0, "max_jobs": 1,
            "slots": 3})
        [leased] = answer.json()["jobs"]
        assert leased["id"] == wanted[0]
        def still() -> bool:
            """console-pc idle (earlier tests' runs and retries done) and nothing waiting but
            the second mainframe run: the page is read against a fleet that no longer moves."""
            with site.api() as http:
                busy = next(w["running_jobs"] for w in http.get("/api/v1/workers").json()
                            if w["name"] == "console-pc")
                waiting = [j["id"] for state in ("queued", "retrying")
                           for j in http.get("/api/v1/jobs", params={"state": state}).json()]
            return not busy and waiting == [wanted[1]]

        wait_for("console-pc idle and only the second mainframe run waiting", still)
        sign_in(page, site, "viewer", then="/console/workers")
        row = page.locator("tr[data-worker=console-pc]")
        expect(row).to_contain_text("在线")
        expect(row.locator(".slots")).to_have_text("1")
        expect(row.locator(".runs a")).to_have_count(0)
        mainframe = page.locator("tr[data-worker=mainframe-pc]")
        expect(mainframe.locator(".slots")).to_have_text("3")
        expect(mainframe.locator(".runs a")).to_have_text([f"#{wanted[0]}"])
        expect(page.locator("#online")).to_have_text("2")
        expect(page.locator("#free-slots")).to_have_text("3")
        expect(page.locator("#capacity")).to_have_text(
            "在线 2 台，共 4 个槽位，空闲 3 个；等待中的运行 1 个")
        mainframe.locator(".runs a").click()
        expect(page).to_have_url(re.compile(rf"/console/runs/{wanted[0]}$"))
        expect(page.locator("#run-state")).to_have_text("运行中")
        ended = worker.post(f"/api/v1/jobs/{wanted[0]}/complete", json={
            "worker": "mainframe-pc", "attempt": leased["attempt"], "status": "passed"})
        assert ended.status_code == 200, ended.text
    with site.api() as http:  # nobody else takes mainframe runs
        assert http.post(f"/api/v1/jobs/{wanted[1]}/cancel").status_code == 200


def test_runs_ticked_on_the_runs_page_are_retried_together(site: Site, page: Page,
                                                           dialogs: list[str]) -> None:
    sign_in(page, site, "operator", then="/console/runs?robot=greet")
    ended = [int(str(row.get_attribute("data-run"))) for row in
             page.locator("#runs tbody tr[data-run]").all()]
    assert ended
    for job_id in ended:
        page.check(f"input[name=selected][value='{job_id}']")
    page.click("#retry-selected")
    expect(page.locator("[role=status]")).to_have_text(f"已重新启动 {len(ended)} 个运行。")
    assert dialogs[-1] == f"confirm: 确定重试 {len(ended)} 个运行？"
    with site.api() as http:
        retries = [j for j in http.get("/api/v1/jobs", params={"robot": "greet"}).json()
                   if j.get("retry_of") in ended]
    assert sorted(j["retry_of"] for j in retries) == sorted(ended)
    for job in retries:
        wait_for("the retried greeting", lambda j=job: site.job(j["id"])["state"] == "succeeded")


def test_pages_in_english_and_the_screenshots_for_the_docs(site: Site, page: Page) -> None:
    DOCS_SHOTS.mkdir(parents=True, exist_ok=True)
    sign_in(page, site, "admin")
    pages = {"today": "/console/", "runs": "/console/runs", "robots": "/console/robots",
             "robot": "/console/robots/greet", "schedules": "/console/schedules",
             "queues": "/console/queues", "queue": "/console/queues/letters",
             "workers": "/console/workers",
             "run": f"/console/runs/{site.jobs['markup']}", "kpi": "/console/kpi",
             "credentials": "/console/credentials", "users": "/console/users",
             "audit": "/console/audit"}
    for language in ("zh", "en"):
        page.goto(f"{site.url}/console/")
        page.select_option("select[name=language]", language)
        page.wait_for_load_state()
        expect(page.locator("html")).to_have_attribute("lang", "zh-CN" if language == "zh"
                                                       else "en")
        for name, path in pages.items():
            page.goto(site.url + path)
            if name == "kpi":
                page.wait_for_function("document.querySelector('#chart-hours canvas')")
            page.screenshot(path=str(DOCS_SHOTS / f"{name}-{language}.png"), full_page=True)
    expect(page.locator("header nav")).to_contain_text("Runs")
    expect(page.locator("header .zone")).to_contain_text("Asia/Shanghai (UTC+08:00)")


def test_every_mutating_action_is_in_the_audit_log(site: Site, page: Page) -> None:
    """Last in this file: the actions the tests above made are all recorded."""
    with site.sessions.begin() as session:
        rows = session.execute(select(AuditEntry.actor, AuditEntry.action, AuditEntry.status,
                                      AuditEntry.object)).all()
    # every mutating request the tests in this file made, each route as often at least
    actions = Counter(action for _, action, _, _ in rows)
    routes = {action: re.compile("^" + re.sub(r"\\\{\w+(:path)?\\\}", "[^/]+",
                                              re.escape(action.split(" ", 1)[1])) + "$")
              for action in actions}
    made: Counter[str] = Counter()
    for sent in SENT:
        path = urlsplit(sent.url).path
        if not sent.url.startswith(site.url) or sent.status == 401 \
                or sent.location.startswith("/console/sign-in"):
            continue  # no caller known: nobody to record (and nothing was done)
        matching = [a for a, route in routes.items()
                    if a.startswith(sent.method + " ") and route.match(path)]
        assert matching, f"{sent.method} {path} ({sent.status}) is not in the audit log"
        made[matching[0]] += 1
    assert made and all(actions[a] >= n for a, n in made.items()), (made, actions)
    seen = {(actor.split(" (token")[0], action, status) for actor, action, status, _ in rows}
    assert ("admin", "POST /api/v1/jobs", 201) in seen  # the runs the fixture started
    assert ("operator", "POST /console/runs/{job_id}/cancel", 303) in seen
    assert ("viewer", "POST /console/runs/{job_id}/cancel", 403) in seen  # refused, recorded
    assert ("zhao", "POST /console/sign-in", 401) in seen
    assert ("zhao", "POST /console/sign-in", 429) in seen
    assert ("qian", "POST /console/password", 303) in seen
    assert ("admin", "POST /console/language", 303) in seen
    assert ("author", "POST /console/robots/{name}/start", 303) in seen
    assert ("author", "POST /console/robots/{name}/start", 422) in seen
    assert ("operator", "POST /console/schedules/{name}/{change}", 303) in seen
    assert ("operator", "POST /console/queues/{name}/upload", 303) in seen
    assert ("operator", "POST /console/queue-items/{item_id}/{change}", 303) in seen
    assert ("operator", "POST /console/runs/bulk", 200) in seen
    assert ("operator", "POST /console/runs/{job_id}/cancel", 403) in seen  # CSRF refused
    objects = {o for _, action, _, o in rows if action.endswith("/cancel")}
    assert f"job {site.jobs['slow']}" in objects
    sign_in(page, site, "admin", then="/console/audit?actor=zhao")
    expect(page.locator("#audit tbody tr")).to_have_count(
        sum(1 for actor, *_ in rows if actor == "zhao"))
    assert json.dumps([list(r) for r in rows], ensure_ascii=False).count(PASSWORD) == 0
