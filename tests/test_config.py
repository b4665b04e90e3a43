"""The settings once loaded: frozen, closed choices refused, every path resolved once."""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from typing import Any, Literal

import pytest

from mailbot import config as cfg
from mailbot.errors import ConfigError
from mailbot.reply import SHIPPED_TEMPLATES
from tests.settings import changed, config_in, write_settings


def tables(cls: type[Any], prefix: str = "") -> list[tuple[str, type[Any]]]:
    """Every settings dataclass below `cls`, with its dotted name."""
    found = [(prefix.rstrip("."), cls)]
    for name, hint in typing.get_type_hints(cls).items():
        if dataclasses.is_dataclass(hint):
            found += tables(typing.cast(type[Any], hint), f"{prefix}{name}.")
    return found


def choices() -> list[tuple[str, str, tuple[str, ...], bool]]:
    """(table, key, allowed values, whether a list) of every closed choice."""
    found = []
    for where, cls in tables(cfg.Config):
        for name, hint in typing.get_type_hints(cls).items():
            listed = typing.get_origin(hint) is tuple
            item = typing.get_args(hint)[0] if listed else hint
            if typing.get_origin(item) is Literal:
                found.append((where, name, typing.get_args(item), listed))
    return found


@pytest.mark.parametrize(("where", "cls"), tables(cfg.Config))
def test_every_table_is_frozen(where: str, cls: type[Any]) -> None:
    table = cfg.Config() if cls is cfg.Config else cls()
    name = dataclasses.fields(table)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(table, name, getattr(table, name))


def test_the_closed_choices_are_the_documented_ones() -> None:
    assert {f"{w}.{k}": set(v) for w, k, v, _ in choices()} == {
        "mailbot.mode": {"live", "shadow"},
        "inbox.sources": {"imap", "maildir", "triggers"},
        "inbox.imap.security": {"ssl", "starttls", "plain"},
        "staging.transport": {"local", "ssh"},
        "outbox.transport": {"directory", "smtp"},
        "outbox.smtp.security": {"ssl", "starttls", "plain"},
        "outbox.review.copy_to": {"imap", "directory", "none"},
        "outbox.review.hold": {"verdict", "malformed", "completion", "failure", "notice"},
    }


@pytest.mark.parametrize(("where", "key", "allowed", "listed"), choices())
def test_a_value_outside_a_choice_is_one_line_error(
    where: str, key: str, allowed: tuple[str, ...], listed: bool, tmp_path: Path
) -> None:
    def settings(value: str) -> Path:
        return write_settings(tmp_path / "m.toml", nested(where, {key: [value] if listed
                                                                 else value}))

    with pytest.raises(ConfigError) as refused:
        cfg.load(settings("bogus"))
    assert str(refused.value) == (
        f"{where}.{key}: 'bogus' is not one of {', '.join(sorted(allowed))}")
    loaded = cfg.load(settings(allowed[0]))  # "imap" for the sources: no other setting needed
    table: Any = loaded
    for part in where.split("."):
        table = getattr(table, part)
    assert getattr(table, key) in (allowed[0], (allowed[0],))


def nested(where: str, leaf: dict[str, object]) -> dict[str, object]:
    table: dict[str, object] = leaf
    for part in reversed(where.split(".")):
        table = {part: table}
    return table


def test_paths_are_resolved_when_loaded(tmp_path: Path) -> None:
    settings = write_settings(tmp_path / "m.toml", {
        "mailbot": {"data_dir": "~/bot", "log_file": ""},
        "replies": {"templates_dir": "{data_dir}/templates"},
        "staging": {"jobs_dir": "~/jobs-{data_dir}"},
    })
    config = cfg.load(settings)
    home = Path("~").expanduser()
    assert config.mailbot.data_dir == str(home / "bot")
    assert config.mailbot.journal == str(home / "bot" / "journal.sqlite")
    assert config.mailbot.log_file == ""  # empty: no log file, not "."
    assert config.replies.templates_dir == str(home / "bot" / "templates")
    assert config.templates.directory == home / "bot" / "templates"
    assert config.inbox.maildir.path == str(home / "bot" / "inbox")
    assert config.staging.ssh.known_hosts == str(home / ".ssh" / "known_hosts")
    # Read by the staging host's shell: only {data_dir} is expanded, its ~ stays.
    assert config.staging.jobs_dir == f"~/jobs-{home / 'bot'}"
    assert config.archive.url == f"sqlite:///{home / 'bot'}/alma-demo.sqlite"
    # Still `{data_dir}` in the command: it is expanded word by word after splitting.
    assert "{data_dir}" in config.staging.command
    assert config.path(config.mailbot.journal) == Path(config.mailbot.journal)


