"""`mailbot explain` on the demo archive: every fact and every check, live and as recorded."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from mailbot.archive import SHIPPED_QUERIES, open_archive
from mailbot.archive import demo as demo_archive
from mailbot.cli.main import main
from mailbot.clock import FixedClock
from mailbot.config import load
from mailbot.demo import request_mail
from mailbot.journal import Journal
from mailbot.journal.evidence import facts_from_json, facts_json
from mailbot.model import Facts
from mailbot.run import run_once

TODAY = date(2024, 5, 17)
CLOCK = FixedClock(datetime(2024, 5, 17, 9, 0, tzinfo=UTC))
NULL_RELEASE = next(c for c in demo_archive.DEMO_CASES if c.mous == "uid://A001/X87a/X4c9")


@pytest.fixture
def settings(tmp_path: Path) -> Path:
    demo_archive.seed(tmp_path / "alma.sqlite", today=TODAY)
    path = tmp_path / "mailbot.toml"
    path.write_text(f'[mailbot]\ndata_dir = "{tmp_path}"\n\n[archive]\n'
                    f'url = "sqlite:///{tmp_path}/alma.sqlite"\nretry_seconds = 0.5\n\n'
                    '[addresses]\narc_contacts = ["@example.org"]\n', encoding="utf-8")
    return path


def deliver(inbox: Path, raw: bytes) -> None:
    """A mail in the Maildir, delivered at CLOCK's time (its mtime is its arrival)."""
    path = inbox / "1.request"
    path.write_bytes(raw)
    stamp = CLOCK.now().timestamp()
    os.utime(path, (stamp, stamp))


