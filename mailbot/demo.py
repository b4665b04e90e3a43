"""`mailbot demo`: the whole job on the embedded setup, with sample requests and no server."""

from __future__ import annotations

import os
import shlex
import shutil
import sys
import time
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

from mailbot import config as cfg
from mailbot import report as stats_sheet
from mailbot.archive import demo as demo_archive
from mailbot.archive.demo import DemoCase
from mailbot.clock import SYSTEM, Clock
from mailbot.journal import Journal
from mailbot.model import mous_file_form
from mailbot.run import run_once
from mailbot.states import MailState, MessageKind

MARKER = ".mailbot-demo"
ARC_CONTACT = "ARC Contact <arc.contact@example.org>"
DEADLINE_SECONDS = 300


def request_mail(case: DemoCase, *, aog: str, maintainer: str, style: str = "script",
                 clock: Clock = SYSTEM) -> bytes:
    """A request as ARC staff send it (spec section 1), in one of a few client styles."""
    mous = mous_file_form(case.mous)
    lines = [
        "Dear AOG,",
        f"please create the calibrated MS for MOUS {mous}",
        f"project {case.project}",
        *([f"calfield {','.join(case.calfields)}"] if case.calfields else []),
        f"for user {case.user_name}",
        f"email {case.user_email}",
        f"helpdesk ticket {case.ticket}",
    ]
    msg = EmailMessage()
    msg["From"] = ARC_CONTACT
    msg["To"] = aog
    msg["Cc"] = maintainer
    msg["Subject"] = f"ALMA: REQUEST FOR CALIBRATED DATA MOUS {mous}"
    msg["Date"] = format_datetime(clock.now())
    msg["Message-ID"] = make_msgid(domain="example.org")
    body = "\n".join(lines) + "\n"
    if style == "typed":
        # A person in a mail client: a greeting, a signature, quoted-printable.
        body += "\nThanks a lot,\nthe ARC\n-- \nARC Contact, EU ARC node\n"
        msg.set_content(body, charset="utf-8", cte="quoted-printable")
    else:
        msg.set_content(body, charset="utf-8")
    return bytes(msg)


def _extra_mails(aog: str) -> list[tuple[str, bytes]]:
    """Mail that is not a well-formed request: answered (malformed) or left alone."""
    bad = EmailMessage()
    bad["From"] = ARC_CONTACT
    bad["To"] = aog
    bad["Subject"] = "ALMA: REQUEST FOR CALIBRATED DATA MOUS uid___A001_X1296_X675"
    bad["Message-ID"] = make_msgid(domain="example.org")
    bad.set_content("Dear AOG,\nplease create the calibrated MS for MOUS uid___A001_X1296_X675\n"
                    "project 2017.1.727.S\nfor user Judit Szulagyi\nhelpdesk ticket 16140\n")
    away = EmailMessage()
    away["From"] = "Somebody <somebody@example.org>"
    away["To"] = aog
    away["Subject"] = "Out of office"
    away["Auto-Submitted"] = "auto-replied"
    away["Message-ID"] = make_msgid(domain="example.org")
    away.set_content("I am out of the office until Monday.\n")
    return [("malformed request (no email line, bad project code)", bytes(bad)),
            ("out-of-office reply", bytes(away))]


def _write_config(directory: Path, duration: float) -> Path:
    command = (f"{shlex.quote(sys.executable)} -m mailbot.simulator"
               f" --root {{data_dir}}/staging --duration {duration}")
    path = directory / "mailbot.toml"
    path.write_text(
        "# Written by `mailbot demo`: the embedded setup, rooted in this directory.\n"
        f"[mailbot]\ndata_dir = {_toml(str(directory.resolve()))}\n"
        # The sample mails are written before the first run: answer them all.
        "cutover = \"2000-01-01T00:00:00Z\"\n\n"
        "[addresses]\narc_contacts = [\"@example.org\", \"@eso.org\"]\n\n"
        # Every sample comes from the one demo ARC contact, in one run.
        "[limits]\nrequests_per_run = 100\nrequests_per_day = 100\n\n"
        f"[staging]\ncommand = {_toml(command)}\n",
        encoding="utf-8",
    )
    return path


