"""The duplicate window of the outbox, beside the SMTP transaction it follows.

    .venv/bin/python benchmarks/bench_outbox.py [--mails 400] [--dir DIR]

A mail can reach a recipient twice only if the process dies after the SMTP
server accepted it (the reply to DATA) and before the journal committed its
`sent` mark. This flushes rendered mails of every kind to a real local SMTP
server (aiosmtpd, loopback) from a journal in DIR (default: a temporary
directory; put it on the disk the production journal uses) and times, for each
mail, through `flush`'s trace seam:

- SMTP: from "sending" to "accepted" (MAIL, RCPT..., DATA and its reply);
- window: from "accepted" to "marked" (the commit with synchronous=FULL).

The first mail, which also pays for the connection, is left out.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mailbot.journal import Journal, MailRecord
from tests.servers.smtp import running_smtp
from tests.test_outbox import make_config, queue, rendered


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def measure(mails: int, directory: Path) -> tuple[list[float], list[float]]:
    """Seconds of each SMTP transaction and of each window, one sample per mail."""
    from mailbot.outbox import flush

    stamps: dict[int, dict[str, float]] = defaultdict(dict)

    def trace(event: str, mail: MailRecord) -> None:
        stamps[mail.id][event] = time.perf_counter()

    with running_smtp() as server:
        config = make_config(directory, server)
        journal = Journal(directory / "journal.sqlite")
        try:
            queue(journal, [rendered(config, n) for n in range(mails)])
            report = flush(config, journal, trace=trace)
        finally:
            journal.close()
        if len(report.sent) != mails or len(server.messages) != mails:
            raise SystemExit(f"expected {mails} mails sent, got {len(report.sent)}")
    ids = sorted(stamps)[1:]  # the first one also connects
    smtp = [stamps[i]["accepted"] - stamps[i]["sending"] for i in ids]
    window = [stamps[i]["marked"] - stamps[i]["accepted"] for i in ids]
    return smtp, window


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mails", type=int, default=400)
    parser.add_argument("--dir", type=Path, default=None,
                        help="where the journal lives (default: a temporary directory)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        smtp, window = measure(args.mails, Path(tmp))
        where = tmp
    print(f"{len(window)} mails, journal in {where}")
    print(f"{'':28}{'median':>10}{'p99':>10}{'max':>10}")
    for name, values in (("SMTP transaction (ms)", smtp), ("duplicate window (ms)", window)):
        print(f"{name:28}{statistics.median(values) * 1e3:10.2f}"
              f"{percentile(values, 99) * 1e3:10.2f}{max(values) * 1e3:10.2f}")
    ratio_median = statistics.median(window) / statistics.median(smtp)
    ratio_p99 = percentile(window, 99) / percentile(smtp, 99)
    print(f"{'window / SMTP':28}{ratio_median:10.2f}{ratio_p99:10.2f}")


if __name__ == "__main__":
    main()
