"""The attack mails of issue 10, built from a genuine request, and what their answers must be.

Tried on the embedded setup before the fix, each made the bot do harm: a header
or a body of the attacker's in mail sent as aog@, a download link to a stranger,
mail to 41 outside addresses, 300 mails out, a minute of parsing under the lock,
a shunted request. The tests send exactly these (tests/test_attacks.py on the
embedded setup, tests/test_attacks_servers.py through Dovecot and SMTP).
"""

from __future__ import annotations

import re
from email import message_from_bytes, policy
from email.message import EmailMessage

PHISH = "Your ALMA password expired: log in at https://phish.example/alma"
# An RFC 2047 word whose text holds CR LF, then a header and a body of the attacker's.
INJECTION = ("=?utf-8?q?Eve=0D=0AX-Injected=3A_yes=0D=0A=0D=0A"
             + PHISH.replace(" ", "_").replace(":", "=3A") + "?=")

# What any reply may carry, each at most once (`reply.render`); nothing else.
REPLY_HEADERS = frozenset({
    "from", "subject", "date", "message-id", "x-mailbot-loop", "to", "cc", "reply-to",
    "in-reply-to", "references", "auto-submitted", "x-auto-response-suppress",
    "x-mailbot-verdict", "content-type", "content-transfer-encoding", "mime-version",
})


def encoded_again(word: str) -> str:
    """`word` (an encoded word) as the text of another encoded word: decoded once by the
    bot, it is an encoded word again, which the stdlib's header folder decodes."""
    return "=?utf-8?q?" + "".join(f"={b:02X}" for b in word.encode()) + "?="


def header(raw: bytes, name: str, value: str | None) -> bytes:
    """`raw` with its `name` field set to `value` (removed when None, added when absent)."""
    sep = b"\r\n\r\n" if b"\r\n\r\n" in raw else b"\n\n"
    head, _, body = raw.partition(sep)
    eol = sep[: len(sep) // 2]
    lines = re.split(rb"\r?\n(?![ \t])", head)
    kept = [line for line in lines if not line.lower().startswith(name.lower().encode() + b":")]
    if value is not None:
        kept.insert(0, f"{name}: {value}".encode("utf-8", "surrogateescape"))
    return eol.join(kept) + sep + body


def injected_from(raw: bytes, address: str) -> bytes:
    """From's display name: an encoded CR LF, a header and a body."""
    return header(raw, "From", f"{INJECTION} <{address}>")


def injected_subject_twice(raw: bytes) -> bytes:
    """A doubly encoded Subject: the attack that got through before (a new header and body)."""
    return header(raw, "Subject", encoded_again(INJECTION))


def injected_from_twice(raw: bytes, address: str) -> bytes:
    """A doubly encoded display name: also got through."""
    return header(raw, "From", f"{encoded_again(INJECTION)} <{address}>")


def reflector(raw: bytes, strangers: int = 40) -> bytes:
    """A Reply-To and 40 Cc outside the ARC, and 20 kB of the attacker's text to quote."""
    outside = [f"victim{i}@outside.example" for i in range(strangers)]
    raw = header(raw, "Reply-To", "phisher@outside.example")
    raw = header(raw, "Cc", ", ".join(outside))
    return raw + b"\n" + (PHISH + "\n").encode() * 400


def huge_subject(raw: bytes, size: int = 1_000_000) -> bytes:
    """A megabyte Subject of "Re: ": a minute of parsing before (500k of them, 196 s)."""
    return header(raw, "Subject", "Re: " * (size // 4))


def many_cc(raw: bytes, count: int = 40_000) -> bytes:
    """40,000 Cc addresses: 40 s to parse and 40 s more to render before."""
    return header(raw, "Cc", ", ".join(f"cc{i}@outside.example" for i in range(count)))


def non_ascii_message_id(raw: bytes) -> bytes:
    """A Message-ID of raw 8-bit bytes: SQLite refused the row, and the request was shunted."""
    return header(raw, "Message-ID", "<r\udce9qu\udce9te-\udcff@example.org>")


def nul_charset(raw: bytes) -> bytes:
    """A charset name holding NUL over a Latin-1 body (not UTF-8: the name is tried).

    A text part of 7bit or 8bit transfer encoding with `raw`'s UTF-8 body.
    """
    raw = header(raw, "MIME-Version", "1.0")
    raw = header(raw, "Content-Transfer-Encoding", "8bit")
    raw = header(raw, "Content-Type", 'text/plain; charset="utf\x00-8"')
    sep = b"\r\n\r\n" if b"\r\n\r\n" in raw else b"\n\n"
    head, _, body = raw.partition(sep)
    return head + sep + (body.decode("utf-8") + "Grüße\n").encode("latin-1")


def authenticated(raw: bytes, results: str) -> bytes:
    """With an Authentication-Results header on top, as the receiving MTA writes it."""
    return f"Authentication-Results: {results}\n".encode() + raw


def parsed(data: bytes) -> EmailMessage:
    msg = message_from_bytes(data, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def assert_only_headers_set(data: bytes, verdict_line: str | None = None) -> EmailMessage:
    """The mail holds only the headers a reply sets, each once, and its own body."""
    msg = parsed(data)
    names = [k.lower() for k, _ in msg.raw_items()]
    assert set(names) <= REPLY_HEADERS, f"a header was added: {set(names) - REPLY_HEADERS}"
    assert len(names) == len(set(names)), f"a header twice: {names}"
    head = data.split(b"\r\n\r\n", 1)[0]
    assert not re.search(rb"(?im)^x-injected", head)
    for name, value in msg.items():  # each field read back is one line of text
        assert "\r" not in str(value) and "\n" not in str(value), (name, str(value))
    assert b"\r\n\r\n" + PHISH.encode() not in data, "the attacker's body"
    if verdict_line is not None:
        text = msg.get_body(("plain",))
        assert text is not None
        assert str(text.get_content()).replace("\r\n", "\n").startswith(verdict_line + "\n")
    return msg
