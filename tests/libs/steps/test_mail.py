"""mail.send against a real aiosmtpd server on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from libs.context import StepContext
from libs.errors import StepArgumentError, SystemFailure
from libs.policy import Refused
from libs.registry import REGISTRY
from libs.secrets import Secret
from libs.steps.mail import send
from tests.servers import Port


class Capture:
    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, options: list[str]) -> str:
        if address.startswith("nobody@"):
            return "550 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        return "250 OK"

    def message(self, index: int = -1) -> EmailMessage:
        content = self.envelopes[index].content
        assert isinstance(content, bytes)
        parsed = message_from_bytes(content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


def _authenticate(server: SMTP, session: Session, envelope: Envelope, mechanism: str,
                  data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and data.login == b"robot@bank.cn" and \
        data.password == b"s3cret"
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def nothing() -> Iterator[int]:
    """A port held and never listened on: connecting to it is refused, whatever else runs."""
    with Port() as port:
        yield port.number


@pytest.fixture
def smtp() -> Iterator[tuple[Capture, int]]:
    """aiosmtpd on a port held from before it binds (it binds with SO_REUSEADDR beside the
    holder) until it has stopped."""
    capture = Capture()
    with Port() as port:
        controller = Controller(capture, hostname="127.0.0.1", port=port.number,
                                authenticator=_authenticate, auth_require_tls=False)
        controller.start()
        yield capture, controller.port
        controller.stop()


def _ctx(tmp_path: Path, port: int, **mail: Any) -> StepContext:
    settings = {"mail": {"host": "127.0.0.1", "port": port, "timeout": "5s", **mail}}
    return StepContext.for_tests(tmp_path, settings=settings, secrets=["s3cret"])


def test_chinese_subject_body_and_attachment(tmp_path: Path, smtp: tuple[Capture, int]) -> None:
    capture, port = smtp
    report = "账号,状态\n6217000000000001,未报备\n".encode("gbk")
    (tmp_path / "未报备账户清单（2024年1月）.csv").write_bytes(report)
    (tmp_path / "说明.txt").write_text("请各网点于今日内补报。", encoding="utf-8")
    ctx = _ctx(tmp_path, port)
    body = "您好：\n\n附件为昨日开户未报备清单，共 1 户，请核查。\n\n——对账机器人"
    message_id = REGISTRY["mail.send"].call(ctx, {
        "to": "张三 <zhang.san@bank.cn>; li.si@bank.cn",
        "cc": ["运营部 <ops@bank.cn>"], "bcc": "audit@bank.cn",
        "subject": "【提醒】影像系统未报备账户 2024年1月 —— 请尽快处理",
        "body": body,
        "attachments": ["未报备账户清单（2024年1月）.csv", "说明.txt"],
        "from_address": "对账机器人 <robot@bank.cn>",
    })
    envelope = capture.envelopes[-1]
    assert envelope.mail_from == "robot@bank.cn"
    assert envelope.rcpt_tos == ["zhang.san@bank.cn", "li.si@bank.cn", "ops@bank.cn",
                                 "audit@bank.cn"]
    msg = capture.message()
    assert msg["Subject"] == "【提醒】影像系统未报备账户 2024年1月 —— 请尽快处理"
    assert msg["Message-ID"] == message_id
    assert message_id.startswith("<") and message_id.endswith("@bank.cn>")
    assert msg["To"].addresses[0].display_name == "张三"
    assert [a.addr_spec for a in msg["To"].addresses] == ["zhang.san@bank.cn", "li.si@bank.cn"]
    assert msg["Cc"].addresses[0].display_name == "运营部"
    assert msg["From"].addresses[0].display_name == "对账机器人"
    assert "Bcc" not in msg and b"audit@bank.cn" not in envelope.content  # type: ignore[operator]
    assert envelope.original_content is not None and envelope.original_content.isascii()
    text = msg.get_body(("plain",))
    assert text is not None and text.get_content().replace("\r\n", "\n").rstrip("\n") == body
    parts = list(msg.iter_attachments())
    assert [p.get_filename() for p in parts] == ["未报备账户清单（2024年1月）.csv", "说明.txt"]
    assert parts[0].get_content_type() == "text/csv"
    assert parts[0].get_payload(decode=True) == report
    assert parts[1].get_payload(decode=True) == "请各网点于今日内补报。".encode()


def test_html_body_and_login(tmp_path: Path, smtp: tuple[Capture, int]) -> None:
    capture, port = smtp
    ctx = _ctx(tmp_path, port, username="robot@bank.cn", password="s3cret")
    send(ctx, to=["ops@bank.cn"], subject="日报", body="<p>今日处理 <b>150</b> 笔</p>", html=True)
    msg = capture.message()
    assert msg["From"].addresses[0].addr_spec == "robot@bank.cn"  # the user name by default
    assert msg.get_content_type() == "text/html"
    assert msg.get_content().strip() == "<p>今日处理 <b>150</b> 笔</p>"


def test_wrong_password_never_appears(tmp_path: Path, smtp: tuple[Capture, int]) -> None:
    _, port = smtp
    ctx = _ctx(tmp_path, port, username="robot@bank.cn", password="s3cret-but-wrong")
    with pytest.raises(SystemFailure) as err:
        send(ctx, to="ops@bank.cn", subject="x", body="y")
    message = str(err.value)
    assert "s3cret" not in message and "but-wrong" not in message
    assert f"127.0.0.1:{port}" in message and "ops@bank.cn" in message
    assert "refused the login of 'robot@bank.cn'" in message


def test_a_bound_password_goes_only_to_its_mail_hosts(tmp_path: Path,
                                                      smtp: tuple[Capture, int]) -> None:
    capture, port = smtp
    foreign = Secret("s3cret", "credentials.smtp.password", ["mail.bank.cn"])
    ctx = _ctx(tmp_path, port, username="robot@bank.cn", password=foreign)
    with pytest.raises(Refused, match=r"may only be sent to mail\.bank\.cn; this step would "
                                      r"send it to 127\.0\.0\.1"):
        send(ctx, to="ops@bank.cn", subject="x", body="y")
    assert capture.envelopes == []
    own = Secret("s3cret", "credentials.smtp.password", ["127.0.0.1"])
    send(_ctx(tmp_path, port, username="robot@bank.cn", password=own), to="ops@bank.cn",
         subject="x", body="y")
    assert len(capture.envelopes) == 1


def test_refused_recipients(tmp_path: Path, smtp: tuple[Capture, int]) -> None:
    capture, port = smtp
    ctx = _ctx(tmp_path, port)
    with pytest.raises(SystemFailure, match=r"every recipient was refused.*nobody@bank\.cn: 550"):
        send(ctx, to="nobody@bank.cn", subject="x", body="y")
    send(ctx, to="nobody@bank.cn, ops@bank.cn", subject="部分", body="y")
    assert capture.envelopes[-1].rcpt_tos == ["ops@bank.cn"]


def test_unreachable_server_names_server_and_recipient(tmp_path: Path, nothing: int) -> None:
    port = nothing
    ctx = _ctx(tmp_path, port)
    with pytest.raises(SystemFailure) as err:
        send(ctx, to="张三 <zhang.san@bank.cn>", subject="x", body="y")
    assert f"127.0.0.1:{port}" in str(err.value) and "zhang.san@bank.cn" in str(err.value)


def test_step_overrides_host_and_port(tmp_path: Path, smtp: tuple[Capture, int],
                                      nothing: int) -> None:
    capture, port = smtp
    ctx = _ctx(tmp_path, nothing)  # settings point at nothing
    send(ctx, to="ops@bank.cn", subject="覆盖", body="y", host="127.0.0.1", port=port)
    assert capture.message()["Subject"] == "覆盖"


def test_argument_errors(tmp_path: Path, smtp: tuple[Capture, int]) -> None:
    _, port = smtp
    ctx = _ctx(tmp_path, port)
    with pytest.raises(StepArgumentError, match="'张三' in 'to' is not an email address"):
        send(ctx, to="张三", subject="x", body="y")
    with pytest.raises(StepArgumentError, match=r"清单\.xlsx' does not exist"):
        send(ctx, to="a@bank.cn", subject="x", body="y", attachments=["清单.xlsx"])
    with pytest.raises(StepArgumentError, match="at least one recipient"):
        send(ctx, to=[], subject="x", body="y")


def test_in_a_robot(run_robot: Any, smtp: tuple[Capture, int]) -> None:
    capture, port = smtp
    result, _ = run_robot(f"""
        robot: notify
        settings:
          mail: {{host: 127.0.0.1, port: {port}, from_address: 机器人 <robot@bank.cn>}}
        steps:
          - mail.send: {{to: ops@bank.cn, subject: 对账完成, body: 今日对账平衡。, into: mid}}
          - log: "${{mid}}"
    """)
    assert result.status == "passed", result.error
    msg = capture.message()
    assert msg["Subject"] == "对账完成"
    assert msg["From"].addresses[0].display_name == "机器人"
