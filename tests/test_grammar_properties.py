"""Properties of the grammar: it never raises, and every client rendering of a request reads back.

The number of examples comes from the Hypothesis profile of tests/conftest.py
("ci" when $CI is set: thousands in total across these tests; "dev" otherwise).
"""

from __future__ import annotations

import base64
import html
import random
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

from hypothesis import assume, given
from hypothesis import strategies as st

from mailbot import textmail
from mailbot.config import Config
from mailbot.grammar import parse_message, parse_trigger
from mailbot.model import Malformed, NotARequest, Request, mous_file_form

EMAILS = Path(__file__).parent / "emails"
FIXTURES = sorted(p.read_bytes() for p in EMAILS.glob("*.eml"))
OWN = Config().own_addresses
RECEIVED = datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC)
RESULTS = (Request, Malformed, NotARequest)

# ---------------------------------------------------------------- never an exception


@given(st.binary(max_size=4000))
def test_any_bytes_give_a_result(raw: bytes) -> None:
    assert isinstance(parse_message(raw, received=RECEIVED, own_addresses=OWN), RESULTS)


@given(st.data())
def test_damaged_fixtures_give_a_result(data: st.DataObject) -> None:
    raw = bytearray(data.draw(st.sampled_from(FIXTURES)))
    edits = data.draw(st.lists(st.tuples(st.integers(0, len(raw)), st.binary(max_size=12),
                                         st.integers(0, 12)), max_size=6))
    for position, insert, delete in edits:
        raw[position:position + delete] = insert
    assert isinstance(parse_message(bytes(raw), received=RECEIVED, own_addresses=OWN), RESULTS)


HEADER_NAMES = ["From", "To", "Cc", "Subject", "Content-Type", "Content-Transfer-Encoding",
                "Message-ID", "References", "Date", "Auto-Submitted", "Return-Path", "Reply-To"]


@given(st.lists(st.tuples(st.sampled_from(HEADER_NAMES), st.text(max_size=80)), max_size=8),
       st.text(max_size=600))
def test_hostile_headers_and_bodies_give_a_result(headers: list[tuple[str, str]],
                                                   body: str) -> None:
    lines = [f"{name}: {value}" for name, value in headers]
    raw = ("\r\n".join(lines) + "\r\n\r\n" + body).encode("utf-8", "surrogatepass")
    assert isinstance(parse_message(raw, received=RECEIVED, own_addresses=OWN), RESULTS)


@given(st.text(max_size=1500), st.text(max_size=60))
def test_any_trigger_text_gives_a_result(text: str, file_name: str) -> None:
    result = parse_trigger(text, received=RECEIVED, file_name=file_name, own_addresses=OWN)
    assert isinstance(result, RESULTS)


# ---------------------------------------------------------------- round trip

HEX = "0123456789abcdef"
mouses = st.builds("uid://A{:03d}/X{}/X{}".format, st.integers(0, 999),
                   st.text(HEX, min_size=1, max_size=8), st.text(HEX, min_size=1, max_size=8))
projects = st.from_regex(r"[0-9]{4}\.[0-9A-Z]\.[0-9]{5}\.[A-Z]{1,3}", fullmatch=True)
field_names = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+-._",
                      min_size=1, max_size=16)
calfield_lists = st.lists(field_names, max_size=4, unique=True).map(tuple)
letters = st.characters(categories=("Lu", "Ll", "Lo"))
words = st.text(letters, min_size=1, max_size=10)
names = st.builds(
    lambda first, rest: first + "".join(sep + word for sep, word in rest),
    words, st.lists(st.tuples(st.sampled_from([" ", "-", "'", ". ", " O'", "\u2019"]), words),
                    max_size=3),
).filter(lambda n: unicodedata.normalize("NFC", n) == n)
atoms = st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_%+'-",
                min_size=1, max_size=10)
labels = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True)
emails = st.builds(
    lambda local, domain, tld: ".".join(local) + "@" + ".".join(domain) + "." + tld,
    st.lists(atoms, min_size=1, max_size=3), st.lists(labels, min_size=1, max_size=3),
    st.from_regex(r"[a-z]{2,6}", fullmatch=True),
)
tickets = st.from_regex(r"[0-9]{1,8}", fullmatch=True)


