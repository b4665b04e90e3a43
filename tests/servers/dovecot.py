"""A real Dovecot IMAP server on a loopback port, for tests of the IMAP edge.

Each instance gets its own configuration, base_dir, state_dir, log and mail
store under one directory, so it never touches a system-wide Dovecot (which a
package install may have started on 143/993).
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import imapclient
from imapclient import SocketTimeout

from tests.servers import descendants, kill_all

DOVECOT = "/usr/sbin/dovecot"
DOVECONF = "/usr/bin/doveconf"
TLS_HOST = "127.0.0.2"
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
CLIENT_TIMEOUT = SocketTimeout(connect=5.0, read=10.0)


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port of loopback address `host` that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class ImapServer:
    """Where a running test Dovecot listens and whom it lets in."""

    host: str
    port: int
    user: str
    password: str
    # Set when started with tls=True: the self-signed certificate to trust, and
    # the implicit-TLS (imaps) port. The plain port then requires STARTTLS.
    ca_file: Path | None = None
    ssl_port: int | None = None

    def ssl_context(self) -> ssl.SSLContext:
        """A client context that trusts this server's certificate (tls=True only)."""
        if self.ca_file is None:
            raise ValueError("this Dovecot runs without TLS")
        return ssl.create_default_context(cafile=str(self.ca_file))

    def client(self) -> imapclient.IMAPClient:
        """A connected, logged-in client (STARTTLS first when the server requires TLS)."""
        client = imapclient.IMAPClient(self.host, port=self.port, ssl=False, timeout=CLIENT_TIMEOUT)
        try:
            if self.ca_file is not None:
                client.starttls(self.ssl_context())
            client.login(self.user, self.password)
        except BaseException:
            with contextlib.suppress(Exception):
                client.shutdown()
            raise
        return client

    def reset(self) -> None:
        """Empty the mailbox: delete every folder but INBOX and every INBOX message.

        The server fixture lives for the whole session; tests call this so that
        each starts from an empty mailbox.
        """
        client = self.client()
        try:
            _delete_folders_but_inbox(client)
            client.select_folder("INBOX")
            uids = client.search("ALL")
            if uids:
                client.delete_messages(uids)
                client.expunge()
            client.close_folder()
        finally:
            client.logout()


def folder_tree(client: imapclient.IMAPClient, root: str) -> list[str]:
    """`root` and its subfolders at any depth (e.g. the review folder and its months),
    those that hold mail (a parent only named by its children is not one)."""
    names = [name for flags, _, name in client.list_folders(pattern=f"{root}*")
             if b"\\Noselect" not in flags and b"\\NonExistent" not in flags]
    return sorted(n for n in names if n == root or n.startswith(f"{root}/"))


def _delete_folders_but_inbox(client: imapclient.IMAPClient) -> None:
    folders = [name for _flags, _sep, name in client.list_folders()]
    # Children before parents: longest names first. A parent that only existed
    # through its children may vanish with them, so a failed DELETE is checked
    # by listing again rather than raised.
    for name in sorted(folders, key=len, reverse=True):
        if name.upper() != "INBOX":
            with contextlib.suppress(imapclient.exceptions.IMAPClientError):
                client.delete_folder(name)
    left = [name for _flags, _sep, name in client.list_folders() if name.upper() != "INBOX"]
    if left:
        raise RuntimeError(f"could not delete folders {left}")


def _service_users() -> str:
    """Config lines that let a non-root Dovecot run its services as ourselves.

    As root the packaged defaults (dovecot/dovenull users, chrooted login) work.
    Without root, Dovecot cannot switch users or chroot and would retry forever.
    """
    if os.geteuid() == 0:
        return ""
    user = pwd.getpwuid(os.geteuid()).pw_name
    group = grp.getgrgid(os.getegid()).gr_name
    return (
        f"default_internal_user = {user}\n"
        f"default_login_user = {user}\n"
        f"default_internal_group = {group}\n"
    )


def _mail_owner() -> tuple[str, str, int, int]:
    """The uid/gid the mail store belongs to: nobody as root (Dovecot refuses uid 0)."""
    if os.geteuid() == 0:
        name, group = "nobody", "nogroup"
        return name, group, pwd.getpwnam(name).pw_uid, grp.getgrnam(group).gr_gid
    user = pwd.getpwuid(os.geteuid()).pw_name
    group = grp.getgrgid(os.getegid()).gr_name
    return user, group, os.geteuid(), os.getegid()


