"""A real OpenSSH server on a loopback port, for tests of the SSH staging edge.

Each instance has its own host key, client key, authorized_keys and known_hosts
files under one directory, and lets in exactly one user (the current one) by
public key. Nothing outside that directory is touched except `/run/sshd`,
which sshd insists on as its privilege-separation directory when run as root.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.servers import descendants, kill_all

SSHD = "/usr/sbin/sshd"
SSH_KEYGEN = "/usr/bin/ssh-keygen"
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
START_ATTEMPTS = 3  # a free port can be taken between probing and binding


@dataclass(frozen=True)
class SshServer:
    """Where a running test sshd listens, whom it lets in, and the files to trust it."""

    host: str
    port: int
    user: str
    key_file: Path  # client private key (ed25519) authorized for `user`
    known_hosts: Path  # strict known_hosts holding this server's real host key
    wrong_known_hosts: Path  # same host and port, a DIFFERENT key: must be refused

    @property
    def host_key_name(self) -> str:
        """The name known_hosts uses for this server (`[host]:port` for a non-22 port)."""
        return f"[{self.host}]:{self.port}"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _keygen(path: Path) -> str:
    """Make an ed25519 key pair without passphrase; return the public key line."""
    subprocess.run(
        [SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", path.name, "-f", str(path)],
        check=True,
        stdin=subprocess.DEVNULL,
        capture_output=True,
    )
    return path.with_name(path.name + ".pub").read_text(encoding="ascii").strip()


def _known_hosts_line(host: str, port: int, public_line: str) -> str:
    key_type, key_data = public_line.split()[:2]
    return f"[{host}]:{port} {key_type} {key_data}\n"


def _config(base_dir: Path, port: int, user: str) -> str:
    return "\n".join(
        [
            f"Port {port}",
            "ListenAddress 127.0.0.1",
            f"HostKey {base_dir / 'host_ed25519'}",
            f"PidFile {base_dir / 'sshd.pid'}",
            f"AuthorizedKeysFile {base_dir / 'authorized_keys'}",
            "AuthenticationMethods publickey",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "StrictModes no",
            "PermitRootLogin prohibit-password",
            f"AllowUsers {user}",
            "X11Forwarding no",
            "AllowTcpForwarding no",
            "PrintMotd no",
            "LogLevel VERBOSE",
            "",
        ]
    )


def _wait_for_banner(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    """Return once sshd greets with `SSH-2.0-`; raise if it exits or stays silent."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"sshd exited with status {process.returncode}:\n" + log.read_text(errors="replace")
            )
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", port), timeout=1.0) as sock,
        ):
            if sock.recv(64).startswith(b"SSH-2.0-"):
                return
        time.sleep(0.02)
    raise RuntimeError(
        f"sshd did not answer on port {port} within {START_TIMEOUT} s:\n"
        + log.read_text(errors="replace")
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _spawn(base_dir: Path, port: int, user: str) -> subprocess.Popen[bytes]:
    """sshd on `port`, once it greets; RuntimeError if it does not."""
    log = base_dir / "sshd.log"
    conf = base_dir / "sshd_config"
    conf.write_text(_config(base_dir, port, user), encoding="ascii")
    with log.open("ab") as log_stream:
        process = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(conf)],
            stdin=subprocess.DEVNULL,
            stdout=log_stream,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_for_banner(process, port, log)
    except RuntimeError:
        _stop(process)
        raise
    return process


def _start(base_dir: Path, user: str) -> tuple[subprocess.Popen[bytes], int]:
    """Start sshd on a free port, retrying when another process took the port first."""
    for attempt in range(1, START_ATTEMPTS + 1):
        port = _free_port()
        try:
            return _spawn(base_dir, port, user), port
        except RuntimeError:
            if attempt == START_ATTEMPTS:
                raise
    raise AssertionError("unreachable")


class SshService:
    """A test sshd that a test may stop and start again on the same port (an outage).

    Stopping it ends the open sessions too, as a staging host that goes down
    does (an sshd listener alone going away would leave them running). Jobs
    started detached (`nohup setsid`) have left the session and go on.
    """

    def __init__(self, server: SshServer, base_dir: Path, process: subprocess.Popen[bytes]):
        self.server = server
        self._base_dir = base_dir
        self._process: subprocess.Popen[bytes] | None = process

    def start(self) -> None:
        self._process = _spawn(self._base_dir, self.server.port, self.server.user)

    def stop(self) -> None:
        if self._process is None:
            return
        sessions = descendants(self._process.pid)
        _stop(self._process)
        kill_all(sessions)
        self._process = None


@contextmanager
def running_sshd(base_dir: Path) -> Iterator[SshServer]:
    """Run `sshd -D -e` on a free loopback port until the block ends.

    `base_dir` should come from `tempfile.mkdtemp()`; every file lives there.
    """
    with sshd_service(base_dir) as service:
        yield service.server


@contextmanager
def sshd_service(base_dir: Path) -> Iterator[SshService]:
    """`running_sshd`, handing out the service so that a test can stop and start it."""
    if not Path(SSHD).exists() or not Path(SSH_KEYGEN).exists():
        raise RuntimeError(
            f"OpenSSH server not found ({SSHD}, {SSH_KEYGEN}): "
            "install it with `apt-get install -y openssh-server`"
        )
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, parents=True, exist_ok=True)
    user = getpass.getuser()
    host_public = _keygen(base_dir / "host_ed25519")
    client_public = _keygen(base_dir / "client_ed25519")
    other_public = _keygen(base_dir / "other_host_ed25519")
    (base_dir / "authorized_keys").write_text(client_public + "\n", encoding="ascii")

    process, port = _start(base_dir, user)
    known_hosts = base_dir / "known_hosts"
    known_hosts.write_text(_known_hosts_line("127.0.0.1", port, host_public))
    wrong_known_hosts = base_dir / "wrong_known_hosts"
    wrong_known_hosts.write_text(_known_hosts_line("127.0.0.1", port, other_public))
    server = SshServer(host="127.0.0.1", port=port, user=user,
                       key_file=base_dir / "client_ed25519", known_hosts=known_hosts,
                       wrong_known_hosts=wrong_known_hosts)
    service = SshService(server, base_dir, process)
    try:
        yield service
    finally:
        service.stop()
