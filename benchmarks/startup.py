"""B4 (start-up: `mailbot --version`, an idle embedded run, beside `python -c pass`) and
B5 (pure parse throughput over tests/emails/, beside the stdlib's own parse)."""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

from benchmarks.bench_grammar import baseline, corpus, grammar_parser, throughput
from benchmarks.common import Row, python_env, timed


def _median_seconds(argv: list[str], env: dict[str, str], repeat: int) -> float:
    timed(argv, env)  # warm the page cache
    return statistics.median(timed(argv, env)[0] for _ in range(repeat))


def b4(home: Path, repeat: int) -> Row:
    """Start-up cost as multiples of a bare interpreter's, measured alternately."""
    env = python_env(MAILBOT_HOME=str(home))
    env.pop("MAILBOT_CONFIG", None)  # the embedded setup under MAILBOT_HOME
    bot = [sys.executable, "-m", "mailbot"]
    timed([*bot, "run"], env)  # the first run sets the embedded setup up
    python = _median_seconds([sys.executable, "-c", "pass"], env, repeat)
    version = _median_seconds([*bot, "--version"], env, repeat)
    idle = _median_seconds([*bot, "run"], env, repeat)
    v_ratio, i_ratio = version / python, idle / python
    return Row("B4", "`mailbot --version` / `python -c pass`; idle embedded `run` / same",
               f"{v_ratio:.1f}×; {i_ratio:.1f}× ({idle:.2f} s)",
               f"`python -c pass` {python * 1e3:.0f} ms", "≤ 3×; ≤ 8×",
               v_ratio <= 3 and i_ratio <= 8,
               {"python_s": python, "version_s": version, "idle_run_s": idle,
                "version_ratio": v_ratio, "idle_ratio": i_ratio})


def b5(seconds: float) -> Row:
    """The grammar's parse rate over the fixture corpus, beside the stdlib's."""
    mails, grammar = corpus(), grammar_parser()
    base = throughput(baseline, mails, seconds)
    ours = throughput(grammar, mails, seconds)
    return Row("B5", f"pure parse over tests/emails/ ({len(mails)} mails)",
               f"{ours:.0f} mails/s", f"stdlib policy.default parse + get_body {base:.0f}/s",
               "≥ 2,000 mails/s", ours >= 2000, {"grammar_per_s": ours, "baseline_per_s": base})
