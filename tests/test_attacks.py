"""Issue 10's attacks, each end to end through `mailbot run` on the embedded setup.

A Maildir in, the demo archive, the stagecalms simulator and the outbox as .eml
files with their envelopes: every assertion is on what would have left, and on
what the journal and `mailbot attention` keep for AOG. The same attacks through
real Dovecot and SMTP are in tests/test_attacks_servers.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mailbot import config as cfg
from mailbot.archive import demo as demo_archive
from mailbot.demo import request_mail
from mailbot.journal import Journal
from mailbot.states import MessageKind
from tests import attacks
from tests.settings import PAST, simulator_command, write_settings

ARC = "arc.contact@example.org"  # how the demo's requests are signed (request_mail)
AOG = "aog@eso.org"
MAINTAINER = "dpetry@eso.org"
NOT_ENTITLED = next(c for c in demo_archive.DEMO_CASES if c.name == "user not entitled")
PI_CASE = next(c for c in demo_archive.DEMO_CASES if c.name == "entitled PI")
# A reply goes to the sender and the staff the request copies (it Cc's the maintainer).
ANSWERED = (ARC, MAINTAINER)


@dataclass(frozen=True)
class Sent:
    """A mail the bot wrote to its outbox: bytes and envelope."""

    data: bytes
    kind: str
    rcpt_to: tuple[str, ...]


@dataclass
class Bot:
    """The embedded setup in a directory, driven through the real CLI."""

    settings: Path
    config: cfg.Config

    @property
    def new(self) -> Path:
        return self.config.path(self.config.inbox.maildir.path) / "new"

    def drop(self, name: str, raw: bytes) -> None:
        self.new.mkdir(parents=True, exist_ok=True)
        (self.new / name).write_bytes(raw)

    def mailbot(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([sys.executable, "-m", "mailbot", "--config", str(self.settings),
                               *args], capture_output=True, text=True, timeout=300, check=False)
        assert not check or done.returncode == 0, done.stderr
        return done

    def sent(self) -> list[Sent]:
        out = []
        for eml in sorted(self.config.path(self.config.outbox.directory).glob("*.eml")):
            envelope = json.loads(eml.with_suffix(".envelope.json").read_text())
            out.append(Sent(eml.read_bytes(), eml.stem.rsplit("-", 1)[1],
                            tuple(envelope["rcpt_to"])))
        return out

    def kinds(self) -> dict[str, int]:
        journal = Journal(self.config.path(self.config.mailbot.journal))
        try:
            rows = journal.db.execute("SELECT kind, COUNT(*) FROM messages GROUP BY kind")
            return {str(r[0]): int(r[1]) for r in rows}
        finally:
            journal.close()


def make_bot(directory: Path, **tables: dict[str, object]) -> Bot:
    settings = write_settings(directory / "mailbot.toml", {
        "mailbot": {"data_dir": directory, "cutover": PAST},
        "staging": {"command": simulator_command(directory / "staging", 0.1)},
        **tables,
    })
    config = cfg.load(settings)
    demo_archive.seed(config.path(config.archive.url.removeprefix("sqlite:///")))
    return Bot(settings, config)


@pytest.fixture
def bot(tmp_path: Path) -> Bot:
    return make_bot(tmp_path)


def request(case: demo_archive.DemoCase = NOT_ENTITLED, **changes: str) -> bytes:
    """A genuine request of the demo's ARC contact; `changes` replace body values."""
    raw = request_mail(case, aog=AOG, maintainer=MAINTAINER)
    for old, new in changes.items():
        raw = raw.replace(old.encode(), new.encode())
    return raw


def numbered(n: int, case: demo_archive.DemoCase = NOT_ENTITLED) -> Iterator[bytes]:
    """`n` distinct genuine requests (their own ticket each, as ARC would send them)."""
    for i in range(n):
        yield request(case, **{f"ticket {case.ticket}": f"ticket {70000 + i}"})


# --- headers built, never re-parsed ------------------------------------------------------


@pytest.mark.parametrize("attack", [
    lambda raw: attacks.injected_from(raw, ARC),
    attacks.injected_subject_twice,
    lambda raw: attacks.injected_from_twice(raw, ARC),
], ids=["encoded CR LF in From", "Subject encoded twice", "From encoded twice"])
def test_text_of_a_request_adds_no_header_nor_body(bot: Bot, attack: object) -> None:
    assert callable(attack)
    bot.drop("1.attack", attack(request()))
    bot.mailbot("run")
    (reply,) = bot.sent()
    assert reply.rcpt_to == ANSWERED
    msg = attacks.assert_only_headers_set(reply.data, "NOT ENTITLED")
    # What the attacker wrote is there, as inert text of the one field it was in.
    shown = str(msg["Subject"]) + " " + msg["To"].addresses[0].display_name
    assert "X-Injected" in shown and "\n" not in shown and "\r" not in shown