def test_a_changed_config_keeps_its_paths_and_a_new_data_dir_takes_a_new_one(
    tmp_path: Path
) -> None:
    config = config_in(tmp_path / "a", outbox={"directory": "{data_dir}/out"})
    assert config.outbox.directory == str(tmp_path / "a" / "out")
    again = changed(config, staging={"slots": 1})
    assert again.outbox.directory == config.outbox.directory
    assert again.mailbot == config.mailbot and again.staging.slots == 1
    with pytest.raises(AssertionError):
        changed(config, mailbot={"data_dir": str(tmp_path / "b")})


def test_the_replies_get_their_settings_and_templates_once() -> None:
    config = cfg.Config(
        addresses=cfg.Addresses(aog="bot@example.org", own=("Alias@example.org",)),
        verdicts={"DUPLICATE": "SEEN BEFORE"},
    )
    settings = config.reply_settings
    assert settings is config.reply_settings
    assert settings.aog == "bot@example.org" and settings.message_id_domain == "example.org"
    assert settings.own_addresses == {"bot@example.org", "alias@example.org",
                                      "no_reply_eu_data_delivery@eso.org"}
    assert settings.verdict_line("DUPLICATE") == "SEEN BEFORE"
    assert settings.verdict_line("MALFORMED") == "MALFORMED REQUEST"
    assert config.templates is config.templates
    assert config.templates.directory == SHIPPED_TEMPLATES


@pytest.mark.parametrize(("tables", "error"), [
    ({"limits": {"requests_per_day": 0}}, "limits.requests_per_day must be at least 1"),
    ({"limits": {"requests_per_run": -1}}, "limits.requests_per_run must be at least 1"),
    ({"limits": {"max_mail_bytes": 0}}, "limits.max_mail_bytes must be at least 1"),
    ({"replies": {"max_recipients": 0}}, "replies.max_recipients must be at least 1"),
    ({"replies": {"loop_header": "X-Loop: yes"}},
     "replies.loop_header is not a header name: 'X-Loop: yes'"),
    ({"addresses": {"aog": "aog at eso.org"}}, "addresses.aog is not a plain address"),
    ({"addresses": {"maintainer": "=?utf-8?q?x?=@eso.org"}},
     "addresses.maintainer is not a plain address"),
], ids=["per day", "per run", "mail size", "recipients", "loop header", "aog", "maintainer"])
def test_a_bound_that_is_no_bound_is_refused(tables: dict[str, Any], error: str,
                                             tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as refused:
        cfg.load(write_settings(tmp_path / "m.toml", tables))
    assert str(refused.value) == error


def test_the_sample_is_safe_as_written() -> None:
    """What `mailbot init` writes: limits on, replies capped, no address named for links."""
    config = cfg.load(cfg.PACKAGE_DIR / "sample-config.toml")
    assert config.contacts.addresses == frozenset(), "a link goes to no ARC contact by domain"
    assert config.contacts.domains == {"@eso.org"}
    settings = config.reply_settings
    assert settings.may_copy("someone@eso.org") and not settings.may_copy("x@example.org")
    assert not settings.may_receive_link("someone@eso.org")
    assert settings.may_receive_link(config.addresses.maintainer)
    assert (config.limits.requests_per_day, config.limits.requests_per_run) == (30, 20)
    assert config.replies.max_recipients == 10
    assert config.inbox.authserv_id == ""  # the MTA's name: set by the README's production


def test_an_address_listed_by_itself_may_have_the_link() -> None:
    config = changed(cfg.Config(), addresses={"arc_contacts": ("@eso.org", " EvKampe@ESO.org")})
    settings = config.reply_settings
    assert settings.may_receive_link("evkampe@eso.org")
    assert not settings.may_receive_link("mallory@eso.org")
    assert config.arc_contact("mallory@eso.org") and not config.arc_contact("x@evil-eso.org")
