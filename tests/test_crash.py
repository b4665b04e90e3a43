"""The crash harness: the bot SIGKILLed at every step of a run, then run to completion.

Each episode delivers a day of aog@'s mail (`tests.workload.day_of_mail`: 20
requests, their verdicts and stagings, a failing staging, malformed, ignored
and untrusted mail, a second copy, a trigger-file twin and a trigger-only
request) into the real Dovecot and trigger directory, with stagings through
the real sshd and mail out through the real SMTP server. Then `mailbot run`
runs again and again, each run armed to be SIGKILLed at the N-th reach of one
of a few fault points (`mailbot.faults.Point`, reached through the test hook
of `tests.faults`): the least-killed points so far, so that every point gets
its share. A run that reaches none of them completes (and the next one waits
for the stagings it left running); after `KILLS_PER_EPISODE` kills the runs go
on unarmed until the bot is idle. Then `tests.workload.verify` checks the
episode: each request got exactly one verdict or completion mail by
Message-ID, any repeat is a byte-identical resend from the sent-mark window
(as many as kills there), no staging started twice, no other mail touched,
nothing half done.

`MAILBOT_CRASH_TRIALS` sets how many kills (trials) in all: 104 by default,
about 8 per point, within CI's budget; e.g. 2000 for a soak.
`MAILBOT_CRASH_SEED` repeats a run's choice of points (printed with the table).
"""

from __future__ import annotations

import os
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from mailbot.faults import Point
from tests.faults import kill_at
from tests.installation import Installation
from tests.servers.dovecot import ImapServer
from tests.servers.smtp import SmtpServer
from tests.servers.sshd import SshServer
from tests.workload import day_of_mail, verify

TRIALS = int(os.environ.get("MAILBOT_CRASH_TRIALS", "104"))
SEED = int(os.environ.get("MAILBOT_CRASH_SEED", str(time.time_ns() % 1_000_000)))
KILLS_PER_EPISODE = 12
ARMED = 3  # points armed per run; the first reached kills
# Points met once per mail: a kill at a later mail of the run, not always the first.
PER_MAIL = frozenset({Point.FETCHED, Point.RECORDING, Point.RECORDED, Point.FLAGGED,
                      Point.MOVED, Point.SENDING, Point.ACCEPTED, Point.COPIED})
STAGINGS_TIMEOUT = 30.0


@dataclass
class Tally:
    kills: Counter[Point] = field(default_factory=Counter)
    resends: Counter[Point] = field(default_factory=Counter)
    episodes: int = 0
    runs: int = 0
    requests: int = 0

    @property
    def trials(self) -> int:
        return sum(self.kills.values())

    def table(self, seconds: float) -> str:
        lines = [f"crash harness: {self.trials} trials (SIGKILLs) in {self.episodes} episodes, "
                 f"{self.runs} runs, {self.requests} requests, {seconds:.0f} s, seed {SEED}",
                 f"{'POINT':22} {'KILLS':>5} {'RESENDS IN THE WINDOW':>22}"]
        lines += [f"{p.value:22} {self.kills[p]:>5} {self.resends[p]:>22}" for p in Point]
        lines.append(f"{'total':22} {self.trials:>5} {sum(self.resends.values()):>22}")
        return "\n".join(lines)


@dataclass
class Episode:
    """One workload's runs, and what was killed where."""

    inst: Installation
    tally: Tally
    rng: random.Random
    budget: int
    kills: Counter[Point] = field(default_factory=Counter)

    def armed(self) -> dict[Point, int]:
        """The least-killed points so far (a few of them), each at a random reach."""
        if sum(self.kills.values()) >= self.budget:
            return {}
        least = min(self.tally.kills[p] for p in Point)
        behind = [p for p in Point if self.tally.kills[p] == least]
        chosen = self.rng.sample(behind, min(ARMED, len(behind)))
        return {p: self.rng.randint(1, 4 if p in PER_MAIL else 2) for p in chosen}

    def run(self) -> bool:
        """One run of the bot; False once the episode's work is all done."""
        armed = self.armed()
        ran = self.inst.forked(kill_at(armed) if armed else None)
        self.tally.runs += 1
        if ran.killed_at is not None:
            assert ran.status == -9, ran.output
            self.kills[ran.killed_at] += 1
            self.tally.kills[ran.killed_at] += 1
            return True
        assert ran.status == 0, f"a run with nothing killed failed:\n{ran.output}"
        if self.inst.idle():
            return False  # nothing left that a run could reach
        # What is left waits for stagings to end: the next run polls them.
        wait_for_stagings(self.inst)
        return True


def wait_for_stagings(inst: Installation) -> None:
    """Until each running staging has written its exit status (what the next run polls)."""
    deadline = time.monotonic() + STAGINGS_TIMEOUT
    while not all((d / "rc").exists() for d in inst.running_job_dirs()):
        assert time.monotonic() < deadline, f"stagings still running: {inst.running_job_dirs()}"
        time.sleep(0.02)


def episode(n: int, tmp: Path, servers: tuple[ImapServer, SmtpServer, SshServer],
            tally: Tally, rng: random.Random) -> None:
    imap, smtp, sshd = servers
    imap.reset()
    smtp.clear()
    inst = Installation(tmp / f"episode-{n}", imap, smtp, sshd)
    expected = day_of_mail(inst)
    assert len(expected.served) >= 20, "a day of mail has at least 20 requests"
    budget = min(KILLS_PER_EPISODE, TRIALS - tally.trials)
    state = Episode(inst, tally, rng, budget)
    deadline = time.monotonic() + 120
    while state.run():
        assert time.monotonic() < deadline, (
            f"episode {n} (seed {SEED}) does not end: kills {dict(state.kills)}; "
            f"{inst.busy()}")
    findings = verify(inst, expected, state.kills)
    assert findings.wrong == [], (
        f"episode {n} (seed {SEED}), kills {dict(state.kills)}:\n" + "\n".join(findings.wrong))
    tally.episodes += 1
    tally.requests += len(expected.served)
    tally.resends[Point.ACCEPTED] += findings.resends


@pytest.mark.timeout(max(300, TRIALS * 3))
def test_killed_at_every_step_each_request_is_served_once(
        dovecot: ImapServer, smtp_server: SmtpServer, sshd: SshServer, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    started = time.monotonic()
    rng = random.Random(SEED)
    tally = Tally()
    while tally.trials < TRIALS:
        episode(tally.episodes, tmp_path, (dovecot, smtp_server, sshd), tally, rng)
    with capsys.disabled():
        print("\n" + tally.table(time.monotonic() - started))
    assert tally.trials >= 100 or TRIALS < 100
    least = min(tally.kills[p] for p in Point)
    assert least >= min(5, TRIALS // len(Point)), f"a point hardly reached: {tally.kills}"