# --- who may receive a link --------------------------------------------------------------


def run_until_sent(bot: Bot, kind: str, limit: float = 60) -> list[Sent]:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        bot.mailbot("run")
        found = [s for s in bot.sent() if s.kind == kind]
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"no {kind} mail")


@pytest.mark.parametrize(("sender", "arc_contacts", "copied"), [
    (ARC, ["@example.org"], False),
    ("mallory@example.org", ["@example.org"], False),  # anyone at the domain may ask...
    (ARC, ["@example.org", ARC], True),  # ...only one listed by address gets the link
], ids=["contact by domain", "anyone at the domain", "contact listed"])
def test_the_link_to_proprietary_data_reaches_only_listed_staff(
        tmp_path: Path, sender: str, arc_contacts: list[str], copied: bool) -> None:
    bot = make_bot(tmp_path, addresses={"arc_contacts": arc_contacts})
    raw = request(PI_CASE).replace(f"<{ARC}>".encode(), f"<{sender}>".encode())
    bot.drop("1.pi", raw)
    (completion,) = run_until_sent(bot, "completion")
    assert completion.rcpt_to[0] == PI_CASE.user_email  # the PI, whom the archive names
    assert (sender in completion.rcpt_to) is copied
    assert set(completion.rcpt_to) - {sender} == {PI_CASE.user_email, MAINTAINER, AOG}


# --- no reflector, limits ----------------------------------------------------------------


def test_fifty_reflector_mails_reach_nobody_outside(bot: Bot) -> None:
    """Each with a Reply-To and 40 Cc outside: 2,100 recipients before."""
    for n, raw in enumerate(numbered(50)):
        bot.drop(f"{n:03d}.reflect", attacks.reflector(raw))
    bot.mailbot("run")
    sent = bot.sent()
    replies = [s for s in sent if s.kind == "verdict"]
    assert len(replies) == bot.config.limits.requests_per_run
    assert {r for s in replies for r in s.rcpt_to} == {ARC}
    assert all(len(s.data) < bot.config.replies.quote_max_bytes + 10_000 for s in replies)
    assert [s.rcpt_to for s in sent if s.kind == "notice"] == [(AOG,)]
    assert bot.kinds() == {"request": 20, "kept": 30}


def test_a_burst_of_300_requests(bot: Bot) -> None:
    """At most the limit leaves, plus ONE notice to AOG a day; all 300 are in the journal
    and those not served are listed by `mailbot attention`."""
    for n, raw in enumerate(numbered(330)):
        if n < 300:
            bot.drop(f"{n:03d}.burst", raw)
        last = raw
    bot.mailbot("run")
    sent = bot.sent()
    assert [s.kind for s in sent].count("verdict") == bot.config.limits.requests_per_run == 20
    assert [s.kind for s in sent].count("notice") == 1
    assert bot.kinds() == {"request": 20, "kept": 280}
    attention = bot.mailbot("attention").stdout
    assert attention.count("(limits.requests_per_run)") == 280

    # Later the same day: 10 more are served (30 a day), the others are kept, and AOG
    # is not told again.
    for n, raw in enumerate(numbered(30)):
        bot.drop(f"{n:03d}.later", raw.replace(b"Message-ID: <", b"Message-ID: <later-"))
    bot.mailbot("run")
    kinds = [s.kind for s in bot.sent()]
    assert kinds.count("verdict") == 30 and kinds.count("notice") == 1
    assert bot.kinds() == {"request": 30, "kept": 300}
    assert last  # (the burst is 300 of 330 numbered requests)


# --- bounded work ------------------------------------------------------------------------


def test_a_megabyte_subject_and_forty_thousand_cc_take_no_time(bot: Bot) -> None:
    """A minute (500k "Re: ": 196 s) and 80 s before, with the lock held."""
    bot.drop("1.subject", attacks.huge_subject(request()))
    bot.drop("2.cc", attacks.many_cc(request(**{"ticket 18711": "ticket 18712"})))
    bot.drop("3.genuine", request(**{"ticket 18711": "ticket 18713"}))
    bot.drop("4.subject", attacks.huge_subject(request(**{"ticket 18711": "ticket 18714"}),
                                               size=2_000_000))
    started = time.monotonic()
    bot.mailbot("run")
    assert time.monotonic() - started < 5
    sent = bot.sent()
    genuine = [s for s in sent if b"18713" in s.data]
    assert len(genuine) == 1 and genuine[0].rcpt_to == ANSWERED
    assert "shunted" not in bot.kinds()
    for mail in sent:
        assert len(mail.data) < 40_000 and set(mail.rcpt_to) <= {ARC, MAINTAINER}
        attacks.assert_only_headers_set(mail.data)


