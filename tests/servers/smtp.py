"""A real SMTP server (aiosmtpd) on a loopback port that records what it receives.

It speaks SMTP for real, so tests see the envelope and the exact bytes that
smtplib put on the wire (e.g. that a Bcc is in the envelope and not in the
data). It can refuse mail on demand to test outages.
"""

from __future__ import annotations

import shutil
import ssl
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.servers.dovecot import free_port, make_certificate

REFUSAL = "451 4.3.0 Temporary failure (test server told to refuse)"


@dataclass(frozen=True)
class Received:
    """One accepted mail: its envelope and the exact bytes of its DATA."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    # The AUTH login the client used, when the server asked for one.
    login: str | None = None


class SmtpServer:
    """The recorder behind a running test SMTP server; safe to read from any thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self.ca_file: Path | None = None
        self._messages: list[Received] = []
        self._refuse = 0
        self._refusal = REFUSAL
        self.refused_recipients: set[str] = set()  # answered 550 at RCPT TO
        self._arrived = threading.Condition()

    @property
    def messages(self) -> list[Received]:
        """A snapshot of the accepted mails, in arrival order."""
        with self._arrived:
            return list(self._messages)

    def clear(self) -> None:
        """Forget the recorded mails and any pending refusals."""
        with self._arrived:
            self._messages.clear()
            self._refuse = 0
            self.refused_recipients = set()

    def fail_next(self, n: int = 1, reply: str = REFUSAL) -> None:
        """Answer the next `n` DATA commands with `reply` (a 451 temporary failure)."""
        with self._arrived:
            self._refuse = n
            self._refusal = reply

    def wait_for(self, n: int, timeout: float = 10) -> list[Received]:
        """Block until at least `n` mails arrived and return them all.

        Raises TimeoutError naming how many did arrive.
        """
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self._messages) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"expected {n} mails on {self.host}:{self.port}, got {len(self._messages)}"
                    )
                self._arrived.wait(left)
            return list(self._messages)

    def ssl_context(self) -> ssl.SSLContext:
        """A client context that trusts this server's certificate (with TLS only)."""
        if self.ca_file is None:
            raise ValueError("this SMTP server runs without TLS")
        return ssl.create_default_context(cafile=str(self.ca_file))

    # aiosmtpd handler hooks, called in the server's event-loop thread.

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        """Refuse the addresses in `refused_recipients`, accept the others."""
        if address in self.refused_recipients:
            return "550 5.1.1 No such user (test server told to refuse)"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """Record the mail, or refuse it while fail_next() refusals are pending."""
        with self._arrived:
            if self._refuse > 0:
                self._refuse -= 1
                return self._refusal
            self._messages.append(
                Received(
                    mail_from=_reverse_path(envelope.mail_from),
                    rcpt_tos=tuple(envelope.rcpt_tos),
                    data=_original_bytes(envelope),
                    login=_login_of(session),
                )
            )
            self._arrived.notify_all()
        return "250 2.0.0 OK"


def _reverse_path(mail_from: str | None) -> str:
    """The sender as smtplib takes it: "" for the null reverse-path (aiosmtpd says "<>")."""
    return "" if mail_from in (None, "<>") else str(mail_from)


def _original_bytes(envelope: Envelope) -> bytes:
    """The DATA exactly as transmitted (line endings kept, dot-stuffing undone)."""
    content = envelope.original_content
    if content is None:
        return b""
    return content if isinstance(content, bytes) else content.encode()


def _login_of(session: Session) -> str | None:
    data: Any = session.auth_data
    return data if isinstance(data, str) else None


def _authenticator(accounts: dict[str, str]) -> Any:
    """An aiosmtpd authenticator accepting exactly `accounts` (login -> password)."""

    def authenticate(
        server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if isinstance(auth_data, LoginPassword):
            login = auth_data.login.decode(errors="replace")
            password = auth_data.password.decode(errors="replace")
            if accounts.get(login) == password:
                return AuthResult(success=True, auth_data=login)
        # handled=False lets aiosmtpd answer 535; handled=True would leave the
        # client waiting for a reply until its timeout.
        return AuthResult(success=False, handled=False)

    return authenticate


class SmtpService:
    """A running test SMTP server that a test may stop and start again on the same port.

    Stopping closes every open connection at once, as a server going down does;
    `server` (the recorder) keeps what arrived across restarts.
    """

    def __init__(self, server: SmtpServer, options: dict[str, Any]) -> None:
        self.server = server
        self._options = options
        self._controller: Controller | None = None

    def start(self) -> None:
        # A Controller runs its own event loop once: a restart is a new one.
        self._controller = Controller(self.server, hostname=self.server.host,
                                      port=self.server.port, **self._options)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


@contextmanager
def smtp_service(*, auth: dict[str, str] | None = None, tls: bool = False,
                 implicit_tls: bool = False) -> Iterator[SmtpService]:
    """Run an SMTP server on a free loopback port until the block ends (see running_smtp)."""
    server = SmtpServer("127.0.0.1", free_port())
    options: dict[str, Any] = {}
    if auth is not None:
        # Not auth_required: aiosmtpd warns about it without TLS. Tests check
        # Received.login to prove the client logged in.
        options.update(authenticator=_authenticator(dict(auth)), auth_require_tls=False)
    cert_dir = Path(tempfile.mkdtemp()) if tls or implicit_tls else None
    if cert_dir is not None:
        cert, key = make_certificate(cert_dir)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        options["ssl_context" if implicit_tls else "tls_context"] = context
        server.ca_file = cert
    service = SmtpService(server, options)
    service.start()
    try:
        yield service
    finally:
        service.stop()
        if cert_dir is not None:
            shutil.rmtree(cert_dir, ignore_errors=True)


@contextmanager
def running_smtp(*, auth: dict[str, str] | None = None, tls: bool = False,
                 implicit_tls: bool = False) -> Iterator[SmtpServer]:
    """Run an SMTP server on a free loopback port until the block ends.

    With `auth` (login -> password) the server offers AUTH PLAIN/LOGIN over a
    plain connection and records the login in `Received.login`. With
    `tls=True` it offers STARTTLS with a self-signed certificate (`ca_file`);
    with `implicit_tls=True` it speaks TLS from the first byte (port 465 style,
    same certificate) and offers no STARTTLS.
    """
    with smtp_service(auth=auth, tls=tls, implicit_tls=implicit_tls) as service:
        yield service.server
