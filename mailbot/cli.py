"""`mailbot` command line: the only place that turns faults into messages and exit codes."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mailbot import __version__
from mailbot import config as cfg
from mailbot.errors import EXIT_OUTAGE, AlreadyRunning, MailbotError

if TYPE_CHECKING:
    from mailbot.journal import Journal, OutboxRow

log = logging.getLogger("mailbot")

SAMPLE_CONFIG = cfg.PACKAGE_DIR / "sample-config.toml"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="mailbot",
        description="Serves requests for calibrated ALMA MSs that arrive in the aog@ mailbox.",
    )
    p.add_argument("--version", action="version", version=f"mailbot {__version__}")
    p.add_argument("-c", "--config", help="TOML settings file (default: $MAILBOT_CONFIG, "
                   "else the embedded setup)")
    p.add_argument("-v", "--verbose", action="store_true", help="show every step on stderr too")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    # `mailbot run --config F` works as well as `mailbot --config F run`.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-c", "--config", default=argparse.SUPPRESS, help=argparse.SUPPRESS)

    def command(group: Any, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = group.add_parser(name, parents=[common], **kwargs)
        return parser

    command(sub, "run", help="one pass: new mail, decisions, stagings, outgoing mail (cron)")
    w = command(sub, "watch", help="run continuously, woken by IMAP IDLE when mail arrives")
    w.add_argument("--interval", type=float, default=60.0,
                   help="most seconds between passes (default 60)")

    i = command(sub, "init", help="write a commented sample settings file")
    i.add_argument("path", nargs="?", default="mailbot.toml", help="'-' for standard output")
    i.add_argument("--force", action="store_true", help="overwrite an existing file")

    c = command(sub, "check", help="show what the bot would do with mails or trigger files")
    c.add_argument("files", nargs="+", metavar="FILE")
    c.add_argument("--json", action="store_true", help="one JSON object per file")
    c.add_argument("--archive", help="archive URL for this call (sqlite:///PATH or oracle://...)")
    c.add_argument("--queries", help="query directory for this call")
    c.add_argument("--today", help="day of the request, YYYY-MM-DD (default: today)")

    o = command(sub, "outbox", help="review outgoing mail")
    osub = o.add_subparsers(dest="action", required=True, metavar="ACTION")
    ol = command(osub, "list", help="queued, held, sent and failed mails")
    ol.add_argument("--state", action="append", help="only mails in this state")
    osh = command(osub, "show", help="print one mail decoded, with its envelope")
    osh.add_argument("id", type=int)
    osh.add_argument("--raw", action="store_true",
                     help="print the exact bytes that are (or were) transmitted")
    for name, text in (("approve", "let held mails leave at the next run"),
                       ("discard", "never send these held or failed mails")):
        oa = command(osub, name, help=text)
        oa.add_argument("ids", type=int, nargs="+", metavar="ID")

    command(sub, "report", help="per month: requests, verdicts, turnaround, volume staged")
    command(sub, "attention", help="what the bot could not do: shunted mail, failed "
                   "stagings, refused and held mail")
    rp = command(sub, "reprocess", help="handle a shunted or untrusted mail again, after a fix")
    rp.add_argument("message", type=int, metavar="MAIL")
    r = command(sub, "requests", help="requests and staging jobs with their state")
    r.add_argument("--limit", type=int, default=50)
    for name, text in (("retry", "queue a new attempt of a failed staging job"),
                       ("cancel", "stop a waiting staging job")):
        x = command(sub, name, help=text)
        x.add_argument("job", type=int, metavar="JOB")

    a = command(sub, "archive", help="the SQLite archive of the embedded setup")
    asub = a.add_subparsers(dest="action", required=True, metavar="ACTION")
    ai = command(asub, "init", help="create an archive with the schema")
    ai.add_argument("path")
    ai.add_argument("--demo", action="store_true", help="seed it with the demo projects")

    d = command(sub, "demo", help="process sample requests end to end, no server needed")
    d.add_argument("--dir", default="mailbot-demo", help="where the demo keeps its files")
    d.add_argument("--duration", type=float, default=2.0, help="seconds per simulated staging")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        config = cfg.load(args.config)
        _setup_logging(config, verbose=args.verbose, to_file=args.command in ("run", "watch"))
        handler = _COMMANDS[args.command]
        return handler(config, args)
    except AlreadyRunning as exc:
        log.info("%s", exc)
        return exc.exit_status
    except MailbotError as exc:
        print(f"mailbot: {exc}", file=sys.stderr)
        if logging.getLogger().handlers:  # none yet when the settings did not load
            log.error("%s", exc, extra={"file_only": True})
        return exc.exit_status
    except BrokenPipeError:
        # `mailbot requests | head`: the reader left; not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        return 130


def _setup_logging(config: cfg.Config, *, verbose: bool, to_file: bool) -> None:
    """Warnings to stderr (INFO and up with -v); the steps of runs to the log file."""
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    root = logging.getLogger()
    root.setLevel(logging.DEBUG)
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setLevel(logging.INFO if verbose else logging.WARNING)
    stderr.setFormatter(fmt)
    # The CLI prints a fatal error as one plain line itself; the log file gets it too.
    stderr.addFilter(lambda record: not getattr(record, "file_only", False))
    root.addHandler(stderr)
    for noisy in ("paramiko", "asyncio", "imapclient"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if to_file and config.mailbot.log_file:
        path = config.path(config.mailbot.log_file)
        path.parent.mkdir(parents=True, exist_ok=True)
        file = logging.FileHandler(path, encoding="utf-8")
        file.setLevel(config.mailbot.log_level.upper())
        file.setFormatter(fmt)
        root.addHandler(file)


def _run(config: cfg.Config, args: argparse.Namespace) -> int:
    from mailbot.run import run_once

    report = run_once(config)
    log.info("%s", report.summary())
    for outage in report.outages:
        print(f"mailbot: {outage}", file=sys.stderr)
    return EXIT_OUTAGE if report.outages else 0


def _watch(config: cfg.Config, args: argparse.Namespace) -> int:
    from mailbot.run import RunReport
    from mailbot.watch import Stop, watch

    def show(report: RunReport) -> None:
        log.info("%s", report.summary())
        for outage in report.outages:
            print(f"mailbot: {outage}", file=sys.stderr)

    stop = Stop()
    stop.install()
    return watch(config, args.interval, stop=stop, on_report=show)


def _attention(config: cfg.Config, args: argparse.Namespace) -> int:
    if not config.path(config.mailbot.journal).exists():
        print("nothing needs attention (no journal yet)")
        return 0
    with _journal(config) as journal:
        last = json.loads(journal.get_meta("last_run") or '{"problems": []}')
        shunted, failed = journal.shunted(), journal.failed_jobs()
        untrusted = journal.shunted("untrusted")
        refused, held = journal.outbox("failed"), journal.outbox("held")
        deferred = [o for o in journal.outbox("queued") if o.error]
    if last["problems"]:
        print(f"The last run ({last['at']}) could not finish everything; it is retried at"
              " every run:")
        for problem in last["problems"]:
            print(f"  {problem}")
    if shunted:
        print("Mail the bot failed on, left untouched in its mailbox "
              "(fix the cause, then `mailbot reprocess MAIL`):")
        for m in shunted:
            print(f"  mail {m['id']:<5} {_age(m['recorded']):>5}  {m['source']}  "
                  f"{_subject_of(m['raw'])}\n             {m['reason']}")
    if untrusted:
        print("Requests from senders who are not ARC contacts, not served and left in the "
              "mailbox\n(if the sender is ARC staff: add them to addresses.arc_contacts, then "
              "`mailbot reprocess MAIL`):")
        for m in untrusted:
            print(f"  mail {m['id']:<5} {_age(m['recorded']):>5}  {m['sender']}  "
                  f"{_subject_of(m['raw'])}")
    if failed:
        print("Failed stagings; the maintainer has the output (`mailbot retry JOB` once fixed):")
        for j in failed:
            problems = "; ".join(json.loads(j["problems"] or "[]")) or "failed"
            print(f"  job {j['id']:<6} ticket {j['ticket']}  {j['mous']}  {j['project']}  "
                  f"{_age(j['finished']):>5}\n             {problems}")
    if refused:
        print("Mail the SMTP server refused (`mailbot outbox show ID`; approve or discard):")
        for o in refused:
            print(f"  mail {o.id:<5} {o.kind:10} {o.subject}\n             {o.error}")
    if deferred:
        print("Mail the SMTP server deferred (retried at every run):")
        for o in deferred:
            print(f"  mail {o.id:<5} {o.kind:10} {o.attempts} attempt(s), queued "
                  f"{_age(o.created)} ago  {o.subject}\n             {o.error}")
    if held:
        print("Mail held for review (`mailbot outbox show ID`, then approve or discard):")
        for o in held:
            print(f"  mail {o.id:<5} {o.kind:10} {_age(o.created):>5}  {o.subject}")
    if not (last["problems"] or shunted or untrusted or failed or refused or deferred
            or held):
        print("nothing needs attention")
    return 0


def _subject_of(raw: bytes | None) -> str:
    from email.parser import BytesHeaderParser
    from email.policy import default

    try:
        subject = BytesHeaderParser(policy=default).parsebytes(raw or b"")["Subject"]
    except Exception:  # the mail broke the bot once already: show what we can
        subject = None
    return " ".join(str(subject or "(no subject)").split())[:80]


def _reprocess(config: cfg.Config, args: argparse.Namespace) -> int:
    from mailbot.run import reprocess

    try:
        kind = reprocess(config, args.message)
    except KeyError as exc:
        raise MailbotError(str(exc.args[0])) from None
    after = {
        "shunted": "failed again (see `mailbot attention`)",
        "untrusted": "the sender is still not in addresses.arc_contacts",
        "ignored": "not a request; left alone in the mailbox",
    }.get(kind, "recorded; the next run sends what it causes and flags the mail")
    print(f"mail {args.message}: {kind}: {after}")
    return 1 if kind in ("shunted", "untrusted") else 0


def _report(config: cfg.Config, args: argparse.Namespace) -> int:
    from mailbot import report

    if not config.path(config.mailbot.journal).exists():
        print("(no journal yet: no request was handled)")
        return 0
    with _journal(config) as journal:
        sys.stdout.write(report.render(report.monthly(journal), config.verdicts))
    return 0


def _init(config: cfg.Config, args: argparse.Namespace) -> int:
    sample = SAMPLE_CONFIG.read_text(encoding="utf-8")
    if args.path == "-":
        sys.stdout.write(sample)
        return 0
    target = Path(args.path)
    if target.exists() and not args.force:
        raise MailbotError(f"{target} exists (use --force to overwrite)")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(sample, encoding="utf-8")
    except OSError as exc:
        raise MailbotError(f"cannot write {target}: {exc.strerror or exc}") from None
    print(f"wrote {target}; edit it, then run: mailbot --config {target} run")
    return 0


def _check(config: cfg.Config, args: argparse.Namespace) -> int:
    from mailbot.check import check_files

    return check_files(config, args.files, as_json=args.json, archive_url=args.archive,
                       queries_dir=args.queries, today=args.today)


@contextmanager
def _journal(config: cfg.Config) -> Iterator[Journal]:
    """The journal for one command; an unknown id is one clear line, not a traceback."""
    from mailbot.journal import Journal

    journal = Journal(config.path(config.mailbot.journal))
    try:
        yield journal
    except KeyError as exc:
        raise MailbotError(str(exc.args[0])) from None
    finally:
        journal.close()


def _outbox(config: cfg.Config, args: argparse.Namespace) -> int:
    with _journal(config) as journal:
        if args.action == "list":
            return _outbox_list(journal, args.state or ())
        if args.action == "show":
            mail = journal.outbox_mail(args.id)
            if args.raw:
                sys.stdout.flush()
                sys.stdout.buffer.write(mail.data)
                return 0
            sys.stdout.write(_outbox_text(mail))
            return 0
        return _outbox_move(journal, args.action, args.ids)


_OUTBOX_MOVES = {
    # action: (new state, states it may leave, what it means)
    # A failed mail (permanently refused) may be approved again once AOG fixed the cause.
    "approve": ("queued", ("held", "failed"), "approved; it leaves at the next run"),
    "discard": ("discarded", ("held", "queued", "failed"), "discarded; it will never be sent"),
}


def _outbox_move(journal: Journal, action: str, ids: Sequence[int]) -> int:
    target, sources, meaning = _OUTBOX_MOVES[action]
    status = 0
    for mail_id in ids:
        try:
            state = journal.outbox_mail(mail_id).state
        except KeyError:
            print(f"mailbot: no outgoing mail {mail_id}", file=sys.stderr)
            status = 1
            continue
        with journal.transaction():
            changed = journal.set_outbox_state(mail_id, target, only_from=sources)
        if changed:
            print(f"mail {mail_id}: {meaning}")
        else:
            print(f"mailbot: mail {mail_id} is {state}, not {' or '.join(sources)}; cannot"
                  f" {action} it", file=sys.stderr)
            status = 1
    return status


def _outbox_list(journal: Journal, states: Sequence[str]) -> int:
    from mailbot.outbox import envelope_recipients

    mails = journal.outbox(*states)
    print(f"{'ID':>5}  {'STATE':9} {'KIND':10} {'AGE':>5} {'SENT':>5}  {'RECIPIENTS':40} SUBJECT")
    for m in mails:
        shown, hidden = envelope_recipients(m)
        who = ", ".join(shown) + (f" +{len(hidden)} bcc" if hidden else "")
        sent = _age(m.sent) if m.sent else "-"
        print(f"{m.id:>5}  {m.state:9} {m.kind:10} {_age(m.created):>5} {sent:>5}"
              f"  {_cut(who, 40):40} {m.subject}")
        if m.error:
            print(f"{'':7}{'error' if m.state == 'failed' else 'last try'}: {m.error}")
    if not mails:
        print("(no mail)")
    return 0


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


_SHOWN_HEADERS = ("From", "To", "Cc", "Reply-To", "Subject", "Date", "Message-ID",
                  "In-Reply-To")


def _outbox_text(mail: OutboxRow) -> str:
    """One mail as AOG reads it: state, envelope (Bcc marked), decoded headers and body."""
    from mailbot.outbox import envelope_recipients, readable

    shown, hidden = envelope_recipients(mail)
    lines = [f"Mail {mail.id} ({mail.kind}): {mail.state}, queued {mail.created}"
             + (f", sent {mail.sent}" if mail.sent else "")
             + f", {mail.attempts} attempt(s)"
             + (", review copy stored" if mail.copied else "")]
    if mail.error:
        lines.append(f"Error: {mail.error}")
    lines.append(f"Envelope from: {mail.mail_from or '<>'}")
    lines += [f"Envelope to:   {r}" for r in shown]
    lines += [f"Envelope to:   {r} (bcc)" for r in hidden]
    headers, body = readable(mail.data)
    lines.append("")
    lines += [f"{name}: {value}" for wanted in _SHOWN_HEADERS
              for name, value in headers if name.lower() == wanted.lower()]
    lines.append("")
    return "\n".join(lines) + "\n" + body + ("" if body.endswith("\n") else "\n")


def _age(stamp: str | None) -> str:
    if not stamp:
        return "-"
    seconds = (datetime.now(UTC) - datetime.fromisoformat(stamp)).total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def _duration(start: str | None, end: str | None) -> str:
    if not start:
        return "-"
    stop = datetime.fromisoformat(end) if end else datetime.now(UTC)
    seconds = int((stop - datetime.fromisoformat(start)).total_seconds())
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def _requests(config: cfg.Config, args: argparse.Namespace) -> int:
    with _journal(config) as journal:
        rows = journal.requests(args.limit)
        print(f"{'REQ':>4} {'STATE':10} {'VERDICT':16} {'TICKET':>7}  {'MOUS':26} {'AGE':>5}"
              f" {'JOB':>4} {'JOBSTATE':9} {'DURATION':>8}")
        for r in rows:
            print(f"{r['id']:>4} {r['state']:10} {r['verdict']:16} {r['ticket']:>7}  "
                  f"{r['mous']:26} {_age(r['created']):>5} {r['job_id'] or '-':>4} "
                  f"{r['job_state'] or '-':9} {_duration(r['started'], r['finished']):>8}")
        if not rows:
            print("(no request)")
    return 0


def _retry(config: cfg.Config, args: argparse.Namespace) -> int:
    from mailbot import scheduler

    with _journal(config) as journal:
        new_id = scheduler.retry(journal, args.job)
    print(f"job {args.job}: new attempt queued as job {new_id}; it starts at the next run")
    return 0


def _cancel(config: cfg.Config, args: argparse.Namespace) -> int:
    from mailbot import scheduler

    with _journal(config) as journal:
        scheduler.cancel(journal, args.job)
    print(f"job {args.job}: cancelled")
    return 0


def _archive(config: cfg.Config, args: argparse.Namespace) -> int:
    from mailbot import demo_archive

    path = Path(args.path)
    if path.exists():
        raise MailbotError(f"{path} exists; not touching it")
    (demo_archive.seed if args.demo else demo_archive.create)(path)
    print(f"created {'demo ' if args.demo else ''}archive {path}")
    return 0


def _demo(config: cfg.Config, args: argparse.Namespace) -> int:
    from mailbot.demo import run_demo

    return run_demo(Path(args.dir), duration=args.duration)


_COMMANDS = {
    "run": _run,
    "watch": _watch,
    "init": _init,
    "check": _check,
    "outbox": _outbox,
    "requests": _requests,
    "retry": _retry,
    "cancel": _cancel,
    "report": _report,
    "attention": _attention,
    "reprocess": _reprocess,
    "archive": _archive,
    "demo": _demo,
}
