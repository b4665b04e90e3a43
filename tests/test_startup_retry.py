"""`ConnectRetry`: a connect that succeeds at once costs no retry machinery (tenacity is
imported by a first attempt that fails, `test_startup` checks an idle run never loads
it), and one that fails is retried exactly as before: transient faults until the budget
is spent, each logged at INFO, a permanent one raised at once."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import pytest

from mailbot.retry import ConnectRetry


def transient(exc: BaseException) -> bool:
    return isinstance(exc, OSError)


def connect_after(faults: list[BaseException]) -> tuple[Callable[[], str], list[int]]:
    """A connect that raises each of `faults` in turn, then answers "connected"; and the
    list it counts its calls in."""
    calls: list[int] = []
    pending: Iterator[BaseException] = iter(faults)

    def connect() -> str:
        calls.append(len(calls) + 1)
        fault = next(pending, None)
        if fault is not None:
            raise fault
        return "connected"

    return connect, calls


def failed_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "mailbot.retry" and r.levelno == logging.INFO]


def test_a_first_attempt_that_succeeds_is_the_only_one(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "mailbot.retry")
    connect, calls = connect_after([])
    retry = ConnectRetry("test server", 5, transient)
    assert retry(connect) == "connected"
    assert (calls, retry.attempts) == ([1], 1)
    assert retry.summary.startswith("1 attempt in ")
    assert failed_lines(caplog) == []


def test_transient_faults_are_retried_and_each_is_logged(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "mailbot.retry")
    connect, calls = connect_after([ConnectionRefusedError("refused"), TimeoutError("slow")])
    retry = ConnectRetry("test server", 2, transient)
    assert retry(connect) == "connected"
    assert (calls, retry.attempts) == ([1, 2, 3], 3)
    assert retry.summary.startswith("3 attempts in ")
    lines = failed_lines(caplog)
    assert [line.split("; retrying in ")[0] for line in lines] == [
        "test server: attempt 1 failed (refused)", "test server: attempt 2 failed (slow)"]
    assert all(line.endswith(" s") for line in lines), lines


def test_a_permanent_fault_is_raised_at_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "mailbot.retry")
    connect, calls = connect_after([PermissionError("bad password")])
    retry = ConnectRetry("test server", 5, lambda e: not isinstance(e, PermissionError))
    with pytest.raises(PermissionError, match="bad password"):
        retry(connect)
    assert (calls, retry.attempts) == ([1], 1)
    assert failed_lines(caplog) == []


def test_a_permanent_fault_after_a_transient_one_ends_the_retries() -> None:
    connect, calls = connect_after([ConnectionResetError("reset"), ValueError("refused key")])
    retry = ConnectRetry("test server", 5, lambda e: isinstance(e, ConnectionError))
    with pytest.raises(ValueError, match="refused key") as raised:
        retry(connect)
    assert (calls, retry.attempts) == ([1, 2], 2)
    assert raised.value.__context__ is None


def test_an_interrupt_is_never_retried() -> None:
    connect, calls = connect_after([KeyboardInterrupt()])
    with pytest.raises(KeyboardInterrupt):
        ConnectRetry("test server", 5, transient)(connect)
    assert calls == [1]


def test_no_budget_means_one_attempt(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "mailbot.retry")
    connect, calls = connect_after([ConnectionRefusedError("refused")] * 3)
    retry = ConnectRetry("test server", 0, transient)
    with pytest.raises(ConnectionRefusedError, match="refused"):
        retry(connect)
    assert (calls, retry.attempts) == ([1], 1)
    assert failed_lines(caplog) == []


def test_a_spent_budget_raises_the_last_fault(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "mailbot.retry")
    faults: list[BaseException] = [ConnectionRefusedError(f"refused {n}") for n in range(1, 1000)]
    connect, calls = connect_after(faults)
    retry = ConnectRetry("test server", 0.3, transient)
    with pytest.raises(ConnectionRefusedError) as raised:
        retry(connect)
    assert len(calls) >= 2 and retry.attempts == len(calls)
    assert str(raised.value) == f"refused {len(calls)}"  # the last attempt's fault
    assert raised.value.__context__ is None  # as raised, not chained to the earlier ones
    assert len(failed_lines(caplog)) == len(calls) - 1  # every failure but the last
    assert retry.summary.startswith(f"{len(calls)} attempts in ")
