"""Retrying a connect (never an action) for a bounded, configured time.

Every server the bot talks to is reached through `ConnectRetry`: transient
faults (network, a server starting up) are retried with exponential backoff and
jitter for at most `seconds`; a permanent one (bad credentials, a certificate
or host key that does not match) is raised at once. Each failed attempt is
logged at INFO: stderr shows only warnings, and an outage must end a run with
ONE line there, the final error.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:  # tenacity is imported by a first attempt that fails: most runs make none
    from tenacity import RetryCallState

log = logging.getLogger(__name__)

T = TypeVar("T")


class ConnectRetry:
    """Calls a connect function until it succeeds, fails for good, or time is up."""

    def __init__(self, party: str, seconds: float,
                 transient: Callable[[BaseException], bool]) -> None:
        self.party = party
        self.seconds = seconds
        self.transient = transient
        self.attempts = 0
        self.started = time.monotonic()

    def __call__(self, connect: Callable[[], T]) -> T:
        self.attempts, self.started = 0, time.monotonic()
        try:
            return self._attempt(connect)
        except BaseException as exc:  # what tenacity would catch, judged as it would
            if not self.transient(exc):
                raise
            first = exc
        # Outside the handler: the later faults are not chained to the first one.
        return self._retry(connect, first)

    def _retry(self, connect: Callable[[], T], first: BaseException) -> T:
        """The attempts after a transient first fault, as if tenacity had made all of them:
        it is handed the first fault as its own first attempt (no second connect), and its
        budget is what is left of `seconds` since `started`."""
        from tenacity import (
            Retrying,
            retry_if_exception,
            stop_before_delay,
            wait_exponential_jitter,
        )

        replayed: list[BaseException] = [first]

        def attempt() -> T:
            if replayed:
                raise replayed.pop()
            return self._attempt(connect)

        # Small first waits, so that even a short budget gets several attempts.
        wait = min(1.0, self.seconds / 10) or 0.01
        retrying = Retrying(
            stop=stop_before_delay(self.seconds - (time.monotonic() - self.started)),
            wait=wait_exponential_jitter(multiplier=wait, max=max(wait, self.seconds / 4),
                                         jitter=wait),
            retry=retry_if_exception(self.transient),
            before_sleep=self._log,
            reraise=True,
        )
        return retrying(attempt)

    def _attempt(self, connect: Callable[[], T]) -> T:
        self.attempts += 1
        return connect()

    def _log(self, state: RetryCallState) -> None:
        fault = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        log.info("%s: attempt %d failed (%s); retrying in %.1f s", self.party,
                 state.attempt_number, " ".join(str(fault).split()) or type(fault).__name__,
                 wait)

    @property
    def summary(self) -> str:
        """E.g. "5 attempts in 2.3 s", for the one line that reports the outage."""
        elapsed = time.monotonic() - self.started
        return f"{self.attempts} attempt{'s' if self.attempts != 1 else ''} in {elapsed:.1f} s"
