"""What every benchmark shares: the servers, a bot installation, timing a bot process."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from mailbot.archive import demo as demo_archive
from mailbot.archive.demo import DEMO_CASES, DemoCase
from mailbot.demo import request_mail
from mailbot.model import VerdictCode
from tests.servers.dovecot import ImapServer, running_dovecot
from tests.servers.smtp import SmtpServer, running_smtp
from tests.servers.sshd import SshServer, running_sshd
from tests.settings import (
    PAST,
    imap_table,
    simulator_command,
    smtp_table,
    ssh_table,
    write_settings,
)

AOG = "aog@example.org"
MAINTAINER = "maintainer@example.org"
PASSWORD_ENV = "MAILBOT_IMAP_PASSWORD"
ROOT = Path(__file__).resolve().parent.parent
# Requests the seeded archive answers with a verdict line (no staging, no duplicate).
VERDICT_CASES = [c for c in DEMO_CASES
                 if c.expected not in (VerdictCode.STAGE, VerdictCode.DUPLICATE)]


@dataclass
class Row:
    """One line of the table: what was measured, beside what it is judged against."""

    id: str
    what: str
    measured: str
    reference: str
    goal: str
    met: bool | None  # None: not judged (no goal, or not measured)
    values: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Servers:
    imap: ImapServer
    smtp: SmtpServer
    sshd: SshServer
    tmp: Path


@contextmanager
def servers() -> Iterator[Servers]:
    """Dovecot, aiosmtpd and sshd on loopback, as the tests run them, until the block ends."""
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mailbot-bench-")))
        tmp.chmod(0o755)  # Dovecot's auth process must enter it
        for name in ("dovecot", "sshd"):
            (tmp / name).mkdir()
        imap = stack.enter_context(running_dovecot(tmp / "dovecot"))
        smtp = stack.enter_context(running_smtp())
        sshd = stack.enter_context(running_sshd(tmp / "sshd"))
        yield Servers(imap, smtp, sshd, tmp)


def installation(directory: Path, found: Servers, command: str = "") -> Path:
    """A bot's settings for the servers (IMAP in, SMTP out, review copies in IMAP, stagings
    by `command`, default the simulator, over sshd), logging as in production; its path."""
    directory.mkdir(parents=True, exist_ok=True)
    archive = directory / "alma.sqlite"
    if not archive.exists():
        demo_archive.seed(archive)
    settings: dict[str, object] = {
        "mailbot": {"data_dir": directory, "cutover": PAST,
                    "log_file": directory / "mailbot.log"},
        "addresses": {"aog": AOG, "maintainer": MAINTAINER},
        "inbox": {"sources": ["imap"],
                  "imap": imap_table(found.imap, processed_folder="Mailbot/Done")},
        "archive": {"url": f"sqlite:///{archive}"},
        "staging": {"transport": "ssh", "slots": 2, "jobs_dir": directory / "jobs",
                    "command": command or simulator_command(directory / "staging", 0.1),
                    "ssh": ssh_table(found.sshd)},
        "outbox": {"transport": "smtp", "smtp": smtp_table(found.smtp),
                   "review": {"copy_to": "imap", "imap_folder": "Mailbot/Sent"}},
        # A backlog comes from a few ARC contacts: no sender limit in the way.
        "limits": {"requests_per_day": 10**6, "requests_per_run": 10**6},
    }
    return write_settings(directory / "mailbot.toml", settings)


def verdict_request(n: int) -> bytes:
    """The `n`th request of a backlog: a verdict case with its own ticket and Message-ID."""
    case: DemoCase = VERDICT_CASES[n % len(VERDICT_CASES)]
    return request_mail(replace(case, ticket=str(100000 + n)), aog=AOG, maintainer=MAINTAINER)


def python_env(**extra: str) -> dict[str, str]:
    """The environment of a timed bot process: bytecode cached as an installed mailbot's
    is (pip compiles it), even where PYTHONDONTWRITEBYTECODE is set, so a start is not
    timed compiling every module again."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**env, "PYTHONPYCACHEPREFIX": str(ROOT / ".venv" / "pycache"),
            "PYTHONPATH": str(ROOT), **extra}


def bot_env(found: Servers) -> dict[str, str]:
    return python_env(**{PASSWORD_ENV: found.imap.password})


def timed(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Seconds and peak RSS (MiB) of one process; raises when it fails. A `python -m
    MODULE` is run through `benchmarks.peak`, which reads the peak in the process itself."""
    with tempfile.TemporaryDirectory() as tmp:
        peak = Path(tmp) / "peak"
        if argv[1:2] == ["-m"]:
            argv = [argv[0], "-m", "benchmarks.peak", str(peak), *argv[2:]]
        with tempfile.TemporaryFile() as err:
            start = time.perf_counter()
            process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=err)
            _, status, usage = os.wait4(process.pid, 0)
            elapsed = time.perf_counter() - start
            process.returncode = code = os.waitstatus_to_exitcode(status)
            if code != 0:
                err.seek(0)
                raise RuntimeError(f"{argv} exited {code}: {err.read().decode(errors='replace')}")
        kib = int(peak.read_text()) if peak.exists() else usage.ru_maxrss
    return elapsed, kib / 1024


def run_bot(config: Path, env: dict[str, str], *args: str) -> tuple[float, float]:
    """One `mailbot run` (or `args`) in a fresh interpreter: seconds and peak RSS (MiB)."""
    return timed([sys.executable, "-m", "mailbot", "--config", str(config), *(args or ("run",))],
                 env)


def percentile(values: list[float], p: float) -> float:
    """Nearest rank: a measured value."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def append_all(imap: ImapServer, raws: list[bytes], folder: str = "INBOX") -> None:
    """APPEND the mails in order (MULTIAPPEND, 500 a command, where the server offers it)."""
    client = imap.client()
    try:
        if len(raws) > 1 and client.has_capability("MULTIAPPEND"):
            for at in range(0, len(raws), 500):
                client.multiappend(folder, raws[at:at + 500])
            return
        for raw in raws:
            client.append(folder, raw)
    finally:
        client.logout()
