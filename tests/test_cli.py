"""The smaller commands through the real CLI: init, archive init, report, config errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mailbot import config as cfg
from mailbot.archive import demo as demo_archive
from mailbot.cli import display
from mailbot.cli.main import ORDER, commands, parser
from mailbot.demo import prepare, request_mail
from mailbot.model import VerdictCode


def mailbot(*args: str, home: Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "MAILBOT_CONFIG"}
    env["MAILBOT_HOME"] = str(home)
    return subprocess.run([sys.executable, "-m", "mailbot", *args], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=120, check=False)


def test_init_writes_the_sample_and_never_overwrites(tmp_path: Path) -> None:
    target = tmp_path / "mailbot.toml"
    done = mailbot("init", str(target), home=tmp_path)
    assert done.returncode == 0, done.stderr
    assert target.read_text() == (cfg.PACKAGE_DIR / "sample-config.toml").read_text()
    assert cfg.load(target).addresses.aog == cfg.Config().addresses.aog
    target.write_text("# edited by AOG\n")
    again = mailbot("init", str(target), home=tmp_path)
    assert again.returncode != 0 and "exists" in again.stderr
    assert target.read_text() == "# edited by AOG\n"


def test_archive_init_creates_an_empty_or_a_demo_archive(tmp_path: Path) -> None:
    empty, demo = tmp_path / "empty.sqlite", tmp_path / "demo.sqlite"
    assert mailbot("archive", "init", str(empty), home=tmp_path).returncode == 0
    assert mailbot("archive", "init", "--demo", str(demo), home=tmp_path).returncode == 0
    refused = mailbot("archive", "init", str(demo), home=tmp_path)
    assert refused.returncode != 0 and "exists" in refused.stderr

    case = next(c for c in demo_archive.DEMO_CASES if c.expected is VerdictCode.NOT_ENTITLED)
    mail = tmp_path / "request.eml"
    raw = request_mail(case, aog="aog@example.org", maintainer="m@example.org")
    # From an ARC contact of the embedded defaults (`@eso.org`): check judges as a run would.
    mail.write_bytes(raw.replace(b"<arc.contact@example.org>", b"<arc.contact@eso.org>"))
    verdicts = {}
    for archive in (empty, demo):
        done = mailbot("check", "--json", "--archive", f"sqlite:///{archive}", str(mail),
                       home=tmp_path)
        assert done.returncode == 0, done.stderr
        verdicts[archive.name] = json.loads(done.stdout)["verdict"]
    assert verdicts == {"empty.sqlite": "INVALID MOUS UID", "demo.sqlite": "NOT ENTITLED"}


def test_report_after_a_demo_run(tmp_path: Path) -> None:
    config, _ = prepare(tmp_path / "demo", duration=0.1)
    assert mailbot("--config", config.source, "run", home=tmp_path).returncode == 0
    done = mailbot("--config", config.source, "report", home=tmp_path)
    assert done.returncode == 0, done.stderr
    first = done.stdout.splitlines()[0]
    assert f"{len(demo_archive.DEMO_CASES)} request(s)" in first
    assert "INVALID MOUS UID" in done.stdout and "malformed" in done.stdout


def test_commands_on_a_fresh_home_say_there_is_nothing(tmp_path: Path) -> None:
    for args, expected in ((("report",), "no journal yet"), (("requests",), "(no request)"),
                           (("outbox", "list"), "(no mail)")):
        done = mailbot(*args, home=tmp_path)
        assert done.returncode == 0, done.stderr
        assert expected in done.stdout


def test_a_bad_config_is_one_clear_line_and_exit_78(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    for text, words in (
        ("[inbox]\nsources = ['pop3']\n", "inbox.sources: 'pop3' is not one of"),
        ("[outbox]\ntransprt = 'smtp'\n", "unknown setting(s) in [outbox]: transprt"),
        ("[staging]\nslots = 'two'\n", "staging.slots must be of type int"),
        ("[mailbot\n", str(bad)),
    ):
        bad.write_text(text)
        done = mailbot("--config", str(bad), "run", home=tmp_path)
        assert done.returncode == 78, (text, done.stderr)
        assert done.stderr.count("\n") == 1 and words in done.stderr, done.stderr
    missing = mailbot("--config", str(tmp_path / "nope.toml"), "run", home=tmp_path)
    assert missing.returncode == 78 and "config file not found" in missing.stderr


def test_the_environment_names_the_config(tmp_path: Path) -> None:
    config, _ = prepare(tmp_path / "demo", duration=0.1)
    env = {**os.environ, "MAILBOT_CONFIG": config.source}
    done = subprocess.run([sys.executable, "-m", "mailbot", "run"], capture_output=True,
                          text=True, env=env, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert config.path(config.mailbot.journal).exists()
    assert "request" in config.path(config.mailbot.log_file).read_text()


def test_a_missing_secret_file_is_a_config_error(tmp_path: Path) -> None:
    config, _ = prepare(tmp_path / "demo", duration=0.1)
    env = {**os.environ, "MAILBOT_ARCHIVE_PASSWORD_FILE": str(tmp_path / "nope")}
    bad = tmp_path / "oracle.toml"
    bad.write_text(Path(config.source).read_text()
                   + '\n[archive]\nurl = "oracle://aog@127.0.0.1:1/ALMA"\n')
    done = subprocess.run([sys.executable, "-m", "mailbot", "--config", str(bad), "run"],
                          capture_output=True, text=True, env=env, timeout=120, check=False)
    assert done.returncode == 78, done.stderr
    assert done.stderr.count("\n") == 1 and "MAILBOT_ARCHIVE_PASSWORD_FILE" in done.stderr


def test_an_archive_config_error_stops_the_run_and_shunts_nothing(tmp_path: Path) -> None:
    """A broken setting is not the mails' fault: they stay unrecorded, one line, exit 78."""
    config, _ = prepare(tmp_path / "demo", duration=0.1)
    bad = tmp_path / "oracle.toml"
    bad.write_text(Path(config.source).read_text()
                   + '\n[archive]\nurl = "oracle://aog@127.0.0.1:1/ALMA"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILBOT_ARCHIVE")}
    done = subprocess.run([sys.executable, "-m", "mailbot", "--config", str(bad), "run"],
                          capture_output=True, text=True, env=env, timeout=120, check=False)
    assert done.returncode == 78, done.stderr
    assert done.stderr.count("\n") == 1 and "MAILBOT_ARCHIVE_PASSWORD" in done.stderr
    from mailbot.journal import Journal

    journal = Journal(config.path(config.mailbot.journal))
    try:
        kinds = {outcome.kind for outcome in journal.outcomes()}
    finally:
        journal.close()
    assert "shunted" not in kinds and "request" not in kinds


def test_triggers_without_a_path_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[inbox]\nsources = ["triggers"]\n')
    done = mailbot("--config", str(bad), "run", home=tmp_path)
    assert done.returncode == 78 and "inbox.triggers.path is empty" in done.stderr


def test_attention_shows_what_stopped_the_last_run(tmp_path: Path) -> None:
    config, _ = prepare(tmp_path / "demo", duration=0.1)
    broken = tmp_path / "broken.toml"
    broken.write_text(Path(config.source).read_text() + "\n[inbox]\nsources = "
                      f'["maildir", "triggers"]\n[inbox.triggers]\npath = "{tmp_path}/gone"\n')
    assert mailbot("--config", str(broken), "run", home=tmp_path).returncode == 75
    done = mailbot("attention", "--config", str(broken), home=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "The last run" in done.stdout and "trigger directory unavailable" in done.stdout
    assert mailbot("run", "--config", config.source, home=tmp_path).returncode == 0
    quiet = mailbot("attention", "--config", config.source, home=tmp_path)
    assert "The last run" not in quiet.stdout


def test_init_to_standard_output_and_into_a_new_directory(tmp_path: Path) -> None:
    sample = (cfg.PACKAGE_DIR / "sample-config.toml").read_text()
    assert mailbot("init", "-", home=tmp_path).stdout == sample
    nested = tmp_path / "etc" / "mailbot" / "mailbot.toml"
    assert mailbot("init", str(nested), home=tmp_path).returncode == 0
    assert nested.read_text() == sample


@pytest.mark.parametrize("argv", [
    ["--config", "x.toml", "outbox", "list"],
    ["outbox", "--config", "x.toml", "list"],
    ["outbox", "list", "--config", "x.toml"],
    ["-c", "x.toml", "archive", "init", "a.sqlite"],
    ["archive", "init", "a.sqlite", "-c", "x.toml"],
])
def test_config_is_taken_before_or_after_the_command(argv: list[str]) -> None:
    assert parser().parse_args(argv).config == "x.toml"


def test_a_group_needs_its_action_and_an_id_must_be_a_number(tmp_path: Path) -> None:
    for args, words in ((("outbox",), "required: ACTION"), (("archive",), "required: ACTION"),
                        (("retry", "x"), "argument JOB: invalid int value"),
                        (("bogus",), "invalid choice: 'bogus'")):
        done = mailbot(*args, home=tmp_path)
        assert done.returncode == 2 and words in done.stderr, (args, done.stderr)


def test_every_command_is_declared_once_and_listed_in_order() -> None:
    names = [c.name for c in commands()]
    assert len(names) == len(set(names))
    assert list(dict.fromkeys(name.split()[0] for name in names)) == list(ORDER)
    assert {"outbox list", "outbox show", "outbox approve", "outbox discard",
            "archive init"} <= set(names)


def test_ages_and_durations_are_measured_against_the_clock_given() -> None:
    now = datetime(2025, 3, 2, 12, 0, tzinfo=UTC)
    assert [display.age(stamp, now) for stamp in (
        "2025-02-27T11:00:00+00:00", "2025-03-02T07:00:00+00:00",
        "2025-03-02T11:48:00+00:00", "2025-03-02T11:59:20+00:00", None)] == [
        "3d", "5h", "12m", "40s", "-"]
    assert display.duration("2025-03-02T10:58:57+00:00", None, now) == "1:01:03"
    assert display.duration("2025-03-02T10:00:00+00:00", "2025-03-02T10:00:09+00:00",
                            now) == "0:00:09"
    assert display.duration(None, None, now) == "-"


def test_requests_and_the_log_use_the_configured_verdict_lines(tmp_path: Path) -> None:
    """One vocabulary: what the reply says is what `requests` and the log say."""
    config = tmp_path / "x.toml"
    assert mailbot("init", str(config), home=tmp_path).returncode == 0
    config.write_text(config.read_text(encoding="utf-8").replace(
        'NOT_ENTITLED = "NOT ENTITLED"', 'NOT_ENTITLED = "NOT ENTITLED (AOG)"'), encoding="utf-8")
    assert mailbot("--config", str(config), "run", home=tmp_path).returncode == 0
    case = next(c for c in demo_archive.DEMO_CASES if c.expected is VerdictCode.NOT_ENTITLED)
    raw = request_mail(case, aog="aog@eso.org", maintainer="dpetry@eso.org")
    (tmp_path / "inbox" / "new" / "1.eml").write_bytes(
        raw.replace(b"<arc.contact@example.org>", b"<arc.contact@eso.org>"))
    assert mailbot("--config", str(config), "run", home=tmp_path).returncode == 0
    listed = mailbot("--config", str(config), "requests", home=tmp_path)
    log = (tmp_path / "mailbot.log").read_text(encoding="utf-8")
    for text in (listed.stdout, log):
        assert "NOT ENTITLED (AOG)" in text
        assert "NOT_ENTITLED" not in text