def explain(settings: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    status = main(["--config", str(settings), "explain", *args], clock=CLOCK)
    out = capsys.readouterr().out
    return status, out.replace(str(SHIPPED_QUERIES), "Q").replace(str(settings.parent), "TMP")


PINNED = """\
MOUS uid://A001/X133d/X3cf3 (uid___A001_X133d_X3cf3)
  project 2018.1.01406.S  ticket 18723  calfield J1751+0939,IRAS_18286-0959
  user pierre.dubois@example.org
  day of the request 2024-05-17 (Europe/Berlin)
archive sqlite://TMP/alma.sqlite

archive facts
  entitlement (Q/entitlement.sql)
    PI                           2018.1.01406.S   k.wojcik@example.org                 entitles
    DELEGEE (inactive account)   2018.1.01406.S   sanna.saarinen@example.org           \
entitles nobody
    DELEGEE (not for data)       2018.1.01406.S   pierre.dubois@example.org            \
entitles nobody
  mous_state (Q/mous_state.sql)
    Delivered
  qa0_pass (Q/qa0_pass.sql)
    1 execution block(s) with QA0 Pass
  fields (Q/fields.sql)
    IRAS_18286-0959      science     (no intents)
    J1743-0350           calibrator  PHASE WVR
    J1751+0939           calibrator  BANDPASS FLUX WVR
    W43A                 science     (empty intents)
  release (Q/release.sql)
    2018.1.01406.S_uid___A001_X133d_X3cf3        2028-05-16
    public from 2028-05-16

checks (decide.CHECKS, in order)
  1. cycle_0            pass
  2. known_mous         pass
  3. project_matches    pass
  4. qa0_pass           pass
  5. calibrator_fields  pass
  6. entitlement        DECIDES NOT ENTITLED (email=pierre.dubois@example.org, \
release_date=2028-05-16, targets=IRAS_18286-0959)
  7. delivered          not reached (would pass)
  8. not_duplicate      not reached (would pass)
verdict: NOT ENTITLED (decided by entitlement)
"""


def test_explain_a_demo_mous_shows_every_fact_and_check(
    settings: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out = explain(settings, capsys, "uid___A001_X133d_X3cf3",
                          "--email", "pierre.dubois@example.org", "--ticket", "18723",
                          "--calfield", "J1751+0939, IRAS_18286-0959", "--today", "2024-05-17")
    assert status == 0
    assert out == PINNED


def test_a_bare_mous_is_judged_for_nobody_in_particular(
    settings: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out = explain(settings, capsys, "uid://A001/X87a/X4c9", "--today", "2024-05-17")
    assert status == 0
    assert "  project 2016.1.00484.L  ticket -  calfield -\n  user -\n" in out  # the archive's
    assert ("    2016.1.00484.L_uid___A001_X87a_X4c9          2018-03-15\n"
            "    2016.1.00484.L_uid___A001_X87a_X4c9_2        (no release date)\n"
            "    not public: a delivery has no release date yet\n") in out
    assert "  3. project_matches    pass\n" in out
    assert "verdict: NOT ENTITLED (decided by entitlement)\n" in out


def test_a_calibrator_request_shows_the_checks_after_the_deciding_one(
    settings: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out = explain(settings, capsys, "uid://A001/X14d7/X160", "--email", "x@example.org",
                     "--calfield", "J0217-0820", "--today", "2024-05-17")
    assert "  6. entitlement        pass\n" in out
    assert "  7. delivered          DECIDES MOUS NOT DELIVERED (state=QA3InProgress)\n" in out
    assert "  8. not_duplicate      not reached (would pass)\n" in out


def test_explain_a_mail_file_and_a_recorded_request(
    settings: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = load(settings)
    mail = tmp_path / "request.eml"
    mail.write_bytes(request_mail(NULL_RELEASE, aog=config.addresses.aog,
                                  maintainer=config.addresses.maintainer, clock=CLOCK))
    status, live = explain(settings, capsys, str(mail), "--today", "2024-05-17")
    assert status == 0
    assert "  user anna.mueller@example.org\n" in live
    assert "  6. entitlement        DECIDES NOT ENTITLED" in live

    inbox = config.path(config.inbox.maildir.path) / "new"
    inbox.mkdir(parents=True)
    deliver(inbox, mail.read_bytes())
    run_once(config, clock=CLOCK)
    status, recorded = explain(settings, capsys, "1")
    assert status == 0
    assert recorded.startswith("request 1, received 2024-05-17T09:00:00+00:00, now answered\n")
    assert "archive facts, as recorded when judged\n" in recorded
    assert "    not public: a delivery has no release date yet\n" in recorded
    assert "  5. calibrator_fields  pass\n  6. entitlement        DECIDES NOT ENTITLED" in recorded
    assert "  7. delivered          not reached\n" in recorded
    # The facts kept are the facts seen: what the live explanation showed.
    assert recorded.split("archive facts, as recorded when judged\n")[1].split("\n\n")[0] == (
        live.split("archive facts\n")[1].split("\n\n")[0].replace("(Q/", "("))


def test_explain_refuses_what_it_cannot_read(
    settings: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(settings), "explain", "uid://A001/nothing"], clock=CLOCK) == 2
    assert main(["--config", str(settings), "explain", "1", "--email", "a@b.org"],
                clock=CLOCK) == 2
    assert main(["--config", str(settings), "explain", "7"], clock=CLOCK) == 1
    err = capsys.readouterr().err
    assert "neither a MOUS UID" in err and "--email: only for a MOUS" in err
    assert "no request 7" in err


def test_a_malformed_mail_is_explained_without_the_archive(
    settings: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mail = tmp_path / "bad.eml"
    mail.write_bytes(b"From: arc@example.org\r\nTo: aog@eso.org\r\nSubject: ALMA: REQUEST FOR "
                     b"CALIBRATED DATA MOUS uid___A001_X1296_X675\r\n\r\nDear AOG,\r\nplease "
                     b"create the calibrated MS for MOUS uid___A001_X1296_X675\r\n")
    status, out = explain(settings, capsys, str(mail))
    assert status == 0
    assert "a malformed request" in out and "  - " in out
    assert "checks" not in out


def test_facts_are_kept_exactly(settings: Path) -> None:
    facts = Facts(entitlement=(), state=None, qa0_pass=0, fields=(), release_date=None)
    assert facts_from_json(facts_json(facts)) == facts
    config = load(settings)
    with open_archive(config) as archive:
        for case in demo_archive.DEMO_CASES:
            seen = archive.facts(case.mous)
            assert facts_from_json(facts_json(seen)) == seen


def test_the_journal_keeps_what_each_request_was_judged_on(settings: Path) -> None:
    config = load(settings)
    inbox = config.path(config.inbox.maildir.path) / "new"
    inbox.mkdir(parents=True)
    deliver(inbox, request_mail(NULL_RELEASE, aog=config.addresses.aog,
                                maintainer=config.addresses.maintainer, clock=CLOCK))
    run_once(config, clock=CLOCK)
    journal = Journal(config.path(config.mailbot.journal))
    try:
        basis = journal.judged_on(1)
    finally:
        journal.close()
    assert basis.day == TODAY
    assert basis.passed == ("cycle_0", "known_mous", "project_matches", "qa0_pass",
                            "calibrator_fields")
    assert basis.facts is not None and basis.facts.release_date is None
    assert [r.release_date for r in basis.facts.release_rows] == [date(2018, 3, 15), None]
    assert basis.detail == {"email": "anna.mueller@example.org", "release_date": ""}


def test_the_time_zone_is_a_setting(settings: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = settings.read_text(encoding="utf-8")
    settings.write_text(text.replace("[mailbot]\n", '[mailbot]\ntimezone = "UTC"\n'),
                        encoding="utf-8")
    status, out = explain(settings, capsys, "uid://A001/X87a/X4c9", "--today", "2024-05-17")
    assert status == 0 and "day of the request 2024-05-17 (UTC)" in out
    settings.write_text(text.replace("[mailbot]\n", '[mailbot]\ntimezone = "Mars/Olympus"\n'),
                        encoding="utf-8")
    assert main(["--config", str(settings), "explain", "1"], clock=CLOCK) == 78
    assert "mailbot.timezone is not a time zone name: 'Mars/Olympus'" in capsys.readouterr().err
