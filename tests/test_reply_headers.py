"""Headers built, never re-parsed (`mailbot.reply.headers`): whatever text a received mail
holds, the mail the bot sends reads back as exactly the headers it set.

Properties over arbitrary text (encoded CR LF, NUL, nested `=?...?=`, 10 kB), at
the level of one field and of a whole reply; then the attacks of issue 10.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailbot.config import Config
from mailbot.model import Malformed, Origin, Request, Verdict, VerdictCode
from mailbot.reply import render_malformed, render_verdict
from mailbot.reply.headers import (
    Mailbox,
    addr_spec,
    display_name,
    mailbox_field,
    msg_id,
    text_field,
)
from tests import attacks

NOW = datetime(2024, 3, 5, 9, 41, tzinfo=UTC)
# Text as hostile mail decodes to: any character, and the pieces of encoded words.
HOSTILE_TEXT = st.one_of(
    st.text(st.characters(exclude_categories=["Cs"]), max_size=300),
    st.lists(st.sampled_from(["=?", "?=", "utf-8", "?q?", "?b?", "=0D=0A", "\r\n", "\x00", " ",
                              "\t", "é", "–", "X-Injected: yes", "\u2028", "\"", "\\", "(",
                              "<"]), max_size=40).map("".join),
    st.builds(lambda t: t * 40, st.text(max_size=250)),  # up to 10 kB
)
SETTINGS = settings(max_examples=300, deadline=None)


def read(field: str) -> EmailMessage:
    raw = field.replace("\n", "\r\n").encode("ascii") + b"\r\n\r\n"
    msg = message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def lines_fit(value: str) -> bool:
    return all(len(line) <= 998 for line in value.split("\n"))


@SETTINGS
@given(HOSTILE_TEXT)
def test_an_unstructured_field_reads_back_as_its_text(text: str) -> None:
    value = text_field("Subject", text)
    msg = read(f"Subject: {value}")
    assert msg.keys() == ["Subject"]
    assert str(msg["Subject"]) == text
    assert value.isascii() and lines_fit(value)


@SETTINGS
@given(HOSTILE_TEXT, st.sampled_from(["a@example.org", "o'neil+x@mail.example.org"]))
def test_an_address_field_reads_back_as_its_mailboxes(text: str, address: str) -> None:
    name = display_name(text)
    boxes = [Mailbox(name, address), Mailbox("", "b@example.org")]
    value = mailbox_field("To", boxes)
    msg = read(f"To: {value}")
    assert msg.keys() == ["To"]
    got = [(a.display_name, a.addr_spec) for a in msg["To"].addresses]
    assert got == [(name, address), ("", "b@example.org")]
    assert value.isascii() and lines_fit(value)
    # No two encoded words touch: readers disagree on the space between them.
    assert not re.search(r"\?=\s+=\?", value)


@given(st.text(st.characters(exclude_categories=["Cs"]), max_size=120))
def test_a_display_name_is_kept_unless_it_cannot_be(text: str) -> None:
    name = display_name(text)
    assert display_name(name) == name, "made once, it stays"
    ordinary = " ".join(text.split())
    if ordinary.isascii() and ordinary.isprintable() and "=?" not in ordinary \
            and "?=" not in ordinary and len(ordinary) <= 60:
        assert name == ordinary


@SETTINGS
@given(HOSTILE_TEXT)
def test_a_msg_id_is_copied_only_when_it_reads_back(text: str) -> None:
    kept = msg_id(text)
    if kept is None:
        return
    msg = read(f"In-Reply-To: {kept}\nReferences: {kept}")
    assert str(msg["In-Reply-To"]) == kept and str(msg["References"]) == kept


@pytest.mark.parametrize("value", ["<a@b>", "<a.b@[10.0.0.1]>", "<x+y=z@example.org>"])
def test_ordinary_msg_ids_are_kept(value: str) -> None:
    assert msg_id(f"  {value} ") == value


@pytest.mark.parametrize("value", [
    "<=?utf-8?q?a=0D=0AX-Injected:_1?=@x>", "<a\udce9@x>", "<a b@x>", "<a@b>c>", "a@b",
    "<" + "a" * 900 + "@b>", "<a@b?=>"])
def test_other_msg_ids_are_not(value: str) -> None:
    assert msg_id(value) is None


@pytest.mark.parametrize("address", ["=?utf-8?q?a?=@example.org", "a b@example.org", "a@b@c",
                                     "<a@example.org>", "a@example.org\r\nBcc: x@y", "é@x.org"])
def test_only_plain_addresses_are_written(address: str) -> None:
    with pytest.raises(ValueError):
        addr_spec(address)


# --- whole replies ----------------------------------------------------------------------


def origin(name: str, subject: str, message_id: str, references: tuple[str, ...]) -> Origin:
    return Origin(channel="mail", sender="arc@eso.org", sender_name=name,
                  to=("aog@eso.org",), cc=("dpetry@eso.org",), subject=subject,
                  message_id=message_id, references=references, text="please create ...")


def request(o: Origin) -> Request:
    return Request(mous="uid://A001/X1296/X675", project="2017.1.00727.S", calfields=(),
                   user_name="Judit Szulagyi", user_email="judits@example.org", ticket="16140",
                   arc_contact=o.sender, cc=(), message_id=o.message_id, received=NOW,
                   origin=o)


@settings(max_examples=200, deadline=None)
@given(HOSTILE_TEXT, HOSTILE_TEXT, HOSTILE_TEXT, st.lists(HOSTILE_TEXT, max_size=3),
       st.booleans())
def test_a_reply_reads_back_as_exactly_the_headers_set(
        name: str, subject: str, message_id: str, references: list[str],
        malformed: bool) -> None:
    config = Config()
    o = origin(name, subject, message_id, tuple(references))
    if malformed:
        mail = render_malformed(config.reply_settings, config.templates,
                                Malformed(("no 'email' line",), o), key="k", queued_at=NOW)
        line = "MALFORMED REQUEST"
    else:
        mail = render_verdict(config.reply_settings, config.templates, request(o),
                              Verdict(VerdictCode.NOT_ENTITLED, "entitlement"), key="k",
                              queued_at=NOW)
        line = "NOT ENTITLED"
    msg = attacks.assert_only_headers_set(mail.data, line)
    assert str(msg["Subject"]) == mail.subject
    assert msg["To"].addresses[0].display_name == display_name(name)
    assert mail.rcpt_to == ("arc@eso.org", "dpetry@eso.org")
    assert all(len(line) <= 998 for line in mail.data.split(b"\r\n"))


def test_the_issue_s_injections_come_out_inert() -> None:
    config = Config()
    o = origin(attacks.INJECTION.replace("=0D=0A", "\r\n"), attacks.encoded_again(
        attacks.INJECTION), "<ok@arc.example>", ())
    mail = render_verdict(config.reply_settings, config.templates, request(o),
                          Verdict(VerdictCode.NOT_ENTITLED, "entitlement"), key="k",
                          queued_at=NOW)
    msg = attacks.assert_only_headers_set(mail.data, "NOT ENTITLED")
    assert str(msg["Subject"]) == mail.subject  # the attacker's text, cut at 200 characters
    assert mail.subject.startswith("Re: " + attacks.encoded_again(attacks.INJECTION)[:100])
    assert msg["To"].addresses[0].display_name.startswith("=?utf-8?q?Eve")
