"""The staging host over SSH (paramiko), with strict host-key checking.

Only the configured known_hosts file vouches for the host (no system host keys,
never AutoAdd). Connecting retries network trouble for `staging.ssh.retry_seconds`;
an unknown or changed host key and a refused key are raised at once. paramiko is
imported when a connection is opened: most runs have no staging to follow.
"""

from __future__ import annotations

import logging
import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from mailbot.config import Ssh
from mailbot.errors import ConfigError, HostKeyError, SshError
from mailbot.retry import ConnectRetry
from mailbot.stage.command import quote
from mailbot.tables import secret

if TYPE_CHECKING:
    import paramiko


class _FileOnly(logging.Filter):
    """paramiko's own word on a fault of the connection goes to the log file only: the run
    reports the outage itself, in the one line cron mails. (A shell kept open on the
    connection makes paramiko answer a host going down, and log the reset it gets.)"""

    def filter(self, record: logging.LogRecord) -> bool:
        record.file_only = True
        return True


# paramiko's log of our connections once they are up; its DEBUG chatter stays out.
PARAMIKO_LOG = logging.getLogger("mailbot.stage.ssh.paramiko")
PARAMIKO_LOG.setLevel(logging.WARNING)
PARAMIKO_LOG.addFilter(_FileOnly())


def _reject_unknown_host(port: int, known_hosts: Path) -> paramiko.MissingHostKeyPolicy:
    """paramiko's RejectPolicy, raising our HostKeyError so that it is never retried."""
    import paramiko

    class RejectUnknownHost(paramiko.RejectPolicy):
        def missing_host_key(
            self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
        ) -> NoReturn:
            raise HostKeyError(
                f"staging host {hostname} (port {port}) is not in {known_hosts}; "
                f"it offered a {key.get_name()} key with fingerprint {key.fingerprint}. "
                "Add its key there after checking it out of band."
            )

    return RejectUnknownHost()


def _transient(exc: BaseException) -> bool:
    """A connect failure worth another try: network trouble, not a refusal of who we are."""
    from paramiko.ssh_exception import (
        AuthenticationException,
        BadHostKeyException,
        NoValidConnectionsError,
        SSHException,
    )

    if isinstance(exc, HostKeyError | BadHostKeyException | AuthenticationException):
        return False
    if isinstance(exc, NoValidConnectionsError | OSError | EOFError):
        return True  # refused, unreachable, reset, timed out (socket.timeout is an OSError)
    # Plain SSHException is what paramiko raises for a missing or garbled banner and a
    # negotiation cut short; its subclasses are specific, permanent conditions.
    return type(exc) is SSHException


class SshTransport:
    """A paramiko connection to the staging host with strict host-key checking."""

    def __init__(self, client: paramiko.SSHClient, settings: Ssh) -> None:
        self._client = client
        self._settings = settings
        self._shell: paramiko.Channel | None = None

    @classmethod
    def connect(cls, settings: Ssh, key_file: Path, known_hosts: Path) -> SshTransport:
        """Connect, retrying transient failures for up to `settings.retry_seconds`.

        Raises HostKeyError (unknown or changed host key), ConfigError (key file
        unreadable, key refused) at once, and SshError when the host stays unreachable.
        """
        from paramiko.ssh_exception import (
            AuthenticationException,
            BadHostKeyException,
            SSHException,
        )

        pkey = _load_key(key_file, settings.key_passphrase_env)
        _check_known_hosts(known_hosts, settings)
        where = f"{settings.user}@{settings.host} port {settings.port}"
        retry = ConnectRetry(f"staging host {where}", settings.retry_seconds, _transient)
        try:
            client = retry(lambda: _connect_once(settings, pkey, known_hosts))
        except (HostKeyError, ConfigError):
            raise
        except BadHostKeyException as exc:
            raise HostKeyError(
                f"staging host {settings.host} port {settings.port} presented a "
                f"{exc.key.get_name()} key ({exc.key.fingerprint}) that does not match "
                f"the one in {known_hosts} ({exc.expected_key.fingerprint}): refusing to "
                "connect. If the host was re-installed, check its new key out of band."
            ) from None
        except AuthenticationException as exc:
            # Not an outage: retrying with the same key cannot succeed until someone
            # fixes the key or authorized_keys, so it is a configuration fault.
            raise ConfigError(
                f"staging host {where} refused the key {key_file}: {exc}. "
                "Check staging.ssh.user, staging.ssh.key_file and the authorized_keys there."
            ) from None
        except (OSError, EOFError, SSHException) as exc:
            raise SshError(
                f"{where}: {str(exc) or type(exc).__name__} "
                f"(gave up after {retry.summary})"
            ) from None
        return cls(client, settings)

    def run(self, command: str, timeout: float) -> tuple[int, str]:
        """Run `command` once (never retried: a re-run could repeat an action).

        Commands go, one after the other, to one `sh` kept open on the connection: the
        staging account's login shell (its profile, often slow) starts once, not for
        every poll. Each runs as `sh -c COMMAND` with no input, its output and exit
        status read up to a marker no output can foresee.
        """
        from paramiko.ssh_exception import SSHException

        deadline = time.monotonic() + timeout
        shell = self._shell_open(timeout)
        marker = f"{secrets.token_hex(16)} "
        line = (f"sh -c {quote(command)} </dev/null 2>&1; "
                f"printf '\\n%s%d\\n' {quote(marker)} \"$?\"\n")
        try:
            shell.sendall(line.encode())
            output, status = _read_until(shell, f"\n{marker}".encode(), deadline)
        except TimeoutError:
            self._shell_close()  # still busy with the command: the next one gets a new shell
            raise SshError(f"command did not finish within {timeout:g} s") from None
        except (OSError, EOFError, SSHException, ValueError) as exc:
            self._shell_close()
            raise SshError(f"{self._settings.host}: {str(exc) or type(exc).__name__}") from None
        return status, output.decode("utf-8", errors="replace")

    def connected(self) -> bool:
        """Whether the connection is up: one kept since the last pass may have died."""
        transport = self._client.get_transport()
        return transport is not None and transport.is_active()

    def _shell_open(self, timeout: float) -> paramiko.Channel:
        """The kept `sh`, started when there is none (or it ended)."""
        from paramiko.ssh_exception import SSHException

        if self._shell is not None and not (self._shell.closed
                                            or self._shell.exit_status_ready()):
            return self._shell
        self._shell_close()
        channel = self._session()
        try:
            channel.set_combine_stderr(True)
            channel.exec_command("sh")
            # Whatever the login shell says as it starts comes before this word.
            ready = secrets.token_hex(16)
            channel.sendall(f"echo {ready}\n".encode())
            _read_until(channel, f"{ready}\n".encode(), time.monotonic() + timeout,
                        status=False)
        except (OSError, EOFError, SSHException) as exc:
            channel.close()
            raise SshError(f"{self._settings.host}: no shell: "
                           f"{str(exc) or type(exc).__name__}") from None
        self._shell = channel
        return channel

    def _session(self) -> paramiko.Channel:
        """A new channel on the connection."""
        from paramiko.ssh_exception import SSHException

        transport = self._client.get_transport()
        if transport is None or not transport.is_active():
            raise SshError(f"connection to {self._settings.host} is closed")
        try:
            channel: paramiko.Channel = transport.open_session(
                timeout=self._settings.connect_timeout)
        except (OSError, EOFError, SSHException) as exc:
            raise SshError(f"{self._settings.host}: {str(exc) or type(exc).__name__}") from None
        return channel

    def _shell_close(self) -> None:
        if self._shell is not None:
            self._shell.close()
            self._shell = None

    def close(self) -> None:
        """Close the connection."""
        self._shell_close()
        self._client.close()


