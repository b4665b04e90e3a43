"""The grammar's fast reading of a mail equals the full `policy.default` reading it replaced.

`mailbot.textmail.shortcuts` reads plain header values off their text, and lets
the parser see a plain Content-Type as its text; `mailbot.textmail.plainmime`
reads a mail of plain MIME shape without the stdlib's feed parser. Each answers
None when it cannot be sure, and its caller then takes the full path. The
reference here is that full path, every shortcut answering None and every mail
read by the feed parser (the code as it read mail before them). Every fixture
mail must read the same both ways, and every shortcut must equal the stdlib on
generated values whenever it answers (`test_parse_plainmime` does the same for
the feed parser's stand-in). Helpers rewritten for speed are checked against
what they were.
"""

from __future__ import annotations

import base64
import hashlib
import quopri
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from email import policy
from email.message import Message
from email.parser import BytesHeaderParser
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from mailbot import textmail
from mailbot.grammar import lines, parse_message
from mailbot.grammar.values import email_problem
from mailbot.inbox import identity
from mailbot.model import Malformed
from mailbot.text import _CONTROL, one_line
from mailbot.textmail import plainmime, shortcuts
from mailbot.textmail.headers import content_params
from mailbot.textmail.text import _SPACES

EMAILS = Path(__file__).parent / "emails"
MAILS = sorted(EMAILS.rglob("*.eml"))
RECEIVED = datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC)
OWN = frozenset({"aog@eso.org", "no-reply@eso.org"})
ADDRESS_FIELDS = ("From", "Sender", "Reply-To", "To", "Cc")
TEXT_FIELDS = ("Subject", "Auto-Submitted", "Precedence")


SHORTCUTS = ("unstructured", "mailboxes", "mime_value", "content_params", "date")


def _none(*_: object) -> None:
    return None


@contextmanager
def full_path() -> Iterator[None]:
    """Every shortcut off, the policy's header classes built per call, every mail read by
    the feed parser, as before."""
    saved = {name: getattr(shortcuts, name) for name in (*SHORTCUTS, "header_class")}
    parse_plain = plainmime.parse_plain
    for name in SHORTCUTS:
        setattr(shortcuts, name, _none)
    shortcuts.header_class = lambda name: policy.default.header_factory[name]  # type: ignore
    plainmime.parse_plain = _none  # type: ignore[assignment]
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(shortcuts, name, value)
        plainmime.parse_plain = parse_plain  # type: ignore[assignment]


def _structure(message: Message) -> dict[str, Any]:
    """Every attribute of a message and its parts (the grammar's index of its fields
    left out), defects by kind and text."""
    state = dict(vars(message))
    state.pop("_mailbot_header_index", None)
    state["defects"] = [(type(d), str(d)) for d in message.defects]
    state["class"] = type(message)
    if isinstance(state["_payload"], list):
        state["_payload"] = [_structure(part) for part in state["_payload"]]
    return state


def _parts(message: Message, most: int = 200) -> list[Message]:
    parts: list[Message] = []
    stack = [message]
    while stack and len(parts) < most:
        part = stack.pop()
        parts.append(part)
        if part.is_multipart():
            payload = part.get_payload()
            stack.extend(reversed([p for p in payload if isinstance(p, Message)]))
    return parts


def _part_reading(part: Message) -> tuple[Any, ...]:
    try:
        payload = part.get_payload(decode=True)
    except Exception as exc:  # hostile parts: the same failure both ways
        payload = type(exc)
    return (part.get_content_type(), part.get_boundary(), part.get_default_type(),
            textmail.content_type(part), content_params(part), payload)


def reading(raw: bytes) -> tuple[Any, ...]:
    """All the grammar reads of a mail, and what it concludes."""
    message = textmail.parse_bytes(raw)
    return (
        _structure(textmail.parse_bytes(raw)),  # read before the grammar's lookups
        parse_message(raw, received=RECEIVED, own_addresses=OWN),
        parse_message(raw, received=RECEIVED, own_addresses=OWN, authserv_id="mx.example.org"),
        [textmail.mailboxes(message, name) for name in ADDRESS_FIELDS],
        [textmail.header_texts(message, name) for name in TEXT_FIELDS],
        [_part_reading(part) for part in _parts(message)],
        textmail.read_body(message), textmail.too_deep(message),
    )


