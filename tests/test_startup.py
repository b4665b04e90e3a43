"""What a start of `mailbot` imports: only what the command run uses (issue 14, rows B2, B4).

Each case runs the real command in a fresh interpreter, as cron does, and reads
back the modules it loaded; how long that takes is the benchmark's business.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from mailbot.archive.demo import DEMO_CASES
from mailbot.cli.main import ORDER
from mailbot.demo import request_mail
from mailbot.model import VerdictCode
from tests.installation import AOG, MAINTAINER, Installation
from tests.servers.dovecot import ImapServer
from tests.servers.smtp import SmtpServer
from tests.servers.sshd import SshServer

# `python -m mailbot ARGS`, then its exit status and the names of the modules it loaded
# (not those the interpreter had loaded before it), one a line, into a file.
_LOADED = """
import runpy, sys
before = set(sys.modules)
out, sys.argv = sys.argv[1], ["mailbot", *sys.argv[2:]]
try:
    runpy.run_module("mailbot", run_name="__main__", alter_sys=True)
except SystemExit as exc:
    status = exc.code
with open(out, "w") as file:
    file.write(f"{status}\\n" + "\\n".join(sorted(set(sys.modules) - before)))
"""

# Server libraries and the heavy parts of the bot itself.
_SERVER_LIBRARIES = {"paramiko", "oracledb", "jinja2", "imapclient"}

# What a run with nothing to do never needs: reading, deciding and recording a mail, its
# reply, the archive, stagings, sending, review copies, and retrying a connect that failed.
_DECISION_MACHINERY = {
    "mailbot.grammar", "mailbot.textmail", "mailbot.inbox.identity", "mailbot.model",
    "mailbot.decide", "mailbot.plan", "mailbot.run.record", "mailbot.journal.records",
    "mailbot.reply.render", "mailbot.archive", "mailbot.scheduler", "mailbot.stage.jobs",
    "mailbot.outbox", "mailbot.smtp", "mailbot.review",
    "jinja2", "mailparser", "oracledb", "paramiko", "smtplib", "tenacity",
}


def loaded_by(*args: str, home: Path,
              env: Mapping[str, str] | None = None) -> tuple[int, set[str], str]:
    """`mailbot ARGS` (embedded setup in `home`, with `env` added): its exit status, the
    modules it loaded, and its standard output."""
    env = {**{k: v for k, v in os.environ.items() if k != "MAILBOT_CONFIG"}, **(env or {})}
    env["MAILBOT_HOME"] = str(home)
    out = home / "modules.txt"
    done = subprocess.run([sys.executable, "-c", _LOADED, str(out), *args], env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert out.exists(), done.stderr
    status, *names = out.read_text().splitlines()
    return int(status), set(names), done.stdout


def test_version_loads_no_settings_no_journal_and_no_third_party_package(
        tmp_path: Path) -> None:
    status, modules, shown = loaded_by("--version", home=tmp_path)
    assert (status, shown.split()[0]) == (0, "mailbot")
    leaked = modules & (_SERVER_LIBRARIES | {"mailbot.journal", "mailbot.config"})
    assert not leaked, leaked
    # An installed distribution is outside the standard library's own names.
    foreign = {p for p in {name.split(".")[0] for name in modules}
               if p not in sys.stdlib_module_names and p != "mailbot"}
    assert not foreign, foreign
    # Of the bot: the parser, the command declarations, and what they name.
    beyond = {m for m in modules if m.startswith("mailbot.") and not m.startswith(
        ("mailbot.cli", "mailbot.clock", "mailbot.errors", "mailbot.states"))}
    assert not beyond, beyond


def test_help_lists_every_command_without_importing_the_handlers_modules(
        tmp_path: Path) -> None:
    status, modules, shown = loaded_by("--help", home=tmp_path)
    assert status == 0
    listed = {line.split()[0] for line in shown.splitlines() if line.startswith("    ")}
    assert listed >= set(ORDER), set(ORDER) - listed
    leaked = modules & (_SERVER_LIBRARIES | {"mailbot.journal", "mailbot.config",
                                             "mailbot.run", "mailbot.archive"})
    assert not leaked, leaked


def test_an_idle_embedded_run_loads_no_ssh_oracle_or_template_library(tmp_path: Path) -> None:
    first, _, _ = loaded_by("run", home=tmp_path)  # sets the embedded setup up
    assert first == 0
    status, modules, _ = loaded_by("run", home=tmp_path)
    assert status == 0
    assert {"mailbot.run.loop", "mailbot.inbox.files"} <= modules  # it did run, and read
    leaked = modules & _DECISION_MACHINERY
    assert not leaked, leaked


def test_an_idle_run_on_the_mailbox_loads_no_decision_machinery(
        tmp_path: Path, imap: ImapServer, smtp: SmtpServer, sshd: SshServer) -> None:
    """The production setup (IMAP in, SMTP out, review copies in IMAP, stagings over SSH)
    after one request was answered and copied: cron's next run finds nothing new."""
    inst = Installation(tmp_path, imap, smtp, sshd)
    answered = next(c for c in DEMO_CASES
                    if c.expected not in (VerdictCode.STAGE, VerdictCode.DUPLICATE))
    client = imap.client()
    client.append("INBOX", request_mail(answered, aog=AOG, maintainer=MAINTAINER))
    client.logout()
    first, busy, _ = loaded_by("--config", str(inst.config), "run", home=tmp_path, env=inst.env)
    assert first == 0
    assert {"mailbot.plan", "mailbot.smtp", "mailbot.review"} <= busy  # it decided, sent, copied
    assert len(smtp.messages) == 1 and inst.idle(), inst.busy()
    status, modules, _ = loaded_by("--config", str(inst.config), "run", home=tmp_path,
                                   env=inst.env)
    assert status == 0
    assert {"mailbot.run.loop", "mailbot.inbox.imap", "imapclient"} <= modules  # it looked
    leaked = modules & _DECISION_MACHINERY
    assert not leaked, leaked
    assert len(smtp.messages) == 1
