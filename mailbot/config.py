"""One TOML file of settings; secrets come only from the environment.

With no file at all every value below is the EMBEDDED setup: a local Maildir
inbox, the SQLite demo archive, the bundled stagecalms simulator and an outbox
written as .eml files, all under `mailbot.data_dir`.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import sys
import tomllib
import types
import typing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mailbot.errors import ConfigError

PACKAGE_DIR = Path(__file__).resolve().parent


def default_data_dir() -> str:
    home = os.environ.get("MAILBOT_HOME")
    if home:
        return home
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return str(Path(state) / "mailbot")


@dataclass
class General:
    data_dir: str = field(default_factory=default_data_dir)
    journal: str = "{data_dir}/journal.sqlite"
    lock_file: str = "{data_dir}/mailbot.lock"
    # Mail received before this instant is never answered (first run on an old mailbox).
    # Empty: the moment of the first run, remembered in the journal.
    cutover: str = ""
    # What the bot did, one line per step; stderr gets only warnings (cron mails it).
    log_file: str = "{data_dir}/mailbot.log"
    log_level: str = "INFO"


@dataclass
class Addresses:
    aog: str = "aog@eso.org"
    aog_name: str = "ALMA Archive Operations"
    maintainer: str = "dpetry@eso.org"
    no_reply: str = "no_reply_eu_data_delivery@eso.org"
    # Other addresses that are the bot itself (aliases of aog@); never replied to.
    own: list[str] = field(default_factory=list)
    # Who may send requests: addresses, or "@domain" for everybody at that domain.
    # Requests from anyone else are left alone and listed by `mailbot attention`:
    # a completion is blind-copied to the sender, so the sender must be ARC staff.
    arc_contacts: list[str] = field(default_factory=lambda: ["@eso.org"])
    # Right-hand side of generated Message-IDs; empty: the domain of `aog`.
    message_id_domain: str = ""


@dataclass
class Imap:
    host: str = "127.0.0.1"
    port: int = 993
    security: str = "ssl"  # ssl | starttls | plain
    user: str = "aog"
    password_env: str = "MAILBOT_IMAP_PASSWORD"
    folder: str = "INBOX"
    # Keyword set on a processed request (not on other mail, which stays untouched).
    processed_keyword: str = "$MailbotProcessed"
    # Move processed requests here after recording them; empty: leave them in place.
    processed_folder: str = ""
    ca_file: str = ""
    connect_timeout: float = 15.0
    read_timeout: float = 60.0
    retry_seconds: float = 60.0


@dataclass
class Maildir:
    path: str = "{data_dir}/inbox"


@dataclass
class Triggers:
    path: str = ""  # e.g. /opsw/work/datadelivery/stagecalmsTriggers; empty: channel off
    pattern: str = "trigger-*.txt"


@dataclass
class Inbox:
    sources: list[str] = field(default_factory=lambda: ["maildir"])  # imap, maildir, triggers
    imap: Imap = field(default_factory=Imap)
    maildir: Maildir = field(default_factory=Maildir)
    triggers: Triggers = field(default_factory=Triggers)


@dataclass
class Archive:
    # sqlite:///path/alma.db  or  oracle://user@host:port/service (password from env)
    url: str = "sqlite:///{data_dir}/alma-demo.sqlite"
    password_env: str = "MAILBOT_ARCHIVE_PASSWORD"
    queries_dir: str = ""  # empty: the queries shipped with mailbot
    connect_timeout: float = 10.0
    query_timeout: float = 120.0
    retry_seconds: float = 60.0


def _simulator_command() -> str:
    return f"{shlex.quote(sys.executable)} -m mailbot.simulator --root {{data_dir}}/staging"


@dataclass
class Ssh:
    host: str = "almasciencedev.hq.eso.org"
    port: int = 22
    user: str = "arcdistribution"
    key_file: str = "~/.ssh/id_ed25519"
    key_passphrase_env: str = "MAILBOT_SSH_KEY_PASSPHRASE"
    known_hosts: str = "~/.ssh/known_hosts"
    connect_timeout: float = 20.0
    command_timeout: float = 60.0
    keepalive: int = 30
    retry_seconds: float = 60.0


@dataclass
class Staging:
    transport: str = "local"  # local | ssh
    # stagecalms.sh and any leading words; PROJCODE MOUSUID TICKET [X CALFIELD] are appended.
    command: str = field(default_factory=_simulator_command)
    slots: int = 2
    # Where each job's log, pid and exit status live on the staging host.
    jobs_dir: str = "{data_dir}/jobs"
    ssh: Ssh = field(default_factory=Ssh)


@dataclass
class Smtp:
    host: str = "127.0.0.1"
    port: int = 25
    security: str = "starttls"  # ssl | starttls | plain
    user: str = ""  # empty: no AUTH
    password_env: str = "MAILBOT_SMTP_PASSWORD"
    ca_file: str = ""
    timeout: float = 30.0
    retry_seconds: float = 60.0


@dataclass
class Review:
    # Where AOG reads a copy of every sent mail: "imap" (a folder of the aog@ mailbox),
    # "directory" (.eml files), or "none".
    copy_to: str = "directory"
    imap_folder: str = "Mailbot/Sent"
    # Kinds of mail held until `mailbot outbox approve`: verdict, malformed, completion, failure.
    hold: list[str] = field(default_factory=list)


@dataclass
class Outbox:
    transport: str = "directory"  # directory | smtp
    directory: str = "{data_dir}/outbox"
    smtp: Smtp = field(default_factory=Smtp)
    review: Review = field(default_factory=Review)


@dataclass
class Replies:
    templates_dir: str = ""  # empty: the templates shipped with mailbot
    retention_days: int = 28
    quote_max_bytes: int = 20000
    # Beyond this many malformed replies to one sender in 24 h, further ones are held
    # for AOG (`mailbot attention`): breaks loops with responders that echo the text.
    malformed_per_day: int = 5
    signature: str = "Kind regards,\n\nThe ESO ALMA Team"
    loop_header: str = "X-Mailbot-Loop"


def _default_verdict_lines() -> dict[str, str]:
    return {
        "CYCLE_0": "CYCLE 0 PROJECT",
        "INVALID_MOUS": "INVALID MOUS UID",
        "PROJECT_MISMATCH": "PROJECT CODE MISMATCH",
        "NO_QA0_PASS": "NO QA0_PASS DATA",
        "UNKNOWN_CALFIELD": "UNKNOWN CALIBRATOR FIELD",
        "NOT_ENTITLED": "NOT ENTITLED",
        "NOT_DELIVERED": "MOUS NOT DELIVERED",
        "DUPLICATE": "DUPLICATE REQUEST",
        "MALFORMED": "MALFORMED REQUEST",
    }


@dataclass
class Config:
    mailbot: General = field(default_factory=General)
    addresses: Addresses = field(default_factory=Addresses)
    inbox: Inbox = field(default_factory=Inbox)
    archive: Archive = field(default_factory=Archive)
    staging: Staging = field(default_factory=Staging)
    outbox: Outbox = field(default_factory=Outbox)
    replies: Replies = field(default_factory=Replies)
    verdicts: dict[str, str] = field(default_factory=_default_verdict_lines)
    source: str = ""  # the file this was read from; empty for the embedded defaults

    def path(self, value: str) -> Path:
        """A configured path with `{data_dir}` and `~` expanded."""
        return Path(self.expand(value)).expanduser()

    def expand(self, value: str) -> str:
        return value.replace("{data_dir}", str(Path(self.mailbot.data_dir).expanduser()))

    def verdict_line(self, code: str) -> str:
        return self.verdicts.get(code) or _default_verdict_lines()[code]

    @property
    def own_addresses(self) -> frozenset[str]:
        own = {self.addresses.aog, self.addresses.no_reply, *self.addresses.own}
        return frozenset(a.strip().lower() for a in own if a.strip())

    def arc_contact(self, address: str) -> bool:
        """Whether `address` may send requests (addresses.arc_contacts)."""
        address = address.strip().lower()
        for entry in (e.strip().lower() for e in self.addresses.arc_contacts):
            if (entry.startswith("@") and address.endswith(entry)) or address == entry:
                return True
        return False

    @property
    def message_id_domain(self) -> str:
        return self.addresses.message_id_domain or self.addresses.aog.rpartition("@")[2]

    @property
    def cutover(self) -> datetime | None:
        if not self.mailbot.cutover:
            return None
        value = datetime.fromisoformat(self.mailbot.cutover.replace("Z", "+00:00"))
        return value if value.tzinfo else value.replace(tzinfo=UTC)


def secret(env_name: str) -> str | None:
    """A secret from the environment (or a file named by `<ENV>_FILE`)."""
    value = os.environ.get(env_name)
    if value:
        return value
    file_name = os.environ.get(env_name + "_FILE")
    if file_name:
        try:
            return Path(file_name).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"${env_name}_FILE={file_name}: {exc.strerror or exc}") from None
    return None


def _build(cls: type[Any], data: dict[str, Any], where: str) -> Any:
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls) if f.name != "source"}
    unknown = set(data) - known
    if unknown:
        raise ConfigError(f"unknown setting(s) in [{where}]: {', '.join(sorted(unknown))}")
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        hint = hints[name]
        key = f"{where}.{name}" if where else name
        if dataclasses.is_dataclass(hint):
            if not isinstance(value, dict):
                raise ConfigError(f"[{key}] must be a table")
            kwargs[name] = _build(typing.cast(type[Any], hint), value, key)
        elif name == "verdicts":
            lines = _default_verdict_lines()
            bad = set(value) - set(lines)
            if bad:
                raise ConfigError(f"unknown verdict(s) in [verdicts]: {', '.join(sorted(bad))}")
            lines.update({k: str(v) for k, v in value.items()})
            kwargs[name] = lines
        else:
            kwargs[name] = _coerce(hint, value, key)
    return cls(**kwargs)


def _coerce(hint: Any, value: Any, key: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (list, types.GenericAlias) or hint is list or origin is list:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{key} must be a list of strings")
        return list(value)
    if hint is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if hint is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if hint is str and isinstance(value, str):
        return value
    raise ConfigError(f"{key} must be of type {getattr(hint, '__name__', hint)}, not {value!r}")


def load(path: str | os.PathLike[str] | None = None) -> Config:
    """Read the config named by `path` or `$MAILBOT_CONFIG`; none at all: embedded."""
    name = path or os.environ.get("MAILBOT_CONFIG")
    if not name:
        return Config()
    file = Path(name).expanduser()
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {file}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: {exc}") from None
    config: Config = _build(Config, data, "")
    config.source = str(file)
    _validate(config)
    return config


def _validate(config: Config) -> None:
    allowed = {
        "inbox.sources": ({"imap", "maildir", "triggers"}, config.inbox.sources),
        "staging.transport": ({"local", "ssh"}, [config.staging.transport]),
        "outbox.transport": ({"directory", "smtp"}, [config.outbox.transport]),
        "outbox.review.copy_to": ({"imap", "directory", "none"}, [config.outbox.review.copy_to]),
        "outbox.review.hold": (
            {"verdict", "malformed", "completion", "failure"},
            config.outbox.review.hold,
        ),
        "inbox.imap.security": ({"ssl", "starttls", "plain"}, [config.inbox.imap.security]),
        "outbox.smtp.security": ({"ssl", "starttls", "plain"}, [config.outbox.smtp.security]),
    }
    for key, (choices, values) in allowed.items():
        for value in values:
            if value not in choices:
                raise ConfigError(f"{key}: {value!r} is not one of {', '.join(sorted(choices))}")
    if "triggers" in config.inbox.sources and not config.inbox.triggers.path.strip():
        raise ConfigError("inbox.sources has \"triggers\" but inbox.triggers.path is empty")
    if config.staging.slots < 1:
        raise ConfigError("staging.slots must be at least 1")
    try:
        _ = config.cutover
    except ValueError:
        raise ConfigError(
            f"mailbot.cutover is not an ISO date: {config.mailbot.cutover!r}"
        ) from None
