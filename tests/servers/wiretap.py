"""A loopback TCP relay in front of a real IMAP server that keeps what clients sent.

Tests that count the commands the bot puts on the wire (one FETCH for a batch, one
login for many passes) point the bot at the relay instead of the server: the bot's
client library runs unchanged, and the count is read off the bytes it really sent.
"""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass

# A line that ends in an IMAP literal's announcement: `{42}` or `{42+}` (RFC 7888).
_LITERAL = re.compile(rb"\{(\d+)\+?\}\r\n$")


@dataclass(frozen=True)
class Command:
    """One command a client sent: its name (`UID FETCH`, `LOGIN`, ...) and arguments, the
    literals' contents left out."""

    name: str
    arguments: str

    def uids(self) -> int:
        """How many messages the command's first argument names (`1,2,5:7` is 5)."""
        count = 0
        for part in self.arguments.split(" ", 1)[0].split(","):
            low, _, high = part.partition(":")
            count += int(high) - int(low) + 1 if high else 1
        return count


def commands(sent: bytes) -> list[Command]:
    """The commands in what a client sent on one connection, in order (a bare `DONE`, which
    ends IDLE, counts as one)."""
    found, at = [], 0
    while at < len(sent):
        line, at = _command_line(sent, at)
        words = line.split(" ")
        if words[0] == "DONE":
            found.append(Command("DONE", ""))
            continue
        verb = words[1:2] if words[1:2] != ["UID"] else words[1:3]
        name = " ".join(verb).upper()
        found.append(Command(name, " ".join(words[1 + len(verb):])))
    return found


def _command_line(sent: bytes, at: int) -> tuple[str, int]:
    """The command starting at `at` with its literals skipped, and where the next begins."""
    parts = []
    while True:
        end = sent.find(b"\r\n", at)
        if end < 0:  # a command still being written when the test looked
            parts.append(sent[at:])
            return b"".join(parts).decode(errors="replace"), len(sent)
        line = sent[at:end + 2]
        literal = _LITERAL.search(line)
        if literal is None:
            parts.append(line[:-2])
            return b"".join(parts).decode(errors="replace"), end + 2
        parts.append(line[:literal.start()])
        at = end + 2 + int(literal.group(1))


class Wiretap:
    """Relays each connection to `upstream` and keeps the bytes its client sent."""

    def __init__(self, host: str, port: int) -> None:
        self.upstream = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self._sent: list[bytearray] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def commands(self) -> list[Command]:
        """Every command sent so far, connection after connection."""
        with self._lock:
            return [c for sent in self._sent for c in commands(bytes(sent))]

    def named(self, name: str, wanting: str = "") -> list[Command]:
        return [c for c in self.commands() if c.name == name and wanting in c.arguments]

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:  # closed: the test is over
                return
            server = socket.create_connection(self.upstream)
            sent = bytearray()
            with self._lock:
                self._sent.append(sent)
            threading.Thread(target=self._pump, args=(client, server, sent), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, None), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, kept: bytearray | None) -> None:
        try:
            while data := source.recv(65536):
                if kept is not None:
                    with self._lock:
                        kept.extend(data)
                sink.sendall(data)
        except OSError:
            pass
        finally:  # one side ended: end the other too
            for end in (source, sink):
                with suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.listener.close()


@contextmanager
def wiretap(host: str, port: int) -> Iterator[Wiretap]:
    tap = Wiretap(host, port)
    try:
        yield tap
    finally:
        tap.close()
