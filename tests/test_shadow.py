"""Shadow mode (issue 15): a pass that decides and records everything and touches nothing.

Against the real servers: Dovecot holds a mailbox of requests, the staging host
is the test sshd, mail goes to the recording SMTP server. A shadow pass must
leave all three as they were, and `mailbot shadow-report` must list every
request with the verdict it would have got. Then the switch to live mode: the
shadowed mail is never sent, its stagings never launched.
"""

from __future__ import annotations

from email import message_from_bytes
from pathlib import Path

import pytest

from mailbot.archive import demo as demo_archive
from mailbot.demo import prepare, request_mail
from mailbot.journal import Journal
from mailbot.run import run_once
from mailbot.states import JobState, MailState
from tests.servers.dovecot import ImapServer
from tests.servers.smtp import SmtpServer
from tests.servers.sshd import SshServer
from tests.settings import changed
from tests.test_end_to_end import mailbot, write_config

AOG = "aog@example.org"
MAINTAINER = "maintainer@example.org"
CASES = demo_archive.DEMO_CASES


def _settings(tmp: Path, imap: ImapServer, smtp: SmtpServer, sshd: SshServer) -> Path:
    return write_config(tmp, imap, smtp, sshd, mode="shadow")



def _flags(imap: ImapServer) -> tuple[dict[int, tuple[bytes, ...]], list[str]]:
    client = imap.client()
    try:
        folders = sorted(str(f[2]) for f in client.list_folders())
        client.select_folder("INBOX", readonly=True)
        uids = client.search("ALL")
        flags = {uid: tuple(sorted(f)) for uid, f in client.get_flags(uids).items()}
    finally:
        client.logout()
    return flags, folders


def _launches(sshd: SshServer) -> int:
    log = sshd.key_file.parent / "sshd.log"
    assert log.exists(), log  # else "no launch" would be proved by a log never read
    return log.read_text(errors="replace").count("Accepted publickey")


@pytest.mark.parametrize("how", ["mode", "dry-run"])
def test_a_shadow_pass_touches_nothing_and_reports_every_request(
        imap: ImapServer, smtp: SmtpServer, sshd: SshServer, tmp_path: Path, how: str) -> None:
    demo_archive.seed(tmp_path / "alma.sqlite")
    client = imap.client()
    try:
        for case in CASES:
            client.append("INBOX", request_mail(case, aog=AOG, maintainer=MAINTAINER))
        client.select_folder("INBOX")
        client.add_flags(client.search("ALL")[:1], [b"\\Flagged"])  # AOG's own marks stay
    finally:
        client.logout()
    config = _settings(tmp_path, imap, smtp, sshd)
    if how == "dry-run":  # a live configuration, one shadow pass asked for on the command line
        config.write_text(config.read_text().replace('mode = "shadow"', 'mode = "live"'))
    before, logins = _flags(imap), _launches(sshd)

    done = mailbot(config, "run", *(["--dry-run"] if how == "dry-run" else []),
                    password=imap.password)

    assert done.returncode == 0, done.stderr
    assert smtp.messages == []
    assert _launches(sshd) == logins
    assert not (tmp_path / "jobs").exists() and not (tmp_path / "staging").exists()
    assert _flags(imap) == before  # no \Seen, no keyword, nothing moved, no review folder
    report = mailbot(config, "shadow-report", password=imap.password)
    assert report.returncode == 0, report.stderr
    blocks = report.stdout.split("\n\n")
    assert len(blocks) == len(CASES)
    for case, block in zip(CASES, blocks, strict=True):
        assert f"ticket {case.ticket}" in block
        answer = block.split("would answer: ", 1)[1].splitlines()[0]
        want = "STAGE" if case.expected.value == "STAGE" else None
        assert answer.startswith(want) if want else answer == _wording(config, case.expected.value)
        assert "checks (decide.CHECKS, in order)" in block


def _wording(settings: Path, code: str) -> str:
    from mailbot import config as cfg

    return cfg.load(settings).verdict_line(code)


def test_going_live_never_sends_or_stages_what_the_shadow_rendered(tmp_path: Path) -> None:
    live, _ = prepare(tmp_path / "demo", duration=0.1)
    inbox = live.path(live.inbox.maildir.path)
    shadowed = sorted(p.name for p in (inbox / "new").iterdir())
    run_once(changed(live, mailbot={"mode": "shadow"}))
    run_once(live)  # the switch: a live run after shadow passes
    late = request_mail(next(c for c in CASES if c.expected.value == "INVALID_MOUS"),
                        aog=live.addresses.aog, maintainer=live.addresses.maintainer)
    (inbox / "new" / "after-the-switch").write_bytes(late)
    run_once(live)

    journal = Journal(live.path(live.mailbot.journal))
    try:
        shadow_mail = {m.id for m in journal.outbox(MailState.DISCARDED)}
        sent = journal.outbox(MailState.SENT)
        never_launched = journal.jobs(JobState.RUNNING, JobState.SUCCEEDED, JobState.FAILED)
        waiting = journal.jobs(JobState.WAITING)
        taken = journal.shadow_taken()
    finally:
        journal.close()
    assert len(taken) == len(shadowed) and shadow_mail
    assert [m.subject for m in sent] == ["Re: " + str(message_from_bytes(late)["Subject"])]
    assert never_launched == [] and waiting == []
    assert sorted(p.name for p in (inbox / "new").iterdir()) == shadowed  # still AOG's
    eml = sorted(live.path(live.outbox.directory).glob("*.eml"))
    assert len(eml) == 1

