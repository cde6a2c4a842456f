"""http.request, http.get, http.post: one request, its response as a plain map."""

from __future__ import annotations

import mimetypes
import warnings
from contextlib import ExitStack
from typing import Annotated, Any, Literal

import httpx
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from libs.context import StepContext
from libs.errors import StepArgumentError, SystemFailure
from libs.registry import step
from libs.secrets import Secret, reveal
from libs.steps.http.client import BOUND_HEADERS, decode, parse_json, preview, safe, shared_client
from libs.types import Duration, ReadPath, SecretText, WebAddress

# The fixed argument name 'json' shadows pydantic's deprecated BaseModel.json(); the field wins
# (the registry reads arguments with getattr), so pydantic's warning about it is only noise.
warnings.filterwarnings("ignore", message=r'Field name "json" in "Http\w+Args" shadows',
                        category=UserWarning)

Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]


class BasicAuth(BaseModel):
    """HTTP Basic authentication."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)
    username: str = Field(description="user name")
    password: SecretText = Field(description="password, e.g. ${credentials.system.password}")


class BearerAuth(BaseModel):
    """A bearer token (Authorization: Bearer ...)."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)
    token: SecretText = Field(description="the token, e.g. ${credentials.api.token}")


Auth = Annotated[BasicAuth | BearerAuth | None,
                 "{username, password} for Basic authentication or {token} for a bearer token"]
Url = Annotated[WebAddress, "the address, e.g. ${env.ACCOUNT_SYSTEM_URL}/api/accounts"]
Headers = Annotated[dict[str, SecretText | int | float | bool | None] | None,
                    "extra request headers, e.g. {X-Branch: '0101'}; a value may be a secret, "
                    "e.g. {X-Api-Key: '${credentials.api.key}'}"]
ExpectStatus = Annotated[list[int] | None,
                         "the status codes that count as success; any other fails the step "
                         "(default: any status is returned and the robot decides)"]
Response = dict[str, Any]


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


@step("http.request", main="url")
def request(
    ctx: StepContext,
    url: Url,
    method: Annotated[Method, BeforeValidator(_upper), "the HTTP method"] = "GET",
    params: Annotated[dict[str, Any] | None, "query parameters added to the URL"] = None,
    headers: Headers = None,
    json: Annotated[Any, "a body sent as JSON (a map or a list)"] = None,
    form: Annotated[dict[str, Any] | None,
                    "a body sent as form fields (multipart when files are given too)"] = None,
    auth: Auth = None,
    timeout: Annotated[Duration | None,
                       "how long to wait for the server (default: the step's remaining time)"
                       ] = None,
    expect_status: ExpectStatus = None,
    verify_tls: Annotated[bool, "check the server's HTTPS certificate (turn off only for "
                                "internal systems with self-signed certificates)"] = True,
    files: Annotated[dict[str, ReadPath] | None,
                     "files to upload: form field name → path of the file"] = None,
) -> Response:
    """Send an HTTP request and return {status, ok, headers, json, text, url}.

    Redirects are followed (`url` is the final address); cookies the server sets are kept for the
    rest of the run, so a login request can precede the data requests. `text` is decoded with the
    declared charset (GBK pages read correctly), else UTF-8, else GB18030; `json` is the parsed
    body when it is JSON, else null. Without `expect_status` any status is returned and `ok` says
    whether it was 2xx; with it, another status fails the step with the start of the body.
    Connection errors and timeouts fail the step as system errors (retried by `retry`)."""
    secrets = _auth_secrets(auth, headers)
    where = f"{method} {url}"
    if json is not None and (form is not None or files):
        raise StepArgumentError(safe(ctx, f"{where}: give either 'json' or 'form'/'files' as the "
                                          "body, not both", secrets))
    ctx.policy.check_url(url, f"http.{method.lower()}")
    wait = max(timeout if timeout is not None else ctx.remaining, 0.01)
    with ExitStack() as stack:
        uploads = _open_files(ctx, stack, files or {}, where, secrets)
        try:
            response = shared_client(ctx, verify_tls).request(
                method, url, params=params, headers=_headers(headers, url), json=json,
                data=form, files=uploads or None, auth=_httpx_auth(auth, url), timeout=wait,
                extensions={BOUND_HEADERS: _bound_headers(headers)})
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as err:
            raise StepArgumentError(safe(
                ctx, f"{where}: '{url}' is not a usable URL ({err}); write it like "
                     "https://host/path", secrets)) from None
        except httpx.TimeoutException:
            raise SystemFailure(safe(
                ctx, f"{where}: the server did not answer within {wait:g}s; give the step a "
                     "longer timeout or check that the system is up", secrets)) from None
        except httpx.HTTPError as err:
            raise SystemFailure(safe(ctx, f"{where} failed: {_cause(err)}", secrets)) from None
    text = decode(response)
    ctx.log(safe(ctx, f"{where} → {response.status_code}", secrets))
    if expect_status is not None and response.status_code not in expect_status:
        expected = ", ".join(map(str, expect_status))
        raise SystemFailure(safe(
            ctx, f"{where} answered {response.status_code} {response.reason_phrase}, expected "
                 f"{expected}; the response began: {preview(text)!r}", secrets))
    return {
        "status": response.status_code,
        "ok": response.is_success,
        "headers": dict(response.headers.items()),
        "json": parse_json(response, text),
        "text": text,
        "url": str(response.url),
    }


