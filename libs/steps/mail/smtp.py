"""SMTP delivery without a step context: the mail.send step and the orchestrator's daily report
send through this one function, so both log in, use TLS and explain a refusal the same way."""

from __future__ import annotations

import smtplib
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage

from libs.errors import SystemFailure
from libs.secrets import MASK


@dataclass(frozen=True)
class Server:
    host: str
    port: int
    username: str | None
    password: str | None
    ssl: bool
    starttls: bool
    verify_tls: bool
    timeout: float

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def deliver(server: Server, msg: EmailMessage, sender: str, recipients: list[str],
            mask: Callable[[str], str] | None = None) -> list[str]:
    """Send `msg` to `recipients`; returns the recipients the server refused (the others got
    it). A server that cannot be reached or refuses the whole message raises SystemFailure
    with a sentence naming the server and the recipients, the password masked (and whatever
    else `mask` hides: a step's secrets)."""
    tls = ssl.create_default_context()
    if not server.verify_tls:
        tls.check_hostname, tls.verify_mode = False, ssl.CERT_NONE
    where = f"mail '{msg['Subject']}' to {', '.join(recipients)} through {server}"
    # An explicit local name: the default looks the machine up in DNS, which can hang on
    # closed bank networks.
    local = socket.gethostname()
    try:
        smtp: smtplib.SMTP
        if server.ssl:
            smtp = smtplib.SMTP_SSL(server.host, server.port, local, timeout=server.timeout,
                                    context=tls)
        else:
            smtp = smtplib.SMTP(server.host, server.port, local, timeout=server.timeout)
        with smtp:
            if server.starttls:
                smtp.starttls(context=tls)
            if server.username:
                smtp.login(server.username, server.password or "")
            refused = smtp.send_message(msg, sender, recipients)
    except smtplib.SMTPAuthenticationError as err:
        raise _failure(mask, server, f"could not send {where}: the server refused the login of "
                       f"'{server.username}' ({_reply(err.smtp_code, err.smtp_error)}); check "
                       "the mail username and password in settings") from None
    except smtplib.SMTPRecipientsRefused as err:
        raise _failure(mask, server, f"could not send {where}: every recipient was refused ("
                       f"{_refusals(err.recipients)})") from None
    except smtplib.SMTPSenderRefused as err:
        raise _failure(mask, server, f"could not send {where}: the server refused the sender "
                       f"'{sender}' ({_reply(err.smtp_code, err.smtp_error)})") from None
    except smtplib.SMTPResponseException as err:
        raise _failure(mask, server, f"could not send {where}: the server answered "
                       f"{_reply(err.smtp_code, err.smtp_error)}") from None
    except (smtplib.SMTPException, OSError) as err:
        cause = str(err) or type(err).__name__
        if isinstance(err, TimeoutError | socket.timeout):
            cause = f"no answer within {server.timeout:g}s"
        raise _failure(mask, server, f"could not send {where}: {cause}; check the mail host "
                       "and port in settings and that the server is up") from None
    return list(refused)


def _reply(code: int, text: bytes | str) -> str:
    return f"{code} {text.decode(errors='replace') if isinstance(text, bytes) else text}"


def _refusals(refused: dict[str, tuple[int, bytes]]) -> str:
    return "; ".join(f"{addr}: {_reply(*reply)}" for addr, reply in refused.items())


def _failure(mask: Callable[[str], str] | None, server: Server, message: str) -> SystemFailure:
    if mask is not None:
        message = mask(message)
    if server.password:
        message = message.replace(server.password, MASK)
    return SystemFailure(message)