@pytest.mark.parametrize("path", MAILS, ids=lambda p: str(p.relative_to(EMAILS)))
def test_every_fixture_mail_reads_as_on_the_full_path(path: Path) -> None:
    raw = path.read_bytes()
    fast = reading(raw)
    with full_path():
        full = reading(raw)
    assert fast == full


def test_the_shortcuts_serve_the_common_shapes() -> None:
    """Not only correct but used: the plain shapes of real mail never take the long way."""
    assert shortcuts.unstructured("Subject", "Re: ALMA: REQUEST") == "Re: ALMA: REQUEST"
    assert shortcuts.unstructured("Subject", "=?utf-8?q?Gr=C3=BC=C3=9Fe?=") == "Grüße"
    assert shortcuts.mailboxes("From", ['"Brand, Jan" <JBrand@eso.org>', " a@b.c"]) == [
        ("Brand, Jan", "JBrand@eso.org"), ("", "a@b.c")]
    assert shortcuts.mailboxes("To", ["=?iso-8859-1?q?J=F6rg?= M <j@m.de>"]) == [
        ("Jörg M", "j@m.de")]
    assert shortcuts.mime_value("Content-Type", 'multipart/mixed;\r\n\tboundary="b"') == (
        'multipart/mixed; boundary="b"')
    assert shortcuts.mime_value("Content-Transfer-Encoding", "base64") == "base64"
    assert shortcuts.content_params('text/plain; Charset="UTF-8"; format=flowed') == {
        "charset": "UTF-8", "format": "flowed"}


@pytest.mark.parametrize("ctype", ["text/plain; a*", "multipart/mixed; boundary=x; a*"])
def test_a_content_type_the_policy_crashes_on_reads_as_its_text(ctype: str) -> None:
    """The policy's parser raises IndexError on `a*`; the mail still gets a reading."""
    raw = (f"From: Ana <ana@example.org>\r\nContent-Type: {ctype}\r\n\r\n--x\r\n\r\n"
           "please create the calibrated MS for MOUS uid___A001_X1296_X675\r\n--x--\r\n")
    message = textmail.parse_bytes(raw.encode())
    assert message.get_content_type() == ctype.split(";")[0]
    assert "uid___A001_X1296_X675" in textmail.read_body(message).text
    result = parse_message(raw.encode(), received=RECEIVED, own_addresses=OWN)
    assert isinstance(result, Malformed)  # a request without its other lines


def test_a_shortcut_is_never_taken_for_other_fields() -> None:
    assert shortcuts.unstructured("From", "a@b.c") is None
    assert shortcuts.mailboxes("Subject", ["a@b.c"]) is None
    assert shortcuts.mime_value("Content-Disposition", "inline") is None


@pytest.mark.parametrize("item", ["=?utf-8?q?@?=", "<=?utf-8?q?a?=@b.c>", "a@=?utf-8?q?b?="])
def test_an_address_holding_an_encoded_word_takes_the_policy_path(item: str) -> None:
    """The policy decodes an atom of the address that starts an encoded word
    (`=?utf-8?q?@?=` reads as `"@"`): the shortcut must not read it as written."""
    assert shortcuts.mailboxes("From", [item]) is None
    message = textmail.parse_bytes(f"From: {item}\r\n\r\nhi\r\n".encode())
    expected = _policy_mailboxes("From", [item])
    assert [(box.name, box.address) for box in textmail.mailboxes(message, "From")] == (
        expected or [])


