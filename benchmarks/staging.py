"""B6: ten queued stagings of three durations, two of one MOUS, two slots, the stagecalms
simulator over sshd, followed by `mailbot watch`; beside the ideal schedule of the same
queue (each job started the instant a slot frees, same-MOUS jobs one after the other)."""

from __future__ import annotations

import shlex
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

from benchmarks.common import (
    AOG,
    MAINTAINER,
    Row,
    Servers,
    append_all,
    bot_env,
    installation,
)
from mailbot.archive import demo as demo_archive
from mailbot.archive.demo import DEMO_CASES
from mailbot.archive.demo_data import MOUSES
from mailbot.demo import request_mail

SLOTS = 2
INTERVAL = 0.25  # `watch --interval`: how often stagings are polled
# (MOUS suffix, seconds): ten jobs, the first MOUS asked twice.
JOBS = [("675", 6.0), ("7a1", 6.0), ("7a2", 6.0), ("7a3", 4.0), ("675", 2.0),
        ("7a4", 4.0), ("7a5", 4.0), ("7a6", 2.0), ("7a7", 2.0), ("7a8", 4.0)]
TIMEOUT = 180.0
WRAPPER = """#!/bin/sh
# stagecalms for the benchmark: the simulator, taking as long as the ticket ($3) says.
d=$(sed -n "s/^$3 //p" {durations})
exec {python} -m mailbot.simulator --root {root} --duration "$d" "$@"
"""


def _uid(suffix: str) -> str:
    return f"uid://A001/X1296/X{suffix}"


def _seed(archive: Path) -> None:
    """The demo archive plus copies of the first MOUS under new UIDs (its PI may ask)."""
    demo_archive.seed(archive)
    first = MOUSES[0]
    with closing(sqlite3.connect(archive)) as db, db:
        for n, suffix in enumerate(sorted({s for s, _ in JOBS} - {"675"}), start=50):
            mous = replace(first, uid=_uid(suffix),
                           ebs=tuple((f"{eb}{suffix}", qa0) for eb, qa0 in first.ebs))
            demo_archive._insert_mous(db, n, mous)
            demo_archive._insert_deliveries(db, n, mous, 40121, date(2099, 1, 1))


def ideal_makespan(jobs: list[tuple[str, float]] = JOBS) -> float:
    """The queue's schedule with no overhead: FIFO, skipping a job whose MOUS runs."""
    now, waiting = 0.0, list(jobs)
    running: list[tuple[str, float]] = []
    while waiting or running:
        busy = {m for m, _ in running}
        for job in list(waiting):
            if len(running) < SLOTS and job[0] not in busy:
                running.append((job[0], now + job[1]))
                busy.add(job[0])
                waiting.remove(job)
        now = min(end for _, end in running)
        running = [(m, end) for m, end in running if end > now]
    return now


def _setup(found: Servers) -> Path:
    directory = found.tmp / "b6"
    directory.mkdir()
    _seed(directory / "alma.sqlite")
    durations = directory / "durations"
    durations.write_text("".join(f"{30000 + n} {d}\n" for n, (_, d) in enumerate(JOBS)))
    wrapper = directory / "stagecalms"
    wrapper.write_text(WRAPPER.format(durations=durations, python=sys.executable,
                                      root=shlex.quote(str(directory / "staging"))))
    wrapper.chmod(0o755)
    return installation(directory, found, command=str(wrapper))


Job = tuple[str, str, str | None, str | None, str | None]  # MOUS, state, started, finished, dir


def _jobs(journal: Path) -> list[Job]:
    with closing(sqlite3.connect(f"{journal.as_uri()}?mode=ro", uri=True, timeout=30)) as db:
        try:
            return db.execute("SELECT r.mous, j.state, j.started, j.finished, j.job_dir"
                              " FROM jobs j JOIN requests r ON r.id = j.request"
                              " ORDER BY j.id").fetchall()
        except sqlite3.OperationalError:  # the bot created the file, not yet its tables
            return []


def _follow(config: Path, env: dict[str, str]) -> list[Job]:
    journal = config.parent / "journal.sqlite"
    watch = subprocess.Popen([sys.executable, "-m", "mailbot", "--config", str(config), "watch",
                              "--interval", str(INTERVAL)], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            jobs = _jobs(journal) if journal.exists() else []
            if len(jobs) == len(JOBS) and all(j[3] for j in jobs):
                return jobs
            time.sleep(0.1)  # polls the journal; the figures come from the job files
        raise TimeoutError(f"B6: stagings not done: {jobs}")
    finally:
        watch.send_signal(signal.SIGTERM)
        watch.wait(TIMEOUT)


def _on_host(job_dir: str) -> tuple[float, float]:
    """When a job ran on the staging host: its wrapper's `mkdir started`, its `rc` written
    (the journal's stamps are whole seconds: too coarse for a 22 s schedule)."""
    return (Path(job_dir, "started").stat().st_mtime, Path(job_dir, "rc").stat().st_mtime)


def b6(found: Servers) -> Row:
    found.imap.reset()
    config = _setup(found)
    case = DEMO_CASES[0]  # the entitled PI
    append_all(found.imap, [request_mail(replace(case, mous=_uid(s), ticket=str(30000 + n)),
                                         aog=AOG, maintainer=MAINTAINER)
                            for n, (s, _) in enumerate(JOBS)])
    jobs = _follow(config, bot_env(found))
    spans = [(m, *_on_host(d or "")) for m, _, _, _, d in jobs]
    makespan = max(end for _, _, end in spans) - min(start for _, start, _ in spans)
    same = sorted((start, end) for m, start, end in spans if m == _uid("675"))
    overlap = max(0.0, same[0][1] - same[1][0])
    # The same queue with the times the jobs took on the host (the simulator's own start-up
    # included), each started the instant a slot freed: what the bot's scheduling costs.
    ideal = ideal_makespan([(m, end - start) for m, start, end in spans])
    use = ideal / makespan
    journal = [(datetime.fromisoformat(s or ""), datetime.fromisoformat(f or ""))
               for _, _, s, f, _ in jobs]
    coarse = (max(f for _, f in journal) - min(s for s, _ in journal)).total_seconds()
    return Row("B6", f"{len(JOBS)} stagings of 3 durations, 2 of one MOUS, {SLOTS} slots,"
               f" simulator over sshd, watch --interval {INTERVAL}",
               f"{makespan:.1f} s: slot use {use:.2f}, same-MOUS overlap {overlap:.1f} s",
               f"ideal schedule of the jobs' run times {ideal:.1f} s"
               f" (nominal {ideal_makespan():.1f} s)", "slot use ≥ 0.95, 0 same-MOUS overlap",
               use >= 0.95 and overlap == 0 and all(j[1] == "succeeded" for j in jobs),
               {"makespan_s": makespan, "ideal_s": ideal, "slot_use": use,
                "overlap_s": overlap, "nominal_ideal_s": ideal_makespan(),
                "journal_makespan_s": coarse})