@dataclass(frozen=True)
class Wanted:
    mous: str
    project: str
    calfields: tuple[str, ...]
    user_name: str
    user_email: str
    ticket: str
    sender: str
    cc: tuple[str, ...]
    uri_form: bool
    signature: bool


wanted_requests = st.builds(Wanted, mouses, projects, calfield_lists, names, emails, tickets,
                            emails, st.lists(emails, max_size=3, unique=True).map(tuple),
                            st.booleans(), st.booleans())


def body_lines(w: Wanted, calfield_sep: str) -> list[str]:
    mous = w.mous if w.uri_form else mous_file_form(w.mous)
    lines = ["Dear AOG,", f"please create the calibrated MS for MOUS {mous}",
             f"project {w.project}"]
    if w.calfields:
        lines.append(f"calfield {calfield_sep.join(w.calfields)}")
    lines += [f"for user {w.user_name}", f"email {w.user_email}", f"helpdesk ticket {w.ticket}"]
    if w.signature:  # a signature whose lines must not count
        lines += ["", "-- ", "ARC staff", "email nobody@example.org", "project 1999.9.99999.X"]
    return lines


def headers(w: Wanted, *, extra: str = "") -> str:
    cc = ", ".join([*w.cc, "aog@eso.org"])
    return (f"From: {w.sender}\nTo: aog@eso.org\nCc: {cc}\n"
            f"Subject: ALMA: REQUEST FOR CALIBRATED DATA MOUS {mous_file_form(w.mous)}\n"
            f"Message-ID: <rt-{abs(hash(w))}@eso.org>\nMIME-Version: 1.0\n{extra}")


def flowed(lines: list[str], width: int, delsp: bool) -> str:
    out: list[str] = []
    for line in lines:
        if line == "-- ":
            out.append(line)
            continue
        chunks = _cut_anywhere(line, width) if delsp else _cut_at_spaces(line, width)
        for i, chunk in enumerate(chunks):
            soft = i < len(chunks) - 1
            text = chunk + " " if soft else chunk
            out.append(" " + text if text.startswith((" ", ">", "From ")) else text)
    return "\n".join(out) + "\n"


def _cut_anywhere(line: str, width: int) -> list[str]:
    return [line[i:i + width] for i in range(0, len(line), width)] or [""]


def _cut_at_spaces(line: str, width: int) -> list[str]:
    chunks: list[str] = []
    current = ""
    for word in line.split(" "):
        if current and len(current) + len(word) + 1 > width:
            chunks.append(current)  # the soft-break space stands for this gap
            current = word
        else:
            current = f"{current} {word}" if current else word
    return [*chunks, current]


def quoted_printable(text: str, rng: random.Random, newline: str) -> str:
    """QP with soft line breaks at random places, also inside values."""
    out: list[str] = []
    for line in text.split("\n"):
        tokens = [chr(b) if 33 <= b <= 126 and b != 61 else f"={b:02X}"
                  for b in line.encode("utf-8")]
        if tokens and tokens[-1] in {" ", "\t"}:
            tokens[-1] = f"={ord(tokens[-1]):02X}"
        row = ""
        for token in tokens:
            if row and (len(row) + len(token) > 75 or rng.random() < 0.08):
                out.append(row + "=")
                row = ""
            row += token
        out.append(row)
    return newline.join(out)


def html_body(lines: list[str], style: str) -> str:
    escaped = [html.escape(line, quote=False) for line in lines]
    if style == "br":
        inner = "<br>\n".join(escaped)
    elif style == "div":
        inner = "".join(f"<div>{line or '<br>'}</div>\n" for line in escaped)
    else:
        inner = "".join(f'<p class="MsoNormal">{line}<o:p></o:p></p>\n' for line in escaped)
    return f"<html><head><style>p {{ margin: 0 }}</style></head><body>{inner}</body></html>"