def _toml(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def prepare(directory: Path, duration: float) -> tuple[cfg.Config, list[tuple[str, str]]]:
    """A fresh demo directory: config, seeded archive, sample mails in the Maildir."""
    if directory.exists():
        if not (directory / MARKER).exists():
            raise SystemExit(f"{directory} exists and is not a demo directory; choose --dir")
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    (directory / MARKER).write_text("made by mailbot demo\n", encoding="utf-8")
    config = cfg.load(_write_config(directory, duration))
    demo_archive.seed(config.path(config.archive.url.removeprefix("sqlite:///")))
    inbox = config.path(config.inbox.maildir.path) / "new"
    inbox.mkdir(parents=True)
    labels: list[tuple[str, str]] = []
    mails: list[tuple[str, bytes]] = []
    for n, case in enumerate(demo_archive.DEMO_CASES):
        style = "typed" if n % 3 == 2 else "script"
        mails.append((case.name, request_mail(case, aog=config.addresses.aog,
                                              maintainer=config.addresses.maintainer,
                                              style=style)))
    mails += _extra_mails(config.addresses.aog)
    start = time.time() - len(mails)
    for n, (label, raw) in enumerate(mails):
        file = inbox / f"{int(start)}.demo{n:03d}.mailbot"
        file.write_bytes(raw)
        # Distinct arrival times keep the requests in the order written.
        os.utime(file, (start + n, start + n))
        labels.append((file.name, label))
    return config, labels


def run_demo(directory: Path, *, duration: float = 2.0) -> int:
    config, labels = prepare(directory, duration)
    print(f"demo: {len(labels)} mails in {config.path(config.inbox.maildir.path)}; "
          f"running `mailbot run` until the stagings finish ...", flush=True)
    deadline = time.monotonic() + DEADLINE_SECONDS
    runs = 0
    while True:
        report = run_once(config)
        runs += 1
        if report.outages:
            for outage in report.outages:
                print(f"mailbot: {outage}", file=sys.stderr)
            return 1
        if report.active_jobs == 0 or time.monotonic() > deadline:
            break
        time.sleep(min(1.0, max(0.2, duration / 4)))
    _print_table(config, dict(labels), runs)
    print(f"stats sheet: {_write_report(config)}  (open it in a browser; `mailbot report`)")
    return 0


def _write_report(config: cfg.Config) -> Path:
    """The stats sheet of what the demo did, as the HTML page `mailbot report --html` writes."""
    journal = Journal(config.path(config.mailbot.journal))
    try:
        sheet = stats_sheet.gather(journal, window=stats_sheet.Window(), now=SYSTEM.now(),
                                   target_hours=config.report.target_hours,
                                   verdict_line=config.verdict_line)
    finally:
        journal.close()
    return stats_sheet.write_html(sheet, config.path("{data_dir}/report.html"))


def _print_table(config: cfg.Config, labels: dict[str, str], runs: int) -> None:
    journal = Journal(config.path(config.mailbot.journal))
    try:
        rows = journal.outcomes()
        sent = journal.outbox(MailState.SENT)
    finally:
        journal.close()
    print(f"\n{'SAMPLE':48} {'TICKET':>6}  {'OUTCOME':28} RESULT")
    for row in rows:
        label = labels.get(row.source_key, row.source_key)
        if row.kind == MessageKind.REQUEST:
            verdict = row.verdict or ""
            outcome = config.verdict_line(verdict) if verdict != "STAGE" else "staged"
            result = row.url or ("verdict reply" if verdict != "STAGE" else str(row.state))
        elif row.kind == MessageKind.MALFORMED:
            outcome, result = config.verdict_line("MALFORMED"), "reply listing the problems"
        else:
            outcome, result = str(row.kind), (row.reason or "")[:40]
        print(f"{label[:48]:48} {row.ticket or '-':>6}  {outcome[:28]:28} {result}")
    kinds: dict[str, int] = {}
    for mail in sent:
        kinds[mail.kind] = kinds.get(mail.kind, 0) + 1
    summary = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
    print(f"\n{runs} run(s); {len(sent)} mail(s) written ({summary}) to "
          f"{config.path(config.outbox.directory)}")
    command = sys.argv[0] if Path(sys.argv[0]).name == "mailbot" else "mailbot"
    print(f"settings: {config.source}\nlook around: {command} --config {config.source} requests"
          f"  (or: outbox list, outbox show ID)")
