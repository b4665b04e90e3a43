"""`mailbot watch`: run passes continuously, woken early by IMAP IDLE when mail arrives.

Between passes the bot waits at most `interval` seconds (stagings are polled
at that pace); with an IMAP source it IDLEs on the folder meanwhile, so a new
request is answered within seconds. SIGTERM/SIGINT end the loop after the
current pass, never in the middle of one.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType

import imapclient.exceptions

from mailbot.config import Config
from mailbot.errors import EXIT_OUTAGE, AlreadyRunning, MailbotError
from mailbot.inbox import connect_imap, server_folder
from mailbot.run import RunReport, run_once

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
    status = 0
    while not stop.event.is_set():
        try:
            report = run_once(config)
            status = EXIT_OUTAGE if report.outages else 0
            if on_report is not None:
                on_report(report)
        except AlreadyRunning as exc:
            log.info("%s", exc)
        except MailbotError as exc:
            # E.g. a host key that does not match: this pass still sent its mail, and
            # a daemon that stopped would handle no mail at all until someone noticed.
            log.error("%s", exc)
            status = exc.exit_status
        if stop.event.is_set():
            break
        wait_for_mail(config, interval, stop)
    return status


def wait_for_mail(config: Config, timeout: float, stop: Stop) -> bool:
    """Wait up to `timeout` s; True when the IMAP folder announced new mail."""
    deadline = time.monotonic() + timeout
    if "imap" not in config.inbox.sources:
        stop.event.wait(timeout)
        return False
    try:
        return _idle(config, deadline, stop)
    except (MailbotError, OSError, imapclient.exceptions.IMAPClientError) as exc:
        # The next pass reports the outage properly; here we only must not spin.
        log.warning("IDLE unavailable (%s); waiting %.0f s", exc, timeout)
        stop.event.wait(max(0.0, deadline - time.monotonic()))
        return False


def _idle(config: Config, deadline: float, stop: Stop) -> bool:
    client = connect_imap(config.inbox.imap)
    try:
        client.select_folder(server_folder(client, config.inbox.imap.folder), readonly=True)
        client.idle()
        # Said once the server takes IDLE: operators (and the tests) know mail now wakes it.
        log.info("idling on %s until mail arrives", config.inbox.imap.folder)
        idling_since = time.monotonic()
        try:
            while not stop.event.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                if time.monotonic() - idling_since > IDLE_MAX_SECONDS:
                    client.idle_done()
                    client.idle()
                    idling_since = time.monotonic()
                # Short steps: a stop signal is noticed within a second.
                step = min(left, 1.0)
                began = time.monotonic()
                responses = client.idle_check(timeout=step)
                if any(r[1] in (b"EXISTS", b"RECENT") for r in responses if len(r) > 1):
                    return True
                if any(r == (b"BYE",) or r[:1] == (b"BYE",) for r in responses):
                    raise imapclient.exceptions.IMAPClientAbortError("server said BYE")
                if not responses and time.monotonic() - began < step / 10:
                    # A dead socket makes idle_check return [] at once, forever.
                    raise imapclient.exceptions.IMAPClientAbortError("IDLE connection lost")
            return False
        finally:
            with contextlib.suppress(OSError, imapclient.exceptions.IMAPClientError):
                client.idle_done()
    finally:
        with contextlib.suppress(OSError, imapclient.exceptions.IMAPClientError):
            client.logout()
