"""One TOML file of settings; secrets come only from the environment.

With no file at all every value below is the EMBEDDED setup: a local Maildir
inbox, the SQLite demo archive, the bundled stagecalms simulator and an outbox
written as .eml files, all under `mailbot.data_dir`.

Settings are frozen once read, and every path is resolved when a `Config` is
made (`{data_dir}` and `~` expanded), so that a reader uses the value as it is.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import shlex
import sys
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parseaddr
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mailbot.addresses import Contacts
from mailbot.errors import ConfigError
from mailbot.limits import Limits, check_limits
from mailbot.tables import (
    DATA_DIR,
    LOCAL,
    build,
    path_setting,
    read_toml,
    resolved,
    table,
)
from mailbot.thresholds import Health

if TYPE_CHECKING:  # the replies (and Jinja2) are loaded by what renders one, not by every command
    from mailbot.reply import ReplySettings, Templates

PACKAGE_DIR = Path(__file__).resolve().parent

# The closed choices of the settings file; `load` refuses any other value.
InboxSource = Literal["imap", "maildir", "triggers"]
Security = Literal["ssl", "starttls", "plain"]
StagingTransport = Literal["local", "ssh"]
OutboxTransport = Literal["directory", "smtp"]
CopyTo = Literal["imap", "directory", "none"]
MailKind = Literal["verdict", "malformed", "completion", "failure", "notice"]
Mode = Literal["live", "shadow"]

def default_data_dir() -> str:
    home = os.environ.get("MAILBOT_HOME")
    if home:
        return home
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return str(Path(state) / "mailbot")


@dataclass(frozen=True)
class General:
    data_dir: str = field(default_factory=default_data_dir, metadata=LOCAL)
    journal: str = path_setting("{data_dir}/journal.sqlite")
    lock_file: str = path_setting("{data_dir}/mailbot.lock")
    # Mail received before this instant is never answered (first run on an old mailbox).
    # Empty: the moment of the first run, remembered in the journal.
    cutover: str = ""
    # What the bot did, one line per step; stderr gets only warnings (cron mails it).
    log_file: str = path_setting("{data_dir}/mailbot.log")
    log_level: str = "INFO"
    # "The day of the request" (release dates) is a day in this zone (IANA name).
    timezone: str = "Europe/Berlin"
    mode: Mode = "live"  # "shadow": decide and record, send and touch nothing


@dataclass(frozen=True)
class Addresses:
    aog: str = "aog@eso.org"
    aog_name: str = "ALMA Archive Operations"
    maintainer: str = "dpetry@eso.org"
    no_reply: str = "no_reply_eu_data_delivery@eso.org"
    # Other addresses that are the bot itself (aliases of aog@); never replied to.
    own: tuple[str, ...] = ()
    # Who may send requests: addresses, or "@domain" for everybody at that domain.
    # Requests from anyone else are left alone and listed by `mailbot attention`.
    # Only a listed address gets the blind copy of a completion of proprietary data.
    arc_contacts: tuple[str, ...] = ("@eso.org",)
    # Right-hand side of generated Message-IDs; empty: the domain of `aog`.
    message_id_domain: str = ""


@dataclass(frozen=True)
class Imap:
    host: str = "127.0.0.1"
    port: int = 993
    security: Security = "ssl"
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


@dataclass(frozen=True)
class Maildir:
    path: str = path_setting("{data_dir}/inbox")


@dataclass(frozen=True)
class Triggers:
    # e.g. /opsw/work/datadelivery/stagecalmsTriggers; empty: channel off
    path: str = path_setting("")
    pattern: str = "trigger-*.txt"


@dataclass(frozen=True)
class Inbox:
    sources: tuple[InboxSource, ...] = ("maildir",)
    # The receiving MTA's authserv-id (RFC 8601): a request counts only when that MTA's
    # Authentication-Results vouch for its From. Empty: From is not checked.
    authserv_id: str = ""
    imap: Imap = field(default_factory=Imap)
    maildir: Maildir = field(default_factory=Maildir)
    triggers: Triggers = field(default_factory=Triggers)


@dataclass(frozen=True)
class Archive:
    # sqlite:///path/alma.db  or  oracle://user@host:port/service (password from env)
    url: str = path_setting("sqlite:///{data_dir}/alma-demo.sqlite", DATA_DIR)
    password_env: str = "MAILBOT_ARCHIVE_PASSWORD"
    queries_dir: str = path_setting("")  # empty: the queries shipped with mailbot
    connect_timeout: float = 10.0
    query_timeout: float = 120.0
    retry_seconds: float = 60.0


def _simulator_command() -> str:
    return f"{shlex.quote(sys.executable)} -m mailbot.simulator --root {{data_dir}}/staging"


@dataclass(frozen=True)
class Ssh:
    host: str = "almasciencedev.hq.eso.org"
    port: int = 22
    user: str = "arcdistribution"
    key_file: str = path_setting("~/.ssh/id_ed25519")
    key_passphrase_env: str = "MAILBOT_SSH_KEY_PASSPHRASE"
    known_hosts: str = path_setting("~/.ssh/known_hosts")
    connect_timeout: float = 20.0
    command_timeout: float = 60.0
    keepalive: int = 30
    retry_seconds: float = 60.0


@dataclass(frozen=True)
class Staging:
    transport: StagingTransport = "local"
    # stagecalms.sh and any leading words; PROJCODE MOUSUID TICKET [X CALFIELD] are appended.
    # Not resolved here: `{data_dir}` is expanded in each word after splitting (stage).
    command: str = field(default_factory=_simulator_command)
    slots: int = 2
    # Where each job's log, pid and exit status live on the staging host.
    jobs_dir: str = path_setting("{data_dir}/jobs", DATA_DIR)
    ssh: Ssh = field(default_factory=Ssh)


@dataclass(frozen=True)
class Smtp:
    host: str = "127.0.0.1"
    port: int = 25
    security: Security = "starttls"
    user: str = ""  # empty: no AUTH
    password_env: str = "MAILBOT_SMTP_PASSWORD"
    ca_file: str = ""
    timeout: float = 30.0
    retry_seconds: float = 60.0


@dataclass(frozen=True)
class Review:
    # Where AOG reads a copy of every sent mail: "imap" (a folder of the aog@ mailbox),
    # "directory" (.eml files), or "none".
    copy_to: CopyTo = "directory"
    imap_folder: str = "Mailbot/Sent"
    # A subfolder per month of sending ("Mailbot/Sent/2026-12"): a folder that only grows
    # makes every APPEND slower as years pass, and a month is what AOG reviews at a time.
    per_month: bool = True
    # Kinds of mail held until `mailbot outbox approve`.
    hold: tuple[MailKind, ...] = ()


@dataclass(frozen=True)
class Outbox:
    transport: OutboxTransport = "directory"
    directory: str = path_setting("{data_dir}/outbox")
    smtp: Smtp = field(default_factory=Smtp)
    review: Review = field(default_factory=Review)


@dataclass(frozen=True)
class Replies:
    templates_dir: str = path_setting("")  # empty: the templates shipped with mailbot
    retention_days: int = 28
    quote_max_bytes: int = 20000
    # Beyond this many malformed replies to one sender in 24 h, further ones are held
    # for AOG (`mailbot attention`): breaks loops with responders that echo the text.
    malformed_per_day: int = 5
    signature: str = "Kind regards,\n\nThe ESO ALMA Team"
    loop_header: str = "X-Mailbot-Loop"
    # Recipients of a verdict or malformed reply (the sender and the ARC staff it names).
    max_recipients: int = 10


@dataclass(frozen=True)
class Report:
    # The turnaround ESO advertises for the service: `mailbot report` measures against it.
    target_hours: float = 24.0


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


@dataclass(frozen=True)
class Config:
    """Every setting, frozen; a changed setting is a new Config (`dataclasses.replace`).

    The paths are resolved against `mailbot.data_dir` when the Config is made, so a
    Config for another data_dir is made anew, not replaced from one for the old one.
    """

    mailbot: General = field(default_factory=General)
    addresses: Addresses = field(default_factory=Addresses)
    inbox: Inbox = field(default_factory=Inbox)
    archive: Archive = field(default_factory=Archive)
    staging: Staging = field(default_factory=Staging)
    outbox: Outbox = field(default_factory=Outbox)
    replies: Replies = field(default_factory=Replies)
    limits: Limits = field(default_factory=Limits)
    report: Report = field(default_factory=Report)
    health: Health = field(default_factory=Health)
    verdicts: Mapping[str, str] = field(
        default_factory=lambda: types.MappingProxyType(_default_verdict_lines()))
    source: str = ""  # the file this was read from; empty for the embedded defaults

    def __post_init__(self) -> None:
        # A frozen dataclass sets its own fields only through object.__setattr__.
        data_dir = str(Path(self.mailbot.data_dir).expanduser())
        for setting in dataclasses.fields(self):
            value = getattr(self, setting.name)
            if dataclasses.is_dataclass(value) and not isinstance(value, type):
                object.__setattr__(self, setting.name, resolved(value, data_dir))

    def path(self, value: str) -> Path:
        """A configured path with `{data_dir}` and `~` expanded (already so when loaded)."""
        return Path(self.expand(value)).expanduser()

    def expand(self, value: str) -> str:
        return value.replace("{data_dir}", self.mailbot.data_dir)

    def verdict_line(self, code: str) -> str:
        return self.verdicts.get(code) or _default_verdict_lines()[code]

    def verdict_text(self, code: str) -> str:
        """A verdict code as people read it everywhere (replies, lists, log): its
        configured line; STAGE, which no reply states, as it is."""
        return self.verdict_line(code) if code in _default_verdict_lines() else code

    @functools.cached_property
    def own_addresses(self) -> frozenset[str]:
        """The bot's own addresses, lowered (read for every mail: made once)."""
        own = {self.addresses.aog, self.addresses.no_reply, *self.addresses.own}
        return frozenset(a.strip().lower() for a in own if a.strip())

    @functools.cached_property
    def contacts(self) -> Contacts:
        """addresses.arc_contacts: who may send requests (and who may have a link)."""
        return Contacts.of(self.addresses.arc_contacts)

    def arc_contact(self, address: str) -> bool:
        """Whether `address` may send requests (addresses.arc_contacts)."""
        return self.contacts.admits(address)

    @property
    def message_id_domain(self) -> str:
        return self.addresses.message_id_domain or self.addresses.aog.rpartition("@")[2]

    @functools.cached_property
    def reply_settings(self) -> ReplySettings:
        """What the replies read of these settings, and nothing else."""
        from mailbot.reply import ReplySettings

        a, r = self.addresses, self.replies
        return ReplySettings(
            aog=a.aog, aog_name=a.aog_name, maintainer=a.maintainer, no_reply=a.no_reply,
            own_addresses=self.own_addresses, message_id_domain=self.message_id_domain,
            loop_header=r.loop_header, quote_max_bytes=r.quote_max_bytes,
            retention_days=r.retention_days, signature=r.signature,
            verdict_lines=types.MappingProxyType(
                {code: self.verdict_line(code) for code in _default_verdict_lines()}),
            contacts=self.contacts, max_recipients=r.max_recipients,
        )

    @functools.cached_property
    def templates(self) -> Templates:
        """The reply templates, read by one Jinja2 environment for as long as this lives."""
        from mailbot.reply import SHIPPED_TEMPLATES, Templates

        configured = self.replies.templates_dir
        return Templates(Path(configured) if configured else SHIPPED_TEMPLATES)

    @property
    def zone(self) -> ZoneInfo:
        """`mailbot.timezone`: where the day of a request is a day."""
        return ZoneInfo(self.mailbot.timezone)

    @property
    def cutover(self) -> datetime | None:
        if not self.mailbot.cutover:
            return None
        value = datetime.fromisoformat(self.mailbot.cutover.replace("Z", "+00:00"))
        return value if value.tzinfo else value.replace(tzinfo=UTC)