def test_headers_read_after_a_change_are_the_new_ones() -> None:
    """The grammar's lookups share one index of a message's fields: a field added,
    replaced or removed afterwards is read as it now stands."""
    message = textmail.parse_bytes(b"Subject: one\r\nTo: a@b.c\r\nIn-Reply-To: <1@x>\r\n\r\nhi\r\n")
    assert textmail.header_texts(message, "Subject") == ["one"]
    assert textmail.message_ids(message, "In-Reply-To") == ("<1@x>",)
    message.replace_header("In-Reply-To", "<2@x>")
    assert textmail.message_ids(message, "In-Reply-To") == ("<2@x>",)
    message.replace_header("Subject", "two")
    assert textmail.header_texts(message, "Subject") == ["two"]
    message["Comments"] = "three"
    assert textmail.header_texts(message, "Comments") == ["three"]
    del message["Subject"]
    assert textmail.raw_headers(message, "subject") == []
    assert [box.address for box in textmail.mailboxes(message, "To")] == ["a@b.c"]


# ---------------------------------------------------------------- generated values

_ATEXT = "abcXYZ019!#$%&'*+/=?^_`{|}~-"
_SPECIALS = ' \t()<>@,;:\\".[]=?_-\'*%/'
atoms = st.text(_ATEXT, min_size=1, max_size=6)
junk = st.text(_ATEXT + _SPECIALS + "\r\né\udcc3\x00", max_size=12)
spaces = st.sampled_from([" ", "  ", "\t", " \t", ""])


@st.composite
def encoded_words(draw: st.DrawFn) -> str:
    """RFC 2047 words, valid and not: charsets known and not, Q and B, odd payloads."""
    charset = draw(st.sampled_from(["utf-8", "UTF-8", "iso-8859-1", "us-ascii", "koi8-r",
                                    "bogus", "utf-8*en", "unknown-8bit"]))
    text = draw(st.text("aé €_=?\r\n\t\"<>,;:@()", max_size=8))
    data = text.encode("utf-8") + draw(st.binary(max_size=2))
    if draw(st.booleans()):
        body = base64.b64encode(data).decode()[: draw(st.integers(0, 12))]
        cte = draw(st.sampled_from("bB"))
    else:
        body = quopri.encodestring(data, header=True).decode().replace("?", "=3F")
        cte = draw(st.sampled_from("qQ"))
    body = draw(st.sampled_from([body, "=" + body, body + "=Z", body.replace("=", "")]))
    return f"=?{charset}?{cte}?{body}?="


raw_8bit = st.text("abé\udcc3\udca9\udcff", min_size=1, max_size=6)  # as the parser escapes
words = st.one_of(atoms, encoded_words(), raw_8bit, junk)


def _joined(draw: st.DrawFn, parts: list[str]) -> str:
    return "".join(part + draw(spaces) for part in parts)


@st.composite
def unstructured_values(draw: st.DrawFn) -> str:
    return _joined(draw, draw(st.lists(words, max_size=6)))


@given(st.one_of(unstructured_values(), st.text(max_size=40)))
def test_unstructured_equals_the_policy(raw: str) -> None:
    fast = shortcuts.unstructured("Subject", raw)
    try:
        full = str(policy.default.header_factory("Subject", raw))
    except Exception:
        assert fast is None
        return
    assert fast is None or fast == full


@st.composite
def mailbox_items(draw: st.DrawFn) -> str:
    address = draw(st.one_of(
        st.builds("{}@{}".format, st.lists(atoms, min_size=1, max_size=3).map(".".join),
                  st.lists(atoms, min_size=1, max_size=3).map(".".join)),
        junk))
    name = draw(st.one_of(
        st.just(""), st.lists(words, min_size=1, max_size=4).map(lambda w: _joined(draw, w)),
        st.text(_ATEXT + " ,.()é=?", max_size=10).map(lambda t: f'"{t}"')))
    shape = draw(st.sampled_from(["{s}{n}{s}<{a}>{s}", "{s}{a}{s}", "{n}<{a}>", "{n} {a}"]))
    return shape.format(s=draw(spaces), n=name, a=address)


def _policy_mailboxes(name: str, items: list[str]) -> list[tuple[str, str]] | None:
    try:
        header = policy.default.header_factory(name, ",".join(items))
    except Exception:
        return None
    return [(one_line(textmail.unsurrogate(a.display_name)),
             textmail.unsurrogate(a.addr_spec).strip().lower())
            for a in getattr(header, "addresses", ()) if a.addr_spec.strip()]