@step("http.get", main="url")
def get(ctx: StepContext, url: Url,
        params: Annotated[dict[str, Any] | None, "query parameters added to the URL"] = None,
        headers: Headers = None, auth: Auth = None, expect_status: ExpectStatus = None,
        ) -> Response:
    """Fetch a URL with GET, e.g. `- http.get: ${env.API}/status`; returns what http.request does.
    """
    return request(ctx, url, "GET", params=params, headers=headers, auth=auth,
                   expect_status=expect_status)


@step("http.post")
def post(ctx: StepContext, url: Url,
         json: Annotated[Any, "a body sent as JSON (a map or a list)"] = None,
         form: Annotated[dict[str, Any] | None, "a body sent as form fields"] = None,
         headers: Headers = None, auth: Auth = None, expect_status: ExpectStatus = None,
         ) -> Response:
    """Send a JSON or form body with POST; returns what http.request does."""
    return request(ctx, url, "POST", json=json, form=form, headers=headers, auth=auth,
                   expect_status=expect_status)


def _auth_secrets(auth: BasicAuth | BearerAuth | None,
                  headers: dict[str, Any] | None = None) -> list[str]:
    # the texts to mask in this step's messages (nothing is sent)
    found = [v.reveal() for v in (headers or {}).values() if isinstance(v, Secret)]
    given = auth.password if isinstance(auth, BasicAuth) else \
        auth.token if isinstance(auth, BearerAuth) else None
    if given is None:
        return found
    return [given.reveal() if isinstance(given, Secret) else given, *found]


def _httpx_auth(auth: BasicAuth | BearerAuth | None, url: str) -> httpx.Auth | None:
    # httpx drops Authorization on a redirect to another origin, so checking the first
    # address is enough for a credential bound to hosts
    if isinstance(auth, BasicAuth):
        return httpx.BasicAuth(auth.username, reveal(auth.password, url))
    if isinstance(auth, BearerAuth):
        return _Bearer(reveal(auth.token, url))
    return None


def _bound_headers(headers: dict[str, Any] | None) -> dict[str, Secret]:
    """Headers holding a secret bound to hosts: checked again on every redirect (httpx keeps
    custom headers when it follows one to another host)."""
    return {name: value for name, value in (headers or {}).items()
            if isinstance(value, Secret) and value.hosts is not None}


class _Bearer(httpx.Auth):
    def __init__(self, token: str) -> None:
        self.token = token

    def auth_flow(self, request: httpx.Request) -> Any:
        request.headers["Authorization"] = f"Bearer {self.token}"
        yield request


def _headers(headers: dict[str, Any] | None, url: str) -> dict[str, str] | None:
    if headers is None:
        return None
    out = {}
    for name, value in headers.items():
        text = "" if value is None else reveal(value, url) if isinstance(value, Secret) \
            else str(value)
        if not text.isascii():
            # HTTP headers are ASCII: Chinese must be encoded the way the server expects.
            raise StepArgumentError(f"header '{name}' contains non-ASCII text; HTTP headers "
                                    "cannot carry Chinese directly — send it in params, json or "
                                    "form, or percent-encode it as the server expects")
        out[name] = text
    return out


def _open_files(ctx: StepContext, stack: ExitStack, files: dict[str, str], where: str,
                secrets: list[str]) -> list[tuple[str, tuple[str, Any, str]]]:
    uploads = []
    for field, name in files.items():
        path = ctx.input_path(name, "http.request")
        if not path.is_file():
            raise StepArgumentError(safe(ctx, f"{where}: the file to upload as '{field}' does "
                                              f"not exist: {path}", secrets))
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        uploads.append((field, (path.name, stack.enter_context(path.open("rb")), kind)))
    return uploads


def _cause(err: httpx.HTTPError) -> str:
    text = str(err) or type(err).__name__
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return (f"{text}; the server's certificate is not trusted — install the bank's CA "
                "certificate, or set verify_tls: false for an internal test system")
    if isinstance(err, httpx.ConnectError):
        return f"could not connect ({text}); check the address and that the system is up"
    return text
