"""B3: `mailbot watch`, from the APPEND of a request to its reply accepted by SMTP, beside
the moment Dovecot's own IDLE notice reaches a plain client (the floor)."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

from benchmarks.common import (
    Row,
    Servers,
    append_all,
    bot_env,
    installation,
    percentile,
    verdict_request,
)
from tests.servers.dovecot import ImapServer

TIMEOUT = 30.0


class IdleWatcher(threading.Thread):
    """A plain IMAP client in IDLE on INBOX, noting when each EXISTS notice arrives."""

    def __init__(self, imap: ImapServer) -> None:
        super().__init__(daemon=True)
        self.client = imap.client()
        self.client.select_folder("INBOX")
        self.notices: list[float] = []
        self.stopping = threading.Event()
        self.client.idle()

    def run(self) -> None:
        while not self.stopping.is_set():
            responses = self.client.idle_check(timeout=0.2)
            if any(len(r) > 1 and r[1] == b"EXISTS" for r in responses):
                self.notices.append(time.perf_counter())

    def first_after(self, start: float) -> float:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            later = [t for t in self.notices if t >= start]
            if later:
                return later[0]
            time.sleep(0.01)  # polls the watcher thread's list; no result depends on it
        raise TimeoutError("no IDLE notice")

    def close(self) -> None:
        self.stopping.set()
        self.join()
        self.client.idle_done()
        self.client.logout()


def _wait_copied(journal: Path, n: int) -> None:
    """Until the bot's pass is over: `n` mails sent and copied for review."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        db = sqlite3.connect(f"{journal.as_uri()}?mode=ro", uri=True, timeout=30)
        try:
            (done,) = db.execute("SELECT COUNT(*) FROM outbox WHERE copied = 1").fetchone()
        finally:
            db.close()
        if done >= n:
            return
        time.sleep(0.02)
    raise TimeoutError(f"the bot did not copy {n} mails for review")


def _wait_idling(log: Path, n: int) -> None:
    """Until the bot said `n` times that it idles: each sample measures the IDLE path (a
    mail appended earlier is found by the check `watch` makes before IDLE, not timed here)."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if log.exists() and log.read_text(errors="replace").count("idling on") >= n:
            return
        time.sleep(0.01)
    raise TimeoutError("the bot did not go back to IDLE")


def _samples(found: Servers, directory: Path, watcher: IdleWatcher,
             count: int) -> tuple[list[float], list[float]]:
    bot, floor = [], []
    for n in range(1, count + 1):
        _wait_idling(directory / "mailbot.log", n)
        start = time.perf_counter()
        append_all(found.imap, [verdict_request(500000 + n)])
        found.smtp.wait_for(n + 1, timeout=TIMEOUT)
        bot.append(time.perf_counter() - start)
        floor.append(watcher.first_after(start) - start)
        _wait_copied(directory / "journal.sqlite", n + 1)
    return bot, floor


def b3(found: Servers, count: int) -> Row:
    found.imap.reset()
    found.smtp.clear()
    directory = found.tmp / "b3"
    config = installation(directory, found)
    watch = subprocess.Popen([sys.executable, "-m", "mailbot", "--config", str(config),
                              "watch", "--interval", "60"], env=bot_env(found),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        append_all(found.imap, [verdict_request(499999)])  # the first pass also starts up
        found.smtp.wait_for(1, timeout=TIMEOUT)
        _wait_copied(config.parent / "journal.sqlite", 1)
        watcher = IdleWatcher(found.imap)
        watcher.start()
        try:
            bot, floor = _samples(found, directory, watcher, count)
        finally:
            watcher.close()
    finally:
        watch.send_signal(signal.SIGTERM)
        watch.wait(TIMEOUT)
    bot_p95, floor_p95 = percentile(bot, 95), percentile(floor, 95)
    return Row("B3", f"watch: APPEND → reply accepted by SMTP, p95 of {count}",
               f"{bot_p95:.2f} s", f"Dovecot's own IDLE notice: {floor_p95:.2f} s",
               "≤ floor + 0.05 s", bot_p95 <= floor_p95 + 0.05,
               {"bot_p95_s": bot_p95, "floor_p95_s": floor_p95})