@given(st.lists(mailbox_items(), min_size=1, max_size=3), st.sampled_from(ADDRESS_FIELDS))
def test_mailboxes_equal_the_policy(items: list[str], name: str) -> None:
    fast = shortcuts.mailboxes(name, items)
    if fast is not None:
        full = _policy_mailboxes(name, items)
        assert full is not None
        assert [(one_line(textmail.unsurrogate(display)), address.lower())
                for display, address in fast] == full


tokens = st.text("abcXYZ019!#$&+-.^_`{|}~", min_size=1, max_size=6)
quoted = st.text("ab =?;,()/\t\\\"é'*", max_size=8).map(lambda t: f'"{t}"')
folds = st.sampled_from(["", " ", "\t", "\r\n\t", "\n ", "\r\n ", "  ", "\r", "\n"])


@st.composite
def content_types(draw: st.DrawFn) -> str:
    def fold() -> str:
        return draw(folds)
    head = f"{draw(tokens)}/{draw(tokens)}{fold()}"
    params = draw(st.lists(st.tuples(st.one_of(tokens, junk), st.one_of(tokens, quoted, junk)),
                           max_size=3))
    tail = "".join(f";{fold()}{k}{fold()}={fold()}{v}{fold()}" for k, v in params)
    return head + tail + draw(st.sampled_from(["", ";", " ;", "(c)"]))


@given(st.one_of(content_types(), st.text(max_size=30)))
def test_content_type_text_and_params_equal_the_policy(raw: str) -> None:
    fast = shortcuts.mime_value("Content-Type", raw)
    if fast is not None:
        assert fast == str(policy.default.header_fetch_parse("Content-Type", raw))
    params = shortcuts.content_params(raw)
    if params is not None:
        header = policy.default.header_factory("content-type", raw)
        assert params == {str(k).lower(): str(v) for k, v in header.params.items()}


@given(st.one_of(tokens, junk, st.text(max_size=12)).map(lambda t: t + " "))
def test_transfer_encoding_text_equals_the_policy(raw: str) -> None:
    fast = shortcuts.mime_value("Content-Transfer-Encoding", raw)
    if fast is not None:
        assert fast == str(policy.default.header_fetch_parse("Content-Transfer-Encoding", raw))


# ---------------------------------------------------------------- whole generated mails


@given(st.lists(st.tuples(st.sampled_from(["From", "To", "Cc", "Subject", "Reply-To"]),
                          st.one_of(mailbox_items(), unstructured_values())), max_size=5),
       content_types(), st.sampled_from(["7bit", "base64 ", "quoted-printable", "x"]))
def test_generated_mails_read_as_on_the_full_path(
        fields: list[tuple[str, str]], ctype: str, encoding: str) -> None:
    head = [f"{name}: {value}" for name, value in fields]
    head += [f"Content-Type: {ctype}", f"Content-Transfer-Encoding: {encoding}"]
    raw = ("\r\n".join(head) + "\r\n\r\nplease create the calibrated MS\r\n").encode(
        "utf-8", "surrogateescape")
    fast = reading(raw)
    with full_path():
        assert reading(raw) == fast


# ---------------------------------------------------------------- rewritten helpers


@given(st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from("\t\u00a0\u202f ")))
def test_analysis_line_is_what_it_was(line: str) -> None:
    before = " ".join(line.translate(_SPACES).split(" ")).strip() if line else ""
    assert textmail.analysis_line(line) == before


def _old_address_items(raw: str) -> list[str]:
    if "," not in raw:
        return [raw] if raw.strip() else []
    items: list[str] = []
    start, depth, quoted, escaped, angle = 0, 0, False, False, False
    for index, char in enumerate(raw):
        if escaped:
            escaped = False
        elif char == "\\" and (quoted or depth):
            escaped = True
        elif quoted:
            quoted = char != '"'
        elif char == '"':
            quoted = True
        elif char == "(":
            depth += 1
        elif char == ")" and depth:
            depth -= 1
        elif depth:
            continue
        elif char in "<>":
            angle = char == "<"
        elif char == "," and not angle:
            items.append(raw[start:index])
            start = index + 1
    items.append(raw[start:])
    return [item for item in items if item.strip()]


