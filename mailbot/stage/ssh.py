"""The staging host over SSH (paramiko), with strict host-key checking.

Only the configured known_hosts file vouches for the host (no system host keys,
never AutoAdd). Connecting retries network trouble for `staging.ssh.retry_seconds`;
an unknown or changed host key and a refused key are raised at once.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import NoReturn

import paramiko
from paramiko.ssh_exception import (
    AuthenticationException,
    BadHostKeyException,
    NoValidConnectionsError,
    SSHException,
)

from mailbot.config import Ssh, secret
from mailbot.errors import ConfigError, HostKeyError, SshError
from mailbot.retry import ConnectRetry


class _RejectUnknownHost(paramiko.RejectPolicy):
    """paramiko's RejectPolicy, raising our HostKeyError so that it is never retried."""

    def __init__(self, port: int, known_hosts: Path) -> None:
        self.port = port
        self.known_hosts = known_hosts

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> NoReturn:
        raise HostKeyError(
            f"staging host {hostname} (port {self.port}) is not in {self.known_hosts}; "
            f"it offered a {key.get_name()} key with fingerprint {key.fingerprint}. "
            "Add its key there after checking it out of band."
        )


def _transient(exc: BaseException) -> bool:
    """A connect failure worth another try: network trouble, not a refusal of who we are."""
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

    @classmethod
    def connect(cls, settings: Ssh, key_file: Path, known_hosts: Path) -> SshTransport:
        """Connect, retrying transient failures for up to `settings.retry_seconds`.

        Raises HostKeyError (unknown or changed host key), ConfigError (key file
        unreadable, key refused) at once, and SshError when the host stays unreachable.
        """
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
        """Run `command` once (never retried: a re-run could repeat an action)."""
        deadline = time.monotonic() + timeout
        try:
            transport = self._client.get_transport()
            if transport is None or not transport.is_active():
                raise SshError(f"connection to {self._settings.host} is closed")
            channel = transport.open_session(timeout=self._settings.connect_timeout)
            try:
                channel.set_combine_stderr(True)
                channel.settimeout(timeout)
                channel.exec_command(command)
                output = _read_all(channel, deadline)
                if not channel.status_event.wait(max(0.0, deadline - time.monotonic())):
                    raise SshError(f"command did not finish within {timeout:g} s")
                status = channel.exit_status
            finally:
                channel.close()
        except TimeoutError:
            raise SshError(f"command did not finish within {timeout:g} s") from None
        except (OSError, EOFError, SSHException) as exc:
            raise SshError(f"{self._settings.host}: {str(exc) or type(exc).__name__}") from None
        return status, output.decode("utf-8", errors="replace")

    def close(self) -> None:
        """Close the connection."""
        self._client.close()


def _check_known_hosts(known_hosts: Path, settings: Ssh) -> None:
    """Fail early, and without retrying, when known_hosts cannot vouch for any host."""
    where = f"staging host {settings.host} port {settings.port}"
    if not known_hosts.is_file():
        raise HostKeyError(f"known_hosts file {known_hosts} does not exist: cannot verify {where}")
    try:
        paramiko.HostKeys(str(known_hosts))
    except (OSError, ValueError, SSHException) as exc:
        # A damaged entry makes paramiko raise (e.g. a truncated ed25519 key).
        raise HostKeyError(
            f"cannot read known_hosts file {known_hosts} ({exc}): cannot verify {where}"
        ) from None


def _load_key(key_file: Path, passphrase_env: str) -> paramiko.PKey:
    passphrase = secret(passphrase_env)
    try:
        # paramiko wants the passphrase as bytes at runtime, whatever its stubs say.
        return paramiko.PKey.from_path(
            key_file,
            passphrase.encode() if passphrase else None,  # type: ignore[arg-type]
        )
    except FileNotFoundError:
        raise ConfigError(f"SSH key file {key_file} does not exist") from None
    except (OSError, SSHException, ValueError, TypeError) as exc:
        # cryptography raises TypeError for a protected key without passphrase,
        # ValueError for a wrong one.
        hint = (
            f"wrong passphrase in ${passphrase_env}, or not a private key"
            if passphrase
            else f"a passphrase-protected key needs its passphrase in ${passphrase_env}"
        )
        raise ConfigError(f"cannot read SSH key file {key_file} ({hint}): {exc}") from None


def _connect_once(settings: Ssh, pkey: paramiko.PKey, known_hosts: Path) -> paramiko.SSHClient:
    client = paramiko.SSHClient()
    try:
        # Only the configured file: no system host keys, never AutoAdd.
        client.load_host_keys(str(known_hosts))
        client.set_missing_host_key_policy(_RejectUnknownHost(settings.port, known_hosts))
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
        if transport is not None and settings.keepalive > 0:
            transport.set_keepalive(settings.keepalive)
    except BaseException:
        client.close()
        raise
    return client


def _read_all(channel: paramiko.Channel, deadline: float) -> bytes:
    chunks: list[bytes] = []
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        channel.settimeout(remaining)
        chunk = channel.recv(65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
