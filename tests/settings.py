"""Settings files for tests that run the real CLI against the test servers.

A test describes its settings as nested dicts (a dict is a TOML table) and
`write_settings` turns them into the file `mailbot --config` reads. The
`*_table` helpers give the connection to a test server, so that a test states
only the keys particular to it.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from mailbot.config import Config, General

if TYPE_CHECKING:
    from tests.servers.dovecot import ImapServer
    from tests.servers.smtp import SmtpServer
    from tests.servers.sshd import SshServer

# A cutover long past: every mail a test delivers is new enough to be answered.
PAST = "2000-01-01T00:00:00Z"
# Test servers are local: a refused connection is retried for 2 s, not the default minute.
RETRY_SECONDS = 2

BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
# TOML's short escapes; any other control character is written as \uXXXX.
ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f",
           "\r": "\\r"}


def imap_table(server: ImapServer, **overrides: object) -> dict[str, object]:
    """`[inbox.imap]` for the test Dovecot (plain IMAP)."""
    return {"host": server.host, "port": server.port, "security": "plain",
            "user": server.user, "retry_seconds": RETRY_SECONDS, **overrides}


def smtp_table(server: SmtpServer, **overrides: object) -> dict[str, object]:
    """`[outbox.smtp]` for the test SMTP server (plain, no AUTH)."""
    return {"host": server.host, "port": server.port, "security": "plain",
            "retry_seconds": RETRY_SECONDS, **overrides}


def ssh_table(server: SshServer, **overrides: object) -> dict[str, object]:
    """`[staging.ssh]` for the test sshd, trusting its real host key."""
    return {"host": server.host, "port": server.port, "user": server.user,
            "key_file": server.key_file, "known_hosts": server.known_hosts,
            "retry_seconds": RETRY_SECONDS, **overrides}


def simulator_command(root: Path, duration: float) -> str:
    """`staging.command`: the stagecalms simulator keeping its state under `root`."""
    return shlex.join([sys.executable, "-m", "mailbot.simulator", "--root", str(root),
                       "--duration", str(duration)])


# The senders of the test mails (addresses.arc_contacts), unless a test says otherwise;
# the demo's ARC contact listed by address too, as a deployment lists its ARC staff: it
# gets the blind copy of completions of proprietary data.
TEST_ARC_CONTACTS = ["@example.org", "@eso.org", "arc.contact@example.org"]


def changed(config: Config, **tables: Mapping[str, Any]) -> Config:
    """`config` with some settings changed, e.g. `changed(c, staging={"ssh": {"port": 22}})`.

    Settings are frozen: a change makes a new Config. Its paths were resolved
    against its data_dir when it was made, so another data_dir takes `config_in`.
    """
    assert "data_dir" not in tables.get("mailbot", {}), "another data_dir: use config_in"
    return _replaced(config, tables)


def config_in(data_dir: Path | str, **tables: Mapping[str, Any]) -> Config:
    """The embedded defaults with everything under `data_dir`, and `tables` changed."""
    return changed(Config(mailbot=General(data_dir=str(data_dir))), **tables)


_Table = TypeVar("_Table")


def _replaced(table: _Table, changes: Mapping[str, Any]) -> _Table:
    values = {}
    for name, value in changes.items():
        old = getattr(table, name)
        sub = dataclasses.is_dataclass(old) and isinstance(value, Mapping)
        values[name] = _replaced(old, value) if sub else value
    return dataclasses.replace(table, **values)  # type: ignore[type-var]


def write_settings(path: Path, tables: Mapping[str, object]) -> Path:
    """Write `tables` to `path` as TOML; returns `path`."""
    addresses = dict(tables.get("addresses") or {})  # type: ignore[call-overload]
    addresses.setdefault("arc_contacts", TEST_ARC_CONTACTS)
    path.write_text(toml({**tables, "addresses": addresses}), encoding="utf-8")
    return path


def toml(tables: Mapping[str, object]) -> str:
    """The TOML text of nested dicts of str, Path, bool, int, float and lists of them.

    A value of None leaves its key out, so that an optional table or key can be
    written as one expression.
    """
    return "".join(f"{line}\n" for line in _table((), tables))


def _table(path: tuple[str, ...], table: Mapping[str, object]) -> Iterator[str]:
    present = {key: value for key, value in table.items() if value is not None}
    values = {k: v for k, v in present.items() if not isinstance(v, Mapping)}
    tables = {k: v for k, v in present.items() if isinstance(v, Mapping)}
    # A table holding only tables needs no header of its own: [a.b] implies [a].
    if path and (values or not tables):
        yield f"[{'.'.join(_key(part) for part in path)}]"
    for key, value in values.items():
        yield f"{_key(key)} = {_value(value)}"
    if values:
        yield ""
    for key, sub in tables.items():
        yield from _table((*path, key), sub)


def _key(key: str) -> str:
    return key if BARE_KEY.fullmatch(key) else _string(key)


def _value(value: object) -> str:
    # bool before int: True is an int to Python and `true` to TOML.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str | Path):
        return _string(str(value))
    if isinstance(value, Sequence):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    raise TypeError(f"no TOML form for {value!r}")


def _string(text: str) -> str:
    return '"' + "".join(ESCAPES.get(c, _control(c)) for c in text) + '"'


def _control(char: str) -> str:
    return f"\\u{ord(char):04X}" if ord(char) < 0x20 or ord(char) == 0x7F else char
