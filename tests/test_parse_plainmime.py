"""`textmail.plainmime` reads a mail to the very message the stdlib's feed parser makes.

`parse_plain` stands in for `BytesParser(policy=LAZY).parsebytes` on the mails of
plain shape and answers None on the others. Whenever it answers, the message must
be the parser's in every attribute (fields, payloads, parts, preamble, epilogue,
defects, default types), on every fixture mail and on generated ones built to sit
on the edges of the shapes it takes: line breaks of every kind, continuation and
unix "From " lines, lines that are no field, boundaries back to back, missing,
padded or closing early, nested and message/* parts, digests, odd parameters.
"""

from __future__ import annotations

from email.message import Message
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from mailbot import textmail
from mailbot.inbox import identity
from mailbot.textmail import plainmime, shortcuts
from tests.test_parse_equivalence import _old_digest, _old_message_id_key, content_types

EMAILS = Path(__file__).parent / "emails"
MAILS = sorted(EMAILS.rglob("*.eml"))


def structure(message: Message) -> dict[str, Any]:
    """Every attribute of a message and its parts, defects by kind and text."""
    state = dict(vars(message))
    state.pop("_mailbot_header_index", None)  # the grammar's own cache (`textmail.fields`)
    state["defects"] = [(type(d), str(d)) for d in message.defects]
    state["class"] = type(message)
    payload = state["_payload"]
    if isinstance(payload, list):
        state["_payload"] = [structure(part) for part in payload]
    return state


def by_the_parser(raw: bytes) -> Message:
    return BytesParser(policy=shortcuts.LAZY).parsebytes(raw)


def assert_same_when_read(raw: bytes) -> Message | None:
    fast = plainmime.parse_plain(raw)
    if fast is not None:
        assert structure(fast) == structure(by_the_parser(raw))
    return fast


@pytest.mark.parametrize("path", MAILS, ids=lambda p: str(p.relative_to(EMAILS)))
def test_every_fixture_mail_reads_as_the_parser_reads_it(path: Path) -> None:
    assert_same_when_read(path.read_bytes())


def test_the_plain_shapes_of_real_mail_are_read_without_the_parser() -> None:
    """Not only correct but used: single parts, one level of parts, forwards."""
    read = [p.name for p in MAILS if plainmime.parse_plain(p.read_bytes()) is not None]
    assert {"script-plain.eml", "base64-utf8.eml", "html-only.eml", "bom-crlf-tabs.eml",
            "outlook-alternative-crlf-nbsp.eml", "alternative-plain-wins.eml",
            "apple-split-inline-parts.eml", "attachment-ignored.eml",
            "forwarded-attachment.eml", "forwarded-two-requests.eml"} <= set(read)
    # Delivery reports and parts nested a hundred deep are the parser's.
    assert "bounce-multipart-report.eml" not in read
    assert "deep-nesting.eml" not in read


def test_parse_bytes_takes_the_plain_reading() -> None:
    raw = (EMAILS / "script-plain.eml").read_bytes()
    message = textmail.parse_bytes(raw)
    assert structure(message) == structure(by_the_parser(raw))


# ---------------------------------------------------------------- generated mails

BREAKS = st.sampled_from(["\n", "\r\n", "\r", "\n", "\r\n"])
CLEAN_BREAKS = st.sampled_from(["\n", "\r\n"])
NAMES = st.sampled_from(["Subject", "From", "To", "X-Odd_Name!", "content-type", "Received",
                         "Message-ID", "message-id",
                         "From ", "Fr om", ":", "", "Subject\x00", "Sübject", "A\tB"])
CLEAN_NAMES = st.sampled_from(["Subject", "From", "X-Odd_Name!", "Received", "MIME-Version",
                               "Message-Id"])
VALUES = st.text(" \tabc:;=\"'()<>@,.\\/-é\udcc3\x0b\x0c\x1c", max_size=12)
CLEAN_VALUES = st.text(" \tabc:;=\"'()<>@,.\\/-é\udcc3", max_size=12)


@st.composite
def header_lines(draw: st.DrawFn, clean: bool) -> list[str]:
    """Fields, continuation lines, and unless `clean`, unix "From " lines, lines that are
    no field, odd names."""
    kinds = ["field", "field", "field", "continuation"] + ([] if clean else ["from", "junk"])
    names, values = (CLEAN_NAMES, CLEAN_VALUES) if clean else (NAMES, VALUES)
    lines = []
    for kind in draw(st.lists(st.sampled_from(kinds), max_size=5)):
        if kind == "field":
            lines.append(f"{draw(names)}:{draw(values)}")
        elif kind == "continuation" and lines:
            lines.append(draw(st.sampled_from([" ", "\t", "  "])) + draw(values))
        elif kind == "from":
            lines.append("From someone@example.org Mon Sep  2 14:00:27 2019")
        elif kind == "junk":
            lines.append(draw(values))
    return lines


