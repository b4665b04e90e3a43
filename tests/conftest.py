"""Shared fixtures: real servers on loopback ports, and Hypothesis profiles.

The servers are session-scoped (one Dovecot, one SMTP server, one sshd per
run, each started only when a test asks for it); the function-scoped `imap`
and `smtp` fixtures hand them to a test emptied of what earlier tests left.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, settings

from tests.servers.dovecot import ImapServer, free_port, running_dovecot
from tests.servers.smtp import SmtpServer, running_smtp

if TYPE_CHECKING:
    from tests.servers.sshd import SshServer

# Property tests: thorough in CI, quick while developing. 1000 examples keep
# each property of the pure modules well under 20 s on a 2-core machine;
# HYPOTHESIS_MAX_EXAMPLES overrides for a longer soak.
settings.register_profile(
    "ci",
    max_examples=int(os.environ.get("HYPOTHESIS_MAX_EXAMPLES", "1000")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.register_profile(
    "dev",
    max_examples=int(os.environ.get("HYPOTHESIS_MAX_EXAMPLES", "100")),
    deadline=None,
)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


def _server_dir() -> Path:
    """A 0755 temporary directory: Dovecot's auth process cannot enter pytest's tmp_path."""
    path = Path(tempfile.mkdtemp(prefix="mailbot-test-"))
    path.chmod(0o755)
    return path


@pytest.fixture(scope="session")
def dovecot() -> Iterator[ImapServer]:
    """A Dovecot IMAP server (plain, no TLS) shared by the whole test session."""
    base_dir = _server_dir()
    try:
        with running_dovecot(base_dir) as server:
            yield server
    finally:
        shutil.rmtree(base_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def dovecot_tls() -> Iterator[ImapServer]:
    """A Dovecot that requires TLS: STARTTLS on `port`, implicit TLS on `ssl_port`."""
    base_dir = _server_dir()
    try:
        with running_dovecot(base_dir, tls=True) as server:
            yield server
    finally:
        shutil.rmtree(base_dir, ignore_errors=True)


@pytest.fixture
def imap(dovecot: ImapServer) -> ImapServer:
    """The session's Dovecot with an empty mailbox (only an empty INBOX)."""
    dovecot.reset()
    return dovecot


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[SmtpServer]:
    """An SMTP server (no AUTH, no TLS) shared by the whole test session."""
    with running_smtp() as server:
        yield server


@pytest.fixture
def smtp(smtp_server: SmtpServer) -> SmtpServer:
    """The session's SMTP server with no recorded mail and no pending refusals."""
    smtp_server.clear()
    return smtp_server


@pytest.fixture(scope="session")
def sshd() -> Iterator[SshServer]:
    """An OpenSSH server shared by the whole test session (see tests/servers/sshd.py)."""
    from tests.servers.sshd import running_sshd  # imported here: only SSH tests need it

    base_dir = _server_dir()
    try:
        with running_sshd(base_dir) as server:
            yield server
    finally:
        shutil.rmtree(base_dir, ignore_errors=True)


@pytest.fixture
def closed_port() -> int:
    """A loopback port with nothing listening: connections to it are refused."""
    return free_port()