def test_a_mail_over_the_size_limit_is_kept_unread(tmp_path: Path) -> None:
    bot = make_bot(tmp_path, limits={"max_mail_bytes": 100_000})
    bot.drop("1.big", request() + b"x" * 100_000 + b"\n")
    bot.mailbot("run")
    assert bot.sent() == [] and bot.kinds() == {"kept": 1}
    assert "more than limits.max_mail_bytes (100000): not read" in bot.mailbot("attention").stdout


# --- odd bytes ---------------------------------------------------------------------------


def test_odd_bytes_never_shunt_a_request(bot: Bot) -> None:
    bot.drop("1.message-id", attacks.non_ascii_message_id(request()))
    bot.drop("2.charset", attacks.nul_charset(request(**{"ticket 18711": "ticket 18712"})))
    bot.mailbot("run")
    assert bot.kinds() == {"request": 2}
    sent = bot.sent()
    assert [s.rcpt_to for s in sent] == [ANSWERED, ANSWERED]
    journal = Journal(bot.config.path(bot.config.mailbot.journal))
    try:
        ids = [m.message_id or "" for m in journal.messages_of(MessageKind.REQUEST)]
    finally:
        journal.close()
    odd = [i for i in ids if i.startswith("<r") and i.endswith("@example.org>")]
    assert len(odd) == 1 and odd[0].encode("utf-8")  # recorded as text SQLite takes
    # An id of odd bytes is nobody's thread: the reply does not name it.
    assert attacks.parsed(sent[0].data)["In-Reply-To"] is None


def test_a_kept_mail_with_odd_bytes_is_reprocessed(tmp_path: Path) -> None:
    outsider = request().replace(f"<{ARC}>".encode(), b"<arc@newnode.example>")
    bot = make_bot(tmp_path)
    bot.drop("1.outsider", attacks.non_ascii_message_id(outsider))
    bot.mailbot("run")
    assert bot.kinds() == {"untrusted": 1}
    added = make_bot(tmp_path, addresses={"arc_contacts": ["@example.org", "@newnode.example"]})
    done = added.mailbot("reprocess", "1")
    assert "request" in done.stdout
    added.mailbot("run")
    assert [s.rcpt_to for s in added.sent()] == [("arc@newnode.example", MAINTAINER)]


# --- authenticated senders ---------------------------------------------------------------


AUTHSERV = "mx.example.org"


@pytest.mark.parametrize(("results", "served"), [
    (None, False),
    (f"{AUTHSERV}; dmarc=fail header.from=example.org; dkim=fail; spf=softfail", False),
    ("mx.elsewhere.example; dmarc=pass header.from=example.org", False),
    (f"{AUTHSERV}; dkim=pass header.d=attacker.example; spf=pass"
     " smtp.mailfrom=bounce@attacker.example", False),
    (f"{AUTHSERV}; dmarc=pass header.from=example.org", True),
    (f"{AUTHSERV}; dkim=pass (good signature) header.d=example.org", True),
], ids=["none", "failing", "foreign", "not aligned", "dmarc pass", "dkim aligned"])
def test_only_a_vouched_for_from_is_served(tmp_path: Path, results: str | None,
                                           served: bool) -> None:
    bot = make_bot(tmp_path, inbox={"authserv_id": AUTHSERV})
    raw = request()
    bot.drop("1.request", raw if results is None else attacks.authenticated(raw, results))
    bot.mailbot("run")
    assert [s.rcpt_to for s in bot.sent()] == ([ANSWERED] if served else [])
    assert bot.kinds() == {"request" if served else "untrusted": 1}
    if not served:
        assert f"{ARC} is not authenticated" in bot.mailbot("attention").stdout


def test_only_the_topmost_results_of_the_authserv_id_count(tmp_path: Path) -> None:
    """A pass below the MTA's own fail is the sender's invention."""
    bot = make_bot(tmp_path, inbox={"authserv_id": AUTHSERV})
    forged = attacks.authenticated(request(), f"{AUTHSERV}; dmarc=pass header.from=example.org")
    bot.drop("1.request", attacks.authenticated(forged, f"{AUTHSERV}; dmarc=fail"))
    bot.mailbot("run")
    assert bot.sent() == [] and bot.kinds() == {"untrusted": 1}


# --- mailbot check ------------------------------------------------------------------------


def test_check_reports_every_hostile_file(bot: Bot, tmp_path: Path) -> None:
    files = {
        "charset.eml": attacks.nul_charset(request()),
        "message-id.eml": attacks.non_ascii_message_id(request()),
        "subject.eml": attacks.huge_subject(request()),
        "injection.eml": attacks.injected_subject_twice(request()),
    }
    for name, raw in files.items():
        (tmp_path / name).write_bytes(raw)
    done = bot.mailbot("check", "--json", *(str(tmp_path / n) for n in files))
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["verdict"] for r in records] == ["NOT ENTITLED"] * 4
    assert done.stderr == ""
