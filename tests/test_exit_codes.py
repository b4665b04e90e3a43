"""The README's exit statuses and help texts, held by the real CLI.

Each status the README's "Exit status:" paragraph promises is produced here by the
command a cron job or an operator would run, with one line on stderr and no
traceback; and every command and argument says what it is in `--help`.
"""

from __future__ import annotations

import fcntl
import os
import re
from pathlib import Path

import pytest

from mailbot.cli.main import commands, parser
from mailbot.cli.registry import GROUPS
from tests.test_operator_errors import mailbot, one_line

ROOT = Path(__file__).resolve().parent.parent


def readme_statuses() -> dict[int, str]:
    """The README's exit statuses, each with what it says the status means."""
    text = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    paragraph = text[text.index("Exit status: ") + len("Exit status: "):]
    paragraph = paragraph[:paragraph.index("Every fault is one line")]
    return {int(code): meaning.strip(" ;.")
            for code, meaning in re.findall(r"(\d+) (.*?)(?=; \d+ |\.$|$)", paragraph)}


def test_the_readme_names_the_statuses_tested_here() -> None:
    statuses = readme_statuses()
    assert set(statuses) == {0, 75, 78, 1, 2}
    assert "another run holds the lock" in statuses[0]
    assert "server was down" in statuses[75]
    assert "setting" in statuses[78]
    assert "refused" in statuses[1]
    assert "usage error" in statuses[2]


@pytest.fixture
def settings(tmp_path: Path) -> Path:
    config = tmp_path / "x.toml"
    assert mailbot("init", str(config), home=tmp_path / "home").returncode == 0
    return config


def test_0_done_and_0_when_another_run_holds_the_lock(settings: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    done = mailbot("--config", str(settings), "run", home=home)
    assert (done.returncode, done.stderr) == (0, "")
    lock = os.open(home / "mailbot.lock", os.O_RDWR)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        overlapping = mailbot("--config", str(settings), "run", home=home)
    finally:
        os.close(lock)
    assert (overlapping.returncode, overlapping.stderr) == (0, "")


def test_75_a_server_was_down(tmp_path: Path, closed_port: int,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "x.toml"
    config.write_text('[inbox]\nsources = ["imap"]\n[inbox.imap]\nhost = "127.0.0.1"\n'
                      f'port = {closed_port}\nsecurity = "plain"\nretry_seconds = 0\n',
                      encoding="utf-8")
    monkeypatch.setenv("MAILBOT_IMAP_PASSWORD", "secret")
    done = mailbot("--config", str(config), "run", home=tmp_path / "home")
    one_line(done, 75, "IMAP server unavailable")


def test_78_a_setting_is_wrong(tmp_path: Path) -> None:
    config = tmp_path / "x.toml"
    config.write_text("[staging]\nslots = 0\n", encoding="utf-8")
    done = mailbot("--config", str(config), "run", home=tmp_path / "home")
    one_line(done, 78, "staging.slots must be at least 1")


def test_1_a_command_refused(settings: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert mailbot("--config", str(settings), "run", home=home).returncode == 0
    done = mailbot("--config", str(settings), "retry", "99", home=home)
    one_line(done, 1, "99")


def test_2_a_usage_error_or_a_file_check_cannot_read(tmp_path: Path) -> None:
    done = mailbot("check", str(tmp_path / "absent.eml"), home=tmp_path)
    one_line(done, 2, "absent.eml")
    bogus = mailbot("requests", "--limit", "many", home=tmp_path)
    assert bogus.returncode == 2 and "invalid int value: 'many'" in bogus.stderr


def test_every_command_and_argument_has_a_help_text() -> None:
    for cmd in commands():
        assert cmd.help.strip(), cmd.name
        for arg in cmd.args:
            assert str(arg.options.get("help") or "").strip(), (cmd.name, arg.names)
    assert all(group.help.strip() for group in GROUPS.values())


@pytest.mark.parametrize("name", [c.name for c in commands()])
def test_help_of_each_command_says_what_it_does_and_shows_config(name: str) -> None:
    cmd = next(c for c in commands() if c.name == name)
    words = name.split()
    sub = parser()
    for word in words:  # walk down to the command's own parser
        action = next(a for a in sub._actions if a.dest in ("command", "action"))
        sub = action.choices[word]  # type: ignore[index]
    # Compared without whitespace: argparse re-wraps the texts (even after hyphens).
    text = "".join(sub.format_help().split())
    assert "".join(cmd.help.split()) in text
    assert "--configCONFIG" in text and "TOMLsettingsfile" in text
    for arg in cmd.args:
        assert "".join(str(arg.options["help"]).split()) in text, arg.names
