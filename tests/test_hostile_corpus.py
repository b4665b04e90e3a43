"""The hostile corpus (tests/emails/hostile/): each mail's disposition, and its reply's bytes.

Each file is planned as a run plans it (`run.planning.parse`, `plan.plan`) with
the settings of production that matter here (`inbox.authserv_id` set, ARC
contacts by domain) and the demo archive; tests/emails/hostile/expected.toml
names the disposition, the step that decided and, for mail not answered, a
piece of the reason. Every reply is then rendered and must hold exactly the
headers a reply sets, to the sender and ARC staff alone.
"""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import pytest

from mailbot import config as cfg
from mailbot import reply
from mailbot.archive import Archive, open_archive
from mailbot.archive import demo as demo_archive
from mailbot.clock import FixedClock
from mailbot.inbox import Incoming
from mailbot.model import OutgoingMail
from mailbot.plan import Answered, Disposition, Planned, Rejected, plan
from mailbot.run.planning import Ledger, parse, rules
from tests import attacks
from tests.settings import config_in

HOSTILE = Path(__file__).parent / "emails" / "hostile"
EXPECTED = tomllib.loads((HOSTILE / "expected.toml").read_text(encoding="utf-8"))
NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
STAFF = {"arc.contact@example.org", "dpetry@eso.org"}


@cache
def corpus_config() -> cfg.Config:
    """Production's trust settings on the embedded setup; the demo archive in /tmp."""
    import tempfile

    home = Path(tempfile.mkdtemp(prefix="mailbot-hostile-"))
    config = config_in(home, inbox={"authserv_id": "mx.example.org"},
                       addresses={"arc_contacts": ("@example.org",)})
    demo_archive.seed(config.path(config.archive.url.removeprefix("sqlite:///")))
    return config


@cache
def archive() -> Archive:
    return open_archive(corpus_config())


def outcome_of(path: Path) -> tuple[Planned, OutgoingMail | None]:
    """The plan of one file, and the reply a run would send for it."""
    config = corpus_config()
    incoming = Incoming("maildir", path.name, path.read_bytes(), NOW)
    planned = plan(parse(incoming, config), Ledger(None, archive),
                   rules(config, key=f"corpus:{path.name}", clock=FixedClock(NOW)), NOW)
    return planned, reply_to(config, planned.disposition)


def reply_to(config: cfg.Config, d: Disposition) -> OutgoingMail | None:
    if isinstance(d, Rejected):
        return d.mail
    if isinstance(d, Answered):
        return reply.render_verdict(config.reply_settings, config.templates, d.request,
                                    d.verdict, key="corpus", queued_at=NOW)
    return None


def test_every_file_has_its_expectation() -> None:
    assert {p.name for p in HOSTILE.glob("*.eml")} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_hostile_mail_gets_its_disposition(name: str) -> None:
    expected = EXPECTED[name]
    planned, sent = outcome_of(HOSTILE / name)
    d = planned.disposition
    assert (type(d).__name__, planned.step) == (expected["disposition"], expected["step"])
    if "reason" in expected:
        assert expected["reason"] in getattr(d, "reason", ""), getattr(d, "reason", "")
    assert (sent is not None) == expected.get("answered", False)
    if sent is not None:
        attacks.assert_only_headers_set(sent.data, expected.get("verdict_line"))
        assert set(sent.rcpt_to) <= STAFF
        assert len(sent.data) < corpus_config().replies.quote_max_bytes + 12_000
