"""The whole intake under hostile bytes: a Maildir file -> a recorded disposition.

Hypothesis writes mails of attacker-chosen headers (encoded words of any charset,
CR LF, NUL, raw 8-bit bytes, forged Authentication-Results, outside addresses),
bodies (request lines mutated, MIME of odd charsets and encodings) and plain
random bytes, and the real intake reads them: `MaildirSource`, grammar, plan,
journal, reply. For every mail: never an exception, never shunted (the bot must
not fail on any mail), a recorded disposition; every mail it queues reads back as
exactly the headers a reply sets, from aog@, to ARC staff alone.

Fast in CI (the `ci` profile's examples take seconds); `tests/fuzz_grammar.py`
is the long run.
"""

from __future__ import annotations

import itertools
import tempfile
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from hypothesis import event, given, settings
from hypothesis import strategies as st

from mailbot.clock import FixedClock
from mailbot.config import Config
from mailbot.inbox import MaildirSource
from mailbot.journal import Journal
from mailbot.model import Facts
from mailbot.run.intake import Intake
from mailbot.states import MessageKind
from tests import attacks
from tests.settings import config_in
from tests.test_decide import PI, make_facts

NOW = datetime(2024, 5, 17, 10, 0, tzinfo=UTC)
AUTHSERV = "mx.example.org"
ARC = "arc@example.org"
AOG = "aog@eso.org"
MAINTAINER = "dpetry@eso.org"
_keys = itertools.count()


class Archive:
    """The archive's answer for any MOUS: judit is the PI (stages), others are refused."""

    def facts(self, mous: str) -> Facts:
        return make_facts()

    def close(self) -> None:
        pass


@cache
def setup() -> tuple[Config, Journal, Path]:
    home = Path(tempfile.mkdtemp(prefix="mailbot-fuzz-"))
    config = config_in(home, inbox={"authserv_id": AUTHSERV},
                       addresses={"aog": AOG, "maintainer": MAINTAINER,
                                  "arc_contacts": ("@example.org",)},
                       limits={"requests_per_day": 10**9, "requests_per_run": 10**9})
    return config, Journal(config.path(config.mailbot.journal), FixedClock(NOW)), home


# --- mails as an attacker writes them ------------------------------------------------------

PIECES = ["=?", "?=", "=?utf-8?q?", "=?utf-8?b?", "=?utf\x00-8?q?", "=?punycode?q?", "=0D=0A",
          "=00", "\r\n", "\n", "\r", "\x00", "\udce9", " ", "\t", "é", "X-Injected: yes",
          "<", ">", ",", '"', "\\", "(", ")", ";", "@", "Re: ", ARC, "victim@outside.example"]
TEXT = st.one_of(
    st.lists(st.sampled_from(PIECES), max_size=12).map("".join),
    st.text(max_size=40),
)
VALUE = st.one_of(
    TEXT.map(lambda t: t.encode("utf-8", "surrogateescape")),
    st.binary(max_size=40),
    TEXT.map(lambda t: attacks.encoded_again(f"=?utf-8?q?{t.encode('utf-8', 'replace').hex()}?=")
             .encode()),
)
PASS = f"{AUTHSERV}; dmarc=pass header.from=example.org"
AUTH = st.sampled_from([
    PASS, PASS, PASS, PASS, None, f"{AUTHSERV}; dmarc=fail",
    f"{AUTHSERV}; dkim=pass header.d=evil.example", "other.example; dmarc=pass",
    f"{AUTHSERV} (x; y; spf=pass smtp.mailfrom=example.org",
])
NAMES = st.sampled_from(["From", "To", "Cc", "Reply-To", "Subject", "Message-ID", "References",
                         "In-Reply-To", "Content-Type", "Content-Transfer-Encoding", "Sender",
                         "Auto-Submitted", "X-Junk", "Authentication-Results", "Received"])
LINES = [
    "please create the calibrated MS for MOUS uid___A001_X1296_X675",
    "project 2017.1.00727.S", "calfield J0510+1800", "for user Judit Szulagyi",
    f"email {PI}", "email other@example.org", "helpdesk ticket 16140",
]


@st.composite
def body_lines(draw: st.DrawFn) -> list[str]:
    """The request's lines, some of them changed, dropped, repeated or added to."""
    lines = [LINES[0], LINES[1], draw(st.sampled_from(LINES[2:4])), LINES[3],
             draw(st.sampled_from(LINES[4:6])), LINES[6]]
    for _ in range(draw(st.integers(0, 3))):
        where = draw(st.integers(0, len(lines)))
        change = draw(st.sampled_from(["add", "drop", "twice", "edit"]))
        if change == "add" or not lines:
            lines.insert(where, draw(TEXT))
        elif change == "drop":
            lines.pop(min(where, len(lines) - 1))
        elif change == "twice":
            lines.insert(where, lines[min(where, len(lines) - 1)])
        else:
            index = min(where, len(lines) - 1)
            lines[index] += draw(TEXT)
    return lines


@st.composite
def mails(draw: st.DrawFn) -> bytes:
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=300))
    eol = draw(st.sampled_from([b"\n", b"\r\n"]))
    head = [b"From: " + draw(st.sampled_from([f"ARC <{ARC}>".encode(), ARC.encode()])
                             | VALUE.map(lambda v: v + f" <{ARC}>".encode()))]
    auth = draw(AUTH)
    if auth is not None:
        head.insert(0, b"Authentication-Results: " + auth.encode())
    head.append(b"Subject: ALMA: REQUEST FOR CALIBRATED DATA MOUS uid___A001_X1296_X675")
    head += [draw(NAMES).encode() + b": " + draw(VALUE) for _ in range(draw(st.integers(0, 6)))]
    charset = draw(st.sampled_from(["utf-8", "utf\x00-8", "iso-8859-1", "x-unknown", "punycode"]))
    head.append(f'Content-Type: text/plain; charset="{charset}"'.encode())
    encoding = draw(st.sampled_from(["utf-8", "latin-1"]))
    body = eol.join(line.encode(encoding, "replace") for line in draw(body_lines()))
    return eol.join(head) + eol + eol + body + eol


# --- the property -------------------------------------------------------------------------


def allowed(address: str) -> bool:
    return address.endswith("@example.org") or address in {AOG, MAINTAINER}


# The profile's examples, at most 400: each is a whole intake (tests/fuzz_grammar.py soaks).
@settings(deadline=None, max_examples=min(settings.default.max_examples, 400))
@given(mails())
def test_any_mail_is_recorded_and_answered_safely(raw: bytes) -> None:
    config, journal, home = setup()
    key = f"mail{next(_keys)}"  # the journal knows a Maildir mail by its file name
    maildir = home / "maildirs" / key
    source = MaildirSource(maildir)
    (maildir / "new" / key).write_bytes(raw)
    queued = {m.id for m in journal.outbox()}
    intake = Intake(config, journal, Archive, FixedClock(NOW))
    try:
        intake.take(source)
    finally:
        intake.close()
    row = journal.seen(source.name, key)
    assert row is not None, "every mail is recorded"
    assert row.kind is not MessageKind.SHUNTED, row.reason
    event(f"{row.kind} ({row.step})")
    for mail in journal.outbox():
        if mail.id in queued:
            continue
        attacks.assert_only_headers_set(mail.data)
        assert mail.mail_from == AOG
        assert all(allowed(r) for r in mail.rcpt_to), mail.rcpt_to
