"""An SMTP server that keeps every mail it receives in the demo state instead of sending it."""

from __future__ import annotations

import datetime as dt
import email
import socket
from email import policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from workhand.demo.state import DemoState


def _body(msg: EmailMessage) -> tuple[str, str]:
    """(plain text, html) of a message; either may be empty."""
    plain = msg.get_body(preferencelist=("plain",))
    html = msg.get_body(preferencelist=("html",))
    return (plain.get_content() if isinstance(plain, EmailMessage) else "",
            html.get_content() if isinstance(html, EmailMessage) else "")


def parse(raw: bytes, mail_from: str, rcpt_tos: list[str]) -> dict[str, Any]:
    """The parts of a received mail that tests and people look at, headers decoded."""
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    text, html = _body(msg)
    return {
        "received": dt.datetime.now().isoformat(timespec="seconds"),
        "mail_from": mail_from,
        "rcpt_to": list(rcpt_tos),
        "from": str(msg.get("from", "")),
        "to": [a.strip() for a in str(msg.get("to", "")).split(",") if a.strip()],
        "cc": [a.strip() for a in str(msg.get("cc", "")).split(",") if a.strip()],
        "subject": str(msg.get("subject", "")),
        "body": text,
        "html": html,
        "attachments": [part.get_filename() or "" for part in msg.walk()
                        if part.get_content_disposition() == "attachment"],
        "message_id": str(msg.get("message-id", "")),
    }


class MailSink:
    """aiosmtpd handler: accept everything, remember it."""

    def __init__(self, state: DemoState) -> None:
        self.state = state

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8")
        self.state.add_mail(parse(raw, envelope.mail_from or "", envelope.rcpt_tos))
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_sink(state: DemoState, port: int = 0) -> Controller:
    """Start the SMTP sink on 127.0.0.1 (a free port when 0); call .stop() on the result."""
    controller = Controller(MailSink(state), hostname="127.0.0.1", port=port or free_port(),
                            enable_SMTPUTF8=True)
    controller.start()
    return controller