@given(st.one_of(st.text('ab ,;"()<>\\@.\t'),
                 st.lists(mailbox_items(), max_size=4).map(", ".join)))
def test_address_items_are_what_they_were(raw: str) -> None:
    assert textmail.address_items(raw) == _old_address_items(raw)


@given(st.text(alphabet=st.characters() | st.sampled_from("\udcc3\udca9\ud800")))
def test_unsurrogate_is_what_it_was(value: str) -> None:
    if not any("\ud800" <= c <= "\udfff" for c in value):
        assert textmail.unsurrogate(value) is value
    else:
        assert textmail.unsurrogate(value) == _old_unsurrogate(value)


def _old_unsurrogate(value: str) -> str:
    try:
        return textmail.decode_text_bytes(value.encode("utf-8", "surrogateescape"))
    except UnicodeEncodeError:
        return "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in value)


@given(st.text(alphabet=st.characters() | st.sampled_from(" \t\r\n\x85\u2028ab")),
       st.sampled_from([" ", " / "]), st.none() | st.integers(3, 12))
def test_one_line_is_what_it_was(text: str, sep: str, limit: int | None) -> None:
    lines = (" ".join(_CONTROL.sub(" ", line).split()) for line in text.splitlines())
    joined = sep.join(line for line in lines if line)
    if limit is not None and len(joined) > limit:
        joined = joined[: limit - 3] + "..."
    assert one_line(text, sep=sep, limit=limit) == joined


_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_OLD_EMAIL = re.compile(rf"[A-Za-z0-9_%+'-]+(?:\.[A-Za-z0-9_%+'-]+)*@(?:{_LABEL}\.)+{_LABEL}")
_OLD_TLD = re.compile(r"[A-Za-z]{2,63}|xn--[A-Za-z0-9-]{1,59}")


def _old_email_ok(value: str) -> bool:
    return (len(value) <= 254 and _OLD_EMAIL.fullmatch(value) is not None
            and len(value.rpartition("@")[0]) <= 64
            and _OLD_TLD.fullmatch(value.rpartition(".")[2]) is not None)


_ADDRESS_PARTS = st.sampled_from(["a", "Z9", "x" * 63, "x" * 64, "-", "xn--p1ai", "xn--", "1",
                                  "com", "c", "c0", "ü", "_", "'", "%", "é"])


@given(st.lists(_ADDRESS_PARTS, min_size=1, max_size=3).map(".".join),
       st.lists(_ADDRESS_PARTS, min_size=1, max_size=5).map(".".join),
       st.sampled_from(["@", "@@", "", ".@", "@."]))
@example("a" * 64, "eso.org", "@")
@example("a" * 65, "eso.org", "@")
@example("a", ("x" * 60 + ".") * 4 + "org", "@")
def test_email_problem_is_what_it_was(local: str, domain: str, at: str) -> None:
    value = local + at + domain
    assert (email_problem("email", value) == "") == _old_email_ok(value)


_LINE_STARTS = st.sampled_from(["From: a", "Von: b", "De: x", "Da: y", "Van: z", "Från: q",
                                "-- Forwarded message --", "----- Original Message -----",
                                "Begin forwarded message:", "On Mon, A wrote:",
                                "Am 1. schrieb B:", "Le 2 a écrit :", "project 2017.1",
                                "calfield X", "for user Ana", "email a@b.c", "e-mail x",
                                "helpdesk ticket 1", "Kelvin", "\u212a", "\u017f", "ſ", ""])


@given(st.one_of(_LINE_STARTS, st.text(max_size=3).flatmap(
    lambda head: _LINE_STARTS.map(lambda tail: head + tail))))
def test_lines_spared_a_search_are_those_it_cannot_match(line: str) -> None:
    """`scan_lines` skips the marker and field patterns on lines whose first character
    none of them can start with: on those lines the patterns find nothing."""
    line = textmail.analysis_line(line)
    if not lines._may_start(line, lines._MARKER_STARTS):
        assert not any(pattern.match(line) for pattern in (
            lines._FORWARD_MARKER, lines._REPLY_MARKER, lines._HEADER_BLOCK_FROM))
    if not lines._may_start(line, lines._FIELD_STARTS):
        assert not lines._FIELD_LINE.match(line)


