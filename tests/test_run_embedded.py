"""The run loop on the embedded setup: Maildir in, local simulator, .eml outbox, SQLite files."""

from __future__ import annotations

import email
import json
import os
import re
import subprocess
import sys
import time
from email import policy
from pathlib import Path

import pytest

from mailbot import config as cfg
from mailbot import grammar
from mailbot.archive import Archive
from mailbot.archive import demo as demo_archive
from mailbot.demo import prepare, request_mail
from mailbot.errors import AlreadyRunning, ArchiveError
from mailbot.journal import Journal
from mailbot.model import VerdictCode, mous_file_form
from mailbot.run import RunReport, run_once, single_instance
from mailbot.states import MessageKind
from tests.settings import changed


def run_until_idle(config: cfg.Config, limit: float = 60) -> list[RunReport]:
    reports = []
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        reports.append(run_once(config))
        assert reports[-1].outages == []
        if reports[-1].active_jobs == 0:
            return reports
        time.sleep(0.2)
    raise AssertionError("stagings did not finish")


def sent_files(config: cfg.Config) -> list[Path]:
    return sorted(config.path(config.outbox.directory).glob("*.eml"))


def empty_demo(tmp_path: Path, duration: float) -> tuple[cfg.Config, Path]:
    """The demo's settings and archive with an empty Maildir: a test drops its own mail."""
    config, _ = prepare(tmp_path / "demo", duration=duration)
    inbox_new = config.path(config.inbox.maildir.path) / "new"
    for file in inbox_new.iterdir():
        file.unlink()
    return config, inbox_new


@pytest.fixture
def demo(tmp_path: Path) -> tuple[cfg.Config, dict[str, str]]:
    config, labels = prepare(tmp_path / "demo", duration=0.2)
    return config, dict(labels)


def test_every_demo_case_gets_its_outcome(demo: tuple[cfg.Config, dict[str, str]]) -> None:
    config, _ = demo
    reports = run_until_idle(config)
    assert len(reports) >= 2, "stagings run detached: the first run does not wait"
    journal = Journal(config.path(config.mailbot.journal))
    try:
        rows = journal.db.execute("SELECT ticket, verdict, state FROM requests ORDER BY id")
        got = [(r["ticket"], r["verdict"], r["state"]) for r in rows]
        sent = journal.outbox("sent")
    finally:
        journal.close()
    want = [(c.ticket, c.expected.value,
             "completed" if c.expected is VerdictCode.STAGE else "answered")
            for c in demo_archive.DEMO_CASES]
    assert got == want
    staged = sum(c.expected is VerdictCode.STAGE for c in demo_archive.DEMO_CASES)
    kinds = sorted(m.kind for m in sent)
    assert kinds.count("completion") == staged
    assert kinds.count("verdict") == len(want) - staged
    assert kinds.count("malformed") == 1
    assert len(sent_files(config)) == len(sent)


def test_second_run_sends_nothing_and_nothing_is_processed_twice(
        demo: tuple[cfg.Config, dict[str, str]]) -> None:
    config, _ = demo
    run_until_idle(config)
    before = sent_files(config)
    report = run_once(config)
    assert report.kinds == {} and report.sent == 0
    assert sent_files(config) == before


def test_requests_move_to_cur_others_stay_new(demo: tuple[cfg.Config, dict[str, str]]) -> None:
    config, labels = demo
    run_once(config)
    maildir = config.path(config.inbox.maildir.path)
    new = {p.name for p in (maildir / "new").iterdir()}
    cur = {p.name.split(":")[0] for p in (maildir / "cur").iterdir()}
    ignored = {name for name, label in labels.items() if "out-of-office" in label}
    assert new == ignored, "only mail that is not a request stays in new/, untouched"
    assert cur == set(labels) - ignored
    assert all(p.name.endswith(":2,S") for p in (maildir / "cur").iterdir())


