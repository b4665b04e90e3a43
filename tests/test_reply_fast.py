"""The fast paths of `mailbot.reply` write what the stdlib wrote before, byte for byte.

Address fields of plain names are worked out by `reply.headers` as the stdlib folds
them; a mail is serialised by `reply.message.Draft`, not by an `EmailMessage`. Each
is compared here with the stdlib over arbitrary values (the golden mails pin a few).
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from email.message import EmailMessage
from email.policy import SMTP

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailbot.reply.headers import (
    Mailbox,
    _fold,
    _stdlib_field,
    _stdlib_style,
    _text_pieces,
    display_name,
    mailbox_field,
    text_field,
)
from mailbot.reply.message import Draft

# Words of names as mail has them: ASCII, accented, other scripts, emoji, long ones.
WORDS = st.one_of(
    st.sampled_from(["Elisabeth", "Kärrström", "Zoë", "Ångström-Łukasiewicz", "O'Neil",
                     "Øystein", "María", "García", "Pérez", "李", "小龙", "Ἀριστοτέλης",
                     "😀", "x", "ARC", "Contact", "van", "der", "Müller-Lüdenscheidt"]),
    st.text(st.characters(min_codepoint=33, max_codepoint=0x2FFF, exclude_categories=[
        "Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp"]), min_size=1, max_size=30),
)
NAMES = st.lists(WORDS, min_size=0, max_size=6).map(" ".join).map(display_name)
ADDRESSES = st.sampled_from(["a@example.org", "ekarrstrom@eso.org",
                             "zoe.angstrom@phys.ethz.ch", "o'neil+x@mail.example.org",
                             "no_reply_eu_data_delivery@eso.org"])
BOXES = st.lists(st.builds(Mailbox, NAMES, ADDRESSES), min_size=1, max_size=3)
FIELDS = st.sampled_from(["From", "To", "Cc", "Reply-To"])


@settings(max_examples=600, deadline=None)
@given(FIELDS, BOXES)
def test_plain_names_are_written_as_the_stdlib_writes_them(field: str,
                                                           boxes: list[Mailbox]) -> None:
    ours = _stdlib_style(boxes)
    if ours is not None:
        assert ours == _stdlib_field(field, boxes)


@pytest.mark.parametrize("boxes", [
    [Mailbox("Elisabeth Kärrström", "ekarrstrom@eso.org")],
    [Mailbox("Zoë Ångström-Łukasiewicz", "zoe@phys.ethz.ch")],
    [Mailbox("ARC Contact", "arc.contact@example.org"), Mailbox("", "dpetry@eso.org")],
    [Mailbox("María García Pérez", "maria.garcia@example.org"), Mailbox("", "x@eso.org")],
])
def test_names_of_people_take_the_fast_path(boxes: list[Mailbox]) -> None:
    """Not the stdlib's parser per mail: the fast path knows these."""
    ours = _stdlib_style(boxes)
    assert ours is not None
    assert ours == _stdlib_field("To", boxes) == mailbox_field("To", boxes)


@pytest.mark.parametrize("boxes", [
    [Mailbox("ALMA Archive Operations (Garching, Bäume)", "aog@eso.org")],  # specials
    [Mailbox("Zoë Ångström-Łukasiewicz", "zoe.angstrom@phys.ethz.ch")],  # two lines
    [Mailbox("María García Pérez", "maria.garcia@example.org"),
     Mailbox("Øystein Bjørnstad", "oystein.bjornstad@example.org")],
])
def test_other_fields_are_left_to_the_stdlib(boxes: list[Mailbox]) -> None:
    assert _stdlib_style(boxes) is None
    assert mailbox_field("From", boxes) == _stdlib_field("From", boxes)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(["Re:", "ALMA:", "x" * 76, "y" * 77, "=?", "?=", "a=?b", " ",
                                 "uid___A001_X1296_X675", "(ticket", "16140)", "–"]),
                max_size=30).map(" ".join), FIELDS)
def test_a_subject_of_plain_words_is_folded_as_any_other(text: str, field: str) -> None:
    assert text_field(field, text) == _fold(len(field) + 2, list(_text_pieces(text)))


# --- the body and the fixed fields ---------------------------------------------------

BODIES = st.one_of(
    st.text(max_size=400),
    st.text(st.sampled_from("ab =\t\n.-–é"), max_size=3000),
    st.builds(lambda w, n: (w + " ") * n, st.text(max_size=12), st.integers(0, 400)),
)


