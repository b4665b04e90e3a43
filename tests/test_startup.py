"""What a start of `mailbot` imports: only what the command run uses (issue 14, row B4).

Each case runs the real command in a fresh interpreter, as cron does, and reads
back the modules it loaded; how long that takes is the benchmark's business.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from mailbot.cli.main import ORDER

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


def loaded_by(*args: str, home: Path) -> tuple[int, set[str], str]:
    """`mailbot ARGS` (embedded setup in `home`): its exit status, the modules it loaded, and
    its standard output."""
    env = {k: v for k, v in os.environ.items() if k != "MAILBOT_CONFIG"}
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
    assert "mailbot.run" in modules  # it did run
    leaked = modules & {"paramiko", "oracledb", "jinja2"}
    assert not leaked, leaked
