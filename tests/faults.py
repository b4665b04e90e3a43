"""The tests' hook at the fault points of `mailbot.faults`: kill a bot there, or hold it.

Production never imports this module; a bot started by a test gets the hook by
being started through it: `python -m tests.faults ARGS...` is `mailbot ARGS...`
with the hook installed from `$MAILBOT_TEST_FAULT`, and `bot_process` runs the
same in a process forked from a warm server (a cold interpreter would spend
most of each short run importing). The variable holds one of:

- `kill:POINT=N,POINT=N,...`: SIGKILL at the N-th time the pass reaches one
  of these points (the first reached wins); the point is first written to
  `$MAILBOT_TEST_FAULT_LOG`, so that the test knows where it died;
- `pause:POINT=N:SOCKET`: at the N-th time the pass reaches POINT, say so to
  the test listening on the Unix socket SOCKET and wait for its answer (it
  stops a server meanwhile): an outage at a known step, with no sleep.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from mailbot import faults
from mailbot.faults import Point

ENV = "MAILBOT_TEST_FAULT"
LOG_ENV = "MAILBOT_TEST_FAULT_LOG"


@dataclass(frozen=True)
class Fault:
    """What the hook does, and at which reach of which points."""

    action: str  # "kill" or "pause"
    points: Mapping[Point, int]  # point -> at its n-th reach
    socket: str = ""  # pause: where the test listens

    def spec(self) -> str:
        armed = ",".join(f"{p.value}={n}" for p, n in self.points.items())
        return f"{self.action}:{armed}" + (f":{self.socket}" if self.socket else "")

    @classmethod
    def parse(cls, spec: str) -> Fault:
        action, armed, *rest = spec.split(":", 2)
        points = {Point(p): int(n) for p, n in (item.split("=") for item in armed.split(","))}
        return cls(action, points, rest[0] if rest else "")


def kill_at(points: Mapping[Point, int]) -> Fault:
    return Fault("kill", dict(points))


def hook(fault: Fault) -> faults.Hook:
    """The hook that carries out `fault` in this process."""
    reached: dict[Point, int] = {}

    def at(point: Point) -> None:
        if point not in fault.points:
            return
        reached[point] = reached.get(point, 0) + 1
        if reached[point] != fault.points[point]:
            return
        if fault.action == "kill":
            log = os.environ.get(LOG_ENV)
            if log:
                Path(log).write_text(point.value)
            os.kill(os.getpid(), signal.SIGKILL)
        else:
            _pause(fault.socket, point)

    return at


def _pause(path: str, point: Point) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.connect(path)
        conn.sendall(point.value.encode() + b"\n")
        conn.recv(16)  # the test answers once the world is as it wants it


def install_from_env() -> None:
    spec = os.environ.get(ENV)
    if spec:
        faults.install(hook(Fault.parse(spec)))


def main(argv: Sequence[str]) -> int:
    """`mailbot ARGV` with the hook of `$MAILBOT_TEST_FAULT` installed."""
    from mailbot.cli.main import main as mailbot_main

    install_from_env()
    return mailbot_main(list(argv))


def run_bot(argv: Sequence[str], env: Mapping[str, str], output: str) -> None:
    """A bot process's body (`bot_process`): its environment, its output to a file."""
    os.environ.update(env)
    fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    sys.exit(main(argv))


class Pause:
    """The test's side of `pause:`: where the bot waits, and the word that lets it go on."""

    def __init__(self) -> None:
        self._dir = tempfile.mkdtemp(prefix="mbf-")  # short: a socket path has 108 bytes
        self.path = os.path.join(self._dir, "pause.sock")
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(self.path)
        self._server.listen(1)
        self._conn: socket.socket | None = None

    def at(self, point: Point, nth: int = 1) -> Fault:
        return Fault("pause", {point: nth}, self.path)

    def reached(self, timeout: float = 60) -> Point:
        """Block until the bot stands at the point; which one it is."""
        self._server.settimeout(timeout)
        self._conn, _ = self._server.accept()
        self._conn.settimeout(timeout)
        return Point(self._conn.makefile().readline().strip())

    def go_on(self) -> None:
        assert self._conn is not None, "the bot never reached the point"
        self._conn.sendall(b"go\n")
        self._conn.close()
        self._conn = None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._server.close()
        with contextlib.suppress(OSError):
            os.unlink(self.path)
            os.rmdir(self._dir)


@contextlib.contextmanager
def pause() -> Iterator[Pause]:
    held = Pause()
    try:
        yield held
    finally:
        held.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