def _check_known_hosts(known_hosts: Path, settings: Ssh) -> None:
    """Fail early, and without retrying, when known_hosts cannot vouch for any host."""
    where = f"staging host {settings.host} port {settings.port}"
    if not known_hosts.is_file():
        raise HostKeyError(f"known_hosts file {known_hosts} does not exist: cannot verify {where}")
    import paramiko

    try:
        paramiko.HostKeys(str(known_hosts))
    except (OSError, ValueError, paramiko.SSHException) as exc:
        # A damaged entry makes paramiko raise (e.g. a truncated ed25519 key).
        raise HostKeyError(
            f"cannot read known_hosts file {known_hosts} ({exc}): cannot verify {where}"
        ) from None


def _load_key(key_file: Path, passphrase_env: str) -> paramiko.PKey:
    import paramiko

    passphrase = secret(passphrase_env)
    try:
        # paramiko wants the passphrase as bytes at runtime, whatever its stubs say.
        return paramiko.PKey.from_path(
            key_file,
            passphrase.encode() if passphrase else None,  # type: ignore[arg-type]
        )
    except FileNotFoundError:
        raise ConfigError(f"SSH key file {key_file} does not exist") from None
    except (OSError, paramiko.SSHException, ValueError, TypeError) as exc:
        # cryptography raises TypeError for a protected key without passphrase,
        # ValueError for a wrong one.
        hint = (
            f"wrong passphrase in ${passphrase_env}, or not a private key"
            if passphrase
            else f"a passphrase-protected key needs its passphrase in ${passphrase_env}"
        )
        raise ConfigError(f"cannot read SSH key file {key_file} ({hint}): {exc}") from None


def _connect_once(settings: Ssh, pkey: paramiko.PKey, known_hosts: Path) -> paramiko.SSHClient:
    import paramiko

    client = paramiko.SSHClient()
    try:
        # Only the configured file: no system host keys, never AutoAdd.
        client.load_host_keys(str(known_hosts))
        client.set_missing_host_key_policy(_reject_unknown_host(settings.port, known_hosts))
        client.connect(
            settings.host,
            port=settings.port,
            username=settings.user,
            pkey=pkey,
            look_for_keys=False,
            allow_agent=False,
            timeout=settings.connect_timeout,
            banner_timeout=settings.connect_timeout,
            auth_timeout=settings.connect_timeout,
            channel_timeout=settings.connect_timeout,
        )
        transport = client.get_transport()
        if transport is not None:
            transport.set_log_channel(PARAMIKO_LOG.name)
            if settings.keepalive > 0:
                transport.set_keepalive(settings.keepalive)
    except BaseException:
        client.close()
        raise
    return client


def _read_until(channel: paramiko.Channel, end: bytes, deadline: float, *,
                status: bool = True) -> tuple[bytes, int]:
    """What the shell says before `end` and, with `status`, the exit status on the line
    `end` begins (`end` then "-?digits\\n")."""
    received = bytearray()
    at = -1
    while at < 0 or (status and b"\n" not in received[at + len(end):]):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        channel.settimeout(remaining)
        chunk = channel.recv(65536)
        if not chunk:
            raise EOFError("the staging host's shell ended")
        searched = max(0, len(received) - len(end) + 1)  # `end` is not before this
        received += chunk
        if at < 0:
            at = received.find(end, searched)
    if not status:
        return bytes(received[:at]), 0
    return bytes(received[:at]), int(received[at + len(end):].split(b"\n", 1)[0])
