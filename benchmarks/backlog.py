"""B1 (a backlog in one run, beside the I/O floor), B2' (per-mail intake cost early vs late
in a long backlog) and B2 (an idle run on that long history vs a short one)."""

from __future__ import annotations

import smtplib
import statistics
import time
from datetime import datetime
from pathlib import Path

from benchmarks.common import (
    AOG,
    Row,
    Servers,
    append_all,
    bot_env,
    installation,
    run_bot,
    verdict_request,
)

BATCH = 200
KEYWORD = "$BenchFloor"


def floor(found: Servers) -> float:
    """Seconds for what any reader of the same mails must do: batched FETCH, one SMTP
    connection sending one mail of the same size per mail, batched STORE of a keyword."""
    client = found.imap.client()
    smtp = smtplib.SMTP(found.smtp.host, found.smtp.port, timeout=30)
    try:
        start = time.perf_counter()
        client.select_folder("INBOX")
        uids = client.search(["ALL"])
        for at in range(0, len(uids), BATCH):
            chunk = uids[at:at + BATCH]
            fetched = client.fetch(chunk, [b"BODY.PEEK[]"])
            for uid in chunk:
                smtp.sendmail(AOG, ["user@example.org"], fetched[uid][b"BODY[]"])
            client.add_flags(chunk, [KEYWORD.encode()])
        elapsed = time.perf_counter() - start
    finally:
        smtp.quit()
        client.logout()
    return elapsed


def b1(found: Servers, mails: int) -> Row:
    """The backlog, floor first (it leaves the mails as they were but for its keyword)."""
    found.imap.reset()
    append_all(found.imap, [verdict_request(n) for n in range(mails)])
    found.smtp.clear()
    floor_s = floor(found)
    found.smtp.clear()
    config = installation(found.tmp / "b1", found)
    bot_s, _ = run_bot(config, bot_env(found))
    sent = len(found.smtp.messages)
    if sent != mails:
        raise RuntimeError(f"B1: {mails} requests, {sent} replies")
    ratio = floor_s / bot_s
    row = Row("B1", f"one `mailbot run` over {mails:,} verdict requests",
              f"{bot_s:.1f} s ({mails / bot_s:.0f} mails/s)",
              f"floor {floor_s:.1f} s ({mails / floor_s:.0f}/s): batched FETCH, one SMTP"
              " connection, batched STORE", f"floor/bot {ratio:.2f} ≥ 0.5", ratio >= 0.5,
              {"bot_s": bot_s, "floor_s": floor_s, "ratio": ratio})
    return row


def history(found: Servers, mails: int) -> Path:
    """A mailbox and journal that have seen `mails` requests: all in one backlog run (what
    B2' reads), its replies sent and copied for review. The installation's settings."""
    found.imap.reset()
    append_all(found.imap, [verdict_request(n) for n in range(mails)])
    found.smtp.clear()
    config = installation(found.tmp / "history", found)
    run_bot(config, bot_env(found))
    sent = len(found.smtp.messages)
    found.smtp.clear()
    if sent != mails:
        raise RuntimeError(f"history: {mails} requests, {sent} replies")
    return config


def b2_intake(config: Path, mails: int) -> Row:
    """B2': from the log's moment each request was recorded, the mean cost of a mail in the
    first tenth of the backlog vs the last (a tenth's span over its mails: the batched
    FETCH and STORE included, and the log's millisecond stamps do not round it)."""
    lines = (config.parent / "mailbot.log").read_text().splitlines()
    stamps = [datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f") for line in lines
              if " mailbot.run.record: request " in line]
    tenth = max(1, len(stamps) // 10)

    def per_mail(part: list[datetime]) -> float:
        return (part[-1] - part[0]).total_seconds() * 1e3 / max(1, len(part) - 1)

    first, last = per_mail(stamps[:tenth]), per_mail(stamps[-tenth:])
    ratio = last / first if first else float("inf")
    return Row("B2'", f"per-mail intake, first vs last 10% of a {mails:,} backlog",
               f"{first:.2f} → {last:.2f} ms ({ratio:.2f}×)", "—", "flat: ≤ 1.1×",
               ratio <= 1.1, {"first_ms": first, "last_ms": last, "ratio": ratio})


def b2_idle(found: Servers, long_config: Path, history: int, repeat: int) -> Row:
    """An idle run with `history` mails processed (its mailbox as the backlog left it),
    beside one with 100 processed in a mailbox of their own."""
    env = bot_env(found)
    run_bot(long_config, env)  # warm the page cache as cron's runs keep it warm
    long_runs = [run_bot(long_config, env) for _ in range(repeat)]
    found.imap.reset()
    append_all(found.imap, [verdict_request(n) for n in range(100)])
    short_config = installation(found.tmp / "b2-short", found)
    run_bot(short_config, env)
    run_bot(short_config, env)
    short_runs = [run_bot(short_config, env) for _ in range(repeat)]
    short_s = statistics.median(s for s, _ in short_runs)
    long_s = statistics.median(s for s, _ in long_runs)
    short_rss = max(r for _, r in short_runs)
    long_rss = max(r for _, r in long_runs)
    ratio = long_s / short_s
    met = ratio <= 1.2 and long_s < 0.3 and long_rss <= short_rss * 1.1
    return Row("B2", f"idle run, {history:,} vs 100 processed",
               f"{long_s:.2f} s vs {short_s:.2f} s ({ratio:.2f}×); RSS {long_rss:.0f} vs"
               f" {short_rss:.0f} MiB", "—", "≤ 1.2×, RSS flat, < 0.3 s", met,
               {"long_s": long_s, "short_s": short_s, "ratio": ratio,
                "long_rss_mib": long_rss, "short_rss_mib": short_rss})
