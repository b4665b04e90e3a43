"""`mailbot watch`: run passes continuously, woken early by IMAP IDLE when mail arrives.

Between passes the bot waits at most `interval` seconds (stagings are polled
at that pace); with an IMAP source it IDLEs on the folder meanwhile, so a new
request is answered within seconds. SIGTERM/SIGINT end the loop after the
current pass, never in the middle of one.

The connections are kept from pass to pass: one IMAP connection, selected on
the folder, serves both the pass and the IDLE between passes (the pass reads
the new mail on it once IDLE announced it), and one SSH connection to the
staging host serves every poll and launch. A fault drops the connection it hit;
the next pass (or IDLE) connects anew. The lock, the journal and the archive
are still taken and opened per pass: the lock lets a cron run or a CLI command
in between passes, and the others cost a few milliseconds.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, Any

from mailbot.config import Config
from mailbot.errors import EXIT_OUTAGE, AlreadyRunning, ImapError, MailbotError
from mailbot.inbox.imap import ImapLink
from mailbot.run import RunReport, run_once
from mailbot.stage.transport import KeptTransport, open_transport

if TYPE_CHECKING:
    import imapclient

log = logging.getLogger(__name__)

# RFC 2177: clients should re-issue IDLE at least every 29 minutes.
IDLE_MAX_SECONDS = 25 * 60


class Stop:
    """Set by a signal; checked between passes and while waiting."""

    def __init__(self) -> None:
        self.event = threading.Event()

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        log.info("signal %d: stopping after the current pass", signum)
        self.event.set()

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self)
        signal.signal(signal.SIGINT, self)


def watch(config: Config, interval: float, *, stop: Stop | None = None,
          on_report: Callable[[RunReport], None] | None = None) -> int:
    """Passes until stopped; returns the exit status of the last pass."""
    stop = stop or Stop()
    link = ImapLink(config.inbox.imap) if "imap" in config.inbox.sources else None
    staging = KeptTransport(lambda: open_transport(config))
    status = 0
    try:
        while not stop.event.is_set():
            status = _pass(config, link, staging, on_report, status)
            if stop.event.is_set():
                break
            wait_for_mail(link, interval, stop)
    finally:
        staging.end()
        if link is not None:
            link.drop()
    return status


def _pass(config: Config, link: ImapLink | None, staging: KeptTransport,
          on_report: Callable[[RunReport], None] | None, status: int) -> int:
    """One pass on the kept connections; the exit status it leaves."""
    try:
        report = run_once(config, transport_factory=lambda: staging, imap=link)
    except AlreadyRunning as exc:
        log.info("%s", exc)
        return status
    except MailbotError as exc:
        # E.g. a host key that does not match: this pass still sent its mail, and
        # a daemon that stopped would handle no mail at all until someone noticed.
        log.error("%s", exc)
        return exc.exit_status
    if on_report is not None:
        on_report(report)
    return EXIT_OUTAGE if report.outages else 0


def wait_for_mail(link: ImapLink | None, timeout: float, stop: Stop) -> bool:
    """Wait up to `timeout` s; True when the IMAP folder announced new mail."""
    deadline = time.monotonic() + timeout
    if link is None:
        stop.event.wait(timeout)
        return False
    try:
        return _idle(link, deadline, stop)
    except MailbotError as exc:
        link.drop()
        # The next pass reports the outage properly; here we only must not spin.
        log.warning("IDLE unavailable (%s); waiting %.0f s", exc, timeout)
        stop.event.wait(max(0.0, deadline - time.monotonic()))
        return False


def _idle(link: ImapLink, deadline: float, stop: Stop) -> bool:
    folder = link.settings.folder
    if not link.selected:
        link.select()
    if link.news():
        return True  # came in after the pass looked: no IDLE, the next pass now
    with link.step(f"cannot IDLE on {folder!r}") as client:
        client.idle()
    # Said once the server takes IDLE: operators (and the tests) know mail now wakes it.
    log.info("idling on %s until mail arrives", folder)
    try:
        return _until_mail(link, deadline, stop)
    finally:
        # Unless a fault dropped the connection: back to taking commands. A fault here
        # drops it too, and the next pass connects anew.
        if link.selected:
            with contextlib.suppress(MailbotError), link.step("cannot end IDLE") as client:
                client.idle_done()


def _until_mail(link: ImapLink, deadline: float, stop: Stop) -> bool:
    """IDLE's notices until one tells of new mail (True), the deadline or a stop (False)."""
    idling_since = time.monotonic()
    while not stop.event.is_set():
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        if time.monotonic() - idling_since > IDLE_MAX_SECONDS:
            with link.step("cannot renew IDLE") as client:
                client.idle_done()
                client.idle()
            idling_since = time.monotonic()
        # Short steps: a stop signal is noticed within a second.
        step = min(left, 1.0)
        began = time.monotonic()
        responses = _notices(link, step)
        if any(len(r) > 1 and r[1] in (b"EXISTS", b"RECENT") for r in responses):
            return True
        if any(r[:1] == (b"BYE",) for r in responses):
            link.drop()
            raise ImapError("the server ended the IDLE connection (BYE)")
        if not responses and time.monotonic() - began < step / 10:
            # A dead socket makes idle_check return [] at once, forever.
            link.drop()
            raise ImapError("IDLE connection lost")
    return False


def _notices(link: ImapLink, timeout: float) -> list[tuple[Any, ...]]:
    """The server's IDLE notices within `timeout` s, in imapclient's parsed shape."""
    with link.step(f"IDLE on {link.settings.folder!r}") as client:
        return _read_ahead(client) or list(client.idle_check(timeout=timeout))


def _read_ahead(client: imapclient.IMAPClient) -> list[tuple[Any, ...]]:
    """Notices imaplib has read from the socket already. Dovecot reports mail that came in
    just before IDLE right behind its `+ idling`, often in the same packet: imaplib reads
    both, and imapclient's `idle_check`, which waits on the socket, would not see the
    notice before the next one came (the mail would wait for the interval)."""
    reader = client._imap.file  # imaplib's buffered reader; imapclient shows no other way
    sock = client.socket()
    timeout = sock.gettimeout()
    sock.setblocking(False)  # only what is buffered: never wait for more
    try:
        notices = []
        while b"\n" in _buffered(reader):
            notices.append(_parsed(reader.readline()))
        return notices
    finally:
        sock.settimeout(timeout)


def _buffered(reader: Any) -> bytes:
    try:
        return bytes(reader.peek())
    except OSError:  # nothing buffered and nothing to read (SSL says so with an OSError)
        return b""


def _parsed(line: bytes) -> tuple[Any, ...]:
    """`* 3 EXISTS` as (3, b"EXISTS"), `* BYE ...` as (b"BYE", ...), as imapclient parses."""
    words = line.strip().removeprefix(b"* ").split(b" ")
    return tuple(int(w) if w.isdigit() else w for w in words)
