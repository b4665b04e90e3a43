"""The seam to the staging host: something that runs one shell command line there."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from typing import Protocol

from mailbot.config import Config
from mailbot.errors import ConfigError, SshError


class Transport(Protocol):
    """Runs shell command lines on the staging host."""

    def run(self, command: str, timeout: float) -> tuple[int, str]:
        """Run `command`; return its exit status and its stdout and stderr, interleaved."""
        ...

    def close(self) -> None:
        """Release the connection (if any)."""
        ...


class LocalTransport:
    """The staging host is this machine (the embedded setup with the simulator)."""

    def run(self, command: str, timeout: float) -> tuple[int, str]:
        """Run `command` with /bin/sh; a command that outlives `timeout` is a fault."""
        try:
            completed = subprocess.run(
                ["/bin/sh", "-c", command],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise SshError(f"local command did not finish within {timeout:g} s") from None
        except OSError as exc:
            raise SshError(f"cannot run /bin/sh: {exc}") from exc
        return completed.returncode, completed.stdout.decode("utf-8", errors="replace")

    def close(self) -> None:
        """Nothing to release."""


def open_transport(config: Config) -> Transport:
    """The transport named by `staging.transport`: "local" or "ssh"."""
    kind = config.staging.transport
    if kind == "local":
        return LocalTransport()
    if kind == "ssh":
        from mailbot.stage.ssh import SshTransport  # a local staging loads no SSH code

        ssh = config.staging.ssh
        return SshTransport.connect(
            ssh,
            key_file=config.path(ssh.key_file),
            known_hosts=config.path(ssh.known_hosts),
        )
    raise ConfigError(f"staging.transport: {kind!r} is not one of local, ssh")


class KeptTransport:
    """The staging host's connection as `mailbot watch` keeps it from pass to pass: opened on
    first use, its key exchange made once, closed by `end`. A connection found down before a
    command (the host rebooted since the last pass) is opened anew for it; a fault during a
    command drops it, and the next command connects anew. Host keys are checked at each
    connect, as the opener does."""

    def __init__(self, opener: Callable[[], Transport]) -> None:
        self._opener = opener
        self._open: Transport | None = None

    def run(self, command: str, timeout: float) -> tuple[int, str]:
        """Run `command` once on the kept connection (never resent once it was sent)."""
        from mailbot.stage.ssh import SshTransport

        if isinstance(self._open, SshTransport) and not self._open.connected():
            self.end()
        if self._open is None:
            self._open = self._opener()
        try:
            return self._open.run(command, timeout)
        except SshError:
            self.end()
            raise

    def close(self) -> None:
        """Kept for the next pass: a pass's end does not close it."""

    def end(self) -> None:
        """Close the connection; the next command opens a new one."""
        if self._open is not None:
            transport, self._open = self._open, None
            transport.close()
