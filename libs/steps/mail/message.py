"""Build the message: addresses, a Chinese subject and body, attachments with Chinese names."""

from __future__ import annotations

import mimetypes
import re
from email import policy
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, getaddresses, make_msgid
from pathlib import Path

from libs.errors import StepArgumentError

# People write lists with ';' (Outlook's habit) and full-width separators as often as ','.
_SEPARATORS = re.compile(r"[;；，]")
# 7-bit only: Chinese bodies go base64/quoted-printable instead of raw 8-bit, which older mail
# gateways without 8BITMIME mangle.
_POLICY = policy.default.clone(cte_type="7bit")


def addresses(value: str | list[str] | None, field: str) -> list[Address]:
    """'张三 <a@b.cn>; c@d.cn' or a list of such texts → addresses; refuses what is not one."""
    if value is None:
        return []
    texts = [value] if isinstance(value, str) else value
    found = []
    for name, addr in getaddresses([_SEPARATORS.sub(",", t) for t in texts]):
        if not name and not addr:
            continue
        if "@" not in addr:
            raise StepArgumentError(f"'{name or addr}' in '{field}' is not an email address; "
                                    "write it like zhang.san@bank.cn or 张三 <zhang.san@bank.cn>")
        try:
            found.append(Address(display_name=name, addr_spec=addr))
        except (ValueError, HeaderParseError, IndexError) as err:
            raise StepArgumentError(f"'{addr}' in '{field}' is not a valid email address "
                                    f"({err})") from None
    return found


def build(sender: Address, to: list[Address], cc: list[Address], subject: str, body: str,
          html: bool, attachments: list[Path]) -> EmailMessage:
    """The message to send; headers are RFC 2047-encoded and file names RFC 2231-encoded by
    the email package's default policy, so Chinese survives every mail client."""
    msg = EmailMessage(policy=_POLICY)
    msg["From"] = sender
    msg["To"] = to
    if cc:
        msg["Cc"] = cc
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(domain=sender.domain or "workhand.local")
    msg.set_content(body, subtype="html" if html else "plain")
    for path in attachments:
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        maintype, subtype = kind.split("/", 1)
        msg.add_attachment(path.read_bytes(), maintype=maintype, subtype=subtype,
                           filename=path.name)
    return msg
