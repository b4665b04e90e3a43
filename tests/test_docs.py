"""Docs that cannot rot: every command, setting, verdict and template is documented."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

from mailbot import config as cfg
from mailbot.model import VerdictCode

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
SAMPLE = cfg.PACKAGE_DIR / "sample-config.toml"


def settings(cls: type[Any], prefix: str = "") -> list[str]:
    """Dotted names of every setting of a config dataclass, tables excluded."""
    names = []
    for f in dataclasses.fields(cls):
        if f.name == "source":
            continue
        hint = cls.__dataclass_fields__[f.name].type
        sub = getattr(cfg, str(hint), None)
        if isinstance(sub, type) and dataclasses.is_dataclass(sub):
            names += settings(sub, f"{prefix}{f.name}.")
        else:
            names.append(prefix + f.name)
    return names


def test_every_setting_is_in_the_sample_config() -> None:
    text = SAMPLE.read_text(encoding="utf-8")
    tables: dict[str, set[str]] = {}
    table = ""
    for line in text.splitlines():
        head = re.match(r"^\[([\w.]+)\]", line)
        key = re.match(r"^#?\s?(\w+) = ", line)
        if head:
            table = head.group(1)
        elif key:
            tables.setdefault(table, set()).add(key.group(1))
    missing = []
    for name in settings(cfg.Config):
        table, _, key = name.rpartition(".")
        if name == "verdicts":
            continue
        if key not in tables.get(table, set()):
            missing.append(name)
    assert missing == []


def test_sample_config_holds_the_defaults() -> None:
    loaded = dataclasses.replace(cfg.load(SAMPLE), source="")
    default = cfg.Config()
    # The two values the sample leaves commented: they depend on the machine.
    assert loaded.mailbot.data_dir == default.mailbot.data_dir
    assert loaded.staging.command == default.staging.command
    assert loaded == default
    assert set(tomllib.loads(SAMPLE.read_text())["verdicts"]) == set(default.verdicts)


def test_every_verdict_has_a_line_a_template_and_a_mention() -> None:
    config = cfg.Config()
    for code in VerdictCode:
        if code is VerdictCode.STAGE:
            continue
        assert (config.templates.directory / f"verdict_{code.value}.txt.j2").exists()
        assert config.verdict_line(code.value) in SAMPLE.read_text()
    for line in ("NOT ENTITLED", "INVALID MOUS UID", "MOUS NOT DELIVERED"):
        assert line in README


def test_every_command_is_in_the_readme() -> None:
    done = subprocess.run([sys.executable, "-m", "mailbot", "--help"], capture_output=True,
                          text=True, check=True)
    commands = re.findall(r"^ {4}(\w+) {2,}\S", done.stdout, re.MULTILINE)
    assert len(commands) >= 10
    for command in commands:
        assert f"`mailbot {command}" in README, command


def test_secrets_named_in_the_readme_are_the_configured_ones() -> None:
    config = cfg.Config()
    for env in (config.inbox.imap.password_env, config.outbox.smtp.password_env,
                config.archive.password_env, config.staging.ssh.key_passphrase_env):
        assert env in README


def test_readme_gives_the_two_setup_commands_and_ci_runs_the_test_one() -> None:
    assert "\n    scripts/demo\n" in README and "\n    scripts/test\n" in README
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^exec scripts/test\s*$", ci, re.MULTILINE)
