"""Parse throughput of the grammar on the fixture corpus, beside a bare stdlib baseline.

    .venv/bin/python benchmarks/bench_grammar.py [--seconds 2]

The baseline is what any reader of the mailbox pays anyway: `email.message_from_bytes`
with `policy.default` and `get_body()`'s content. The ratio says what the grammar
(charset fallbacks, flowed text, HTML, header checks, validation) costs beside it; it
reads only what it needs (`mailbot.textmail.shortcuts`), so it may beat the baseline.
The last line adds what intake also pays per mail before the grammar: its identity
(Message-ID and content digest, `mailbot.inbox.identity.mail_identity`).
"""

from __future__ import annotations

import argparse
import email
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from pathlib import Path

from mailbot.config import Config
from mailbot.grammar import parse_message
from mailbot.inbox.identity import mail_identity

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "emails"


def baseline(raw: bytes) -> object:
    """Parse and fetch the preferred body text, nothing more."""
    message = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    body = message.get_body(preferencelist=("plain", "html"))
    if body is None:
        return None
    try:
        return body.get_content()
    except (LookupError, KeyError):  # unknown charset or transfer encoding
        return None


def corpus() -> list[bytes]:
    """The fixture mails, in a fixed order."""
    return [p.read_bytes() for p in sorted(CORPUS.glob("*.eml"))]


def grammar_parser() -> Callable[[bytes], object]:
    """The grammar as the intake calls it, with the default settings' addresses."""
    config = Config()
    received = datetime.now(UTC)

    def grammar(raw: bytes) -> object:
        return parse_message(raw, received=received, own_addresses=config.own_addresses,
                             loop_header=config.replies.loop_header)

    return grammar


def throughput(parse: Callable[[bytes], object], mails: list[bytes], seconds: float) -> float:
    """Mails per second over whole passes of the corpus, for at least `seconds`."""
    for raw in mails:  # warm caches (regexes, codecs) before timing
        parse(raw)
    count = 0
    start = time.perf_counter()
    while True:
        for raw in mails:
            parse(raw)
        count += len(mails)
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return count / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    args = parser.parse_args()
    mails, grammar = corpus(), grammar_parser()

    def intake(raw: bytes) -> object:
        return mail_identity(raw), grammar(raw)

    size = sum(len(m) for m in mails)
    print(f"corpus: {len(mails)} mails, {size / 1024:.0f} KiB, from {CORPUS}")
    base = throughput(baseline, mails, args.seconds)
    ours = throughput(grammar, mails, args.seconds)
    both = throughput(intake, mails, args.seconds)
    print(f"baseline (message_from_bytes + get_body): {base:10.0f} mails/s")
    print(f"grammar  (parse_message):                 {ours:10.0f} mails/s")
    print(f"ratio grammar/baseline:                   {ours / base:10.2f}")
    print(f"identity + grammar (intake's parse):      {both:10.0f} mails/s")


if __name__ == "__main__":
    main()