def joined(draw: st.DrawFn, lines: list[str], clean: bool) -> str:
    return "".join(line + draw(CLEAN_BREAKS if clean else BREAKS) for line in lines)


BOUNDARY = "b1=_x"
CONTENT_TYPES = st.sampled_from([
    f'multipart/alternative; boundary="{BOUNDARY}"', f"multipart/mixed; boundary={BOUNDARY}",
    f'multipart/mixed;\r\n boundary="{BOUNDARY} "', f'multipart/digest; boundary="{BOUNDARY}"',
    "multipart/mixed", f'multipart/mixed; boundary="{BOUNDARY}"; boundary="other"',
    f"multipart/mixed; boundary*0={BOUNDARY}", f'Multipart/Related; BOUNDARY="{BOUNDARY}"',
    f'multipart/mixed; boundary="{BOUNDARY}" (comment)', 'multipart/mixed; boundary=""',
    "text/plain; charset=utf-8", "text/html", "message/rfc822", "message/delivery-status",
    "text", "text/plain; a*", "multipart/x; boundary==?utf-8?q?b?="])
CLEAN_TYPES = st.sampled_from([f'multipart/alternative; boundary="{BOUNDARY}"',
                               f"multipart/mixed; boundary={BOUNDARY}",
                               f'multipart/mixed;\n\tboundary="{BOUNDARY}"; x=y',
                               f'multipart/digest; boundary="{BOUNDARY}"',
                               "message/rfc822", "text/plain; charset=utf-8"])
PART_TYPES = st.sampled_from(["text/plain", "text/html; charset=utf-8", "message/rfc822",
                              f'multipart/alternative; boundary="{BOUNDARY}"', "image/png",
                              "text/plain;\r\n charset=utf-8", "text/plain; a*",
                              "message/rfc822", "message/delivery-status", "message/x"])


@st.composite
def parts(draw: st.DrawFn, clean: bool) -> str:
    """One part after its boundary line: fields or none, an empty line or (unless
    `clean`) none, a body that may hold a boundary-like line."""
    ctype = draw(PART_TYPES)
    fields = [f"Content-Type: {ctype}"] if draw(st.booleans()) else []
    fields += draw(header_lines(clean)) if draw(st.integers(0, 3)) == 0 else []
    head = joined(draw, fields, clean)
    empty = draw(CLEAN_BREAKS if clean else st.sampled_from(["\n", "\r\n", "\n", ""]))
    body = draw(st.sampled_from(["text", "", f"--{BOUNDARY}x", f" --{BOUNDARY}", "a\rb",
                                 f"x--{BOUNDARY}", f"\r--{BOUNDARY}--"]))
    if ctype.startswith("message/") and fields[:1] == [f"Content-Type: {ctype}"]:
        body = draw(forwards(clean)) + body  # a mail of its own, maybe forwarding again
    return head + empty + body + draw(BREAKS)


@st.composite
def forwards(draw: st.DrawFn, clean: bool) -> str:
    """The head of a forwarded mail in a message/* part: its fields, its empty line."""
    fields = draw(header_lines(clean))
    if draw(st.integers(0, 2)) == 0:
        fields.append(f"Content-Type: {draw(PART_TYPES)}")
    empty = draw(CLEAN_BREAKS if clean else st.sampled_from(["\n", "\r\n", ""]))
    inner = draw(forwards(clean)) if fields and "message/" in fields[-1] else ""
    return joined(draw, fields, clean) + empty + inner


@st.composite
def boundary_lines(draw: st.DrawFn, clean: bool, closing: bool = False) -> str:
    tail = draw(st.sampled_from(["", "", " ", "\t "] + ([] if clean else ["x", "--", "-"])))
    return f"--{BOUNDARY}" + ("--" if closing else "") + tail + draw(BREAKS)


@st.composite
def multipart_bodies(draw: st.DrawFn, clean: bool) -> str:
    preamble = draw(st.sampled_from(["", "", "This is a multi-part message.\n", "\n", "x\r"]))
    pieces = [preamble]
    for _ in range(draw(st.integers(1 if clean else 0, 3))):
        pieces.append(draw(boundary_lines(clean)))
        pieces.append(draw(parts(clean)) if clean or draw(st.integers(0, 5)) else "")
    if draw(st.integers(0, 5)):
        pieces.append(draw(boundary_lines(clean, closing=True)))
    pieces.append(draw(st.sampled_from(["", "", "epilogue\n", "\n", f"--{BOUNDARY}\n"])))
    return "".join(pieces)