def make_certificate(directory: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """A self-signed certificate for IP address `host` (its own CA), and its key."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "2",
            "-subj",
            f"/CN={host}",
            "-addext",
            f"subjectAltName=IP:{host}",
        ],
        check=True,
        capture_output=True,
    )
    key.chmod(0o600)
    return cert, key


def _config(
    base_dir: Path, host: str, port: int, passwd_file: Path, tls: tuple[Path, Path, int] | None,
    separator: str | None = "/",
) -> str:
    """The text of a minimal, self-contained dovecot.conf."""
    _user, _group, uid, gid = _mail_owner()
    if tls is None:
        ssl_lines = "ssl = no\ndisable_plaintext_auth = no\n"
        imaps_port = 0
    else:
        cert, key, imaps_port = tls
        ssl_lines = (
            f"ssl = required\ndisable_plaintext_auth = yes\nssl_cert = <{cert}\nssl_key = <{key}\n"
        )
    # Without root, Dovecot cannot chroot its login and anvil processes.
    chroot = "  chroot =\n" if os.geteuid() != 0 else ""
    return f"""\
base_dir = {base_dir / "run"}
state_dir = {base_dir / "state"}
log_path = {base_dir / "dovecot.log"}
protocols = imap
listen = {host}
{ssl_lines}auth_mechanisms = plain login
auth_failure_delay = 0
mail_location = maildir:~/Maildir
{_service_users()}
namespace inbox {{
  inbox = yes
{f"  separator = {separator}" if separator else ""}
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {passwd_file}
}}
# Without the anvil-auth-penalty socket the auth process applies no penalty:
# otherwise every failed login from 127.0.0.1 delays all later logins (also
# the right ones) by up to 15 s, which a session-long server cannot afford.
service anvil {{
{chroot}  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={base_dir / "home"}/%u
}}
service imap-login {{
{chroot}  inet_listener imap {{
    port = {port}
  }}
  inet_listener imaps {{
    port = {imaps_port}
  }}
}}
"""


def _check_config(conf: Path) -> None:
    result = subprocess.run(
        [DOVECONF, "-c", str(conf), "-n"], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"invalid Dovecot config {conf}:\n{result.stderr}{result.stdout}")


def _greets(host: str, port: int) -> bool:
    """True when the server answers a connection with its `* OK` greeting."""
    try:
        with socket.create_connection((host, port), timeout=1.0) as sock:
            sock.settimeout(1.0)
            return sock.recv(64).startswith(b"* OK")
    except OSError:
        return False


def _wait_ready(process: subprocess.Popen[bytes], host: str, port: int, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"Dovecot exited with {process.returncode}:\n{_tail(log)}")
        if _greets(host, port):
            return
        time.sleep(0.02)
    raise RuntimeError(f"Dovecot did not greet on {host}:{port}:\n{_tail(log)}")


def _tail(log: Path) -> str:
    """The last lines of Dovecot's log and of its stderr (config errors land there)."""
    lines: list[str] = []
    for path in (log, log.with_suffix(".stderr")):
        with contextlib.suppress(OSError):
            lines += path.read_text(errors="replace").splitlines()[-30:]
    return "\n".join(lines) or "(no log)"


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def running_dovecot(
    base_dir: Path,
    *,
    tls: bool = False,
    user: str = "aog",
    password: str = "aog-test-password",
    separator: str | None = "/",
) -> Iterator[ImapServer]:
    """Run Dovecot in the foreground under `base_dir` until the block ends.

    `base_dir` must be reachable by Dovecot's unprivileged auth process (a
    0755 directory from tempfile.mkdtemp(), not pytest's 0700 tmp_path).
    With `tls=True` the server requires STARTTLS on `port` and also serves
    implicit TLS on `ssl_port`, with a self-signed certificate in `ca_file`.
    `separator` is the hierarchy delimiter of the mailbox; None keeps Dovecot's
    default, which for its Maildir++ layout is "." (and a "/" in a name is refused).
    """
    with dovecot_service(base_dir, tls=tls, user=user, password=password,
                         separator=separator) as service:
        yield service.server


@contextmanager
def dovecot_service(base_dir: Path, **options: Any) -> Iterator[DovecotService]:
    """`running_dovecot`, handing out the service so that a test can stop and start it."""
    service = _prepare(base_dir, **options)
    service.start()
    try:
        yield service
    finally:
        service.stop()


def _prepare(base_dir: Path, *, tls: bool = False, user: str = "aog",
             password: str = "aog-test-password",
             separator: str | None = "/") -> DovecotService:
    """The configuration, users and mail home of a Dovecot under `base_dir`."""
    base_dir.chmod(0o755)
    # Dovecot counts a connection whose two ends share one IP as secured and
    # lets it log in without TLS; a TLS server listens on 127.0.0.2 so that
    # clients (connecting from 127.0.0.1) must really use TLS.
    host = TLS_HOST if tls else "127.0.0.1"
    port = free_port(host)
    passwd_file = base_dir / "passwd"
    passwd_file.write_text(f"{user}:{{PLAIN}}{password}::::::\n")
    passwd_file.chmod(0o644)
    _owner, _group, uid, gid = _mail_owner()
    home = base_dir / "home" / user
    home.mkdir(parents=True)
    (base_dir / "home").chmod(0o755)
    os.chown(home, uid, gid)

    tls_files = None
    if tls:
        cert, key = make_certificate(base_dir, host)
        tls_files = (cert, key, free_port(host))
    conf = base_dir / "dovecot.conf"
    conf.write_text(_config(base_dir, host, port, passwd_file, tls_files, separator))
    _check_config(conf)
    server = ImapServer(host=host, port=port, user=user, password=password,
                        ca_file=tls_files[0] if tls_files else None,
                        ssl_port=tls_files[2] if tls_files else None)
    return DovecotService(server, conf, base_dir / "dovecot.log")


class DovecotService:
    """A test Dovecot that a test may stop and start again on the same port (an outage).

    Stopping it ends every session too, as a server that goes down does; its
    mailboxes stay as they were.
    """

    def __init__(self, server: ImapServer, conf: Path, log: Path) -> None:
        self.server = server
        self.conf = conf
        self.log = log
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.with_suffix(".stderr").open("ab") as stderr:
            self._process = subprocess.Popen(
                [DOVECOT, "-F", "-c", str(self.conf)],
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
            )
        try:
            _wait_ready(self._process, self.server.host, self.server.port, self.log)
        except BaseException:
            _stop(self._process)
            raise

    def stop(self) -> None:
        if self._process is not None:
            # Its sessions too: they outlive the master when it is terminated.
            sessions = descendants(self._process.pid)
            _stop(self._process)
            kill_all(sessions)
            self._process = None