def _verdict_lines(value: Any) -> Mapping[str, str]:
    lines = _default_verdict_lines()
    bad = set(value) - set(lines)
    if bad:
        raise ConfigError(f"unknown verdict(s) in [verdicts]: {', '.join(sorted(bad))}")
    lines.update({k: str(v) for k, v in value.items()})
    return types.MappingProxyType(lines)


def load(path: str | os.PathLike[str] | None = None) -> Config:
    """Read the config named by `path` or `$MAILBOT_CONFIG`; none at all: embedded."""
    name = path or os.environ.get("MAILBOT_CONFIG")
    if not name:
        return Config()
    file = Path(name).expanduser()
    data = read_toml(file)
    lines = _verdict_lines(table(data.pop("verdicts", {}), "verdicts"))
    config: Config = build(Config, data, "", source=str(file), verdicts=lines)
    _validate(config)
    return config


def _validate(config: Config) -> None:
    """What no single setting's type says: settings that must agree, values in range."""
    from mailbot.reply.headers import addr_spec  # here: the embedded setup is not checked

    if "triggers" in config.inbox.sources and not config.inbox.triggers.path.strip():
        raise ConfigError("inbox.sources has \"triggers\" but inbox.triggers.path is empty")
    if config.staging.slots < 1:
        raise ConfigError("staging.slots must be at least 1")
    check_limits(config.limits, config.replies.max_recipients, config.replies.loop_header)
    for key in ("aog", "maintainer", "no_reply"):
        try:  # every mail is written with these: refused here, not by each mail
            addr_spec(parseaddr(getattr(config.addresses, key))[1])
        except ValueError:
            raise ConfigError(f"addresses.{key} is not a plain address") from None
    if config.report.target_hours <= 0:
        raise ConfigError("report.target_hours must be more than 0")
    try:
        _ = config.zone
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"mailbot.timezone is not a time zone name: {config.mailbot.timezone!r}"
        ) from None
    try:
        _ = config.cutover
    except ValueError:
        raise ConfigError(
            f"mailbot.cutover is not an ISO date: {config.mailbot.cutover!r}"
        ) from None

