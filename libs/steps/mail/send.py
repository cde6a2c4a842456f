"""mail.send: one message through the SMTP server named in the robot's settings."""

from __future__ import annotations

from email.headerregistry import Address
from typing import Annotated, Any

from libs.context import StepContext
from libs.errors import StepArgumentError
from libs.policy import Refused
from libs.registry import step
from libs.secrets import Secret, reveal
from libs.steps.mail.message import addresses, build
from libs.steps.mail.smtp import Server, deliver
from libs.types import ReadPath, parse_duration

Recipients = str | list[str]
__all__ = ["Server", "send"]


@step("mail.send")
def send(
    ctx: StepContext,
    to: Annotated[Recipients, "recipients: an address, 'a@x.cn; 张三 <b@x.cn>', or a list"],
    subject: Annotated[str, "the subject line (Chinese is fine)"],
    body: Annotated[str, "the message text"],
    html: Annotated[bool, "the body is HTML rather than plain text"] = False,
    cc: Annotated[Recipients | None, "copy recipients"] = None,
    bcc: Annotated[Recipients | None, "blind-copy recipients (not shown to the others)"] = None,
    attachments: Annotated[list[ReadPath] | None, "files to attach (paths; Chinese names are fine)"
                           ] = None,
    from_address: Annotated[str | None, "the sender (default: settings mail.from_address, "
                                        "else the mail user name)"] = None,
    host: Annotated[str | None, "the SMTP server, overriding settings mail.host"] = None,
    port: Annotated[int | None, "the SMTP port, overriding settings mail.port"] = None,
) -> str:
    """Send an email, with attachments, through SMTP; returns its Message-ID.

    The server comes from the robot's `settings: {mail: {...}}`: host (default: environment
    SMTP_HOST, else 127.0.0.1), port (SMTP_PORT, else 25, or 465 with ssl), username and
    password (SMTP_USERNAME, SMTP_PASSWORD; log in when given), starttls, ssl, verify_tls
    (default true), from_address, timeout (default: the step's remaining time). A server that
    cannot be reached or refuses the message fails the step as a system error; when only some
    recipients are refused the mail goes to the others and a warning is logged."""
    server = _server(ctx, host, port)
    if not ctx.policy.allows_host(server.host):
        raise Refused(f"mail.send: the mail server '{server.host}' is not among the hosts this "
                      f"worker allows robots to reach ({', '.join(ctx.policy.hosts or ())}); ask "
                      "an admin to add it to the worker's settings (hosts:)")
    to_list, cc_list = addresses(to, "to"), addresses(cc, "cc")
    everyone = to_list + cc_list + addresses(bcc, "bcc")
    if not to_list:
        raise StepArgumentError("mail.send needs at least one recipient in 'to'")
    sender = _sender(ctx, from_address, server)
    files = []
    for name in attachments or []:
        path = ctx.input_path(name, "mail.send")
        if not path.is_file():
            raise StepArgumentError(f"the attachment '{name}' does not exist (looked for {path})")
        files.append(path)
    msg = build(sender, to_list, cc_list, subject, body, html, files)
    recipients = [a.addr_spec for a in everyone]
    refused = deliver(server, msg, sender.addr_spec, recipients, mask=ctx.masker.text)
    if refused:
        ctx.log(f"mail '{subject}': the server {server} refused {', '.join(refused)}; the other "
                "recipients got it", "warning")
    ctx.log(f"mail '{subject}' sent to {len(recipients) - len(refused)} recipient(s) "
            f"through {server}")
    return str(msg["Message-ID"])


def _server(ctx: StepContext, host: str | None, port: int | None) -> Server:
    conf: dict[str, Any] = ctx.settings.get("mail") or {}
    use_ssl = bool(conf.get("ssl", False))
    try:
        number = int(port or conf.get("port") or ctx.env.get("SMTP_PORT")
                     or (465 if use_ssl else 25))
        timeout = parse_duration(conf["timeout"]) if conf.get("timeout") else ctx.remaining
    except ValueError as err:
        raise StepArgumentError(f"settings mail: {err}") from None
    server_host = str(host or conf.get("host") or ctx.env.get("SMTP_HOST") or "127.0.0.1")
    return Server(
        host=server_host,
        port=number,
        username=conf.get("username") or ctx.env.get("SMTP_USERNAME") or None,
        password=_password(conf.get("password"), server_host) or ctx.env.get("SMTP_PASSWORD")
        or None,
        ssl=use_ssl, starttls=bool(conf.get("starttls", False)),
        verify_tls=bool(conf.get("verify_tls", True)), timeout=max(timeout, 0.01))


def _password(value: Any, host: str) -> str | None:
    """settings mail.password: text, or a secret passed whole (${credentials.smtp.password}),
    which goes only to an SMTP host its credential is bound to."""
    if value is None:
        return None
    return reveal(value, host) if isinstance(value, Secret) else str(value)


def _sender(ctx: StepContext, from_address: str | None, server: Server) -> Address:
    conf: dict[str, Any] = ctx.settings.get("mail") or {}
    text = from_address or conf.get("from_address") or conf.get("from")
    if not text and server.username and "@" in server.username:
        text = server.username
    found = addresses(str(text or "workhand@localhost"), "from_address")
    if len(found) != 1:
        raise StepArgumentError("'from_address' must be exactly one email address")
    return found[0]