@st.composite
def mails(draw: st.DrawFn) -> bytes:
    """Mails of plain shape (half of them) and of every other."""
    clean = draw(st.booleans())
    fields = draw(header_lines(clean))
    if clean or draw(st.integers(0, 4)):
        fields.insert(draw(st.integers(0, len(fields))),
                      f"Content-Type: {draw(CLEAN_TYPES if clean else CONTENT_TYPES)}")
    if draw(st.integers(0, 5)) == 0:
        fields.append("Content-Transfer-Encoding: " + draw(st.sampled_from(["base64", "7bit"])))
    head = joined(draw, fields, clean)
    empty = draw(CLEAN_BREAKS if clean else st.sampled_from(["\n", "\r\n", "\n", "", "\r"]))
    body = draw(st.one_of(multipart_bodies(clean), st.text("ab\r\n -é", max_size=10)))
    return (head + empty + body).encode("utf-8", "surrogateescape")


@given(mails())
@example(b"Subject: x\n\nbody\n")
@example(b"Subject: a\x0bX: y\n\nbody")  # one line to the parser, two to `splitlines`
@example(b"Subject: a\x0cb\r\nX: y\r\n\r\n")
@example(b"Subject: a\rX: y\n\nbody")
@example(b"Subject: a\n\rX: y\n\nbody")
@example(b"\nbody")
@example(b"\r\nbody")
@example(b"Subject: x\r\n\r\n")
@example(f"Content-Type: multipart/mixed; boundary={BOUNDARY}\n\n--{BOUNDARY}\n\nA\n"
         f"--{BOUNDARY}--\n".encode())
@example(f"Content-Type: multipart/mixed; boundary={BOUNDARY}\n\npre\n--{BOUNDARY} \r\n"
         f"Content-Type: text/html\r\n\r\nA\r\n\r\n--{BOUNDARY}-- \r\nepi".encode())
def test_generated_mails_read_as_the_parser_reads_them(raw: bytes) -> None:
    assert_same_when_read(raw)


@given(st.one_of(content_types(), st.text(max_size=30)), st.booleans())
@example(f'multipart/mixed; boundary="{BOUNDARY} "', True)
@example('multipart/mixed; boundary=""', True)
def test_the_boundary_is_the_one_the_message_reads(ctype: str, folded: bool) -> None:
    raw = f"Content-Type: {ctype.replace(' ', chr(10) + ' ', 1) if folded else ctype}\n\n"
    message = by_the_parser(raw.encode("utf-8", "surrogateescape"))
    assert plainmime._boundary(message, message.get_content_type()) == message.get_boundary()


@given(st.sampled_from(["\n", "\r\n"]), st.integers(0, 2), st.booleans())
def test_generated_plain_multiparts_are_read_without_the_parser(
        newline: str, preamble_lines: int, epilogue: bool) -> None:
    """The usual multipart/alternative shape is never left to the parser."""
    lines = ["From: a@b.c", f'Content-Type: multipart/alternative; boundary="{BOUNDARY}"', "",
             *["preamble"] * preamble_lines, f"--{BOUNDARY}", "Content-Type: text/plain", "",
             "plain", f"--{BOUNDARY}", "Content-Type: text/html", "", "<p>html</p>",
             f"--{BOUNDARY}--", *(["epilogue"] if epilogue else [])]
    raw = newline.join(lines).encode()
    message = assert_same_when_read(raw)
    assert message is not None
    assert [part.get_content_type() for part in message.iter_parts()] == [
        "text/plain", "text/html"]


@given(mails())
@example(b"Message-ID: <a@b>\r\nSubject: x\r\n y\r\nSubject: z\r\n\r\nbody\r\n")
@example(b"Subject: \xc3\xa9\nTo: a@b\n\nbody")
@example(b"From someone Mon\nSubject: x\n\nbody")
def test_the_identity_reads_a_header_as_it_did(raw: bytes) -> None:
    """`mailbot.inbox.identity` reads a header of plain shape with `plain_fields`: its
    Message-ID and digest are those compat32's parser gave."""
    assert identity.content_digest(raw) == _old_digest(raw)
    assert identity.message_id_key(raw) == _old_message_id_key(raw)