def render(w: Wanted, style: str, rng: random.Random) -> bytes:
    lines = body_lines(w, rng.choice([",", ", ", " , "]))
    text = "\n".join(lines) + "\n"
    if style == "script":
        return (headers(w, extra="Content-Type: text/plain; charset=utf-8\n"
                        "Content-Transfer-Encoding: 8bit\n") + "\n" + text).encode()
    if style == "crlf":
        raw = headers(w, extra="Content-Type: text/plain; charset=utf-8\n") + "\n" + text
        return raw.replace("\n", "\r\n").encode()
    if style == "flowed":
        delsp = rng.random() < 0.5
        ctype = "text/plain; charset=utf-8; format=flowed" + ("; delsp=yes" if delsp else "")
        body = flowed(lines, rng.randint(8, 72), delsp)
        return (headers(w, extra=f"Content-Type: {ctype}\nContent-Transfer-Encoding: 8bit\n")
                + "\n" + body).encode()
    if style == "qp":
        newline = rng.choice(["\n", "\r\n"])
        body = quoted_printable(text, rng, newline)
        raw = headers(w, extra="Content-Type: text/plain; charset=utf-8\n"
                      "Content-Transfer-Encoding: quoted-printable\n") + "\n"
        return (raw.replace("\n", newline) + body).encode()
    if style == "base64":
        encoded = base64.encodebytes(text.encode()).decode()
        return (headers(w, extra="Content-Type: text/plain; charset=utf-8\n"
                        "Content-Transfer-Encoding: base64\n") + "\n" + encoded).encode()
    if style == "html":
        markup = html_body(lines, rng.choice(["br", "div", "p"]))
        return (headers(w, extra="Content-Type: text/html; charset=utf-8\n"
                        "Content-Transfer-Encoding: 8bit\n") + "\n" + markup).encode()
    return outlook(w, lines, rng)


def outlook(w: Wanted, lines: list[str], rng: random.Random) -> bytes:
    """multipart/alternative with CRLF, NBSP after keywords, mailto links and blank lines."""
    plain_lines = []
    for line in lines:
        for keyword in ("project ", "for user ", "helpdesk ticket ", "calfield "):
            if line.startswith(keyword) and rng.random() < 0.5:
                line = keyword[:-1] + "\u00a0" + line[len(keyword):]
        if line.startswith("email ") and rng.random() < 0.5:
            line = f"{line}<mailto:{line[6:]}>"
        plain_lines += [line, ""]
    message = EmailMessage()
    for header_line in headers(w).strip().split("\n"):
        name, _, value = header_line.partition(": ")
        if name != "MIME-Version":
            message[name] = value
    message["X-Auto-Response-Suppress"] = "All"
    message.set_content("\n".join(plain_lines), cte="quoted-printable")
    message.add_alternative(html_body(lines, "p"), subtype="html")
    return message.as_bytes(policy=message.policy.clone(linesep="\r\n"))


STYLES = ["script", "crlf", "flowed", "qp", "base64", "html", "outlook"]


@given(wanted_requests, st.sampled_from(STYLES), st.randoms(use_true_random=False))
def test_every_client_style_reads_back_the_request(w: Wanted, style: str,
                                                   rng: random.Random) -> None:
    assume(w.sender.lower() not in OWN)
    assume(w.sender.partition("@")[0].lower() not in {"mailer-daemon", "postmaster"})
    raw = render(w, style, rng)
    result = parse_message(raw, received=RECEIVED, own_addresses=OWN)
    assert isinstance(result, Request), (style, raw, result)
    cc = tuple(dict.fromkeys(a.lower() for a in w.cc))
    assert (result.mous, result.project, result.calfields, result.user_name, result.user_email,
            result.ticket) == (w.mous, w.project, w.calfields, w.user_name, w.user_email,
                               w.ticket)
    assert (result.arc_contact, result.cc, result.received) == (w.sender.lower(), cc, RECEIVED)
    assert result.origin.subject.endswith(mous_file_form(w.mous))


@given(wanted_requests, st.integers(8, 72), st.booleans())
def test_unflow_inverts_flowed_wrapping(w: Wanted, width: int, delsp: bool) -> None:
    lines = body_lines(w, ",")
    assert textmail.unflow(flowed(lines, width, delsp).rstrip("\n"), delsp=delsp) == (
        "\n".join(lines))
