"""The [health] settings: when `mailbot status` and the Prometheus textfile raise the level."""

from __future__ import annotations

from dataclasses import dataclass

from mailbot.tables import path_setting


@dataclass(frozen=True)
class Health:
    textfile: str = path_setting("")  # written after each run; empty: none
    interval_minutes: float = 10.0  # how often cron (or watch) runs the bot
    warning_missed_runs: int = 2  # no successful run for this many intervals: WARNING
    critical_missed_runs: int = 6  # ... for this many: CRITICAL
    staging_hours: float = 12.0  # a staging running longer: CRITICAL
    attention_hours: float = 24.0  # `mailbot attention` not empty this long: WARNING
