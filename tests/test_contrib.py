"""The shipped service files run as written: each ExecStart (and the crontab line) is
started as systemd or cron would start it, with only the install paths substituted.

systemd itself is not needed: the test reads the unit files, takes their ExecStart,
Environment and User lines, and runs the command with this checkout's `mailbot`.
"""

from __future__ import annotations

import configparser
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CONTRIB = ROOT / "contrib"
MAILBOT = str(Path(sys.executable).parent / "mailbot")


def unit(name: str) -> configparser.ConfigParser:
    # Environment= repeats, which systemd allows and configparser does not by default.
    parser = configparser.ConfigParser(strict=False, interpolation=None,
                                       dict_type=_Repeated)  # type: ignore[arg-type]
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(CONTRIB / name, encoding="utf-8")
    return parser


class _Repeated(dict[str, object]):
    """Keeps every value of a key that repeats (Environment=), newline-joined."""

    def __setitem__(self, key: str, value: object) -> None:
        if isinstance(value, list) and key in self and isinstance(self[key], list):
            self[key].extend(value)  # type: ignore[union-attr]
        else:
            super().__setitem__(key, value)


def installed(command: str, config: Path) -> list[str]:
    """The command line with the install's paths pointing at this test's."""
    words = shlex.split(command)
    assert words[:3] == ["/opt/mailbot/bin/mailbot", "--config", "/etc/mailbot/mailbot.toml"]
    return [MAILBOT, "--config", str(config), *words[3:]]


def environment(service: configparser.ConfigParser) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILBOT_")}
    for line in service["Service"]["Environment"].split("\n"):
        key, _, value = line.partition("=")
        assert value.startswith("/etc/mailbot/"), line
        env[key] = value
    return env


@pytest.fixture
def settings(tmp_path: Path) -> Path:
    """What contrib/setup.sh leaves: `mailbot init`'s file with data_dir set."""
    config = tmp_path / "mailbot.toml"
    done = subprocess.run([MAILBOT, "init", str(config)], capture_output=True, text=True,
                          env={**os.environ, "MAILBOT_HOME": str(tmp_path / "home")},
                          check=False, timeout=120)
    assert done.returncode == 0, done.stderr
    sample = config.read_text(encoding="utf-8")
    assert '# data_dir = "/var/lib/mailbot"' in sample  # what setup.sh uncomments
    config.write_text(sample.replace('# data_dir = "/var/lib/mailbot"',
                                     f'data_dir = "{tmp_path / "home"}"'), encoding="utf-8")
    return config


def test_every_unit_runs_as_the_mailbot_user_with_secrets_from_files() -> None:
    for name in ("mailbot-watch.service", "mailbot-run.service"):
        service = unit(name)["Service"]
        assert service["User"] == service["Group"] == "mailbot", name
        assert "PASSWORD_FILE=" in service["Environment"], name
        assert "/var/lib/mailbot" in service["ReadWritePaths"], name
    assert unit("mailbot-run.timer")["Timer"]["OnCalendar"] == "*:0/10"
    assert unit("mailbot-watch.service")["Service"]["RestartPreventExitStatus"] == "78"


def test_the_timer_service_execstart_runs_a_pass(settings: Path) -> None:
    service = unit("mailbot-run.service")
    done = subprocess.run(installed(service["Service"]["ExecStart"], settings),
                          capture_output=True, text=True, env=environment(service),
                          check=False, timeout=120)
    assert (done.returncode, done.stderr) == (0, "")
    assert (settings.parent / "home" / "journal.sqlite").exists()


def test_the_watch_service_execstart_serves_until_sigterm(settings: Path) -> None:
    service = unit("mailbot-watch.service")
    log = settings.parent / "home" / "mailbot.log"
    proc = subprocess.Popen(installed(service["Service"]["ExecStart"], settings),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=environment(service))
    try:
        deadline = time.monotonic() + 60
        # The first pass is logged; then the service waits for mail or its interval.
        while "pass" not in (log.read_text() if log.exists() else ""):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no pass logged within 60 s"
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)  # what `systemctl stop` sends
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert (proc.returncode, err) == (0, "")


def test_the_crontab_line_runs_a_pass(settings: Path) -> None:
    lines = [line for line in (CONTRIB / "mailbot.cron").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILBOT_")}
    env.update(line.split("=", 1) for line in lines if "=" in line.split()[0])
    [entry] = [line for line in lines if "=" not in line.split()[0]]
    fields = entry.split(None, 6)
    assert fields[:5] == ["*/10", "*", "*", "*", "*"] and fields[5] == "mailbot"
    done = subprocess.run(installed(fields[6], settings), capture_output=True, text=True,
                          env=env, check=False, timeout=120)
    assert (done.returncode, done.stderr) == (0, "")


def test_setup_script_is_valid_shell_and_makes_every_directory() -> None:
    script = (CONTRIB / "setup.sh").read_text(encoding="utf-8")
    assert subprocess.run(["sh", "-n", str(CONTRIB / "setup.sh")], check=False).returncode == 0
    for directory in ("/opt/mailbot", "/etc/mailbot", "/var/lib/mailbot"):
        assert directory in script
    assert "useradd --system" in script and "alma-mailbot" in script