# ---------------------------------------------------------------- identity, one header parse


def _old_message_id_key(header: bytes) -> str | None:
    value = BytesHeaderParser(policy=policy.compat32).parsebytes(header).get("Message-ID")
    found = None if value is None else re.search(r"<[^<>\s]+>", " ".join(str(value).split()))
    return found.group() if found else None


@pytest.mark.parametrize("path", MAILS, ids=lambda p: str(p.relative_to(EMAILS)))
def test_identity_reads_the_header_alone_as_the_whole_mail(path: Path) -> None:
    raw = path.read_bytes()
    assert identity.message_id_key(raw) == _old_message_id_key(raw)
    assert identity.mail_identity(raw) == (identity.message_id_key(raw),
                                           identity.content_digest(raw))


@given(st.lists(st.sampled_from(["Message-ID: <a@b>", "Message-Id:\t<c@d> (x)", " <e@f>",
                                 "Subject: x", "From nobody", "bad line", "", "\t"]), max_size=6),
       st.lists(st.sampled_from(["\r\n", "\n", "\r"]), min_size=6, max_size=6),
       st.binary(max_size=20))
def test_identity_of_odd_headers_is_what_it_was(lines: list[str], ends: list[str],
                                                 body: bytes) -> None:
    raw = "".join(line + end for line, end in zip(lines, ends, strict=False)).encode() + body
    assert identity.message_id_key(raw) == _old_message_id_key(raw)


def _old_digest(raw: bytes) -> str:
    """`content_digest` as it read the header: compat32's parser, every time."""
    end = re.search(rb"\r?\n\r?\n", raw)
    head, body = (raw[: end.start()], raw[end.end():]) if end else (raw, b"")
    fields = BytesHeaderParser(policy=policy.compat32).parsebytes(head + b"\n\n")
    digest = hashlib.sha256()
    for name, value in fields.items():
        if name.lower() in identity.AUTHOR_FIELDS:
            text = " ".join(str(value).split())
            digest.update(f"{name.lower()}:{text}\n".encode("utf-8", "surrogateescape"))
    digest.update(b"\n")
    digest.update(body.replace(b"\r\n", b"\n").rstrip(b"\n"))
    return digest.hexdigest()[:32]


@pytest.mark.parametrize("path", MAILS, ids=lambda p: str(p.relative_to(EMAILS)))
def test_identity_digest_is_what_it_was(path: Path) -> None:
    raw = path.read_bytes()
    assert identity.content_digest(raw) == _old_digest(raw)


@given(st.builds(
    "{}{} {} {} {}:{}:{} {}{}".format, st.sampled_from(["", "Mon, ", "Sun, ", "mon, "]),
    st.sampled_from(["0", "1", "01", "9", "29", "30", "31", "32"]),
    st.sampled_from(["Jan", "Feb", "Apr", "Dec", "dec"]),
    st.sampled_from(["1999", "2019", "2024", "2100", "19"]),
    st.sampled_from(["00", "09", "23", "24"]), st.sampled_from(["00", "59", "60"]),
    st.sampled_from(["00", "59", "60"]), st.sampled_from(["+", "-", ""]),
    st.sampled_from(["0000", "0200", "0030", "1959", "2400", "CEST"])))
def test_date_equals_the_stdlib(raw: str) -> None:
    fast = shortcuts.date(raw)
    if fast is not None:
        full = parsedate_to_datetime(raw)
        assert (fast, fast.tzinfo, fast.utcoffset()) == (full, full.tzinfo, full.utcoffset())


def test_the_date_shortcut_serves_the_common_shape() -> None:
    assert shortcuts.date("Mon, 2 Sep 2019 14:00:27 +0200") is not None
    assert shortcuts.date("2 Sep 2019 14:00:27 -0000") == datetime(2019, 9, 2, 14, 0, 27)
