"""`mailbot status` (Nagios exit codes) and the Prometheus textfile (issue 15).

Each level is reached the way production reaches it: real runs on the
embedded setup at a fixed clock, then `mailbot status` asked later.
"""

from __future__ import annotations

from argparse import Namespace
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from mailbot import config as cfg
from mailbot.archive import demo as demo_archive
from mailbot.cli.context import Context
from mailbot.cli.main import main
from mailbot.cli.registry import COMMANDS
from mailbot.clock import FixedClock
from mailbot.demo import prepare, request_mail
from mailbot.model import VerdictCode
from mailbot.run import run_once
from tests.settings import changed

START = datetime.now(UTC).replace(microsecond=0)


def _setup(tmp_path: Path, *, cases: int, **tables: Mapping[str, Any]) -> cfg.Config:
    """The demo with its first `cases` staged requests in the Maildir, and a textfile."""
    demo, _ = prepare(tmp_path / "demo", duration=0.1)
    new = demo.path(demo.inbox.maildir.path) / "new"
    for file in new.iterdir():
        file.unlink()
    staged = [c for c in demo_archive.DEMO_CASES if c.expected is VerdictCode.STAGE]
    for n, case in enumerate(staged[:cases]):
        mail = request_mail(case, aog=demo.addresses.aog, maintainer=demo.addresses.maintainer)
        (new / f"request-{n}").write_bytes(mail)
    health = {"textfile": str(tmp_path / "textfile" / "mailbot.prom"), **tables.pop("health", {})}
    return changed(demo, health=health, **tables)


def _status(config: cfg.Config, at: datetime,
            capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    code = COMMANDS["status"].handler(Context(config, Namespace(), FixedClock(at)))
    return code, capsys.readouterr().out


def _metrics(config: cfg.Config) -> dict[str, float]:
    text = config.path(config.health.textfile).read_text()
    return {sample.name: sample.value for family in text_string_to_metric_families(text)
            for sample in family.samples}


def test_ok_after_a_good_run_and_the_textfile_parses(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _setup(tmp_path, cases=0)
    run_once(config, clock=FixedClock(START))

    code, out = _status(config, START + timedelta(minutes=5), capsys)
    through_main = main(["--config", str(tmp_path / "demo" / "mailbot.toml"), "status"],
                        clock=FixedClock(START + timedelta(minutes=5)))

    assert (code, out.splitlines()[0], through_main) == (0, "MAILBOT OK - all well", 0)
    metrics = _metrics(config)
    assert metrics["mailbot_status"] == 0
    assert metrics["mailbot_last_run_timestamp_seconds"] == START.timestamp()
    assert metrics["mailbot_last_success_timestamp_seconds"] == START.timestamp()
    assert metrics["mailbot_attention_items"] == 0
    written = config.path(config.health.textfile).parent
    assert [p.name for p in written.iterdir()] == ["mailbot.prom"]  # no temporary file left


def test_warning_then_critical_as_successful_runs_stop(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _setup(tmp_path, cases=0)
    run_once(config, clock=FixedClock(START))
    interval = timedelta(minutes=config.health.interval_minutes)

    warning = _status(config, START + interval * 3, capsys)
    critical = _status(config, START + interval * 7, capsys)

    assert warning[0] == 1 and warning[1].startswith("MAILBOT WARNING - no successful run")
    assert critical[0] == 2 and critical[1].startswith("MAILBOT CRITICAL - no successful run")


def test_no_run_yet_is_critical(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _setup(tmp_path, cases=0)

    assert _status(config, START, capsys)[0] == 2


def test_a_staging_running_too_long_is_critical(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Runs are never missed here: only the staging's age may raise the level.
    config = _setup(tmp_path, cases=1, health={
        "warning_missed_runs": 10**6, "critical_missed_runs": 10**6})
    run_once(config, clock=FixedClock(START))  # launches the staging
    limit = timedelta(hours=config.health.staging_hours)

    within = _status(config, START + limit - timedelta(minutes=1), capsys)
    beyond = _status(config, START + limit + timedelta(minutes=1), capsys)

    assert within[0] == 0 and "1 running" in within[1]
    assert beyond[0] == 2 and "1 staging(s) running longer than" in beyond[1]
    assert _metrics(config)["mailbot_stagings_running"] == 1


def test_attention_not_empty_for_a_day_is_a_warning(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # No sender is an ARC contact: the request is kept for AOG, listed by `attention`.
    config = _setup(tmp_path, cases=1,
                              addresses={"arc_contacts": ["someone-else@example.net"]})
    run_once(config, clock=FixedClock(START))
    later = START + timedelta(hours=config.health.attention_hours, minutes=5)
    run_once(config, clock=FixedClock(later))  # runs go on well; attention stays

    code, out = _status(config, later + timedelta(minutes=1), capsys)

    assert code == 1 and out.startswith("MAILBOT WARNING - `mailbot attention` not empty")
    assert _metrics(config)["mailbot_attention_items"] == 1
