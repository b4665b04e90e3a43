"""A long fuzzing run of the grammar and the replies: not part of the suite, run by hand.

Any bytes, read as a mail and as a trigger file, must give a `Request`,
`Malformed` or `NotARequest` within the time limit, never an exception; and the
reply to a request-shaped one must read back as exactly the headers it set.

With atheris (coverage-guided libFuzzer; `pip install atheris`, e.g. into a
directory put on PYTHONPATH), seeded with the mail corpus:

    nice -n 19 .venv/bin/python -m tests.fuzz_grammar -max_total_time=600 \\
        -timeout=10 -max_len=65536 tests/emails tests/emails/hostile

Without it, the same check over Hypothesis' mails of tests/test_fuzz_intake.py:

    nice -n 19 .venv/bin/python -m tests.fuzz_grammar --hypothesis --minutes 10
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from typing import Any

NOW = datetime(2024, 5, 17, 10, 0, tzinfo=UTC)
OWN = frozenset({"aog@eso.org"})


def _modules() -> tuple[Any, ...]:
    from mailbot import grammar, reply, textmail
    from mailbot.config import Config
    from mailbot.model import Malformed, Request, Verdict, VerdictCode
    from tests import attacks

    return grammar, reply, textmail, Config(), Malformed, Request, Verdict, VerdictCode, attacks


def one_input(data: bytes, modules: tuple[Any, ...]) -> None:
    """The property for one input; raises on any violation."""
    grammar, reply, textmail, config, malformed, request, verdict, code, attacks = modules
    parsed = grammar.parse_message(data, received=NOW, own_addresses=OWN,
                                   authserv_id="mx.example.org")
    grammar.parse_trigger(textmail.decode_text_bytes(data), received=NOW,
                          file_name="trigger-uid___A001_X1296_X675-2019-09-02T14-00-27.txt")
    settings = config.reply_settings
    if isinstance(parsed, malformed):
        mail = reply.render_malformed(settings, config.templates, parsed, key="k",
                                      queued_at=NOW)
    elif isinstance(parsed, request):
        mail = reply.render_verdict(settings, config.templates, parsed,
                                    verdict(code.NOT_ENTITLED, "entitlement"), key="k",
                                    queued_at=NOW)
    else:
        return
    if mail.rcpt_to:
        attacks.assert_only_headers_set(mail.data)


def _atheris(argv: list[str]) -> None:
    import atheris  # type: ignore[import-not-found]

    with atheris.instrument_imports(include=["mailbot", "email"]):
        modules = _modules()
    atheris.Setup(argv, lambda data: one_input(data, modules))
    atheris.Fuzz()


def _hypothesis(minutes: float) -> None:
    from hypothesis import HealthCheck, given, settings

    from tests.test_fuzz_intake import mails

    modules = _modules()
    deadline = time.monotonic() + minutes * 60
    runs = 0
    while time.monotonic() < deadline:
        @settings(max_examples=2000, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(mails())
        def check(data: bytes) -> None:
            one_input(data, modules)

        check()
        runs += 2000
    print(f"hypothesis: {runs} mails in {minutes} min, no failure")


if __name__ == "__main__":
    if "--hypothesis" in sys.argv:
        minutes = float(sys.argv[sys.argv.index("--minutes") + 1]) \
            if "--minutes" in sys.argv else 10.0
        _hypothesis(minutes)
    else:
        _atheris(sys.argv)
