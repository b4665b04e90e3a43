"""The seam to the staging host: something that runs one shell command line there."""

from __future__ import annotations

import subprocess
from typing import Protocol

from mailbot.config import Config
from mailbot.errors import ConfigError, SshError
from mailbot.stage.ssh import SshTransport


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
        ssh = config.staging.ssh
        return SshTransport.connect(
            ssh,
            key_file=config.path(ssh.key_file),
            known_hosts=config.path(ssh.known_hosts),
        )
    raise ConfigError(f"staging.transport: {kind!r} is not one of local, ssh")