def test_never_more_than_two_stagings_nor_two_of_one_mous(tmp_path: Path) -> None:
    config, _ = prepare(tmp_path / "demo", duration=0.6)
    run_until_idle(config)
    events = (config.path("{data_dir}/staging") / "runs.log").read_text().splitlines()
    running: dict[str, str] = {}
    peak = 0
    for line in events:
        fields = line.split()
        what, mous, pid = fields[1], fields[2], fields[4]
        if what == "start":
            assert mous not in running.values(), "two stagings of one MOUS at once"
            running[pid] = mous
            peak = max(peak, len(running))
        else:
            running.pop(pid)
    assert peak == config.staging.slots == 2


def test_crash_after_record_before_mark_marks_without_redoing(
        demo: tuple[cfg.Config, dict[str, str]], monkeypatch: pytest.MonkeyPatch) -> None:
    """The journal holds the outcome; a run that died before flagging only flags next time."""
    config, _ = demo
    from mailbot import inbox

    def die(self: inbox.MaildirSource, key: str) -> None:
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(inbox.MaildirSource, "mark_processed", die)
    with pytest.raises(KeyboardInterrupt):
        run_once(config)
    monkeypatch.undo()
    journal = Journal(config.path(config.mailbot.journal))
    try:
        assert journal.db.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 1
        queued_before = len(journal.outbox())
    finally:
        journal.close()
    run_until_idle(config)
    journal = Journal(config.path(config.mailbot.journal))
    try:
        first = journal.db.execute("SELECT marked FROM messages ORDER BY id LIMIT 1").fetchone()
        assert first["marked"] == 1
        ids = [m.message_id for m in journal.outbox()]
        assert len(ids) == len(set(ids)) and len(ids) > queued_before
        count = journal.db.execute("SELECT COUNT(*) FROM requests").fetchone()[0]
    finally:
        journal.close()
    assert count == len(demo_archive.DEMO_CASES)


def test_archive_outage_leaves_mail_for_the_next_run(
        demo: tuple[cfg.Config, dict[str, str]]) -> None:
    config, labels = demo

    def down() -> Archive:
        raise ArchiveError("oracle://aog@127.0.0.1:1/x: DPY-6005")

    report = run_once(config, archive_factory=down)
    assert [str(o) for o in report.outages] == [
        "archive database unavailable: oracle://aog@127.0.0.1:1/x: DPY-6005"]
    maildir = config.path(config.inbox.maildir.path)
    assert {p.name for p in (maildir / "new").iterdir()} >= {
        n for n, label in labels.items() if "out-of-office" not in label
        and "malformed" not in label}
    assert run_until_idle(config)[0].kinds["request"] == len(demo_archive.DEMO_CASES)


