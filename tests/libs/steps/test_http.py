"""http steps against a real FastAPI server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, File, Form, Request, Response, UploadFile
from fastapi.responses import JSONResponse, RedirectResponse

from libs.context import StepContext
from libs.errors import StepArgumentError, SystemFailure
from libs.policy import Policy, Refused
from libs.registry import REGISTRY
from libs.secrets import Secret
from libs.steps.http import get, post, request
from libs.steps.http.client import shared_client
from tests.servers import Port, ThreadServer


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/json")
    def json_route(request: Request) -> dict[str, Any]:
        return {"name": "张三", "args": dict(request.query_params),
                "branch": request.headers.get("x-branch")}

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, Any]:
        kind = request.headers.get("content-type", "")
        if kind.startswith("application/json"):
            return {"kind": "json", "body": await request.json()}
        return {"kind": "form", "body": dict(await request.form())}

    @app.get("/basic")
    def basic(request: Request) -> Response:
        expected = "Basic " + base64.b64encode("柜员01:s3cret".encode()).decode()
        if request.headers.get("authorization") != expected:
            return JSONResponse({"error": "登录失败"}, status_code=401)
        return JSONResponse({"user": "柜员01"})

    @app.get("/bearer")
    def bearer(request: Request) -> Response:
        if request.headers.get("authorization") != "Bearer tok-123":
            return JSONResponse({"error": "bad token"}, status_code=401)
        return JSONResponse({"ok": True})

    @app.get("/broken")
    def broken() -> Response:
        return Response("系统繁忙，请稍后再试 " + "x" * 500, status_code=503,
                        media_type="text/plain; charset=utf-8")

    @app.get("/slow")
    async def slow() -> dict[str, bool]:
        await asyncio.sleep(2)
        return {"late": True}

    @app.get("/gbk")
    def gbk() -> Response:
        page = "<html><body>企业状态：存续（在营、开业、在册）</body></html>"
        return Response(page.encode("gbk"), media_type="text/html; charset=gbk")

    @app.get("/gbk-meta")
    def gbk_meta() -> Response:
        page = '<html><head><meta charset="gb2312"></head><body>账户已冻结</body></html>'
        return Response(page.encode("gb2312"), headers={"content-type": "text/html"})

    @app.get("/json-as-html")
    def json_as_html() -> Response:
        return Response('{"状态": "正常"}', media_type="text/html; charset=utf-8")

    @app.get("/redirect")
    def redirect() -> Response:
        return RedirectResponse("/json?from=redirect")

    @app.head("/head")
    def head() -> Response:
        return Response(headers={"x-total": "42"})

    @app.post("/upload")
    async def upload(file: UploadFile = File(...), note: str = Form("")) -> dict[str, Any]:
        data = await file.read()
        return {"filename": file.filename, "sha256": hashlib.sha256(data).hexdigest(),
                "note": note}

    return app


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    srv = ThreadServer(timeout_graceful_shutdown=1)
    srv.start(_app(), timeout=10)
    yield srv.url
    srv.close()


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[StepContext]:
    context = StepContext.for_tests(tmp_path, secrets=["s3cret"])
    yield context
    context.resources.close()


def test_get_json_with_params_and_headers(ctx: StepContext, server: str) -> None:
    result = request(ctx, f"{server}/json", params={"q": "中文企业"}, headers={"X-Branch": "0101"})
    assert result["status"] == 200 and result["ok"] is True
    assert result["json"] == {"name": "张三", "args": {"q": "中文企业"}, "branch": "0101"}
    assert result["headers"]["content-type"] == "application/json"
    assert "张三" in result["text"]


def test_get_convenience_follows_redirects(ctx: StepContext, server: str) -> None:
    result = get(ctx, f"{server}/redirect")
    assert result["url"] == f"{server}/json?from=redirect"
    assert result["json"]["args"] == {"from": "redirect"}


def test_post_json_and_form(ctx: StepContext, server: str) -> None:
    as_json = post(ctx, f"{server}/echo", json={"账号": "6217000012345678", "金额": 1.5})
    assert as_json["json"] == {"kind": "json", "body": {"账号": "6217000012345678", "金额": 1.5}}
    as_form = request(ctx, f"{server}/echo", method="POST", form={"户名": "李四", "n": "2"})
    assert as_form["json"] == {"kind": "form", "body": {"户名": "李四", "n": "2"}}


def test_basic_and_bearer_auth(ctx: StepContext, server: str) -> None:
    spec = REGISTRY["http.request"]
    ok = spec.call(ctx, {"url": f"{server}/basic",
                         "auth": {"username": "柜员01", "password": "s3cret"}})
    assert ok["json"] == {"user": "柜员01"}
    denied = spec.call(ctx, {"url": f"{server}/basic",
                             "auth": {"username": "柜员01", "password": "wrong"}})
    assert denied["status"] == 401 and denied["ok"] is False
    token = spec.call(ctx, {"url": f"{server}/bearer", "auth": {"token": "tok-123"}})
    assert token["json"] == {"ok": True}


def test_expect_status_failure_names_request_status_and_body(ctx: StepContext,
                                                             server: str) -> None:
    with pytest.raises(SystemFailure) as err:
        request(ctx, f"{server}/broken", expect_status=[200])
    message = str(err.value)
    assert f"GET {server}/broken" in message
    assert "503" in message and "expected 200" in message
    assert "系统繁忙，请稍后再试" in message
    assert "x" * 200 not in message  # only the start of the body


def test_expected_non_2xx_status_is_returned(ctx: StepContext, server: str) -> None:
    result = request(ctx, f"{server}/broken", expect_status=[200, 503])
    assert result["status"] == 503 and result["ok"] is False


def test_timeout_is_a_system_failure(ctx: StepContext, server: str) -> None:
    spec = REGISTRY["http.request"]
    with pytest.raises(SystemFailure) as err:
        spec.call(ctx, {"url": f"{server}/slow", "timeout": "500ms"})
    assert f"GET {server}/slow" in str(err.value)
    assert "within 0.5s" in str(err.value)


def test_connection_refused_names_url(ctx: StepContext) -> None:
    with Port() as held, pytest.raises(SystemFailure) as err:  # held: nothing listens
        port = held.number
        request(ctx, f"http://127.0.0.1:{port}/api")
    assert f"http://127.0.0.1:{port}/api" in str(err.value)
    assert "could not connect" in str(err.value)


def test_bad_url_is_an_argument_error(ctx: StepContext) -> None:
    with pytest.raises(StepArgumentError, match="has no scheme; robots may only open http:// or https://"):
        request(ctx, "ftp-less/path")


def test_gbk_pages_decode(ctx: StepContext, server: str) -> None:
    assert "企业状态：存续（在营、开业、在册）" in request(ctx, f"{server}/gbk")["text"]
    assert "账户已冻结" in request(ctx, f"{server}/gbk-meta")["text"]


def test_json_labelled_as_html_is_parsed(ctx: StepContext, server: str) -> None:
    assert request(ctx, f"{server}/json-as-html")["json"] == {"状态": "正常"}


def test_head_has_no_body(ctx: StepContext, server: str) -> None:
    result = REGISTRY["http.request"].call(ctx, {"url": f"{server}/head", "method": "head"})
    assert result["status"] == 200 and result["text"] == "" and result["json"] is None
    assert result["headers"]["x-total"] == "42"


def test_multipart_upload_with_chinese_file_name(ctx: StepContext, server: str,
                                                 tmp_path: Path) -> None:
    data = "账号,金额\n6217000012345678,100.00\n".encode("gbk")
    (tmp_path / "对账单 2024年.csv").write_bytes(data)
    result = request(ctx, f"{server}/upload", method="POST", form={"note": "日终"},
                     files={"file": "对账单 2024年.csv"}, expect_status=[200])
    assert result["json"] == {"filename": "对账单 2024年.csv",
                              "sha256": hashlib.sha256(data).hexdigest(), "note": "日终"}


def test_missing_upload_file_is_an_argument_error(ctx: StepContext, server: str) -> None:
    with pytest.raises(StepArgumentError, match=r"缺失\.xlsx"):
        request(ctx, f"{server}/upload", method="POST", files={"file": "缺失.xlsx"})


def test_secrets_never_appear_in_errors(ctx: StepContext, server: str) -> None:
    spec = REGISTRY["http.request"]
    # A run secret known to the masker, in the URL and as the Basic password.
    with pytest.raises(SystemFailure) as err:
        spec.call(ctx, {"url": f"{server}/basic?who=s3cret", "expect_status": [200],
                        "auth": {"username": "柜员01", "password": "wrong-s3cret"}})
    assert "s3cret" not in str(err.value) and "?who=***" in str(err.value)
    assert "401" in str(err.value)
    # Passwords and tokens given literally (unknown to the masker), and URL user info.
    with Port() as held, pytest.raises(SystemFailure) as err:  # held: nothing listens
        port = held.number
        spec.call(ctx, {"url": f"http://admin:pa55word@127.0.0.1:{port}/x?token=tok-9",
                        "auth": {"token": "tok-9"}})
    assert "pa55word" not in str(err.value) and "tok-9" not in str(err.value)
    assert f"127.0.0.1:{port}/x?token=***" in str(err.value)
    with pytest.raises(SystemFailure) as err:
        spec.call(ctx, {"url": f"{server}/broken?pwd=literal-pw", "expect_status": [200],
                        "auth": {"username": "u", "password": "literal-pw"}})
    assert "literal-pw" not in str(err.value) and "pwd=***" in str(err.value)


def test_default_timeout_is_the_steps_remaining_time(tmp_path: Path, server: str) -> None:
    short = StepContext.for_tests(tmp_path, timeout=0.5)
    try:
        with pytest.raises(SystemFailure, match="did not answer"):
            get(short, f"{server}/slow")
    finally:
        short.resources.close()


def test_json_and_form_together_are_refused(ctx: StepContext, server: str) -> None:
    with pytest.raises(StepArgumentError, match="not both"):
        request(ctx, f"{server}/echo", method="POST", json={"a": 1}, form={"b": "2"})


def test_chinese_header_value_is_refused_clearly(ctx: StepContext, server: str) -> None:
    with pytest.raises(StepArgumentError, match="header 'X-Name'"):
        request(ctx, f"{server}/json", headers={"X-Name": "张三"})


def test_in_a_robot(run_robot: Any, server: str) -> None:
    result, _ = run_robot(f"""
        robot: http-calls
        steps:
          - http.get: "{server}/json?q=存续"
            into: page
          - http.post: {{url: "{server}/echo", json: {{户名: 李四}}, expect_status: [200],
                         into: echoed}}
          - http.request: {{url: "{server}/gbk", timeout: 5s, into: gbk}}
          - assert: {{that: "${{page.json.args.q == '存续' and echoed.json.body.户名 == '李四'
                               and '存续' in gbk.text}}", message: 接口返回不符}}
    """)
    assert result.status == "passed", result.error


def test_file_urls_and_hosts_not_allowed_are_refused(tmp_path: Path) -> None:
    ctx = StepContext.for_tests(tmp_path, policy=Policy(hosts=("bank.example",)))
    with pytest.raises(Refused, match="may only open http:// or https://"):
        request(ctx, "file:///etc/passwd")
    with pytest.raises(Refused, match=r"the host '127\.0\.0\.1' is not among the hosts"):
        request(ctx, "http://127.0.0.1:9/api")


def test_a_redirect_to_a_host_not_allowed_is_refused(tmp_path: Path) -> None:
    def redirect(request: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"location": "http://evil.example/x"})

    ctx = StepContext.for_tests(tmp_path, policy=Policy(hosts=("bank.example",)))
    client = shared_client(ctx, True)
    client._transport = httpx.MockTransport(redirect)
    with pytest.raises(Refused, match=r"the host 'evil\.example' is not among the hosts"):
        request(ctx, "http://bank.example/start")


def test_uploads_come_from_inside_the_reach(tmp_path: Path) -> None:
    ctx = StepContext.for_tests(tmp_path / "robot")
    with pytest.raises(Refused, match="outside the folders this robot may read"):
        request(ctx, "http://bank.example/up", "POST", files={"f": "/etc/passwd"})


def test_a_header_secret_goes_only_to_the_hosts_of_its_credential(ctx: StepContext,
                                                                   server: str) -> None:
    bound = Secret("key-0101-secret", "credentials.api.key", ["127.0.0.1"])
    result = request(ctx, f"{server}/json", headers={"X-Branch": bound})
    assert result["json"]["branch"] == "key-0101-secret"
    elsewhere = Secret("key-0101-secret", "credentials.api.key", ["api.bank.example"])
    with pytest.raises(Refused, match=r"^the secret 'credentials\.api\.key' may only be sent to "
                                      r"api\.bank\.example; this step would send it to "
                                      r"127\.0\.0\.1 — ask an admin"):
        request(ctx, f"{server}/json", headers={"X-Branch": elsewhere})
    with pytest.raises(Refused, match=r"would send it to 127\.0\.0\.1"):
        REGISTRY["http.request"].call(ctx, {"url": f"{server}/basic", "auth": {
            "username": "柜员01", "password": elsewhere}})


def test_a_redirect_to_another_host_does_not_carry_a_bound_secret(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []

    def bank(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.host == "bank.example":
            return httpx.Response(302, headers={"location": "http://evil.example/echo"})
        return httpx.Response(200, json={"ok": True})

    ctx = StepContext.for_tests(tmp_path)
    shared_client(ctx, True)._transport = httpx.MockTransport(bank)
    key = Secret("key-0101-secret", "credentials.api.key", ["bank.example"])
    with pytest.raises(Refused, match=r"would send it to evil\.example"):
        request(ctx, "http://bank.example/start", headers={"X-Api-Key": key})
    assert [r.url.host for r in seen] == ["bank.example"]  # evil.example was never asked
    # Authorization is dropped by httpx on a redirect to another origin: the request goes on
    # without the password
    seen.clear()
    password = Secret("pw-0101-secret", "credentials.api.password", ["bank.example"])
    assert REGISTRY["http.request"].call(ctx, {"url": "http://bank.example/start", "auth": {
        "username": "u", "password": password}})["ok"]
    assert [r.url.host for r in seen] == ["bank.example", "evil.example"]
    assert "authorization" in seen[0].headers and "authorization" not in seen[1].headers
