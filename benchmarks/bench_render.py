"""Render rate of outgoing mail: the replies of the demo requests, rendered again and again.

    .venv/bin/python benchmarks/bench_render.py [--seconds 2] [--profile]

The demo requests (`mailbot.demo.request_mail` over `DEMO_CASES`, in both client
styles) are parsed once and decided once on a fresh demo archive; what is timed is
only what a run pays per mail to write one: a verdict reply for each refused
request and a completion mail for each staged one, with the embedded settings and
their one `Templates`. `--profile` prints the cProfile of one more timed stretch.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from mailbot import config as cfg
from mailbot import reply
from mailbot.archive import demo as demo_archive
from mailbot.archive import open_archive
from mailbot.decide import ActiveRequest, decide
from mailbot.demo import request_mail
from mailbot.grammar import parse_message
from mailbot.model import OutgoingMail, Request, StagingResult, Verdict

QUEUED_AT = datetime(2024, 3, 5, 9, 41, 7, tzinfo=UTC)
URL = "https://almascience.eso.org/arcdistribution/preview/8672af71dac32e0ad9703dae3438fcac"


@dataclass(frozen=True)
class Answer:
    """One parsed request and what the checks said of it."""

    request: Request
    verdict: Verdict


def answers(config: cfg.Config) -> list[Answer]:
    """The demo requests as a run reads and decides them, each in two client styles."""
    received = QUEUED_AT
    decided: list[Answer] = []
    active: list[ActiveRequest] = []
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "archive.sqlite"
        demo_archive.seed(path, today=received.date())
        with open_archive(config, url=f"sqlite:///{path}") as archive:
            for style in ("script", "typed"):
                for case in demo_archive.DEMO_CASES:
                    raw = request_mail(case, aog=config.addresses.aog,
                                       maintainer=config.addresses.maintainer, style=style)
                    parsed = parse_message(raw, received=received,
                                           own_addresses=config.own_addresses,
                                           loop_header=config.replies.loop_header)
                    if not isinstance(parsed, Request):
                        raise SystemExit(f"demo case {case.name!r} did not parse: {parsed}")
                    verdict = decide(parsed, archive.facts(parsed.mous), active,
                                     received.date())
                    if verdict.stages:
                        active.append(ActiveRequest(parsed.mous, parsed.calfields,
                                                    parsed.ticket, parsed.user_email))
                    decided.append(Answer(parsed, verdict))
    return decided


def renderer(config: cfg.Config) -> Callable[[Answer, int], OutgoingMail]:
    """What a run calls per mail: a verdict reply, or the completion of a staging."""
    settings, templates = config.reply_settings, config.templates
    done = StagingResult(ok=True, url=URL, deletion_date="2024-04-02",
                         exit_status=0)

    def render(answer: Answer, number: int) -> OutgoingMail:
        key = f"bench-{number}"
        if answer.verdict.stages:
            return reply.render_completion(settings, templates, answer.request, done,
                                           key=key, queued_at=QUEUED_AT)
        return reply.render_verdict(settings, templates, answer.request, answer.verdict,
                                    key=key, queued_at=QUEUED_AT)

    return render


def rate(render: Callable[[Answer, int], OutgoingMail], batch: list[Answer],
         seconds: float) -> float:
    """Mails per second over whole passes of `batch`, for at least `seconds`."""
    count = 0
    start = time.perf_counter()
    while True:
        for answer in batch:
            render(answer, count)
            count += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return count / elapsed


def best_rate(render: Callable[[Answer, int], OutgoingMail], batch: list[Answer],
              seconds: float, rounds: int = 5) -> tuple[float, float]:
    """The best and the median of `rounds` rates: on a shared machine the best is the
    one least slowed by others."""
    rates = sorted(rate(render, batch, seconds / rounds) for _ in range(rounds))
    return rates[-1], rates[rounds // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="time of the measurement")
    parser.add_argument("--profile", action="store_true", help="print a cProfile as well")
    args = parser.parse_args()
    config = cfg.Config()
    batch = answers(config)
    render = renderer(config)
    for number, answer in enumerate(batch):  # load the templates, warm the caches
        render(answer, number)
    staged = sum(a.verdict.stages for a in batch)
    print(f"batch: {len(batch)} requests, {len(batch) - staged} verdict replies and "
          f"{staged} completion mails a pass")
    best, median = best_rate(render, batch, args.seconds)
    print(f"render: {best:10.0f} mails/s ({1000 / best:.3f} ms a mail; "
          f"median of 5 rounds {median:.0f}/s)")
    if args.profile:
        profile = cProfile.Profile()
        profile.runcall(rate, render, batch, args.seconds / 5)
        pstats.Stats(profile).sort_stats("cumulative").print_stats(40)


if __name__ == "__main__":
    main()