def test_a_mail_that_breaks_the_bot_is_shunted_and_the_rest_goes_on(
        demo: tuple[cfg.Config, dict[str, str]], monkeypatch: pytest.MonkeyPatch) -> None:
    config, _ = demo
    real = grammar.parse_message
    calls = []

    def flaky(raw: bytes, **kw: object) -> grammar.Parsed:
        calls.append(raw)
        if len(calls) == 3:
            raise RuntimeError("bug in the grammar")
        return real(raw, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(grammar, "parse_message", flaky)
    report = run_once(config)
    assert report.kinds["shunted"] == 1
    assert report.kinds["request"] + report.kinds["malformed"] + report.kinds["ignored"] == (
        len(demo_archive.DEMO_CASES) + 2 - 1)
    journal = Journal(config.path(config.mailbot.journal))
    try:
        row = journal.db.execute("SELECT * FROM messages WHERE kind = 'shunted'").fetchone()
    finally:
        journal.close()
    assert "bug in the grammar" in row["reason"] and bytes(row["raw"]) == calls[2]


def test_overlapping_run_leaves_quietly(demo: tuple[cfg.Config, dict[str, str]]) -> None:
    config, _ = demo
    with single_instance(config.path(config.mailbot.lock_file)), \
            pytest.raises(AlreadyRunning):
        run_once(config)
    lock = str(config.path(config.mailbot.lock_file))
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT);"
        "fcntl.flock(fd, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(30)"), lock],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        done = subprocess.run([sys.executable, "-m", "mailbot", "--config", config.source, "run"],
                              capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0 and done.stderr == ""
        assert not config.path(config.mailbot.journal).exists() or not Journal(
            config.path(config.mailbot.journal)).outbox()
    finally:
        holder.kill()
        holder.wait()


def test_held_mail_leaves_only_after_approval(tmp_path: Path) -> None:
    config, _ = prepare(tmp_path / "demo", duration=0.1)
    config = changed(config, outbox={"review": {"hold": ("verdict",)}})
    run_until_idle(config)
    journal = Journal(config.path(config.mailbot.journal))
    try:
        held = journal.outbox("held")
        assert held and all(m.kind == "verdict" for m in held)
        assert not any("verdict" in p.name for p in sent_files(config))
        with journal.transaction():
            assert journal.set_outbox_state(held[0].id, "queued", only_from=("held",))
    finally:
        journal.close()
    run_once(config)
    verdicts = [p for p in sent_files(config) if p.name.endswith("-verdict.eml")]
    assert len(verdicts) == 1
    msg = email.message_from_bytes(verdicts[0].read_bytes(), policy=policy.strict)
    assert msg["Message-ID"] == held[0].message_id


def test_malformed_request_gets_a_reply_listing_the_problems(tmp_path: Path) -> None:
    config, _ = prepare(tmp_path / "demo", duration=0.1)
    run_once(config)
    reply = next(p for p in sent_files(config) if p.name.endswith("-malformed.eml"))
    msg = email.message_from_bytes(reply.read_bytes(), policy=policy.default)
    text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert text.splitlines()[0] == config.verdict_line("MALFORMED")
    assert "2017.1.727.S" in text and "email" in text
    envelope = json.loads(reply.with_suffix("").with_suffix(".envelope.json").read_text())
    assert envelope["rcpt_to"][0] == "arc.contact@example.org"


def test_trigger_file_stays_while_active_and_goes_after_completion(tmp_path: Path) -> None:
    config, _ = prepare(tmp_path / "demo", duration=0.3)
    for file in (config.path(config.inbox.maildir.path) / "new").iterdir():
        file.unlink()
    triggers = tmp_path / "triggers"
    triggers.mkdir()
    config = changed(config, inbox={"sources": ("triggers",), "triggers": {"path": str(triggers)}},
                     mailbot={"cutover": "2000-01-01T00:00:00Z"})
    case = next(c for c in demo_archive.DEMO_CASES if c.expected is VerdictCode.STAGE)
    name = f"trigger-{mous_file_form(case.mous)}-2019-09-02T14-00-27.txt"
    (triggers / name).write_text(trigger_text(config, case), encoding="utf-8")
    first = run_once(config)
    assert first.kinds["request"] == 1 and (triggers / name).exists()
    run_until_idle(config)
    assert not (triggers / name).exists()
    completions = [p for p in sent_files(config) if p.name.endswith("-completion.eml")]
    assert len(completions) == 1


def test_report_counts_what_happened(demo: tuple[cfg.Config, dict[str, str]]) -> None:
    from collections import Counter

    from mailbot import report

    config, _ = demo
    run_until_idle(config)
    journal = Journal(config.path(config.mailbot.journal))
    try:
        sheet = report.gather(journal, window=report.Window(), now=journal.clock.now(),
                              target_hours=24, verdict_line=config.verdict_line)
    finally:
        journal.close()
    assert len(sheet.months) == 1
    month = sheet.months[0]
    expected = Counter(c.expected.value for c in demo_archive.DEMO_CASES)
    assert month.requests == len(demo_archive.DEMO_CASES)
    assert month.verdicts == expected
    assert month.staged == expected["STAGE"]
    assert month.malformed == 1 and month.bytes_staged > 0
    text = report.text(sheet, config.verdicts)
    assert f"{expected['STAGE']} staged" in text and "NOT ENTITLED" in text


def trigger_text(config: cfg.Config, case: demo_archive.DemoCase) -> str:
    mail = email.message_from_bytes(
        request_mail(case, aog=config.addresses.aog, maintainer=config.addresses.maintainer),
        policy=policy.default)
    body = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    return (f"EU ARC contact arc.contact@example.org\nCC email {config.addresses.maintainer}\n"
            f"{mail['Subject']}\n\n{body}")


@pytest.mark.parametrize("order", [["triggers", "maildir"], ["maildir", "triggers"]])
def test_mail_and_trigger_of_one_request_are_served_once(tmp_path: Path,
                                                         order: list[str]) -> None:
    """The trigger script mails aog@ AND writes a trigger file: one staging, one completion."""
    config, inbox_new = empty_demo(tmp_path, duration=0.2)
    case = next(c for c in demo_archive.DEMO_CASES if c.expected is VerdictCode.STAGE)
    (inbox_new / "1.request.mailbot").write_bytes(
        request_mail(case, aog=config.addresses.aog, maintainer=config.addresses.maintainer))
    triggers = tmp_path / "triggers"
    triggers.mkdir()
    name = f"trigger-{mous_file_form(case.mous)}-2019-09-02T14-00-27.txt"
    (triggers / name).write_text(trigger_text(config, case), encoding="utf-8")
    config = changed(config, inbox={"sources": tuple(order), "triggers": {"path": str(triggers)}},
                     mailbot={"cutover": "2000-01-01T00:00:00Z"})

    first = run_once(config)
    assert first.kinds == {"request": 1, "twin": 1}
    run_until_idle(config)
    assert not (triggers / name).exists(), "removed once its request completed"
    assert list(inbox_new.iterdir()) == [], "the mail is handled (flagged) too"
    kinds = sorted(p.name.rsplit("-", 1)[1] for p in sent_files(config))
    assert kinds == ["completion.eml"]


def test_shunted_mail_is_listed_and_reprocessed_after_the_fix(
        demo: tuple[cfg.Config, dict[str, str]], monkeypatch: pytest.MonkeyPatch) -> None:
    from mailbot.run import reprocess

    config, _ = demo
    real = grammar.parse_message

    def broken_for_tickets_16140(raw: bytes, **kw: object) -> grammar.Parsed:
        if b"helpdesk ticket 16140" in raw:
            raise RuntimeError("bug in the grammar")
        return real(raw, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(grammar, "parse_message", broken_for_tickets_16140)
    # The request, its duplicate and the demo's malformed mail name that ticket.
    assert run_once(config).kinds["shunted"] == 3
    attention = subprocess.run(
        [sys.executable, "-m", "mailbot", "--config", config.source, "attention"],
        capture_output=True, text=True, timeout=60, check=True).stdout
    assert attention.count("bug in the grammar") == 3 and "REQUEST FOR CALIBRATED" in attention
    journal = Journal(config.path(config.mailbot.journal))
    try:
        shunted = [row.id for row in journal.messages_of(MessageKind.SHUNTED)]
    finally:
        journal.close()

    assert reprocess(config, shunted[0]) == "shunted", "still broken: stays shunted"
    monkeypatch.undo()
    assert [reprocess(config, m) for m in shunted] == ["request", "request", "malformed"]
    run_until_idle(config)
    maildir = config.path(config.inbox.maildir.path)
    assert len(list((maildir / "new").iterdir())) == 1, "only the out-of-office stays new"
    journal = Journal(config.path(config.mailbot.journal))
    try:
        verdicts = [r["verdict"] for r in journal.db.execute(
            "SELECT verdict FROM requests WHERE ticket = '16140' ORDER BY id")]
        assert journal.messages_of(MessageKind.SHUNTED) == []
    finally:
        journal.close()
    assert verdicts == ["STAGE", "DUPLICATE"]


def test_nested_transaction_failure_undoes_only_its_own_writes(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.sqlite")
    try:
        with journal.transaction():
            journal.set_meta("outer", "kept")
            with pytest.raises(RuntimeError), journal.transaction():
                journal.set_meta("inner", "undone")
                raise RuntimeError
            journal.set_meta("after", "kept")
        assert journal.get_meta("inner") is None
        assert journal.get_meta("outer") == journal.get_meta("after") == "kept"
        with pytest.raises(RuntimeError), journal.transaction():
            journal.set_meta("outer2", "undone")
            raise RuntimeError
        assert journal.get_meta("outer2") is None
    finally:
        journal.close()


def test_a_journal_of_a_newer_mailbot_is_refused(tmp_path: Path) -> None:
    from mailbot.errors import MailbotError

    path = tmp_path / "journal.sqlite"
    journal = Journal(path)
    with journal.transaction():
        journal.set_meta("schema_version", "99")
    journal.close()
    with pytest.raises(MailbotError, match="newer mailbot"):
        Journal(path)


def test_maildir_request_is_dated_by_its_delivery_hop(tmp_path: Path) -> None:
    """Entitlement is judged on the day the mail reached aog@, not when a file was written."""
    config, inbox_new = empty_demo(tmp_path, duration=0.1)
    case = next(c for c in demo_archive.DEMO_CASES if c.expected is VerdictCode.NOT_ENTITLED)
    raw = request_mail(case, aog=config.addresses.aog, maintainer=config.addresses.maintainer)
    hops = (b"Received: from relay.example.org by mail.example.org; "
            b"Tue, 3 Sep 2019 10:00:00 +0000\r\n"
            b"Received: from arcp1.example.org by relay.example.org; "
            b"Mon, 2 Sep 2019 23:59:00 +0000\r\n")
    (inbox_new / "1.dated.mailbot").write_bytes(hops + raw)
    undated = inbox_new / "2.undated.mailbot"
    undated.write_bytes(raw.replace(b"Message-ID: <", b"Message-ID: <other-"))
    os.utime(undated, (1_600_000_000, 1_600_000_000))
    run_once(config)
    journal = Journal(config.path(config.mailbot.journal))
    try:
        received = [r["received"] for r in journal.db.execute(
            "SELECT received FROM requests ORDER BY received")]
    finally:
        journal.close()
    assert received == ["2019-09-03T10:00:00+00:00", "2020-09-13T12:26:40+00:00"]


def test_a_lost_journal_never_hands_out_an_old_staging(tmp_path: Path) -> None:
    """Job ids restart with a new journal; its stagings must not adopt the old job dirs."""
    config, inbox_new = empty_demo(tmp_path, duration=0.1)
    staged = [c for c in demo_archive.DEMO_CASES if c.expected is VerdictCode.STAGE]
    first, second = staged[0], next(c for c in staged if c.mous != staged[0].mous)
    for n, case in enumerate((first, second)):
        (inbox_new / f"{n}.request.mailbot").write_bytes(request_mail(
            case, aog=config.addresses.aog, maintainer=config.addresses.maintainer))
        if n == 0:
            run_until_idle(config)
            config.path(config.mailbot.journal).unlink()  # lost (or another installation)
    run_until_idle(config)
    journal = Journal(config.path(config.mailbot.journal))
    try:
        (job,) = journal.jobs("succeeded")
        request = journal.request(job.request)
    finally:
        journal.close()
    assert (request.ticket, job.id) == (second.ticket, 1)
    urls = {}
    for path in sent_files(config):
        if path.name.endswith("-completion.eml"):
            msg = email.message_from_bytes(path.read_bytes(), policy=policy.default)
            found = re.search(r"https?://\S+", msg.get_body(("plain",)).get_content())  # type: ignore[union-attr]
            assert found is not None
            urls[msg["To"].addresses[0].addr_spec] = found.group()
    assert set(urls) == {first.user_email.strip(), second.user_email.strip()}
    assert urls[second.user_email.strip()] == job.url != urls[first.user_email.strip()]


def test_a_job_directory_of_another_command_is_never_adopted(tmp_path: Path) -> None:
    from mailbot import stage
    from mailbot.errors import MailbotError

    transport = stage.LocalTransport()
    jobs = str(tmp_path / "jobs")
    stage.launch(transport, jobs, "job-x-1-1", "echo first")
    assert not stage.launch(transport, jobs, "job-x-1-1", "echo first").started
    with pytest.raises(MailbotError, match="another command"):
        stage.launch(transport, jobs, "job-x-1-1", "echo second")


def test_a_completion_line_for_another_request_is_a_failure() -> None:
    from mailbot import stage

    url = "http://almascience.eso.org/arcdistribution/preview/8672af71dac32e0ad9703dae3438fcac"
    output = (f"The staging directory will be accessible at {url}\n"
              "Staging of calibrated MS(s) for 2018.1.01406.S uid___A001_X133d_X3cf3 helpdesk"
              f" ticket #16267 completed at {url}\n")
    mine = stage.Expected("2018.1.01406.S", "uid___A001_X133d_X3cf3", "16267")
    assert stage.parse_output(output, 0, mine).url == url
    for other in (stage.Expected("2018.1.01406.S", "uid___A001_X133d_X3cf3", "1626"),
                  stage.Expected("2018.1.01406.S", "uid___A001_X133d_X3cf4", "16267"),
                  stage.Expected("2019.1.01406.S", "uid___A001_X133d_X3cf3", "16267")):
        result = stage.parse_output(output, 0, other)
        assert not result.ok and result.url is None
        assert "not" in result.problems[-1]


def test_trigger_files_from_before_the_cutover_are_left_alone(tmp_path: Path) -> None:
    """At switch-over the files present are requests AOG is already handling by hand."""
    config, _ = prepare(tmp_path / "demo", duration=0.1)
    triggers = tmp_path / "triggers"
    triggers.mkdir()
    # The demo answers its old sample mails; here the cut-over is the first run's start.
    config = changed(config, inbox={"sources": ("triggers",), "triggers": {"path": str(triggers)}},
                     mailbot={"cutover": ""})
    case = next(c for c in demo_archive.DEMO_CASES if c.expected is VerdictCode.STAGE)
    old = triggers / f"trigger-{mous_file_form(case.mous)}-2019-09-02T14-00-27.txt"
    old.write_text(trigger_text(config, case), encoding="utf-8")
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    assert run_once(config).kinds == {}
    assert old.exists()
    new = triggers / f"trigger-{mous_file_form(case.mous)}-2030-01-01T00-00-00.txt"
    new.write_text(trigger_text(config, case), encoding="utf-8")
    os.utime(new, (time.time() + 5, time.time() + 5))
    assert run_once(config).kinds == {"request": 1}


def test_trigger_directory_trouble_is_an_outage_and_the_rest_goes_on(tmp_path: Path) -> None:
    config, _ = prepare(tmp_path / "demo", duration=0.1)
    config = changed(config, inbox={"sources": ("maildir", "triggers"),
                                    "triggers": {"path": str(tmp_path / "not-mounted")}})
    report = run_once(config)
    assert [str(o) for o in report.outages] == [
        f"trigger directory unavailable: {tmp_path / 'not-mounted'} is not a readable directory"]
    assert report.kinds["request"] == len(demo_archive.DEMO_CASES)
    assert report.sent > 0, "the mail of the other source still leaves"


def test_a_malformed_flood_from_one_sender_is_held_for_aog(tmp_path: Path) -> None:
    config, inbox_new = empty_demo(tmp_path, duration=0.1)
    config = changed(config, replies={"malformed_per_day": 2})
    for n in range(4):
        (inbox_new / f"{n}.echo.mailbot").write_bytes(
            b"From: Ticket System <tickets@example.org>\r\nTo: aog@eso.org\r\n"
            b"Subject: ALMA: REQUEST FOR CALIBRATED DATA MOUS uid___A001_X1296_X675\r\n"
            + f"Message-ID: <echo-{n}@example.org>\r\n\r\n".encode()
            + b"please create the calibrated MS for MOUS uid___A001_X1296_X675\r\n"
              b"project 2017.1.727.S\r\n")
    report = run_once(config)
    assert report.kinds == {"malformed": 4}
    journal = Journal(config.path(config.mailbot.journal))
    try:
        states = [m.state for m in journal.outbox()]
    finally:
        journal.close()
    assert states == ["sent", "sent", "held", "held"]


def test_a_retry_runs_the_command_as_configured_now(tmp_path: Path) -> None:
    """The maintainer fixes staging.command, AOG retries: the new command runs."""
    from mailbot import scheduler

    config, inbox_new = empty_demo(tmp_path, duration=0.1)
    case = next(c for c in demo_archive.DEMO_CASES if c.expected is VerdictCode.STAGE)
    (inbox_new / "1.request.mailbot").write_bytes(
        request_mail(case, aog=config.addresses.aog, maintainer=config.addresses.maintainer))
    good = config.staging.command
    config = changed(config, staging={"command": str(tmp_path / "not-installed" / "stagecalms.sh")})
    run_until_idle(config)
    journal = Journal(config.path(config.mailbot.journal))
    try:
        (failed,) = journal.jobs("failed")
        assert "not-installed" in failed.command
        config = changed(config, staging={"command": good})
        scheduler.retry(journal, failed.id)
    finally:
        journal.close()
    run_until_idle(config)
    journal = Journal(config.path(config.mailbot.journal))
    try:
        (done,) = journal.jobs("succeeded")
    finally:
        journal.close()
    assert "mailbot.simulator" in done.command and done.attempt == 2
    kinds = sorted(p.name.rsplit("-", 1)[1] for p in sent_files(config))
    assert kinds == ["completion.eml", "failure.eml"]


def test_a_received_header_from_the_future_does_not_move_the_day(tmp_path: Path) -> None:
    config, inbox_new = empty_demo(tmp_path, duration=0.1)
    case = next(c for c in demo_archive.DEMO_CASES if c.expected is VerdictCode.NOT_ENTITLED
                and not c.calfields)
    raw = request_mail(case, aog=config.addresses.aog, maintainer=config.addresses.maintainer)
    forged = b"Received: from x by y; Wed, 1 Jan 2070 00:00:00 +0000\r\n" + raw
    (inbox_new / "1.forged.mailbot").write_bytes(forged)
    report = run_once(config)
    assert report.verdicts == {"NOT_ENTITLED": 1}, "the release date has not passed today"


def test_requests_from_outside_the_arc_are_never_served(tmp_path: Path) -> None:
    """The completion is blind-copied to the sender: only ARC contacts may ask."""
    from mailbot.run import reprocess

    config, inbox_new = empty_demo(tmp_path, duration=0.1)
    case = next(c for c in demo_archive.DEMO_CASES if c.expected is VerdictCode.STAGE)
    raw = request_mail(case, aog=config.addresses.aog, maintainer=config.addresses.maintainer)
    spoof = raw.replace(b"From: ARC Contact <arc.contact@example.org>",
                        b"From: Mallory <mallory@attacker.example>")
    assert spoof != raw
    (inbox_new / "1.outsider.mailbot").write_bytes(spoof)
    (inbox_new / "2.outsider-bad.mailbot").write_bytes(
        spoof.replace(b"Message-ID: <", b"Message-ID: <bad-").replace(b"\nemail ", b"\nmail "))
    report = run_once(config)
    assert report.kinds == {"untrusted": 2} and report.sent == 0
    assert {p.name for p in inbox_new.iterdir()} == {"1.outsider.mailbot",
                                                       "2.outsider-bad.mailbot"}
    attention = subprocess.run(
        [sys.executable, "-m", "mailbot", "--config", config.source, "attention"],
        capture_output=True, text=True, timeout=60, check=True).stdout
    assert attention.count("mallory@attacker.example is not an ARC contact") == 2

    journal = Journal(config.path(config.mailbot.journal))
    try:
        first = journal.messages_of(MessageKind.UNTRUSTED)[0].id
    finally:
        journal.close()
    assert reprocess(config, first) == "untrusted", "still not an ARC contact"
    contacts = (*config.addresses.arc_contacts, "mallory@attacker.example")
    config = changed(config, addresses={"arc_contacts": contacts})
    assert reprocess(config, first) == "request"
    run_until_idle(config)
    (completion,) = [p for p in sent_files(config) if p.name.endswith("-completion.eml")]
    envelope = json.loads(completion.with_suffix("").with_suffix(".envelope.json").read_text())
    assert "mallory@attacker.example" in envelope["rcpt_to"]