def head(data: bytes) -> bytes:
    return data.split(b"\r\n\r\n")[0]


def stdlib_mail(body: str, cte: str) -> bytes:
    msg = EmailMessage(policy=SMTP)
    msg["Auto-Submitted"] = "auto-replied"
    msg.set_content(body, charset="utf-8", cte=cte)
    return msg.as_bytes(policy=SMTP)


@settings(max_examples=400, deadline=None)
@given(BODIES)
def test_the_body_is_encoded_as_set_content_encodes_it(body: str) -> None:
    draft = Draft("<x@y>")
    draft.add("Auto-Submitted", "auto-replied")
    draft.set_body(body)
    data = draft.data()
    cte = b"7bit" if b"Content-Transfer-Encoding: 7bit" in data else b"quoted-printable"
    text = body.replace("\r\n", "\n").replace("\r", "\n").encode("utf-8", "replace")
    assert data == stdlib_mail(text.decode("utf-8"), cte.decode())


@pytest.mark.parametrize("when", [
    datetime(2024, 3, 5, 9, 41, 7, tzinfo=UTC),
    datetime(2019, 9, 2, 14, 0, 27, tzinfo=timezone(timedelta(hours=-3, minutes=-30))),
    datetime(2019, 9, 2, 14, 0, 27, tzinfo=timezone(timedelta(hours=5, seconds=7))),
    datetime(999, 1, 2, 3, 4, 5, tzinfo=UTC),
    datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=14))),
])
def test_the_date_is_written_as_the_header_registry_writes_it(when: datetime) -> None:
    from email.utils import format_datetime

    from mailbot.reply.message import _date_field

    msg = EmailMessage(policy=SMTP)
    msg["Date"] = format_datetime(when)
    draft = Draft("<x@y>")
    draft.add_structured("Date", *_date_field(when))
    assert head(draft.data()) == head(msg.as_bytes())


@pytest.mark.parametrize("value", [
    "<mailbot.verdict.f862431790a21efc4b91084d@mailbot.eso.org>",
    "<mailbot.verdict.f862431790a21efc4b91084d@" + "a" * 70 + ".example>",
    "<mailbot.verdict.f862431790a21efc4b91084d@[10.0.0.1]>",
])
def test_the_message_id_is_written_as_the_header_registry_writes_it(value: str) -> None:
    from mailbot.reply.message import _DOT_ATOM_ID

    msg = EmailMessage(policy=SMTP)
    msg["Message-ID"] = value
    draft = Draft(value)
    read = draft.add_structured("Message-ID", value, as_is=bool(_DOT_ATOM_ID.fullmatch(value)))
    assert head(draft.data()) == head(msg.as_bytes())
    assert read == str(msg["Message-ID"])


def test_jinja2_waits_for_the_first_template() -> None:
    """Importing the replies (as every `mailbot` command does) loads no Jinja2."""
    code = ("import sys, mailbot.reply, mailbot.config; "
            "assert 'jinja2' not in sys.modules, 'jinja2 imported'; "
            "from mailbot.config import Config; t = Config().templates; "
            "assert 'jinja2' not in sys.modules, 'jinja2 imported by Templates()'")
    subprocess.run([sys.executable, "-c", code], check=True)


# --- the templates' wordwrap ----------------------------------------------------------

PARAGRAPHS = st.one_of(
    st.lists(st.sampled_from(["a", "bb", "word", "x" * 80, " ", "  ", "\t", "\n", "\r\n",
                              "\x0b", "\u00a0", "\u2028", "é", "-", "—"]),
             max_size=120).map("".join),
    st.text(max_size=300),
)


@settings(max_examples=600, deadline=None)
@given(PARAGRAPHS, st.integers(1, 90), st.booleans(), st.booleans(),
       st.sampled_from([None, "\n", "\n  "]))
def test_wordwrap_is_jinja2_s(text: str, width: int, long_words: bool, hyphens: bool,
                              wrapstring: str | None) -> None:
    import jinja2
    from jinja2.filters import do_wordwrap

    from mailbot.reply.wordwrap import wordwrap

    environment = jinja2.Environment()
    assert wordwrap(environment, text, width, long_words, wrapstring, hyphens) == \
        do_wordwrap(environment, text, width, long_words, wrapstring, hyphens)


def test_the_templates_use_the_fast_wordwrap() -> None:
    from mailbot.config import Config
    from mailbot.reply.wordwrap import wordwrap

    environment = Config().templates._environment
    assert environment.filters["wordwrap"] is wordwrap
