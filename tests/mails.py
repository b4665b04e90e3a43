"""Reading the mails a test server received."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage


def parse(data: bytes) -> EmailMessage:
    msg = message_from_bytes(data, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def body(msg: EmailMessage) -> str:
    """The plain text body, with plain newlines."""
    part = msg.get_body(("plain",))
    assert part is not None
    return str(part.get_content()).replace("\r\n", "\n")
